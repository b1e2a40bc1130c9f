import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.losses import MaskedTaskLoss


def _mean(loss, y, p, sw=None):
    total, count, _, _ = loss(tf.constant(y), tf.constant(p),
                              None if sw is None else tf.constant(sw))
    return float(tf.math.divide_no_nan(total, count)), float(count)


def test_binary_mean_over_labelled_samples_only():
    loss = MaskedTaskLoss(keras_mtl.Task("a", "binary"))
    y = np.array([1.0, 0.0, -1.0, -1.0], "float32")
    p = np.array([[0.9], [0.2], [0.5], [0.7]], "float32")
    expected = -(np.log(0.9) + np.log(0.8)) / 2
    value, count = _mean(loss, y, p)
    assert count == 2
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_regression_nan_entries_masked_per_entry_with_sample_weight():
    loss = MaskedTaskLoss(keras_mtl.Task("r", "regression", units=2))
    y = np.array([[1.0, np.nan], [2.0, 3.0]], "float32")
    p = np.array([[0.0, 5.0], [1.0, 1.0]], "float32")
    sw = np.array([1.0, 2.0], "float32")
    # Entries: (1-0)^2 w1, (2-1)^2 w2, (3-1)^2 w2; weights 1 + 2 + 2.
    expected = (1.0 * 1 + 1.0 * 2 + 4.0 * 2) / 5
    value, count = _mean(loss, y, p, sw)
    assert count == 5
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_multiclass_sentinel_and_zero_sample_weight():
    loss = MaskedTaskLoss(keras_mtl.Task("c", "multiclass", num_classes=3))
    y = np.array([0, 2, -1, 1], "int32")
    p = np.full((4, 3), 1 / 3, "float32")
    p[0] = [0.5, 0.25, 0.25]
    sw = np.array([1.0, 1.0, 1.0, 0.0], "float32")
    expected = -(np.log(0.5) + np.log(1 / 3)) / 2
    value, count = _mean(loss, y, p, sw)
    assert count == 2
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_multilabel_masks_single_entries():
    loss = MaskedTaskLoss(keras_mtl.Task("m", "multilabel", num_labels=2))
    y = np.array([[1.0, -1.0], [0.0, 1.0]], "float32")
    p = np.array([[0.8, 0.1], [0.4, 0.6]], "float32")
    expected = -(np.log(0.8) + np.log(0.6) + np.log(0.6)) / 3
    value, count = _mean(loss, y, p)
    assert count == 3
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_all_missing_gives_zero_and_finite_gradient():
    loss = MaskedTaskLoss(keras_mtl.Task("r", "regression"))
    y = tf.constant([[np.nan], [np.nan]], tf.float32)
    p = tf.Variable([[1.0], [2.0]])
    with tf.GradientTape() as tape:
        total, count, _, _ = loss(y, p, None)
        value = tf.math.divide_no_nan(total, count)
    grad = tape.gradient(value, p)
    assert float(value) == 0.0
    assert np.all(np.isfinite(grad.numpy()))
    assert np.all(grad.numpy() == 0.0)


def test_label_shape_mismatch_names_task_and_shapes():
    loss = MaskedTaskLoss(keras_mtl.Task("age", "regression", units=2))
    with pytest.raises(ValueError, match=r"Task 'age'.*\(batch, 3\).*"
                       r"\(batch, 2\)"):
        loss(tf.zeros((4, 3)), tf.zeros((4, 2)), None)
