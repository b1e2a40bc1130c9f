"""The Lawson-Hanson active-set method for `min ½ xᵀQx + cᵀx, x >= 0`.

The loop behind `_solvers.nonnegative_qp(method="active_set")`, in its
Gramian form (it needs `Q`, never the matrix whose Gramian it is), batched
over right-hand sides that share `Q`, in one `while_loop` of `keras.ops`.

Two changes to the textbook method (which starts from `x = 0` with an
empty passive set and adds one coordinate per iteration, so that a
solution with `k` positive coordinates costs at least `k + 1`
iterations):

- it starts from a guessed support, refined in blocks while `x = 0`;
- an accepted solution must lower the objective, which keeps the
  termination argument true in floating point.

References:
- Lawson, Hanson (1974). Solving Least Squares Problems, chapter 23.
  Prentice-Hall.
- Bro, De Jong (1997). A fast non-negativity-constrained least squares
  algorithm. Journal of Chemometrics 11(5) (the method on the normal
  equations, `Q = AᵀA`, as here).
"""

from typing import Any

import numpy as np
from keras import ops

from keras_mtl.aggregators._linalg import machine_epsilon
from keras_mtl.aggregators._linalg import masked_systems
from keras_mtl.aggregators._linalg import pseudo_inverse_values
from keras_mtl.types import Tensor


def lawson_hanson(
    quadratic: Tensor, linear: Tensor, max_iterations: int,
    support: Tensor,
) -> tuple[Tensor, Tensor]:
    """Lawson-Hanson on the Gramian, batched over the rows of `linear`,
    started from the guessed supports `support` (`[B, T]`, 0/1).
    Returns `x` and the number of iterations of the loop.

    `Q` must have a unit diagonal (or zero diagonal entries).

    The state is a feasible `x` (0 at the start) and a passive set `P`
    holding its support. Each iteration solves the problem on `P` (a
    pseudo-inverse, so singular `Q_PP` are fine). A solution positive on
    `P` is accepted and the coordinate of most negative gradient joins
    `P` (or, when there is none, the row is optimal). Otherwise `x`
    moves towards it until a coordinate reaches 0, and the coordinates of
    `P` where the solution is not positive and `x` has reached 0 leave
    `P`: from `x = 0` that drops every non-positive coordinate of the
    guess at once, so a wrong guess costs one iteration per refinement,
    and a right guess (the usual case) ends the loop after one. Every
    pass either strictly lowers the objective (an accepted solution) or
    shrinks `P`, so the method ends after finitely many passes, from any
    guess (Lawson & Hanson's argument). In floating point the objective
    can stall: on a rank-deficient `Q` a task whose column the passive
    ones span was added on a rounding-level gradient (above the
    tolerance), dropped at the next pass, added again, and so on to
    `max_iterations` (150 at T = 14). So an accepted solution must lower
    the objective below the previous one's, or the row ends there.
    """
    dtype = quadratic.dtype
    num_tasks = quadratic.shape[-1]
    # eigh raises on non-finite input: solve a finite stand-in and return
    # NaN (checked once here rather than in every iteration).
    finite = ops.logical_and(ops.all(ops.isfinite(quadratic)),
                             ops.all(ops.isfinite(linear)))
    quadratic = ops.where(finite, quadratic, 0.0)
    linear = ops.where(finite, linear, 0.0)
    # Q has a unit diagonal here, so x and the gradient scale with c.
    rcond = 10.0 * num_tasks * machine_epsilon(dtype)
    tolerance = rcond * ops.max(ops.abs(linear), axis=-1, keepdims=True)

    def solve_on(passive: Tensor) -> Tensor:
        """`-pinv(Q_PP) c_P` on `P`, 0 elsewhere, by one batched `eigh`
        of `Q_PP ⊕ I` (its eigenvalues are sorted, the last the
        largest: it is >= 1, Q_PP being PSD with a unit diagonal)."""
        values, vectors = ops.eigh(masked_systems(quadratic, passive))
        inverse = pseudo_inverse_values(values, rcond)
        along = ops.einsum("bji,bj->bi", vectors, -passive * linear)
        return ops.einsum("bij,bj->bi", vectors, along * inverse) * passive

    def condition(i: Any, x: Tensor, passive: Tensor, value: Tensor,
                  done: Tensor) -> Any:
        return ops.logical_and(
            i < max_iterations, ops.logical_not(ops.all(done)))

    def body(i: Any, x: Tensor, passive: Tensor, value: Tensor,
             done: Tensor) -> tuple:
        s = solve_on(passive)
        blocking = ops.logical_and(passive > 0.5, s <= 0.0)
        feasible = ops.logical_not(ops.any(blocking, axis=-1, keepdims=True))
        # Feasible: accept s, then add the most violated constraint or
        # stop.
        gradient = ops.matmul(s, quadratic) + linear
        candidates = ops.where(passive > 0.5, -np.inf, -gradient)
        best = ops.argmax(candidates, axis=-1)
        improvable = ops.max(candidates, axis=-1, keepdims=True) > tolerance
        added = ops.maximum(
            passive, ops.one_hot(best, num_tasks, dtype=dtype)
            * ops.cast(improvable, dtype))
        # Exact arithmetic lowers the objective at every accepted s; one
        # that is no lower means x is optimal to rounding (a coordinate
        # was added on a rounding-level gradient), and accepting it could
        # cycle: the row ends at x.
        objective = 0.5 * ops.sum(s * (gradient + linear), axis=-1,
                                  keepdims=True)
        stalled = objective >= value
        accept = ops.logical_and(feasible, ops.logical_not(stalled))
        # Infeasible: move from x towards s until a coordinate reaches 0,
        # and drop the blocking coordinates that did.
        ratios = ops.where(blocking, ops.divide_no_nan(x, x - s), np.inf)
        step = ops.clip(ops.min(ratios, axis=-1, keepdims=True), 0.0, 1.0)
        moved = ops.maximum(x + step * (s - x), 0.0)
        kept = passive * ops.cast(ops.logical_not(ops.logical_and(
            blocking, moved <= tolerance)), dtype)
        stay = ops.logical_or(done, ops.logical_and(feasible, stalled))
        new_x = ops.where(accept, s, moved * kept)
        new_passive = ops.where(accept, added, kept)
        new_done = ops.logical_or(stay, ops.logical_and(
            feasible, ops.logical_not(improvable)))
        return (
            i + 1,
            ops.where(stay, x, new_x),
            ops.where(stay, passive, new_passive),
            ops.where(accept, objective, value),
            new_done,
        )

    batch = ops.shape(linear)[0]
    state = (ops.convert_to_tensor(0), ops.zeros_like(linear),
             ops.cast(support, dtype),
             ops.full((batch, 1), np.inf, dtype=dtype),
             ops.zeros((batch, 1), dtype="bool"))
    iterations, x, _, _, _ = ops.while_loop(condition, body, state)
    return ops.where(finite, ops.maximum(x, 0.0), np.nan), iterations
