"""In-graph solvers for the small problems inside gradient aggregation.

Every problem here lives in task space (`T` unknowns, `T` the number of
tasks) and is posed on the Gramian `G = J Jᵀ` of the per-task gradients,
so it costs nothing next to the backward passes that produce `J`. All of
it is `keras.ops` (no scipy, cvxpy or host round trip), takes float32
and float64 (and solves in float64 either way), and traces into
`tf.function` and XLA.

The workhorse is a convex quadratic program over the non-negative orthant,

```
minimize_x  ½ xᵀ Q x + cᵀ x    subject to  x >= 0,    (Q PSD)
```

which covers the min-norm point of MGDA (Sener & Koltun, 2018) and the
projections onto the dual cone of UPGrad and DualProj (Quinton & Rey,
2024). It is solved exactly:

- `"enumerate"` (small `T`): every support set `F` gives the candidate
  `x_F = -pinv(Q_FF) c_F`, `x = 0` elsewhere, clipped to `x >= 0`; the
  candidate of least objective is returned. There is always an optimal
  point whose support has linearly independent columns, so the solution
  is among the candidates. The `2^T` eigendecompositions do not depend on
  `c`, so many right-hand sides share them, and there is no loop in the
  graph. The objective bounds the distance to the optimum,
  `f(x) - f* >= ½ ‖Jᵀ(x - x*)‖²`; the KKT violation, which ranked them
  before, does not (tests/test_solvers_ill.py).
- `"active_set"` (larger `T`): the Lawson-Hanson active-set method in its
  Gramian form, batched over right-hand sides, inside one `while_loop`,
  started from a guess of the support rather than from an empty one (on
  the representation Gramians of a LeNet trunk at T = 10, it takes 1 or 2
  iterations where the cold start took T + 1 for MGDA).

Both work in float64 whatever the input, and first rescale the problem so
that `Q` has a unit diagonal (a positive diagonal change of variables
keeps `x >= 0`), which makes them indifferent to task gradients whose
norms differ by many orders of magnitude.

References:
- Lawson, Hanson (1974). Solving Least Squares Problems, chapter 23.
  Prentice-Hall.
"""

import itertools
from typing import Any

import numpy as np
from keras import ops

from keras_mtl.aggregators._active_set import lawson_hanson
from keras_mtl.aggregators._linalg import machine_epsilon as _epsilon
from keras_mtl.aggregators._linalg import masked_systems
from keras_mtl.aggregators._linalg import pseudo_inverse_values
from keras_mtl.types import Tensor

# Largest number of tasks for which "auto" enumerates the 2^T support sets.
ENUMERATION_MAX_TASKS = 6
METHODS = ("auto", "enumerate", "active_set")


def check_method(method: str) -> str:
    """Returns `method` if it names a solver of `nonnegative_qp`, else
    raises a `ValueError` listing the choices."""
    if method not in METHODS:
        raise ValueError(
            f"Argument `method` must be one of {list(METHODS)}. "
            f"Received: method={method!r}.")
    return method


def symmetric_pinv(matrix: Tensor, rcond: float | None = None) -> Tensor:
    """The pseudo-inverse of a (batch of) symmetric matrices.

    Eigenvalues below `rcond * max|eigenvalue|` (and negative rounding
    noise of PSD inputs) are treated as zero, so singular inputs give
    finite results instead of the errors of `solve`; non-finite inputs
    give NaN instead of the error of `eigh`.

    Args:
        matrix: `[..., n, n]` symmetric tensor.
        rcond: Relative cut-off; default `10 * n * epsilon`.

    Returns:
        `[..., n, n]` tensor.
    """
    matrix = ops.convert_to_tensor(matrix)
    n = matrix.shape[-1]
    if rcond is None:
        rcond = 10.0 * n * _epsilon(matrix.dtype)
    # eigh raises on non-finite input (an overflowing loss-scaled step):
    # decompose a finite stand-in and return NaN for those matrices.
    finite = ops.all(ops.isfinite(matrix), axis=(-2, -1))
    matrix = ops.where(finite[..., None, None], matrix, 0.0)
    values, vectors = ops.eigh(matrix)
    cutoff = rcond * ops.max(ops.abs(values), axis=-1, keepdims=True)
    keep = values > cutoff
    inverse = ops.where(keep, 1.0 / ops.where(keep, values, 1.0), 0.0)
    result = ops.matmul(vectors * inverse[..., None, :],
                        ops.swapaxes(vectors, -1, -2))
    return ops.where(finite[..., None, None], result, np.nan)


def support_masks(num_tasks: int, dtype: Any) -> Tensor:
    """All `2^T` subsets of the tasks as 0/1 rows: `[2^T, T]`."""
    rows = list(itertools.product((0.0, 1.0), repeat=num_tasks))
    return ops.convert_to_tensor(np.asarray(rows), dtype=dtype)


def _enumerate(quadratic: Tensor, linear: Tensor) -> Tensor:
    num_tasks = quadratic.shape[-1]
    # eigh raises on non-finite input: solve a finite stand-in and return
    # NaN, as the active set does.
    finite = ops.logical_and(ops.all(ops.isfinite(quadratic)),
                             ops.all(ops.isfinite(linear)))
    quadratic = ops.where(finite, quadratic, 0.0)
    linear = ops.where(finite, linear, 0.0)
    masks = support_masks(num_tasks, quadratic.dtype)  # [S, T]
    # One eigendecomposition per support, shared by the batch; each
    # system solved as V (Λ⁺ (Vᵀ b)) (see `pseudo_inverse_values`).
    values, vectors = ops.eigh(masked_systems(quadratic, masks))
    inverse = pseudo_inverse_values(
        values, 10.0 * num_tasks * _epsilon(quadratic.dtype))
    rhs = -masks[None] * linear[:, None, :]  # [B, S, T]
    along = ops.einsum("sji,bsj->bsi", vectors, rhs) * inverse[None]
    x = ops.maximum(
        ops.einsum("sij,bsj->bsi", vectors, along) * masks[None], 0.0)
    # Every candidate, clipped to x >= 0, is a feasible point: the best
    # is the one of least objective (twice it here, xᵀQx + 2cᵀx).
    twice = ops.sum(x * (ops.einsum("bsi,ij->bsj", x, quadratic)
                         + 2.0 * linear[:, None, :]), axis=-1)
    best = ops.argmin(twice, axis=-1)  # [B]
    chosen = ops.take_along_axis(x, best[:, None, None], axis=1)[:, 0]
    return ops.where(finite, chosen, np.nan)


def nonnegative_qp(
    quadratic: Tensor,
    linear: Tensor,
    method: str = "auto",
    max_iterations: int | None = None,
    support: Tensor | None = None,
) -> Tensor:
    """Solves `min_x ½ xᵀ Q x + cᵀ x` subject to `x >= 0`, exactly.

    Args:
        quadratic: `[T, T]` symmetric positive semi-definite `Q`.
        linear: `[T]` or `[B, T]` (a batch of problems sharing `Q`) `c`.
            The problem must be bounded below, e.g. `c` in the range of
            `Q`, as in every use in keras_mtl.
        method: `"enumerate"` (exact, loop-free, `2^T` small systems),
            `"active_set"` (Lawson-Hanson) or `"auto"` (enumerate up to
            `ENUMERATION_MAX_TASKS` tasks).
        max_iterations: Cap on active-set iterations (default `10 T + 10`).
        support: Optional guess of the support of `x`, with the shape of
            `linear` (bool or 0/1), where the active set starts; default
            `c < 0`, the coordinates whose objective falls as they leave
            0 (for MGDA all tasks, for a dual-cone projection of `uᵀ J`
            the tasks that `uᵀ J` conflicts with). It only changes the
            number of active-set iterations, never the solution; the
            enumeration ignores it.

    Returns:
        `x` with the shape of `linear`, non-negative.
    """
    return _solve(quadratic, linear, method, max_iterations, support)[0]


def active_set_iterations(
    quadratic: Tensor, linear: Tensor, max_iterations: int | None = None,
    support: Tensor | None = None,
) -> Tensor:
    """The number of iterations `nonnegative_qp(..., method="active_set")`
    takes on this problem (for a batch of right-hand sides, the loop's:
    that of the slowest row). For profiles and tests."""
    return _solve(quadratic, linear, "active_set", max_iterations,
                  support)[1]


def _solve(quadratic: Tensor, linear: Tensor, method: str,
           max_iterations: int | None, support: Tensor | None) -> tuple:
    """`(x, active-set iterations or 0)` of `nonnegative_qp`."""
    check_method(method)
    quadratic = ops.convert_to_tensor(quadratic)
    dtype = quadratic.dtype
    # In float64 whatever the input: a [T, T] problem costs no more. In
    # float32 the active set lost ~1e-3 of the solution on gradients whose
    # norms differ by decades, and the enumeration missed projections
    # with weights ~500 by 0.8 ‖Jᵀu‖ (tests/test_solvers_ill.py).
    quadratic = ops.cast(quadratic, "float64")
    linear = ops.cast(linear, "float64")
    squeeze = len(linear.shape) == 1
    if squeeze:
        linear = linear[None]
    if support is None:
        support = linear < 0.0
    else:
        support = ops.cast(support, "float64") > 0.5
        if squeeze:
            support = support[None]
    num_tasks = quadratic.shape[-1]
    diagonal = ops.diagonal(quadratic)
    scale = ops.where(diagonal > 0.0,
                      ops.rsqrt(ops.where(diagonal > 0.0, diagonal, 1.0)),
                      1.0)
    unit = (quadratic * scale[:, None]) * scale[None, :]
    unit = 0.5 * (unit + ops.transpose(unit))
    scaled_linear = linear * scale[None, :]
    if method == "auto":
        method = ("enumerate" if num_tasks <= ENUMERATION_MAX_TASKS
                  else "active_set")
    iterations = ops.convert_to_tensor(0)
    if method == "enumerate":
        y = _enumerate(unit, scaled_linear)
    else:
        if max_iterations is None:
            max_iterations = 10 * num_tasks + 10
        y, iterations = lawson_hanson(unit, scaled_linear, max_iterations,
                                      support)
    x = ops.cast(y * scale[None, :], dtype)
    return (x[0] if squeeze else x), iterations


def normalize_gramian(gramian: Tensor) -> Tensor:
    """`G` divided by its largest diagonal entry (unchanged when zero).

    Task weights that are invariant to a common scale of the gradients are
    best computed on this well-scaled copy.
    """
    gramian = ops.convert_to_tensor(gramian)
    largest = ops.max(ops.diagonal(gramian))
    return gramian / ops.where(largest > 0.0, largest, 1.0)


def min_norm_problem(gramian: Tensor) -> tuple[Tensor, Tensor]:
    """`(Q, c)` of the non-negative QP whose solution, normalised to sum
    to one, is the min-norm point (see `min_norm_weights`)."""
    gramian = normalize_gramian(gramian)
    return gramian + ops.ones_like(gramian), -ops.ones_like(gramian[0])


def dual_cone_problem(
    gramian: Tensor, preferences: Tensor
) -> tuple[Tensor, Tensor]:
    """`(Q, c)` of the non-negative QPs `min ½ λᵀ G λ + (G u)ᵀ λ`, one
    per row `u` of `[B, T]` `preferences` (see `dual_cone_weights`)."""
    gramian = normalize_gramian(gramian)
    preferences = ops.cast(preferences, gramian.dtype)
    return gramian, ops.matmul(preferences, gramian)


def min_norm_weights(gramian: Tensor, method: str = "auto") -> Tensor:
    """Weights `α` on the simplex minimising `‖αᵀ J‖² = αᵀ G α`.

    The min-norm point of the convex hull of the task gradients (MGDA).
    Posed as the non-negative least-squares problem
    `min_{λ>=0} ‖Jᵀλ‖² + (1ᵀλ - 1)²` whose solution is `λ = s α*` with
    `s = 1 / (1 + ‖J ᵀα*‖²)`, so `α* = λ / Σλ`.

    Args:
        gramian: `[T, T]` Gramian `J Jᵀ`.
        method: As in `nonnegative_qp`.

    Returns:
        `[T]` non-negative weights summing to one.
    """
    gramian = ops.convert_to_tensor(gramian)
    # Posed in float64, where the solver works: `G + 1` in float32 rounds
    # away the entries of `G` below 6e-8 (gradients 1e-4 the largest).
    lam = nonnegative_qp(*min_norm_problem(ops.cast(gramian, "float64")),
                         method=method)
    total = ops.sum(lam)
    uniform = ops.ones_like(lam) / lam.shape[0]
    alpha = ops.where(total > 0.0, lam / ops.where(total > 0.0, total, 1.0),
                      uniform)
    return ops.cast(alpha, gramian.dtype)


def dual_cone_weights(
    gramian: Tensor, preferences: Tensor, method: str = "auto"
) -> Tensor:
    """Weights of the projections of `uᵀ J` onto the dual cone of `J`.

    The dual cone `{g : J g >= 0}` holds the directions that conflict with
    no task. For each row `u` of `preferences`, the projection of `uᵀ J`
    onto it is `vᵀ J` with `v = argmin_{v >= u} vᵀ G v` (Quinton & Rey,
    2024, Proposition 1); here `v = u + λ`, `λ >= 0` solving
    `min ½ λᵀ G λ + (G u)ᵀ λ`.

    Args:
        gramian: `[T, T]` Gramian `J Jᵀ`.
        preferences: `[T]` or `[B, T]` vectors `u`.
        method: As in `nonnegative_qp`.

    Returns:
        `v` with the shape of `preferences`.

    References:
    - Quinton, Rey (2024). Jacobian Descent for Multi-Objective
      Optimization. arXiv:2406.16232.
    """
    gramian = ops.convert_to_tensor(gramian)
    # Posed in float64, where the solver works (see `min_norm_weights`).
    preferences = ops.cast(preferences, "float64")
    squeeze = len(preferences.shape) == 1
    u = preferences[None] if squeeze else preferences
    lam = nonnegative_qp(
        *dual_cone_problem(ops.cast(gramian, "float64"), u), method=method)
    v = ops.cast(u + lam, gramian.dtype)
    return v[0] if squeeze else v
