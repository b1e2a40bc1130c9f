"""The `"auto"` solver of `keras_mtl.aggregators._solvers` pinned down.

Against an exact enumeration for T = 2..8: every support set `S` gives a
candidate `x_S = -pinv(Q_SS) c_S` (float64 numpy); the optimum is the
feasible candidate of least objective (a convex QP over `x >= 0` has an
optimal point whose support has linearly independent columns, where the
candidate is exact). Beyond T = 8 (10, 14, 20) against the KKT
conditions. Gramians are well- and ill-conditioned, rank-deficient, or
have duplicate rows, in float32 and float64; hypothesis draws them
(derandomized under CI, tests/conftest.py).

Where `Q` is positive definite and well-conditioned the minimiser is
unique and `x` itself is compared, to 1e-6 relative in float64. Otherwise
the minimiser need not be unique but `Jᵀx` is (the objective is strictly
convex in it), so the comparison is in that norm, `‖Jᵀ(x - x*)‖`. In
float64 it is computed from `J` itself: through the Gramian,
`sqrt((x - x*)ᵀ G (x - x*))` rounds at `sqrt(eps) |x - x*|`, which is 1e-6
where two projections onto a thin dual cone differ by ~100 along the null
space of `J` (both with `Jᵀx = 0`). In float32 the rounded Gramian is the
problem solved, and its rounding floor is far below the tolerance.
"""

import itertools

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from keras_mtl.aggregators import _solvers

KINDS = ("well", "ill", "rank_deficient", "duplicate")
# float32 rounds the Gramian itself at ~6e-8 relative; the solver's eigh
# and rescaling add a few ulps per task. The "ill" Gramians hold a pair of
# rows parallel to 1e-3 (a condition number ~1e6 after the unit-diagonal
# rescale), which float32's rounding of G alone moves by ~1e-4.
TOLERANCE = {"float64": 1e-6, "float32": 2e-4}
ILL_FLOAT32_TOLERANCE = 2e-3


def jacobian(kind: str, num_tasks: int, rng: np.random.Generator):
    """A `[T, P]` Jacobian of the given kind."""
    dim = 3 * num_tasks
    if kind == "well":
        return rng.normal(size=(num_tasks, dim))
    if kind == "ill":  # norms over 8 decades, nearly parallel pairs
        base = rng.normal(size=(num_tasks, dim))
        base[1] = base[0] + 1e-3 * rng.normal(size=dim)
        return base * 10.0 ** rng.uniform(-4, 4, size=(num_tasks, 1))
    if kind == "rank_deficient":
        rank = max(1, num_tasks // 2)
        return rng.normal(size=(num_tasks, rank)) @ rng.normal(
            size=(rank, dim))
    rows = rng.normal(size=(num_tasks, dim))
    rows[-1] = rows[0]  # a duplicated task
    if num_tasks > 2:
        rows[-2] = 2.0 * rows[1]
    return rows


def exact_qp(quadratic: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """min ½ xᵀQx + cᵀx, x >= 0, by enumerating all supports.

    Solved for `y = D⁻¹x` with `D = diag(Q)^-½` (a positive diagonal
    change of variables keeps `x >= 0`), so that gradients whose norms
    differ by 8 decades do not fall below the pseudo-inverse's cut-off.
    """
    d = np.where(quadratic.diagonal() > 0, 1.0 / np.sqrt(np.where(
        quadratic.diagonal() > 0, quadratic.diagonal(), 1.0)), 1.0)
    return d * _exact_unit_qp(quadratic * d[:, None] * d[None], linear * d)


def _exact_unit_qp(quadratic: np.ndarray, linear: np.ndarray) -> np.ndarray:
    num_tasks = len(linear)
    scale = max(np.abs(quadratic).max(), np.abs(linear).max(), 1e-300)
    best, best_value = np.zeros(num_tasks), 0.0
    for support in itertools.product((False, True), repeat=num_tasks):
        s = np.array(support)
        if not s.any():
            continue
        x = np.zeros(num_tasks)
        x[s] = -np.linalg.pinv(quadratic[np.ix_(s, s)], rcond=1e-13) @ \
            linear[s]
        if np.any(x < -1e-12 * scale):
            continue
        x = np.maximum(x, 0.0)
        value = 0.5 * x @ quadratic @ x + linear @ x
        if value < best_value:
            best, best_value = x, value
    return best


def exact_min_norm(gramian: np.ndarray) -> np.ndarray:
    """min αᵀGα on the simplex, by enumerating all supports."""
    num_tasks = len(gramian)
    best, best_value = None, np.inf
    for support in itertools.product((False, True), repeat=num_tasks):
        s = np.array(support)
        if not s.any():
            continue
        k = int(s.sum())
        system = np.zeros((k + 1, k + 1))
        system[:k, :k] = gramian[np.ix_(s, s)]
        system[:k, k] = system[k, :k] = 1.0
        rhs = np.zeros(k + 1)
        rhs[k] = 1.0
        solution = np.linalg.lstsq(system, rhs, rcond=1e-13)[0]
        alpha = np.zeros(num_tasks)
        alpha[s] = solution[:k]
        if np.any(alpha < -1e-9) or abs(alpha.sum() - 1.0) > 1e-9:
            continue
        alpha = np.maximum(alpha, 0.0)
        value = alpha @ gramian @ alpha
        if value < best_value:
            best, best_value = alpha / alpha.sum(), value
    return best


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _norm(x, gramian):
    """‖Jᵀx‖ = sqrt(xᵀGx)."""
    return np.sqrt(max(x @ gramian @ x, 0.0))


def _gap(x, reference, gramian, scale):
    """‖Jᵀ(x - x*)‖ relative to the problem's scale: ‖Jᵀu‖ for the
    projection of `uᵀJ` (which can be 0 itself, when `uᵀJ` lies in the
    polar cone), the largest task gradient (1) for the min-norm point."""
    return _norm(x - reference, gramian) / max(scale, 1e-300)


def _problem(kind, num_tasks, seed, dtype):
    return _problem_and_jacobian(kind, num_tasks, seed, dtype)[:2]


def _problem_and_jacobian(kind, num_tasks, seed, dtype):
    """`(G, u, J)`: `G` rounded to `dtype`, `J` in float64."""
    rng = np.random.default_rng(seed)
    j = jacobian(kind, num_tasks, rng)
    j = j / np.sqrt((j * j).sum(axis=1)).max()  # ‖J‖ <= 1, as normalized
    gramian = (j @ j.T).astype(dtype).astype("float64")
    preference = rng.uniform(-1.0, 1.0, size=num_tasks)
    return gramian, preference, j


def _check_against_enumeration(kind, num_tasks, seed, dtype):
    gramian, u, j = _problem_and_jacobian(kind, num_tasks, seed, dtype)
    g = keras.ops.convert_to_tensor(gramian.astype(dtype))
    tolerance = TOLERANCE[dtype]
    if kind == "ill" and dtype == "float32":
        tolerance = ILL_FLOAT32_TOLERANCE
    normalized = gramian / gramian.diagonal().max()
    if dtype == "float64":  # ‖Jᵀx‖ from J (module docstring)
        factor = j / np.sqrt(gramian.diagonal().max())

        def norm(x):
            return np.linalg.norm(x @ factor)
    else:
        def norm(x):
            return _norm(x, normalized)
    # The dual-cone projection (UPGrad, DualProj): λ >= 0 minimising
    # ½ λᵀGλ + (Gu)ᵀλ on the normalized Gramian.
    v = _np(_solvers.dual_cone_weights(g, u.astype(dtype)))
    reference = u + exact_qp(normalized, normalized @ u)
    assert np.all(v - u >= -tolerance * np.abs(u).max())
    gap = norm(v - reference) / max(norm(u), 1e-300)
    assert gap <= tolerance, (kind, num_tasks, gap)
    # The min-norm point (MGDA).
    alpha = _np(_solvers.min_norm_weights(g))
    reference = exact_min_norm(normalized)
    assert np.all(alpha >= 0.0)
    assert abs(alpha.sum() - 1.0) <= tolerance
    gap = norm(alpha - reference)
    assert gap <= tolerance, (kind, num_tasks, gap)
    if kind == "well":  # unique minimiser: compare x itself
        c = np.random.default_rng(seed + 1).normal(size=num_tasks)
        x = _np(_solvers.nonnegative_qp(g, c.astype(dtype)))
        reference = exact_qp(gramian, c.astype(dtype).astype("float64"))
        condition = np.linalg.cond(gramian)
        assert np.linalg.norm(x - reference) <= tolerance * condition * max(
            np.linalg.norm(reference), 1e-12), (num_tasks, condition)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
def test_auto_matches_enumeration_for_each_task_count(kind, dtype):
    for num_tasks in range(2, 9):  # auto enumerates to 6, then active set
        _check_against_enumeration(kind, num_tasks, 100 + num_tasks, dtype)


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(
    kind=st.sampled_from(KINDS), num_tasks=st.integers(2, 8),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from(["float64", "float32"]))
def test_auto_matches_enumeration_on_random_gramians(
        kind, num_tasks, seed, dtype):
    _check_against_enumeration(kind, num_tasks, seed, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_tasks", [10, 14, 20])
def test_auto_meets_kkt_conditions_for_many_tasks(num_tasks, kind, dtype):
    gramian, u = _problem(kind, num_tasks, num_tasks, dtype)
    normalized = gramian / gramian.diagonal().max()
    tolerance = 10 * TOLERANCE[dtype]
    # Dual cone: λ = v - u >= 0, ∇ = Gλ + Gu = Gv >= 0, λᵀ∇ = 0.
    v = _np(_solvers.dual_cone_weights(
        keras.ops.convert_to_tensor(gramian.astype(dtype)), u.astype(dtype)))
    lam, grad = v - u, normalized @ v
    assert np.all(lam >= -tolerance) and np.all(grad >= -tolerance), (
        lam.min(), grad.min())
    assert abs(lam @ grad) <= tolerance * max(1.0, np.abs(lam).sum())
    # Min-norm: α on the simplex, (Gα)_i >= αᵀGα, equality on the support.
    alpha = _np(_solvers.min_norm_weights(
        keras.ops.convert_to_tensor(gramian.astype(dtype))))
    value = alpha @ normalized @ alpha
    grad = normalized @ alpha
    assert np.all(alpha >= 0.0) and abs(alpha.sum() - 1.0) <= tolerance
    assert np.all(grad >= value - tolerance)
    assert np.all(np.abs(grad - value)[alpha > 1e-3] <= tolerance)
