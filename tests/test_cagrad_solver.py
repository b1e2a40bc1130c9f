"""CAGrad's dual solver for more than six tasks (the homotopy) pinned down.

The dual `min_{w in simplex} F(w) = aᵀw + s ‖Jᵀw‖` (`a = G·mean`,
`s = c ‖g_0‖`, on the Gramian normalised as in `CAGrad`) is solved for
T > 6 by following its KKT path (`_cagrad_homotopy.py`). Here:

- against the exact support enumeration (`enumerate_dual`, exact at any T,
  only slow) at T = 7..10: objectives in float64 numpy, weights where the
  minimiser is unique (`G` of full rank and `s > 0`: `F` is then strictly
  convex on the simplex);
- against the optimality conditions at T = 12..20 and against Frank-Wolfe
  with many iterations;
- its cost: while_loop iterations on random T = 10 and 14 problems (the
  Frank-Wolfe loop it replaces always ran all 500 of its iterations);
- degenerate inputs (c = 0, zero, identical, opposite, parallel gradients,
  rank-deficient Gramians, norms 1e6 apart) and non-finite Gramians.

Problems are drawn by hypothesis (derandomized under CI, tests/conftest.py)
from a seed: Jacobians with P from 1 (rank one) to 30 columns, row norms
spread over up to e^±6, and c from 0 to 10. "Balanced" problems (0 in the
convex hull of the gradients, `F`'s minimum 0 at `Jᵀw = 0`) are compared
by that property: `F` is the square root of rounding noise there.
"""

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mtl.aggregators import CAGrad
from keras_mtl.aggregators import _cagrad_dual
from keras_mtl.aggregators import cagrad as cagrad_module
from keras_mtl.aggregators._cagrad_homotopy import homotopy_dual
from keras_mtl.aggregators._solvers import normalize_gramian

DTYPES = ("float64", "float32")
# How far above the exact optimum the homotopy may land, relative to
# max|a| + s (the scale of F): float32 rounds the Gramian itself at 6e-8.
OBJECTIVE_TOLERANCE = {"float64": 1e-10, "float32": 1e-6}
C_VALUES = (0.0, 0.1, 0.5, 1.0, 3.0, 10.0)


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _random_jacobian(rng, num_tasks):
    columns = int(rng.integers(1, 31))
    spread = rng.choice([0.0, 1.0, 3.0])
    scales = np.exp(spread * rng.normal(size=(num_tasks, 1)))
    return rng.normal(size=(num_tasks, columns)) * scales


def _problem(jacobian, c, dtype):
    """`(G, a, s)` as `CAGrad.weights_from_gramian` builds them."""
    gramian = normalize_gramian(
        keras.ops.convert_to_tensor(jacobian @ jacobian.T, dtype))
    num_tasks = jacobian.shape[0]
    mean = keras.ops.ones((num_tasks,), dtype) / num_tasks
    linear = keras.ops.matmul(gramian, mean[:, None])[:, 0]
    radius = c * keras.ops.sqrt(
        keras.ops.maximum(keras.ops.sum(linear * mean), 0.0))
    return gramian, linear, radius


def _objective(w, problem):
    gramian, linear, radius = (_np(v) for v in problem)
    w = _np(w)
    return w @ linear + radius * np.sqrt(max(w @ gramian @ w, 0.0))


def _scale(problem):
    return np.abs(_np(problem[1])).max() + _np(problem[2]) + 1e-30


def _homotopy(problem):
    num_tasks = problem[0].shape[0]
    w, balanced, certified, iterations = homotopy_dual(
        *problem, cagrad_module.path_iterations(num_tasks))
    return _np(w), bool(balanced), bool(certified), int(iterations)


def _check_against(reference_w, w, balanced, problem, dtype):
    """`w` is optimal to the tolerance, judged against `reference_w`."""
    scale = _scale(problem)
    gramian = _np(problem[0])
    assert np.all(w >= 0.0) and w.sum() == pytest.approx(1.0, abs=1e-6)
    reference = _objective(reference_w, problem)
    if balanced:
        # F's minimum is 0, at Jᵀw = 0 to the eigenvalue cut-off of the
        # solver (10 T ε of eigenvalues up to T): F is known there to
        # its square root.
        threshold = 10 * len(w) ** 2 * np.finfo(dtype).eps
        assert w @ gramian @ w <= threshold
        assert reference >= -np.sqrt(threshold) * scale
    else:
        assert _objective(w, problem) <= (
            reference + OBJECTIVE_TOLERANCE[dtype] * scale)


# ----------------------------------------------------------------------
# Against the exact enumeration, T = 7..10.


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(seed=st.integers(0, 2 ** 32 - 1),
                  num_tasks=st.integers(7, 10),
                  c=st.sampled_from(C_VALUES))
def test_homotopy_matches_enumeration(seed, num_tasks, c):
    rng = np.random.default_rng(seed)
    jacobian = _random_jacobian(rng, num_tasks)
    exact_problem = _problem(jacobian, c, "float64")
    exact = _np(_cagrad_dual.enumerate_dual(*exact_problem))
    for dtype in DTYPES:
        problem = _problem(jacobian, c, dtype)
        w, balanced, certified, _ = _homotopy(problem)
        assert certified, (dtype, seed)
        # float32's answer judged on the float64 problem.
        _check_against(exact, w, balanced, exact_problem
                       if dtype == "float32" else problem, dtype)
    # Full rank and s > 0: F strictly convex, one minimiser.
    w, balanced, _, _ = _homotopy(exact_problem)
    gramian = _np(exact_problem[0])
    eigenvalues = np.linalg.eigvalsh(gramian)
    if c > 0 and not balanced and eigenvalues[0] > 1e-6 * eigenvalues[-1]:
        np.testing.assert_allclose(w, exact, atol=1e-6)


def test_well_conditioned_weights_match_enumeration_in_both_dtypes():
    rng = np.random.default_rng(11)
    for num_tasks in (7, 8, 10):
        jacobian = rng.normal(size=(num_tasks, 3 * num_tasks))
        for c in (0.2, 0.5, 2.0):
            for dtype in DTYPES:
                problem = _problem(jacobian, c, dtype)
                exact = _np(_cagrad_dual.enumerate_dual(
                    *_problem(jacobian, c, "float64")))
                w, balanced, certified, _ = _homotopy(problem)
                assert certified and not balanced
                np.testing.assert_allclose(
                    w, exact, atol=1e-8 if dtype == "float64" else 1e-4)


# ----------------------------------------------------------------------
# Optimality conditions beyond enumeration, T = 12..20.


def _kkt_residuals(w, problem):
    """Largest violations of stationarity on the support, dual feasibility
    off it, in units of the problem, for `w` not balanced:
    `ν = a + s Gw/‖Jᵀw‖ - F(w) 1` must be 0 where `w > 0`, >= 0
    elsewhere."""
    gramian, linear, radius = (_np(v) for v in problem)
    norm = np.sqrt(w @ gramian @ w)
    nu = linear + radius * gramian @ w / norm - _objective(w, problem)
    support = w > 1e-9 * w.max()
    stationarity = np.abs(nu[support]).max()
    infeasibility = max(0.0, -nu[~support].min()) if (~support).any() else 0
    return stationarity, infeasibility


@hypothesis.settings(max_examples=20, deadline=None)
@hypothesis.given(seed=st.integers(0, 2 ** 32 - 1),
                  num_tasks=st.integers(12, 20),
                  c=st.sampled_from(C_VALUES[1:]))
def test_homotopy_meets_the_optimality_conditions(seed, num_tasks, c):
    rng = np.random.default_rng(seed)
    jacobian = _random_jacobian(rng, num_tasks)
    for dtype in DTYPES:
        problem = _problem(jacobian, c, dtype)
        w, balanced, certified, iterations = _homotopy(problem)
        assert certified and iterations <= 3 * num_tasks, (dtype, seed)
        scale = _scale(problem)
        gramian = _np(problem[0])
        assert np.all(w >= 0.0) and w.sum() == pytest.approx(1.0, abs=1e-6)
        if balanced:
            assert w @ gramian @ w <= 10 * num_tasks ** 2 * np.finfo(
                dtype).eps
            continue
        stationarity, infeasibility = _kkt_residuals(w, problem)
        tolerance = 1e-8 if dtype == "float64" else 1e-3
        assert stationarity <= tolerance * scale, (dtype, seed)
        assert infeasibility <= tolerance * scale, (dtype, seed)


def test_homotopy_not_above_frank_wolfe_with_many_iterations():
    rng = np.random.default_rng(17)
    for num_tasks in (12, 16, 20):
        for c in (0.5, 3.0):
            jacobian = _random_jacobian(rng, num_tasks)
            problem = _problem(jacobian, c, "float64")
            w, balanced, _, _ = _homotopy(problem)
            frank_wolfe = tf.function(lambda *p: _cagrad_dual.polish_dual(
                *p, _cagrad_dual.frank_wolfe_dual(*p, 3000)))(*problem)
            _check_against(_np(frank_wolfe), w, balanced, problem,
                           "float64")


# ----------------------------------------------------------------------
# Cost: while_loop iterations, deterministic.


def test_iterations_stay_far_below_frank_wolfe():
    rng = np.random.default_rng(2026)
    for num_tasks, bound in ((10, 20), (14, 25)):
        counts = []
        for _ in range(20):
            jacobian = rng.normal(size=(num_tasks, 64)) * np.exp(
                rng.normal(size=(num_tasks, 1)))
            for dtype in DTYPES:
                problem = _problem(jacobian, 0.5, dtype)
                _, _, certified, iterations = _homotopy(problem)
                assert certified
                counts.append(iterations)
        # Frank-Wolfe ran its 500 iterations on every one of these.
        assert max(counts) <= bound, counts
        assert np.mean(counts) <= num_tasks, counts


def test_in_a_graph_the_loop_runs_the_counted_iterations():
    rng = np.random.default_rng(3)
    jacobian = rng.normal(size=(14, 40))
    problem = _problem(jacobian, 0.5, "float32")
    traced = tf.function(lambda *p: homotopy_dual(*p, 52))
    w_graph, _, certified, iterations = traced(*problem)
    w_eager, _, _, eager_iterations = homotopy_dual(*problem, 52)
    assert bool(certified) and int(iterations) == int(eager_iterations)
    assert int(iterations) <= 25
    np.testing.assert_allclose(_np(w_graph), _np(w_eager), atol=1e-5)


# ----------------------------------------------------------------------
# Through CAGrad: degenerate inputs, the safeguard, non-finite inputs.


def _enumerated_direction(jacobian, c):
    """CAGrad's direction (rescale=0) from the enumeration, float64."""
    problem = _problem(jacobian, c, "float64")
    gramian, radius = _np(problem[0]), _np(problem[2])
    w = _np(_cagrad_dual.enumerate_dual(*problem))
    norm_sq = w @ gramian @ w
    num_tasks = len(w)
    scale = radius / np.sqrt(norm_sq) if norm_sq > 10 * num_tasks * (
        np.finfo("float64").eps) else 0.0
    return (np.full(num_tasks, 1.0 / num_tasks) + scale * w) @ jacobian


def _degenerate(num_tasks, rng):
    base = rng.normal(size=(num_tasks, 12))
    g = base[0]
    half = num_tasks // 2
    return {
        "zero": np.zeros((num_tasks, 12)),
        "identical": np.stack([g] * num_tasks),
        "one_zero_task": np.concatenate([base[1:], np.zeros((1, 12))]),
        "opposite_pairs": np.stack([g, -g] * half),
        "opposite_and_others": np.concatenate([[g, -g], base[2:]]),
        "parallel": np.stack([g * k for k in np.linspace(
            0.5, 3.0, num_tasks)]),
        "parallel_both_signs": np.stack([g * k for k in np.linspace(
            -1.0, 3.0, num_tasks)]),
        "rank_two": rng.normal(size=(num_tasks, 2)) @ rng.normal(
            size=(2, 12)),
        "duplicate_rows": np.repeat(base[:half], 2, axis=0),
        "norms_1e6_apart": base * np.logspace(-3, 3, num_tasks)[:, None],
    }


@pytest.mark.parametrize("num_tasks", [8, 14])
def test_degenerate_inputs(num_tasks):
    rng = np.random.default_rng(num_tasks)
    for case, jacobian in _degenerate(num_tasks, rng).items():
        g0 = jacobian.mean(axis=0)
        for c in (0.0, 0.5, 2.0):
            expected = (_enumerated_direction(jacobian, c)
                        if num_tasks == 8 else None)
            for dtype in DTYPES:
                direction = _np(CAGrad(c=c, rescale=0)(
                    jacobian.astype(dtype)))
                assert np.all(np.isfinite(direction)), (case, c, dtype)
                size = np.abs(jacobian).max() * (1 + c) + 1e-30
                atol = (1e-7 if dtype == "float64" else 1e-3) * size
                if c == 0.0:
                    np.testing.assert_allclose(direction, g0, atol=atol)
                if expected is not None and case != "norms_1e6_apart" or (
                        expected is not None and dtype == "float64"):
                    np.testing.assert_allclose(direction, expected,
                                               atol=atol, err_msg=case)
                # In the ball, and the worst task no worse off than g_0.
                radius = c * np.linalg.norm(g0)
                assert np.linalg.norm(direction - g0) <= radius + atol
                assert (jacobian @ direction).min() >= (
                    (jacobian @ g0).min() - atol * np.abs(jacobian).max())


def test_closed_forms_identical_and_parallel_gradients():
    g = np.random.default_rng(9).normal(size=7)
    for num_tasks in (8, 14):
        for dtype in DTYPES:
            for c in (0.5, 2.0):
                identical = np.stack([g] * num_tasks).astype(dtype)
                np.testing.assert_allclose(
                    _np(CAGrad(c=c)(identical)),
                    g * (1 + c) / (1 + c ** 2), rtol=1e-5)
                # g_t = k_t g: the ball's step goes along g, so
                # d = mean(k) (1 + c) g.
                k = np.linspace(0.5, 3.0, num_tasks)
                parallel = (k[:, None] * g).astype(dtype)
                np.testing.assert_allclose(
                    _np(CAGrad(c=c, rescale=0)(parallel)),
                    k.mean() * (1 + c) * g, rtol=1e-5)


def test_balanced_gradients_step_along_the_mean():
    # 0 in the convex hull of the gradients (a zero task, a pair of
    # opposite ones) and c >= 1 (d = 0 is in the ball): no direction
    # helps every task, F's minimum is 0 at Jᵀw = 0, and CAGrad steps
    # along g_0.
    rng = np.random.default_rng(12)
    for num_tasks in (8, 14):
        jacobian = np.concatenate([rng.normal(size=(num_tasks - 2, 9)),
                                   np.zeros((1, 9))])
        jacobian = np.concatenate([jacobian, -jacobian[:1]])
        for dtype in DTYPES:
            problem = _problem(jacobian, 2.0, dtype)
            w, balanced, certified, _ = _homotopy(problem)
            assert balanced and certified
            assert w @ jacobian @ jacobian.T @ w <= 1e-6 * np.abs(
                jacobian).max() ** 2
            np.testing.assert_allclose(
                _np(CAGrad(c=2.0, rescale=0)(jacobian.astype(dtype))),
                jacobian.mean(axis=0), rtol=1e-5, atol=1e-7)


def test_ordinary_problems_never_reach_the_safeguard(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Frank-Wolfe ran")

    monkeypatch.setattr(cagrad_module, "frank_wolfe_dual", refuse)
    rng = np.random.default_rng(13)
    for num_tasks in (7, 10, 14, 20):
        for dtype in DTYPES:
            jacobian = rng.normal(size=(num_tasks, 30)).astype(dtype)
            assert np.all(np.isfinite(_np(CAGrad()(jacobian))))


def test_the_safeguard_takes_over_an_uncertified_path(monkeypatch):
    # Cut the path after one iteration: Frank-Wolfe and the polish give
    # the exact answer instead.
    monkeypatch.setattr(cagrad_module, "path_iterations", lambda t: 1)
    rng = np.random.default_rng(14)
    jacobian = rng.normal(size=(8, 20))
    safeguarded = tf.function(CAGrad(c=0.5, rescale=0))
    np.testing.assert_allclose(
        _np(safeguarded(tf.constant(jacobian))),
        _enumerated_direction(jacobian, 0.5), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gramians_behave_as_before(bad):
    # As for T <= 6 and before the homotopy: mean weights (the
    # non-finite rows then make the direction non-finite, which the
    # step's guard sees), and no solver loop runs.
    rng = np.random.default_rng(15)
    for num_tasks in (8, 14):
        jacobian = rng.normal(size=(num_tasks, 6))
        jacobian[1, 2] = bad
        for dtype in DTYPES:
            aggregator = CAGrad(c=0.5)
            weights = _np(aggregator.task_weights(jacobian.astype(dtype)))
            np.testing.assert_allclose(
                weights, np.full(num_tasks, 1 / num_tasks) / 1.25)
            direction = _np(aggregator(jacobian.astype(dtype)))
            assert not np.isfinite(direction[2])
            gramian = np.full((num_tasks, num_tasks), bad)
            w, _, certified, iterations = homotopy_dual(
                gramian.astype(dtype), np.ones(num_tasks, dtype),
                np.asarray(0.5, dtype), 52)
            assert int(iterations) == 0 and not bool(certified)
            assert np.all(np.isnan(_np(w)))


@pytest.mark.parametrize("num_tasks", [8, 14])
def test_graph_and_xla_match_eager(num_tasks):
    jacobian = tf.constant(np.random.default_rng(16).normal(
        size=(num_tasks, 10)), tf.float32)
    eager = _np(CAGrad()(jacobian))
    for jit in (False, True):
        compiled = tf.function(CAGrad(), jit_compile=jit)
        np.testing.assert_allclose(_np(compiled(jacobian)), eager,
                                   rtol=1e-4, atol=1e-5)
