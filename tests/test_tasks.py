import math

import keras
import pytest

import keras_mtl
from keras_mtl.tasks.task_metric_objects import make_task_metrics


@pytest.mark.parametrize(
    "kwargs, units, loss, metrics",
    [
        (dict(kind="binary"), 1, "binary_crossentropy", ("auc", "accuracy")),
        (dict(kind="multiclass", num_classes=4), 4,
         "sparse_categorical_crossentropy", ("accuracy",)),
        (dict(kind="multilabel", num_labels=3), 3, "binary_crossentropy",
         ("auc", "accuracy")),
        (dict(kind="regression", units=2), 2, "mean_squared_error",
         ("mae", "rmse")),
    ],
)
def test_kind_defaults(kwargs, units, loss, metrics):
    task = keras_mtl.Task("t", **kwargs)
    assert task.output_units == units
    assert task.loss == loss
    assert task.metrics == metrics
    names = [m.name for m in make_task_metrics(task)]
    assert names == [f"t_{m}" for m in metrics]


def test_missing_label_defaults():
    assert keras_mtl.Task("a", "binary").missing_label == -1.0
    assert math.isnan(keras_mtl.Task("b", "regression").missing_label)
    assert keras_mtl.Task("c", "binary", missing_label=None).missing_label \
        is None


def test_head_is_named_after_task_and_has_hidden_layers():
    task = keras_mtl.Task("age", "regression", head_units=(8, 4))
    out = task.build_head(keras.Input((5,)))
    assert out._keras_history.operation.name == "age"
    assert tuple(out.shape) == (None, 1)


def test_custom_task_uses_user_head():
    head = keras.layers.Dense(3, name="my_head")
    task = keras_mtl.Task("emb", "custom", head=head, loss="mse")
    out = task.build_head(keras.Input((5,)))
    assert out._keras_history.operation.name == "emb"
    assert tuple(out.shape) == (None, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="Bad-Name"), "Invalid task name 'Bad-Name'"),
        (dict(name="1x"), "must match"),
        (dict(name="t", kind="ranking"), "kind"),
        (dict(name="t", kind="multiclass"), "num_classes"),
        (dict(name="t", kind="multiclass", num_classes=1), "num_classes"),
        (dict(name="t", kind="binary", num_classes=3), "does not apply"),
        (dict(name="t", kind="custom"), "custom task needs both"),
        (dict(name="t", head=keras.layers.Dense(1)), "only for kind='custom'"),
        (dict(name="t", head_units=(0,)), "head_units"),
        (dict(name="t", head_dropout=1.5), "head_dropout"),
    ],
)
def test_task_validation(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        keras_mtl.Task(**kwargs)


def test_config_round_trip():
    task = keras_mtl.Task("age", "regression", units=2, head_units=(16,),
                          metrics=["mae"], loss="huber")
    clone = keras_mtl.Task.from_config(task.get_config())
    assert clone.get_config() == task.get_config()
    assert math.isnan(clone.missing_label)


def test_unknown_metric_names_the_task():
    task = keras_mtl.Task("t", "binary", metrics=["not_a_metric"])
    with pytest.raises(ValueError, match="Task 't': unknown metric"):
        make_task_metrics(task)
