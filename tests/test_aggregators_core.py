"""Mean, Sum, PCGrad, MGDA, CAGrad, UPGrad, DualProj and IMTL-G against
their papers' definitions: closed forms, optimality conditions, invariants,
degenerate inputs, scales, dtypes, graph/XLA tracing and serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import optimize

from keras_mtl import aggregators
from keras_mtl.aggregators import IMTLG
from keras_mtl.aggregators import MGDA
from keras_mtl.aggregators import CAGrad
from keras_mtl.aggregators import DualProj
from keras_mtl.aggregators import PCGrad
from keras_mtl.aggregators import UPGrad
from keras_mtl.aggregators import _cagrad_dual

IDS = {
    "mean": aggregators.Mean,
    "sum": aggregators.Sum,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "cagrad": CAGrad,
    "upgrad": UPGrad,
    "dualproj": DualProj,
    "imtl_g": IMTLG,
}
NON_CONFLICTING = ("mgda", "upgrad", "dualproj")

_RNG = np.random.default_rng(0)
_BASE = _RNG.normal(size=(3, 6))
DEGENERATE = {
    "identical": np.stack([_BASE[0]] * 3),
    "orthogonal": np.eye(3, 6),
    "opposite": np.stack([_BASE[0], -_BASE[0]]),
    "zero": np.zeros((3, 6)),
    "one_zero_task": np.concatenate([_BASE[:2], np.zeros((1, 6))]),
    "parallel": np.stack([_BASE[0], 3.0 * _BASE[0], 0.5 * _BASE[0]]),
    "more_tasks_than_params": _RNG.normal(size=(4, 2)),
}


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _conflict(jacobian, direction):
    """Largest `-g_t·g / (‖g_t‖ max_s ‖g_s‖)`: > 0 means a conflict."""
    norms = np.linalg.norm(jacobian, axis=1)
    scale = norms * max(norms.max(), 1e-300) + 1e-300
    return float(np.max(-(jacobian @ direction) / scale))


# ----------------------------------------------------------------------
# Registry, configs, errors.


@pytest.mark.parametrize("name", sorted(IDS))
def test_registry_id_class_name_and_config_round_trip(name):
    aggregator = aggregators.get(name)
    assert type(aggregator) is IDS[name]
    assert aggregator.name == name
    config = keras.saving.serialize_keras_object(aggregator)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is IDS[name]
    assert restored.get_config() == aggregator.get_config()


def test_constructor_arguments_survive_config_round_trip():
    for aggregator in [PCGrad(seed=3), MGDA(normalization="l2",
                                            method="active_set"),
                       CAGrad(c=0.2, rescale=2, max_iterations=50),
                       UPGrad(method="enumerate"),
                       DualProj(method="active_set")]:
        restored = type(aggregator).from_config(aggregator.get_config())
        assert restored.get_config() == aggregator.get_config()


def test_invalid_arguments_name_the_argument():
    for make, message in [
        (lambda: MGDA(normalization="loss"), "normalization"),
        (lambda: MGDA(method="cvxpy"), "method"),
        (lambda: CAGrad(c=-1.0), "`c`"),
        (lambda: CAGrad(rescale=3), "rescale"),
        (lambda: CAGrad(max_iterations=0), "max_iterations"),
        (lambda: UPGrad(method="qp"), "method"),
        (lambda: DualProj(method="qp"), "method"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()


# ----------------------------------------------------------------------
# Every method: one task, degenerate inputs, scales, dtypes, graph, XLA.


@pytest.mark.parametrize("name", sorted(IDS))
def test_one_task_gives_the_gradient_itself(name):
    gradient = _BASE[:1]
    for dtype in ("float32", "float64"):
        direction = _np(IDS[name]()(gradient.astype(dtype)))
        np.testing.assert_allclose(direction, gradient[0], rtol=1e-5,
                                   atol=1e-6) if name != "cagrad" else (
            # CAGrad moves (1 + c) g and rescales by 1 + c² by default.
            np.testing.assert_allclose(
                direction, gradient[0] * 1.5 / 1.25, rtol=1e-5))
    direction = _np(CAGrad(rescale=2)(gradient))
    np.testing.assert_allclose(direction, gradient[0], rtol=1e-10)


@pytest.mark.parametrize("name", sorted(IDS))
def test_degenerate_inputs_scales_and_dtypes(name):
    for dtype in ("float32", "float64"):
        for case, matrix in DEGENERATE.items():
            jacobian = matrix.astype(dtype)
            direction = IDS[name]()(jacobian)
            assert direction.dtype == dtype
            values = _np(direction)
            assert values.shape == (jacobian.shape[1],)
            assert np.all(np.isfinite(values)), (case, dtype, values)
            if case == "zero":
                np.testing.assert_allclose(values, 0.0)
            if case == "identical" and name != "cagrad":
                # Every method agrees when all tasks agree (up to its
                # scale: Sum adds the three copies).
                expected = matrix[0] * (3.0 if name in ("sum", "pcgrad")
                                        else 1.0)
                np.testing.assert_allclose(values, expected, rtol=1e-4)
        # Tasks whose gradient norms span 1e-8 to 1e8.
        jacobian = (_BASE * np.array([[1e-8], [1.0], [1e8]])).astype(dtype)
        values = _np(IDS[name]()(jacobian))
        assert np.all(np.isfinite(values)), (dtype, values)
        if name in NON_CONFLICTING:
            assert _conflict(jacobian.astype("float64"), values) < 1e-5
        for scale in (1e-8, 1e8):
            values = _np(IDS[name]()((scale * _BASE).astype(dtype)))
            assert np.all(np.isfinite(values)), (scale, dtype)
            assert np.linalg.norm(values) > 0


@pytest.mark.parametrize("name", sorted(IDS))
def test_graph_and_xla_match_eager(name):
    jacobian = tf.constant(_BASE, tf.float32)
    eager = _np(IDS[name](seed=1)(jacobian) if name == "pcgrad"
                else IDS[name]()(jacobian))
    # XLA for one method of each solver family (the others use the same
    # ops), to keep the suite short.
    for jit in (False, True) if name in ("pcgrad", "upgrad", "cagrad") else (
            False,):
        aggregator = IDS[name](seed=1) if name == "pcgrad" else IDS[name]()
        compiled = tf.function(aggregator, jit_compile=jit)
        np.testing.assert_allclose(_np(compiled(jacobian)), eager,
                                   rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------
# Mean and Sum.


def test_mean_and_sum_weights():
    np.testing.assert_allclose(
        _np(aggregators.Mean().task_weights(_BASE)), [1 / 3] * 3)
    np.testing.assert_allclose(
        _np(aggregators.Sum()(_BASE)), _BASE.sum(axis=0), rtol=1e-12)


# ----------------------------------------------------------------------
# PCGrad.


def test_pcgrad_two_task_closed_form():
    g1 = np.array([1.0, 0.0, 2.0])
    g2 = np.array([-1.0, 1.0, 0.2])
    dot = g1 @ g2
    assert dot < 0
    expected = (g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)
    direction = _np(PCGrad(seed=0)(np.stack([g1, g2])))
    np.testing.assert_allclose(direction, expected, rtol=1e-12)
    # Projected gradients no longer conflict with the other task.
    assert direction @ g1 >= 0 and direction @ g2 >= 0


def test_pcgrad_without_conflict_is_the_sum():
    jacobian = np.abs(_RNG.normal(size=(4, 5)))
    np.testing.assert_allclose(
        _np(PCGrad()(jacobian)), jacobian.sum(axis=0), rtol=1e-12)


def _pcgrad_reference(jacobian, orders):
    projected = []
    for i, order in enumerate(orders):
        g = jacobian[i].copy()
        for j in order:
            if j != i and g @ jacobian[j] < 0:
                g -= (g @ jacobian[j]) / (jacobian[j] @ jacobian[j]) * (
                    jacobian[j])
        projected.append(g)
    return np.sum(projected, axis=0)


def test_pcgrad_matches_algorithm_1_for_some_order_and_reshuffles():
    # Three tasks in a plane with pairwise conflicts: the result depends
    # on the order, so it must match Algorithm 1 for one of the orders,
    # and over steps the random orders must change it.
    jacobian = np.array([[1.0, 0.0], [-0.6, 0.8], [-0.6, -0.9]])
    import itertools
    candidates = [
        _pcgrad_reference(jacobian, orders)
        for orders in itertools.product(
            itertools.permutations(range(3)), repeat=3)]
    aggregator = PCGrad(seed=0)
    seen = set()
    for _ in range(12):
        direction = _np(aggregator(jacobian))
        assert min(np.abs(direction - c).max() for c in candidates) < 1e-12
        seen.add(tuple(np.round(direction, 9)))
    assert len(seen) > 1
    # The same seed replays the same sequence of orders.
    first = [_np(PCGrad(seed=5)(jacobian)) for _ in range(1)]
    again = [_np(PCGrad(seed=5)(jacobian)) for _ in range(1)]
    np.testing.assert_allclose(first, again)


# ----------------------------------------------------------------------
# MGDA.


def _check_mgda_kkt(jacobian, alpha, tolerance):
    gramian = jacobian @ jacobian.T
    assert np.all(alpha >= -tolerance)
    assert abs(alpha.sum() - 1.0) < tolerance
    scale = np.max(np.diag(gramian))
    # Min-norm over the simplex: (G α)_t >= αᵀGα for all t, with equality
    # on the support.
    slack = (gramian @ alpha - alpha @ gramian @ alpha) / scale
    assert np.all(slack >= -tolerance), slack
    assert np.all(np.abs(slack[alpha > 1e-3]) < tolerance), slack


@pytest.mark.parametrize("method", ["enumerate", "active_set"])
def test_mgda_min_norm_kkt_and_no_conflict(method):
    rng = np.random.default_rng(1)
    for num_tasks in (2, 3, 5, 8):
        jacobian = rng.normal(size=(num_tasks, 10))
        aggregator = MGDA(method=method)
        alpha = _np(aggregator.task_weights(jacobian))
        _check_mgda_kkt(jacobian, alpha, 1e-8)
        direction = _np(aggregator(jacobian))
        # A common descent direction: g·g_t >= ‖g‖² for every task.
        assert np.all(jacobian @ direction >= direction @ direction - 1e-9)


def test_mgda_two_task_closed_form_and_float32():
    g1, g2 = np.array([2.0, 0.0]), np.array([0.0, 1.0])
    alpha = _np(MGDA().task_weights(np.stack([g1, g2])))
    expected = (g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2))
    np.testing.assert_allclose(alpha, [expected, 1 - expected], rtol=1e-12)
    jacobian = np.random.default_rng(2).normal(size=(4, 7))
    alpha = _np(MGDA().task_weights(jacobian.astype("float32")))
    _check_mgda_kkt(jacobian, alpha, 1e-4)


def test_mgda_l2_normalization_solves_on_unit_gradients():
    jacobian = np.array([[10.0, 0.0], [0.0, 1.0]])
    alpha = _np(MGDA(normalization="l2").task_weights(jacobian))
    np.testing.assert_allclose(alpha, [0.5, 0.5], rtol=1e-12)


# ----------------------------------------------------------------------
# UPGrad and DualProj.


def _dual_cone_projection(jacobian, x):
    """Reference: project x onto {y : J y >= 0} with scipy's NNLS."""
    lam, _ = optimize.nnls(jacobian.T, -x)
    return x + jacobian.T @ lam


def test_upgrad_and_dualproj_match_their_definitions():
    rng = np.random.default_rng(3)
    for num_tasks in (2, 3, 4, 7):
        jacobian = rng.normal(size=(num_tasks, 9))
        upgrad = np.mean([_dual_cone_projection(jacobian, g)
                          for g in jacobian], axis=0)
        dualproj = _dual_cone_projection(jacobian, jacobian.mean(axis=0))
        for method in ("enumerate", "active_set"):
            np.testing.assert_allclose(
                _np(UPGrad(method=method)(jacobian)), upgrad, atol=1e-9)
            np.testing.assert_allclose(
                _np(DualProj(method=method)(jacobian)), dualproj, atol=1e-9)


def test_upgrad_and_dualproj_without_conflict_are_the_mean():
    jacobian = np.abs(_RNG.normal(size=(4, 5)))
    for cls in (UPGrad, DualProj):
        np.testing.assert_allclose(
            _np(cls()(jacobian)), jacobian.mean(axis=0), rtol=1e-10)


# ----------------------------------------------------------------------
# CAGrad.


def _cagrad_reference(jacobian, c):
    gramian = jacobian @ jacobian.T
    num_tasks = len(jacobian)
    mean = np.full(num_tasks, 1.0 / num_tasks)
    radius = c * np.sqrt(mean @ gramian @ mean)

    def objective(w):
        return w @ gramian @ mean + radius * np.sqrt(w @ gramian @ w)

    best = None
    for start in np.eye(num_tasks).tolist() + [mean.tolist()]:
        result = optimize.minimize(
            objective, np.asarray(start) * 0.9 + 0.1 / num_tasks,
            bounds=[(0, 1)] * num_tasks, method="SLSQP",
            constraints=({"type": "eq", "fun": lambda w: w.sum() - 1},),
            options={"ftol": 1e-15, "maxiter": 1000})
        if best is None or result.fun < best.fun:
            best = result
    gw = best.x @ jacobian
    return jacobian.mean(axis=0) + radius * gw / np.linalg.norm(gw)


def test_cagrad_matches_the_papers_dual_and_its_constraints():
    rng = np.random.default_rng(4)
    for num_tasks in (2, 3, 5, 8):
        jacobian = rng.normal(size=(num_tasks, 12))
        g0 = jacobian.mean(axis=0)
        for c in (0.2, 1.5):
            # In a graph, as in the step: Frank-Wolfe (8 tasks) loops.
            aggregator = tf.function(CAGrad(c=c, rescale=0))
            direction = _np(aggregator(tf.constant(jacobian)))
            np.testing.assert_allclose(
                direction, _cagrad_reference(jacobian, c), rtol=1e-4,
                atol=1e-6)
            # In the ball, and no worse than g_0 for the worst task.
            assert np.linalg.norm(direction - g0) <= (
                c * np.linalg.norm(g0) * (1 + 1e-9))
            assert (jacobian @ direction).min() >= (jacobian @ g0).min()


def test_cagrad_c_zero_is_the_mean_and_rescale_divides():
    jacobian = _RNG.normal(size=(3, 5))
    np.testing.assert_allclose(
        _np(CAGrad(c=0.0)(jacobian)), jacobian.mean(axis=0), rtol=1e-12)
    raw = _np(CAGrad(c=0.5, rescale=0)(jacobian))
    np.testing.assert_allclose(
        _np(CAGrad(c=0.5, rescale=1)(jacobian)), raw / 1.25, rtol=1e-10)
    np.testing.assert_allclose(
        _np(CAGrad(c=0.5, rescale=2)(jacobian)), raw / 1.5, rtol=1e-10)


def test_cagrad_frank_wolfe_path_matches_enumeration():
    @tf.function
    def both(jacobian):
        gramian = tf.matmul(jacobian, jacobian, transpose_b=True)
        gramian = gramian / tf.reduce_max(tf.linalg.diag_part(gramian))
        mean = tf.ones((7,), tf.float64) / 7
        linear = tf.linalg.matvec(gramian, mean)
        radius = 0.5 * tf.sqrt(tf.reduce_sum(linear * mean))
        exact = _cagrad_dual.enumerate_dual(gramian, linear, radius)
        iterative = _cagrad_dual.polish_dual(
            gramian, linear, radius, _cagrad_dual.frank_wolfe_dual(
                gramian, linear, radius, 500))
        return exact, iterative

    rng = np.random.default_rng(5)
    for _ in range(3):
        exact, iterative = both(tf.constant(rng.normal(size=(7, 10))))
        np.testing.assert_allclose(_np(iterative), _np(exact), atol=1e-7)


# ----------------------------------------------------------------------
# IMTL-G.


def test_imtl_g_equal_projections_and_weights_sum_to_one():
    rng = np.random.default_rng(6)
    for num_tasks in (2, 3, 5):
        jacobian = rng.normal(size=(num_tasks, 8)) * rng.uniform(
            0.1, 10.0, size=(num_tasks, 1))
        aggregator = IMTLG()
        alpha = _np(aggregator.task_weights(jacobian))
        assert alpha.sum() == pytest.approx(1.0, abs=1e-10)
        direction = _np(aggregator(jacobian))
        projections = jacobian @ direction / np.linalg.norm(jacobian, axis=1)
        np.testing.assert_allclose(projections, projections[0], rtol=1e-8)


def test_imtl_g_paper_closed_form_and_zero_task():
    rng = np.random.default_rng(7)
    jacobian = rng.normal(size=(3, 6))
    units = jacobian / np.linalg.norm(jacobian, axis=1, keepdims=True)
    d = jacobian[0] - jacobian[1:]
    u = units[0] - units[1:]
    rest = jacobian[0] @ u.T @ np.linalg.inv(d @ u.T)
    expected = np.concatenate([[1 - rest.sum()], rest])
    np.testing.assert_allclose(
        _np(IMTLG().task_weights(jacobian)), expected, rtol=1e-8)
    with_zero = np.concatenate([jacobian[:2], np.zeros((1, 6))])
    alpha = _np(IMTLG().task_weights(with_zero))
    assert alpha[2] == 0.0 and alpha.sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------
# Property tests over random Jacobians.

_JACOBIANS = st.tuples(st.integers(1, 5), st.integers(1, 7)).flatmap(
    lambda shape: hnp.arrays(
        np.float64, shape,
        elements=st.floats(-100, 100, allow_nan=False, width=32)))


@settings(max_examples=25, deadline=None)
@given(jacobian=_JACOBIANS)
def test_property_non_conflicting_methods(jacobian):
    for name in NON_CONFLICTING:
        direction = _np(IDS[name]()(jacobian))
        assert np.all(np.isfinite(direction))
        assert _conflict(jacobian, direction) < 1e-7, name


@settings(max_examples=15, deadline=None)
@given(jacobian=_JACOBIANS)
def test_property_every_method_is_finite_and_shaped(jacobian):
    for name, cls in IDS.items():
        direction = _np(cls()(jacobian.astype("float32")))
        assert direction.shape == (jacobian.shape[1],)
        assert np.all(np.isfinite(direction)), name
