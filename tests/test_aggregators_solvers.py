"""The in-graph solvers of `keras_mtl.aggregators._solvers` against scipy."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import optimize

from keras_mtl.aggregators import _solvers


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _reference_qp(jacobian, c):
    """min ½‖Jᵀx‖² + cᵀx, x >= 0, for c = J b: NNLS min ‖Jᵀx + b‖."""
    b = np.linalg.lstsq(jacobian, c, rcond=None)[0]
    x, _ = optimize.nnls(jacobian.T, -b)
    return x


@pytest.mark.parametrize("method", ["enumerate", "active_set"])
def test_nonnegative_qp_matches_scipy_nnls_in_a_batch(method):
    rng = np.random.default_rng(0)
    solve = tf.function(lambda q, c: _solvers.nonnegative_qp(
        q, c, method=method))
    for num_tasks, dim in [(1, 3), (3, 5), (5, 4), (6, 12)]:
        jacobian = rng.normal(size=(num_tasks, dim)) * rng.uniform(
            1e-3, 1e3, size=(num_tasks, 1))
        gramian = jacobian @ jacobian.T
        linear = jacobian @ rng.normal(size=(dim, 4))  # in range(Q)
        x = _np(solve(tf.constant(gramian), tf.constant(linear.T)))
        for row, c in zip(x, linear.T):
            reference = _reference_qp(jacobian, c)
            value = 0.5 * row @ gramian @ row + c @ row
            best = 0.5 * reference @ gramian @ reference + c @ reference
            assert np.all(row >= 0)
            assert value <= best + 1e-8 * (1 + abs(best))


def test_unbatched_call_float32_and_auto_method():
    rng = np.random.default_rng(1)
    jacobian = rng.normal(size=(9, 20))  # 9 tasks: auto = active set
    gramian = (jacobian @ jacobian.T).astype("float32")
    x = _np(_solvers.nonnegative_qp(gramian, -np.ones(9, "float32")))
    assert x.shape == (9,)
    gradient = gramian @ x - 1.0
    scale = np.abs(gramian).max()
    assert np.all(gradient >= -1e-4 * scale)
    assert np.all(np.abs(gradient[x > 1e-6]) < 1e-4 * scale)


def test_min_norm_and_dual_cone_helpers():
    jacobian = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])
    gramian = jacobian @ jacobian.T
    alpha = _np(_solvers.min_norm_weights(gramian))
    assert alpha.sum() == pytest.approx(1.0)
    assert np.all(alpha >= 0)
    point = alpha @ jacobian
    # The min-norm point of the hull: no vertex improves on it.
    assert np.all(jacobian @ point >= point @ point - 1e-10)
    v = _np(_solvers.dual_cone_weights(gramian, np.eye(3)))
    assert np.all(v >= np.eye(3) - 1e-12)
    assert np.all(jacobian @ (v @ jacobian).T >= -1e-10)


def test_symmetric_pinv_of_singular_matrices_is_finite():
    matrix = np.array([[[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    inverse = _np(_solvers.symmetric_pinv(matrix))
    np.testing.assert_allclose(inverse[0], np.linalg.pinv(matrix[0]),
                               atol=1e-12)
    np.testing.assert_allclose(inverse[1], 0.0)


def test_invalid_method_is_named():
    with pytest.raises(ValueError, match="method"):
        _solvers.nonnegative_qp(np.eye(2), np.ones(2), method="cvxpy")
