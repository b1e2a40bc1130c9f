"""Label shapes and missing-label rules (issue 18 part 2)."""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.losses import MaskedTaskLoss


def id_contrastive(ids, embeddings):
    """Per-sample contrastive loss: samples sharing an id are positives
    (an in-batch softmax over the batch's other samples)."""
    ids = tf.reshape(tf.cast(ids, tf.int32), [-1])
    z = tf.math.l2_normalize(embeddings, axis=-1)
    size = tf.shape(z)[0]
    eye = tf.eye(size, dtype=tf.bool)
    logits = tf.matmul(z, z, transpose_b=True) / 0.2
    logits = tf.where(eye, -1e9, logits)
    positive = tf.logical_and(
        tf.equal(ids[:, None], ids[None, :]), tf.logical_not(eye))
    log_all = tf.reduce_logsumexp(logits, axis=-1)
    log_pos = tf.reduce_logsumexp(
        tf.where(positive, logits, -1e9), axis=-1)
    has_pos = tf.reduce_any(positive, axis=-1)
    return tf.where(has_pos, log_all - log_pos, 0.0)


def _retrieval_model(missing_label="default"):
    inputs = keras.Input((8,), name="x")
    trunk = keras.layers.Dense(32, activation="relu", name="trunk")(inputs)
    tasks = [
        keras_mtl.Task(
            "items", "custom", head=keras.layers.Dense(64, name="items"),
            loss=id_contrastive, label_shape=(1,),
            missing_label=missing_label),
        keras_mtl.Task("click", "binary"),
    ]
    outputs = {t.name: t.build_head(trunk) for t in tasks}
    return keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks)


def test_retrieval_task_trains_with_id_labels():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=(512, 1)).astype("int32")
    centres = rng.normal(size=(4, 8)).astype("float32")
    x = centres[ids[:, 0]] + 0.3 * rng.normal(size=(512, 8)).astype(
        "float32")
    click = (x[:, 0] > 0).astype("float32")
    model = _retrieval_model()
    model.compile(keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, {"items": ids, "click": click}, verbose=0)
    model.fit(x, {"items": ids, "click": click}, batch_size=64, epochs=4,
              verbose=0)
    after = model.evaluate(x, {"items": ids, "click": click}, verbose=0)
    assert after["items_loss"] < 0.7 * before["items_loss"]
    assert tuple(model.get_layer("items").output.shape) == (None, 64)


def test_label_shape_mismatch_names_the_fix():
    model = _retrieval_model()
    model.compile("adam")
    x = np.zeros((8, 8), "float32")
    with pytest.raises(ValueError, match="'items'.*label"):
        model.fit(x, {"items": np.zeros((8, 3), "int32"),
                      "click": np.zeros((8,))}, verbose=0)


def test_undeclared_shape_error_points_to_label_shape():
    task = keras_mtl.Task("emb", "custom", head=keras.layers.Dense(64),
                          loss=id_contrastive)
    loss = MaskedTaskLoss(task)
    with pytest.raises(ValueError, match=r"label_shape=\(1,\)"):
        loss(tf.zeros((4, 1)), tf.zeros((4, 64)), None)


def sparse_named_mse(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def test_a_loss_named_sparse_changes_nothing():
    task = keras_mtl.Task("t", "custom", head=keras.layers.Dense(3),
                          loss=sparse_named_mse)
    loss = MaskedTaskLoss(task)
    y = tf.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    total, count, _, weights = loss(y, tf.zeros((2, 3)), None)
    assert tuple(weights.shape) == (2,)
    assert float(count) == 2.0
    np.testing.assert_allclose(float(total), 14.0 / 3.0, rtol=1e-6)
    assert not task.sparse_labels


def test_multiclass_loss_is_recognised_by_identity_not_name():
    task = keras_mtl.Task("d", "multiclass", num_classes=3,
                          loss=keras.losses.SparseCategoricalCrossentropy())
    assert task.labels_are_indices
    one_hot = keras_mtl.Task("d", "multiclass", num_classes=3,
                             loss="categorical_crossentropy")
    assert not one_hot.labels_are_indices
    with pytest.raises(ValueError, match="label_shape"):
        keras_mtl.Task("d", "multiclass", num_classes=3,
                       loss=sparse_named_mse)
    declared = keras_mtl.Task("d", "multiclass", num_classes=3,
                              loss=sparse_named_mse, label_shape=(3,))
    assert not declared.labels_are_indices


def test_custom_default_never_masks_minus_one():
    # The hinge report: {-1, 1} labels lost every -1 to missing_label=-1.
    task = keras_mtl.Task("h", "custom", head=keras.layers.Dense(1),
                          loss="hinge")
    assert math.isnan(task.missing_label)
    _, count, _, _ = MaskedTaskLoss(task)(
        tf.constant([[-1.0], [1.0], [-1.0]]), tf.zeros((3, 1)), None)
    assert float(count) == 3.0


def test_binary_hinge_with_minus_one_labels_is_refused():
    inputs = keras.Input((4,), name="x")
    task = keras_mtl.Task("h", "binary", loss="hinge")
    model = keras_mtl.MultiTaskModel(
        inputs, {"h": task.build_head(inputs)}, tasks=[task])
    model.compile("adam")
    x = np.zeros((6, 4), "float32")
    y = np.array([-1, 1, -1, 1, 1, -1], "float32")
    with pytest.raises(ValueError, match=r"'h'.*look like \{-1, 1\}"):
        model.fit(x, {"h": y}, verbose=0)
    model.fit(x, {"h": (y + 1) / 2}, verbose=0)  # 0/1 labels train


def test_binary_rejects_minus_one_unless_declared():
    inputs = keras.Input((4,), name="x")
    task = keras_mtl.Task("b", "binary", missing_label=float("nan"))
    model = keras_mtl.MultiTaskModel(
        inputs, {"b": task.build_head(inputs)}, tasks=[task])
    model.compile("adam")
    x = np.zeros((4, 4), "float32")
    with pytest.raises(ValueError, match="'b'.*must be 0 or 1.*-1"):
        model.fit(x, {"b": np.array([0, 1, -1, 1.0])}, verbose=0)
    declared = keras_mtl.Task("b", "binary", missing_label=-1)
    assert declared.missing_label_declared
    clone = keras_mtl.Task.from_config(declared.get_config())
    assert clone.missing_label_declared and clone.missing_label == -1.0
    default = keras_mtl.Task.from_config(
        keras_mtl.Task("b", "binary").get_config())
    assert not default.missing_label_declared


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="binary", missing_label=0), "valid binary label"),
    (dict(kind="multiclass", num_classes=3, missing_label=2),
     "valid class index"),
    (dict(kind="binary", missing_label="x"), "missing_label"),
    (dict(kind="binary", label_shape=(1,)), "label_shape"),
    (dict(kind="custom", head=keras.layers.Dense(2), loss="mse",
          label_shape=(0,)), "label_shape"),
    # A multilabel task's entries are 0/1 too: a 0 sentinel would drop
    # every negative entry.
    (dict(kind="multilabel", num_labels=3, missing_label=0),
     "valid multilabel label"),
    (dict(kind="multilabel", num_labels=3, missing_label=1),
     "valid multilabel label"),
    # A declared label shape that contradicts a known Keras loss.
    (dict(kind="multiclass", num_classes=3,
          loss="categorical_crossentropy", label_shape=(1,)),
     "'t'.*takes one-hot rows.*label_shape=\\(3,\\)"),
    (dict(kind="multiclass", num_classes=3,
          loss="sparse_categorical_crossentropy", label_shape=(3,)),
     "'t'.*takes class indices.*label_shape=\\(1,\\)"),
])
def test_rule_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_mtl.Task("t", **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_no_missing_rule_refuses_nan_and_inf_labels(bad):
    inputs = keras.Input((4,), name="x")
    task = keras_mtl.Task("r", "regression", missing_label=None)
    model = keras_mtl.MultiTaskModel(
        inputs, {"r": task.build_head(inputs)}, tasks=[task])
    model.compile("adam")
    with pytest.raises(ValueError,
                       match="'r'.*NaN or Inf.*missing_label=None"):
        model.fit(np.zeros((3, 4)), {"r": np.array([1.0, bad, 2.0])},
                  verbose=0)


def test_warns_when_most_labels_are_missing():
    inputs = keras.Input((4,), name="x")
    tasks = [keras_mtl.Task("a", "binary"), keras_mtl.Task("b", "binary")]
    model = keras_mtl.MultiTaskModel(
        inputs, {t.name: t.build_head(inputs) for t in tasks}, tasks=tasks)
    model.compile("adam")
    x = np.zeros((10, 4), "float32")
    y = {"a": np.array([0, 1] * 5, "float32"),
         "b": np.array([1, 0, -1, -1, -1, -1, -1, -1, -1, -1], "float32")}
    with pytest.warns(UserWarning, match="'b': 80% of its labels"):
        model.fit(x, y, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, {"a": y["a"], "b": y["a"]}, verbose=0)


def test_loss_list_message_says_what_is_wrong():
    inputs = keras.Input((4,), name="x")
    tasks = [keras_mtl.Task("a", "binary"), keras_mtl.Task("b", "binary")]
    model = keras_mtl.MultiTaskModel(
        inputs, {t.name: t.build_head(inputs) for t in tasks}, tasks=tasks)
    with pytest.raises(TypeError, match=r"list of 2.*dict \{task_name"):
        model.compile("adam", loss=["binary_crossentropy", "mse"])
