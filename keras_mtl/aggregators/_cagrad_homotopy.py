"""CAGrad's dual problem solved exactly by following its KKT path.

The dual problem of CAGrad, on the Gramian `G` (`a = G·mean`,
`s = c ‖g_0‖`),

```
minimize_w  F(w) = aᵀw + s ‖Jᵀw‖    over the simplex,
```

has, with `x = s w / ‖Jᵀw‖` and `λ = F(w)`, the KKT conditions of the
non-negative QP `min_{x >= 0} ½ xᵀGx - (λ1 - a)ᵀx`,

```
ν = a + Gx - λ1 >= 0,    x >= 0,    ν ⊙ x = 0,
```

plus the normalisation `xᵀGx = s²`. (`λ` is the optimal value: it is
also `max_{‖d - g_0‖ <= s} min_t g_tᵀd`, CAGrad's primal problem, with
`d = g_0 + Jᵀx` and `g_tᵀd = (a + Gx)_t`.) The QP's solution `x(λ)` is
piecewise linear in `λ`: on a support `S` it is `x_S = λp - q` with
`p = G_SS⁺ 1` and `q = G_SS⁺ a`, and `ψ(λ) = ‖Jᵀx(λ)‖²` grows with `λ`
(`ψ' = 2·1ᵀx >= 0`). So the solver is a homotopy, as LARS is for the
lasso and Lawson & Hanson's active-set method for non-negative least
squares: it starts from `x = 0` at `λ = min_t a_t` with the task of that
`a_t` as support and, in each `while_loop` iteration, moves `λ` to the
first event of the current piece:

- `ψ = s²` (solved exactly, a quadratic in the step): done;
- `x_i` reaches 0 for an `i` in `S`: `i` leaves;
- `ν_j` reaches 0 (falling) for a `j` outside `S`: `j` enters.

One iteration per support change: about the size of the final support,
never `2^T` work. Counted at 14 tasks: 4-6 iterations on the LeNet
benchmark's Gramians (where Frank-Wolfe ran 11 to all 500 of its
iterations), about 6 on average and at most 16 on random Gramians. Each
iteration solves the `T x T` system masked to `S` by one
eigendecomposition.

An index whose gradient is a linear combination of the support's only
enters at `λ = 0`, and then `1_S` leaves the range of `G_SS`: the QP's
solutions at `λ = 0` form a polytope, and the solver moves `x` along the
null direction of `G_SS` that raises `1ᵀx` (keeping `Jᵀx`) until an
index leaves. When no index blocks, `0` is in the convex hull of the
task gradients (a zero gradient, opposite gradients): `F`'s minimum is
`0`, at a `w` with `Jᵀw = 0` ("balanced"), where CAGrad steps along
`g_0`.

The problem is first rescaled to a unit diagonal (`x = D y`,
`D = diag(G)^(-1/2)`, so `1` becomes `D1`), which makes the path
indifferent to task gradient norms that differ by many orders of
magnitude. The answer carries a certificate: the duality gap
`F(w) - min_t g_tᵀd` with `d` in the ball.

References:
- Liu, Liu, Jin, Stone, Liu (2021). Conflict-Averse Gradient Descent for
  Multi-task Learning. NeurIPS. arXiv:2110.14048.
- Lawson, Hanson (1974). Solving Least Squares Problems, chapter 23.
  Prentice-Hall.
- Efron, Hastie, Johnstone, Tibshirani (2004). Least Angle Regression.
  Annals of Statistics 32(2). arXiv:math/0406456.
"""

from typing import Any

import numpy as np
from keras import ops

from keras_mtl.aggregators._cagrad_dual import dual_objective
from keras_mtl.aggregators._linalg import machine_epsilon as epsilon
from keras_mtl.aggregators._linalg import masked_systems
from keras_mtl.types import Tensor


def _matvec(matrix: Tensor, vector: Tensor) -> Tensor:
    return ops.matmul(matrix, vector[:, None])[:, 0]


def _first(values: Tensor, num_tasks: int, dtype: Any) -> Tensor:
    """One-hot of the smallest of `values`."""
    return ops.one_hot(ops.argmin(values), num_tasks, dtype=dtype)


def _solve_on(unit: Tensor, support: Tensor, e_s: Tensor,
              a_s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`p = G_SS⁺ e_S`, `q = G_SS⁺ a_S` and the part `delta` of `e_S` in
    the null space of `G_SS` (eigenvalues below `10 T ε` of the largest,
    as in `symmetric_pinv`), from one eigendecomposition; exact
    projections, so that `delta` is rounding noise unless `G_SS` is
    singular, however ill-conditioned it is."""
    system = masked_systems(unit, support[None])[0]
    values, vectors = ops.eigh(system)
    cutoff = 10.0 * unit.shape[0] * epsilon(unit.dtype) * ops.max(
        ops.abs(values))
    keep = values > cutoff
    inverse = ops.where(keep, 1.0 / ops.where(keep, values, 1.0), 0.0)
    coefficients = ops.matmul(
        ops.transpose(vectors), ops.stack([e_s, a_s], axis=1))
    p_q = ops.matmul(vectors, coefficients * inverse[:, None])
    null = ops.matmul(vectors, coefficients[:, :1] * ops.cast(
        ops.logical_not(keep), unit.dtype)[:, None])[:, 0]
    return p_q[:, 0] * support, p_q[:, 1] * support, null * support


def homotopy_dual(
    gramian: Tensor, linear: Tensor, radius: Tensor, max_iterations: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Minimises `F(w) = aᵀw + s ‖Jᵀw‖` over the simplex along the path.

    Args:
        gramian: `[T, T]` Gramian `G` (PSD).
        linear: `[T]` vector `a` (`G·mean` in CAGrad).
        radius: Scalar `s >= 0`.
        max_iterations: Cap on the path's iterations.

    Returns:
        `(w, balanced, certified, iterations)`: the minimiser on the
        simplex; whether the minimum is at `Jᵀw = 0`; whether the
        duality gap certifies `w` (False for non-finite inputs, for a
        path cut by `max_iterations` and where rounding broke the path);
        the number of iterations run.
    """
    dtype = gramian.dtype
    num_tasks = gramian.shape[0]
    tolerance = 10.0 * num_tasks * epsilon(dtype)
    finite = ops.logical_and(
        ops.all(ops.isfinite(gramian)),
        ops.logical_and(ops.all(ops.isfinite(linear)),
                        ops.isfinite(radius)))
    gramian = ops.where(finite, gramian, 0.0)
    linear = ops.where(finite, linear, 0.0)
    radius = ops.where(finite, radius, 0.0)
    diagonal = ops.diagonal(gramian)
    positive = diagonal > 0.0
    e = ops.where(positive, ops.rsqrt(ops.where(positive, diagonal, 1.0)),
                  1.0)
    unit = gramian * e[:, None] * e[None, :]
    unit = 0.5 * (unit + ops.transpose(unit))
    unit_abs = ops.abs(unit)
    a = linear * e
    target = radius ** 2

    def condition(i, lam, support, y, null, done, balanced):
        return ops.logical_and(i < max_iterations, ops.logical_not(done))

    def body(i, lam, support, y, null, done, balanced):
        e_s = e * support
        p, q, delta = _solve_on(unit, support, e_s, a * support)
        singular = ops.sqrt(ops.sum(delta ** 2)) > tolerance * ops.sqrt(
            ops.sum(e_s ** 2))

        # Regular piece: y_S = λp - q up to the next event.
        y_now = (lam * p - q) * support
        gy = _matvec(unit, y_now)
        room = ops.maximum(target - ops.sum(y_now * gy), 0.0)
        ey = ops.sum(e * y_now)
        # ψ(λ + h) = ψ + 2h·eᵀy + h²·eᵀp = s², its root in stable form.
        denominator = ey + ops.sqrt(
            ops.maximum(ey ** 2 + ops.sum(e * p) * room, 0.0))
        to_target = ops.where(
            denominator > 0.0,
            room / ops.where(denominator > 0.0, denominator, 1.0), 0.0)
        nu = a + gy - lam * e
        slope = _matvec(unit, p) - e
        magnitude = (ops.abs(a) + _matvec(unit_abs, ops.abs(
            y_now + to_target * p)) + ops.abs(lam + to_target) * e)
        # An index enters only if it would be infeasible at the target:
        # indices whose ν stays at 0 (copies of a support task) stay out.
        enters = ops.logical_and(
            ops.logical_and(support < 0.5, slope < 0.0),
            nu + slope * to_target < -tolerance * magnitude)
        enter_steps = ops.where(enters, ops.maximum(nu, 0.0) / ops.where(
            enters, -slope, 1.0), np.inf)
        leaves = ops.logical_and(support > 0.5, p < 0.0)
        leave_steps = ops.where(leaves, ops.maximum(y_now, 0.0) / ops.where(
            leaves, -p, 1.0), np.inf)
        enter_step = ops.min(enter_steps)
        leave_step = ops.min(leave_steps)
        arrived = to_target <= ops.minimum(enter_step, leave_step)
        drop = ops.logical_and(ops.logical_not(arrived),
                               leave_step <= enter_step)
        add = ops.logical_not(ops.logical_or(arrived, drop))
        step = ops.minimum(to_target, ops.minimum(enter_step, leave_step))
        dropped = _first(leave_steps, num_tasks, dtype) * ops.cast(
            drop, dtype)
        added = _first(enter_steps, num_tasks, dtype) * ops.cast(add, dtype)
        path_support = support - dropped + added
        path_y = ops.maximum(y_now + step * p, 0.0) * (support - dropped)

        # Singular: y += t·delta keeps Jᵀx and raises 1ᵀx, until a y_i
        # reaches 0 (it leaves); no such i: balanced.
        falls = ops.logical_and(support > 0.5, delta < -tolerance * ops.max(
            ops.abs(delta)))
        ratios = ops.where(falls, y / ops.where(falls, -delta, 1.0), np.inf)
        unbounded = ops.logical_not(ops.any(falls))
        blocked = _first(ratios, num_tasks, dtype) * ops.cast(
            ops.logical_not(unbounded), dtype)
        shift = ops.where(unbounded, 0.0, ops.min(ratios))
        null_y = ops.maximum(y + shift * delta, 0.0) * (support - blocked)

        new = (
            ops.where(singular, lam, lam + step),
            ops.where(singular, support - blocked, path_support),
            ops.where(singular, null_y, path_y),
            ops.where(ops.logical_and(singular, unbounded),
                      ops.maximum(delta, 0.0), null),
            ops.where(singular, unbounded, arrived),
            ops.logical_and(singular, unbounded),
        )
        old = (lam, support, y, null, done, balanced)
        return (i + 1,) + tuple(
            ops.where(done, before, after)
            for before, after in zip(old, new))

    first = _first(linear, num_tasks, dtype)
    zeros = ops.zeros_like(linear)
    state = (ops.convert_to_tensor(0), ops.min(linear), first, zeros,
             zeros, ops.logical_not(finite),
             ops.convert_to_tensor(False))
    iterations, _, _, y, null, done, balanced = ops.while_loop(
        condition, body, state)

    x = e * y  # back to the unscaled problem: x = s w / ‖Jᵀw‖
    total = ops.sum(x)
    w = ops.where(total > 0.0, x / ops.where(total > 0.0, total, 1.0),
                  first)
    balanced_w = e * null
    balanced_w = balanced_w / ops.where(
        ops.sum(balanced_w) > 0.0, ops.sum(balanced_w), 1.0)
    w = ops.where(balanced, balanced_w, w)
    certified = ops.logical_and(ops.logical_and(finite, done), _gap_closed(
        gramian, linear, radius, x, w, balanced, tolerance))
    return (ops.where(finite, w, np.nan), balanced, certified, iterations)


def _gap_closed(gramian: Tensor, linear: Tensor, radius: Tensor, x: Tensor,
                w: Tensor, balanced: Tensor, tolerance: float) -> Tensor:
    """Whether `F(w) - min_t g_tᵀd` vanishes, `d = g_0 + Jᵀx` pulled
    into the ball `‖d - g_0‖ <= s` (weak duality: `min_t g_tᵀd <= F*
    <= F(w)`). Balanced answers are held to `Jᵀw = 0` instead of `F`'s
    square root of rounding noise there."""
    gx = _matvec(gramian, x)
    norm_sq = ops.sum(x * gx)
    outside = norm_sq > radius ** 2
    pull = ops.where(outside, radius / ops.sqrt(
        ops.where(outside, norm_sq, 1.0)), 1.0)
    lower = ops.min(linear + pull * gx)
    w_norm_sq = ops.sum(_matvec(gramian, w) * w)
    upper = ops.where(
        balanced, ops.sum(linear * w),
        dual_objective(w[None], gramian, linear, radius)[0])
    # What rounding can reach in `a + Gx` and `F`: x can be large where
    # the path moved it along null directions of G.
    reference = ops.max(ops.abs(linear) + _matvec(
        ops.abs(gramian), ops.abs(x))) + radius + ops.abs(upper)
    closed = upper - lower <= 10.0 * tolerance * reference
    # `Jᵀw = 0` up to the eigenvalue cut-off of the null direction:
    # `10 T ε` of eigenvalues up to `T`.
    return ops.logical_and(closed, ops.logical_or(
        ops.logical_not(balanced), w_norm_sq <= gramian.shape[0] * tolerance))
