"""Tests of the partial-label helpers in `keras_mtl.data.partial`."""

import math

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import Task
from keras_mtl.data import partial

TASKS = [
    Task("income", "binary"),
    Task("digit", "multiclass", num_classes=3),
    Task("age", "regression"),
    Task("tags", "multilabel", num_labels=2),
    Task("absent", "binary"),
]


def _table():
    return {
        "income": np.array([1.0, 0.0, np.nan, 1.0]),
        "digit": np.array(["2", "?", "0", ""], dtype=object),
        "age": np.array([31.0, "NA", 40.0, None], dtype=object),
        "tags_0": np.array([1, 0, -1, 1]),
        "tags_1": np.array([0, -1, -1, 1]),
    }


def test_table_gaps_become_sentinels():
    y = partial.labels_from_table(_table(), TASKS)
    np.testing.assert_array_equal(y["income"], [1, 0, -1, 1])
    assert y["income"].dtype == np.int32
    np.testing.assert_array_equal(y["digit"], [2, -1, 0, -1])
    np.testing.assert_array_equal(np.isnan(y["age"]),
                                  [False, True, False, True])
    assert y["age"][0] == 31.0 and y["age"].dtype == np.float32
    np.testing.assert_array_equal(y["tags"], [[1, 0], [0, -1], [-1, -1],
                                              [1, 1]])
    np.testing.assert_array_equal(y["absent"], [-1, -1, -1, -1])


def test_masks_rates_and_weights():
    y = partial.labels_from_table(_table(), TASKS)
    masks = partial.label_masks(y, TASKS)
    np.testing.assert_array_equal(masks["tags"], [True, True, False, True])
    entries = partial.label_masks(y, TASKS, per_entry=True)
    assert entries["tags"].shape == (4, 2)
    assert entries["tags"].sum() == 5
    rates = partial.label_rates(y, TASKS)
    assert rates == {"income": 0.75, "digit": 0.5, "age": 0.5,
                     "tags": 0.75, "absent": 0.0}
    weights = partial.sample_weights_from_masks(masks)
    np.testing.assert_array_equal(weights["digit"], [1, 0, 1, 0])
    assert weights["digit"].dtype == np.float32


def test_columns_mapping_missing_values_and_absent_raise():
    table = {"inc": np.array([1, -999, 0])}
    y = partial.labels_from_table(
        table, [TASKS[0]], columns={"income": "inc"},
        missing_values=(-999,))
    np.testing.assert_array_equal(y["income"], [1, -1, 0])
    with pytest.raises(ValueError, match="'income'.*no column 'income'"):
        partial.labels_from_table(table, [TASKS[0]], absent="raise")
    with pytest.raises(ValueError, match="'digit'.*neither numbers"):
        partial.labels_from_table({"digit": np.array(["cat", "2"])},
                                  [TASKS[1]])


def test_pandas_dataframe():
    import pandas as pd  # in the dev extra: never skipped
    frame = pd.DataFrame({"income": [1, None, 0], "age": [3.0, 4.0, None]})
    y = partial.labels_from_table(frame, [TASKS[0], TASKS[2]])
    np.testing.assert_array_equal(y["income"], [1, -1, 0])
    assert math.isnan(y["age"][2])


def test_hide_labels_keeps_the_rate():
    labels = {"income": np.ones(4000, "int32"),
              "age": np.ones((4000, 1), "float32")}
    tasks = [TASKS[0], TASKS[2]]
    hidden = partial.hide_labels(labels, tasks, {"income": 0.3, "age": 1.0},
                                 seed=0)
    rates = partial.label_rates(hidden, tasks)
    assert abs(rates["income"] - 0.3) < 4 * math.sqrt(0.21 / 4000)
    assert rates["age"] == 1.0
    again = partial.hide_labels(labels, tasks, 0.3, seed=0)
    np.testing.assert_array_equal(
        again["income"], partial.hide_labels(labels, tasks, 0.3,
                                             seed=0)["income"])


def test_sentinels_and_zero_weights_give_the_same_model_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    table = {"income": (x[:, 0] > 0).astype("float64"),
             "age": x[:, 1].astype("float64")}
    table["income"][::3] = np.nan
    table["age"][::2] = np.nan
    tasks = [TASKS[0], TASKS[2]]
    y = partial.labels_from_table(table, tasks)
    model = keras_mtl.build(keras.Input((3,)), tasks, trunk=(8,))
    model.compile("sgd")
    by_sentinel = model.evaluate(x, y, batch_size=64, verbose=0)
    weights = partial.sample_weights_from_masks(
        partial.label_masks(y, tasks))
    zero_filled = {"income": np.where(y["income"] < 0, 0, y["income"]),
                   "age": np.nan_to_num(y["age"])}
    by_weight = model.evaluate(x, zero_filled, sample_weight=weights,
                               batch_size=64, verbose=0)
    for key in ("income_loss", "age_loss"):
        assert by_sentinel[key] == pytest.approx(by_weight[key], rel=1e-6)
