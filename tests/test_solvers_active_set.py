"""The active set of `keras_mtl.aggregators._solvers` (`_active_set.py`):
its warm start, its iteration counts and its termination.

The textbook Lawson-Hanson method starts from an empty support and adds
one task per iteration, so MGDA on T tasks that do not conflict (all
weights positive) cost T + 1 iterations of a `while_loop` in every step;
started from the guessed support `c < 0` it costs one. Any guess must
give the same, exact, solution. On rank-deficient Gramians the textbook
method cycled to its iteration cap (150 at T = 14) and, in float32,
stopped 1e-3 away from optimality.
"""

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from test_solvers import _gap
from test_solvers import _norm
from test_solvers import _problem
from test_solvers import exact_qp
from test_solvers import jacobian

from keras_mtl.aggregators import _solvers


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _iterations(quadratic, linear, **kwargs):
    return int(keras.ops.convert_to_numpy(
        _solvers.active_set_iterations(quadratic, linear, **kwargs)))


def _dual_cone_kkt(v, u, normalized):
    """Largest violation of λ = v - u >= 0, Gv >= 0, λ·Gv = 0."""
    lam, grad = v - u, v @ normalized
    return max(-lam.min(), -grad.min(), np.abs(lam * grad).max())


def _min_norm_kkt(alpha, normalized):
    """Largest violation of the simplex and (Gα)_i >= αᵀGα, with equality
    on the support."""
    value, grad = alpha @ normalized @ alpha, normalized @ alpha
    return max(-alpha.min(), abs(alpha.sum() - 1.0), (value - grad).max(),
               np.abs(grad - value)[alpha > 1e-3].max())


@pytest.mark.parametrize("num_tasks", [5, 10, 14, 20])
def test_tasks_without_conflict_take_one_or_two_iterations(num_tasks):
    # Random gradients in 4,000 dimensions are nearly orthogonal
    # (cosines ~ ±0.02), like the representation gradients of the LeNet
    # workload's heads (benchmarks/_lenet.py). Cold, MGDA took T + 1
    # iterations and UPGrad about 0.7 T.
    rng = np.random.default_rng(num_tasks)
    j = rng.normal(size=(num_tasks, 4000)) * rng.uniform(
        0.5, 2.0, size=(num_tasks, 1))
    gramian = (j @ j.T).astype("float32")
    assert _iterations(*_solvers.min_norm_problem(gramian)) == 1
    upgrad = _solvers.dual_cone_problem(
        gramian, np.eye(num_tasks, dtype="float32") / num_tasks)
    # The guess holds the tasks each gradient conflicts with; a
    # projection can create a few more small conflicts, one iteration
    # each.
    assert _iterations(*upgrad) <= (2 if num_tasks <= 14 else 4)
    dualproj = _solvers.dual_cone_problem(
        gramian, np.ones((1, num_tasks), "float32") / num_tasks)
    assert _iterations(*dualproj) == 1
    # A cold start (empty support) is the textbook method.
    quadratic, linear = _solvers.min_norm_problem(gramian)
    cold = _iterations(quadratic, linear,
                       support=np.zeros(num_tasks, "float32"))
    assert cold == num_tasks + 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("num_tasks", [14, 20])
def test_rank_deficient_gramians_end_without_cycling(num_tasks, dtype):
    for seed in range(5):
        j = jacobian("rank_deficient", num_tasks, np.random.default_rng(seed))
        gramian = (j @ j.T).astype(dtype)
        normalized = gramian.astype("float64") / gramian.diagonal().max()
        u = np.eye(num_tasks) / num_tasks
        problem = _solvers.dual_cone_problem(gramian, u.astype(dtype))
        assert _iterations(*problem) <= 2 * num_tasks, seed
        v = _np(_solvers.dual_cone_weights(
            gramian, u.astype(dtype), method="active_set"))
        # Solved in float64: exact for the float32 Gramian up to the
        # float32 normalisation and result (the cold float32 solver
        # stopped 9e-4 away).
        tolerance = 1e-9 if dtype == "float64" else 1e-5
        assert _dual_cone_kkt(v, u, normalized) <= tolerance, seed
        assert _iterations(*_solvers.min_norm_problem(gramian)) <= (
            2 * num_tasks), seed
        alpha = _np(_solvers.min_norm_weights(gramian, method="active_set"))
        assert _min_norm_kkt(alpha, normalized) <= tolerance, seed


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(
    kind=st.sampled_from(["well", "ill", "rank_deficient", "duplicate"]),
    num_tasks=st.integers(2, 8), seed=st.integers(0, 2**31 - 1),
    guess=st.integers(0, 2**8 - 1))
def test_any_support_guess_gives_the_exact_solution(
        kind, num_tasks, seed, guess):
    gramian, u = _problem(kind, num_tasks, seed, "float64")
    normalized = gramian / gramian.diagonal().max()
    support = np.array([(guess >> i) & 1 for i in range(num_tasks)],
                       "float64")
    lam = _np(_solvers.nonnegative_qp(
        normalized, normalized @ u, method="active_set", support=support))
    reference = exact_qp(normalized, normalized @ u)
    assert np.all(lam >= 0.0)
    gap = _gap(u + lam, u + reference, normalized, _norm(u, normalized))
    assert gap <= 1e-6, (kind, num_tasks, support, gap)


@pytest.mark.parametrize("num_tasks", [10, 14])
def test_batched_guesses_and_iteration_count_are_per_loop(num_tasks):
    # A batch of right-hand sides with different guesses (all, none, the
    # default) gives each row's own exact solution.
    rng = np.random.default_rng(0)
    j = rng.normal(size=(num_tasks, 3 * num_tasks))
    gramian = j @ j.T / np.max(np.sum(j * j, axis=1))
    linear = rng.normal(size=(3, num_tasks)) @ gramian
    support = np.stack([np.ones(num_tasks), np.zeros(num_tasks),
                        (linear[2] < 0).astype("float64")])
    together = _np(_solvers.nonnegative_qp(
        gramian, linear, method="active_set", support=support))
    for row, c in enumerate(linear):
        alone = _np(_solvers.nonnegative_qp(gramian, c, method="active_set"))
        np.testing.assert_allclose(together[row], alone, atol=1e-9)
        gradient = gramian @ alone + c
        assert gradient.min() >= -1e-9
        assert np.abs(gradient * alone).max() <= 1e-9
