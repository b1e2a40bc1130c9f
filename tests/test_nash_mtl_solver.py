"""Nash-MTL's bargaining solver: the fixed point `G α = 1 / α` to tight
tolerance on random Gramians of T = 2..20 tasks, its degenerate cases, and
its cost in Newton iterations (issue 16: the solver must cost well under one
backward pass at T = 10..20)."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_mtl.aggregators import NashMTL
from keras_mtl.aggregators import nash_mtl


def _np(x):
    return ops.convert_to_numpy(x)


def _jacobian(kind, num_tasks, rng, params=40):
    """Task gradients `[T, P]` of one of the shapes met in training."""
    common = rng.normal(size=params)
    if kind == "gaussian":
        return rng.normal(size=(num_tasks, params))
    if kind == "scaled":  # norms spread over four decades
        return rng.normal(size=(num_tasks, params)) * rng.uniform(
            0.01, 100.0, size=(num_tasks, 1))
    if kind == "near_collinear":
        return common + 1e-2 * rng.normal(size=(num_tasks, params))
    if kind == "conflicting":
        return rng.normal(size=(num_tasks, params)) - 0.9 * common
    raise ValueError(kind)


KINDS = ("gaussian", "scaled", "near_collinear", "conflicting")


class _CountLoops:
    """Counts the `while_loop` iterations run eagerly (implementation
    agnostic: it counts body calls, whatever the body is)."""

    def __init__(self, monkeypatch):
        self.count = 0
        loop = ops.while_loop

        def counting(cond, body, loop_vars, **kwargs):
            def counted(*args):
                self.count += 1
                return body(*args)
            return loop(cond, counted, loop_vars, **kwargs)

        monkeypatch.setattr(nash_mtl.ops, "while_loop", counting)

    def solve(self, gramian, **kwargs):
        self.count = 0
        weights = _np(NashMTL(**kwargs).bargaining_weights(gramian))
        return weights, self.count


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-8),
                                         ("float32", 2e-5)])
@pytest.mark.parametrize("num_tasks", [2, 3, 5, 8, 10, 14, 20])
def test_fixed_point_on_random_gramians(num_tasks, dtype, rtol):
    rng = np.random.default_rng(num_tasks)
    for kind in KINDS:
        jacobian = _jacobian(kind, num_tasks, rng)
        gramian = (jacobian @ jacobian.T).astype(dtype)
        exact = gramian.astype("float64")  # what the solver was given
        alpha = _np(NashMTL(normalize=False).weights_from_gramian(gramian))
        assert alpha.dtype == dtype
        alpha = alpha.astype("float64")
        assert np.all(alpha > 0), kind
        # G α = 1 / α, i.e. every α_i (G α)_i = 1.
        np.testing.assert_allclose(alpha * (exact @ alpha), 1.0,
                                   rtol=rtol, err_msg=kind)
        # Normalised (the default): the condition for G / |G|_F.
        alpha = _np(NashMTL().weights_from_gramian(gramian)).astype(
            "float64")
        normalised = exact / np.linalg.norm(exact)
        np.testing.assert_allclose(alpha * (normalised @ alpha), 1.0,
                                   rtol=rtol, err_msg=kind)


def test_solution_is_the_minimiser():
    # ½ αᵀ G α - Σ log α is strictly convex; no nearby point is lower.
    rng = np.random.default_rng(3)
    jacobian = _jacobian("conflicting", 14, rng)
    gramian = jacobian @ jacobian.T
    alpha = _np(NashMTL(normalize=False).weights_from_gramian(gramian))

    def objective(a):
        return 0.5 * a @ gramian @ a - np.sum(np.log(a))

    best = objective(alpha)
    for _ in range(50):
        moved = alpha * np.exp(1e-4 * rng.normal(size=alpha.shape))
        assert objective(moved) > best


def test_newton_iterations_stay_few_at_fourteen_tasks(monkeypatch):
    # The old solver (start 1, full steps only once λ < 1/4, stop at
    # λ² < 1e-20) took 7-8 iterations on these gaussian problems, 14-18 on
    # near-collinear ones and 12-15 on conflicting ones; now every solve
    # takes at most 6, and 2 where the tasks are near-collinear.
    loops = _CountLoops(monkeypatch)
    rng = np.random.default_rng(14)
    counts = {kind: [] for kind in KINDS}
    for _ in range(5):
        for kind in KINDS:
            jacobian = _jacobian(kind, 14, rng)
            gramian = (jacobian @ jacobian.T).astype("float32")
            _, count = loops.solve(gramian)
            counts[kind].append(count)
    assert max(max(c) for c in counts.values()) <= 6, counts
    assert max(counts["near_collinear"]) <= 2, counts
    assert sum(sum(c) for c in counts.values()) <= 90, counts


def test_newton_iterations_stay_few_where_the_ridge_binds(monkeypatch):
    # Exactly opposite tasks or more tasks than gradient dimensions: the
    # ridge alone keeps the weights finite (they reach ~1e5) and the old
    # solver ran into `max_iterations` (100) in float64. Newton at most
    # doubles a weight per step here, so growing from ~1 to ~1e5 takes
    # some 17 steps whatever the damping.
    loops = _CountLoops(monkeypatch)
    rng = np.random.default_rng(5)
    opposite = rng.normal(size=(14, 40))
    opposite[1] = -opposite[0]
    low_rank = rng.normal(size=(14, 3)) @ rng.normal(size=(3, 40))
    for jacobian in (opposite, low_rank):
        gramian = jacobian @ jacobian.T
        weights, count = loops.solve(gramian)
        assert np.all(np.isfinite(weights)) and np.all(weights > 0)
        assert count <= 25


def test_graph_mode_counts_the_same_iterations(monkeypatch):
    loops = _CountLoops(monkeypatch)
    rng = np.random.default_rng(7)
    jacobian = _jacobian("gaussian", 10, rng)
    gramian = jacobian @ jacobian.T
    eager, count = loops.solve(gramian, normalize=False)
    matrix = gramian / np.sqrt(np.outer(np.diag(gramian), np.diag(gramian)))
    matrix = matrix + 1e-10 * np.eye(10)

    @tf.function
    def solve(m):
        return nash_mtl._solve(m, tf.eye(10, dtype="float64"), 100,
                               count=True)

    beta, traced = solve(tf.constant(matrix))
    assert int(traced) == count
    np.testing.assert_allclose(
        _np(beta) / np.sqrt(np.diag(gramian)), eager, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_opposite_tasks_get_the_ridge_solution(dtype):
    # G = |g|² [[1, -1], [-1, 1]] has no solution; with the ridge
    # r · diag(G) it is α_1 = α_2 = 1 / (|g| sqrt(r)), and the update
    # α_1 g - α_2 g vanishes.
    g = np.random.default_rng(2).normal(size=6)
    jacobian = np.stack([g, -g]).astype(dtype)
    aggregator = NashMTL(normalize=False)
    alpha = _np(aggregator.task_weights(jacobian)).astype("float64")
    eps = float(np.finfo(dtype).eps)
    ridge = max(aggregator.epsilon, 10.0 * eps)
    expected = 1.0 / (np.linalg.norm(g.astype(dtype)) * np.sqrt(ridge))
    np.testing.assert_allclose(alpha, [expected, expected], rtol=1e-5)
    update = _np(aggregator(jacobian)).astype("float64")
    assert np.linalg.norm(update) <= 1e-3 * np.linalg.norm(alpha[0] * g)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_and_parallel_tasks(dtype):
    rng = np.random.default_rng(4)
    g = rng.normal(size=(3, 8))
    # A zero gradient takes no part: weight 0, the rest solve their own
    # condition.
    jacobian = np.concatenate([g, np.zeros((1, 8))]).astype(dtype)
    alpha = _np(NashMTL(normalize=False).task_weights(jacobian)).astype(
        "float64")
    assert alpha[3] == 0.0
    gramian = g @ g.T
    np.testing.assert_allclose(alpha[:3] * (gramian @ alpha[:3]), 1.0,
                               rtol=1e-4 if dtype == "float32" else 1e-8)
    # All gradients zero: all weights 0.
    zero = _np(NashMTL().task_weights(np.zeros((4, 8), dtype)))
    np.testing.assert_array_equal(zero, 0.0)
    # Parallel gradients (rank one, no ridge needed): Σ_j α_j |g_j| = 1 /
    # (α_i |g_i|), so every α_i |g_i| = 1 / sqrt(T).
    parallel = (np.array([[1.0], [3.0], [0.5]]) * g[:1]).astype(dtype)
    alpha = _np(NashMTL(normalize=False).task_weights(parallel)).astype(
        "float64")
    norms = np.linalg.norm(parallel.astype("float64"), axis=1)
    np.testing.assert_allclose(alpha * norms, 1.0 / np.sqrt(3.0),
                               rtol=1e-5)


def test_non_finite_gramian_gives_non_finite_weights_at_once(monkeypatch):
    # The training step's guard handles a non-finite Gramian; the solver
    # must not spin on it.
    loops = _CountLoops(monkeypatch)
    gramian = np.eye(3)
    gramian[0, 1] = gramian[1, 0] = np.nan
    weights, count = loops.solve(gramian)
    assert not np.all(np.isfinite(weights))
    assert count <= 1


def test_weights_do_not_depend_on_earlier_calls():
    # No warm start: the solution depends on this Gramian only, so the
    # cached weights, update_frequency and rolled-back steps cannot change
    # it.
    rng = np.random.default_rng(8)
    first, second = (_jacobian("gaussian", 6, rng) for _ in range(2))
    aggregator = NashMTL()
    aggregator.task_weights(first)
    np.testing.assert_array_equal(
        _np(aggregator.task_weights(second)),
        _np(NashMTL().task_weights(second)))
