"""Solvers for the dual problem of CAGrad, on the Gramian.

With `G` the Gramian, `a = G·mean` (`a_t = g_tᵀ g_0`) and `s = c ‖g_0‖`,

```
minimize_w  F(w) = aᵀw + s ‖Jᵀw‖    over the simplex,  ‖Jᵀw‖² = wᵀGw.
```

- `enumerate_dual`: every support's KKT point, compared by `F` (`2^T`
  small systems, loop-free; used up to `ENUMERATION_MAX_TASKS` tasks).
- `homotopy_dual` (in `_cagrad_homotopy.py`): exact for any `T` in a few
  `while_loop` iterations.
- `frank_wolfe_dual` + `polish_dual`: Frank-Wolfe with exact line search
  then the exact KKT points on the supports it suggests; the safeguard
  when the homotopy's answer fails its duality-gap certificate.

References:
- Liu, Liu, Jin, Stone, Liu (2021). Conflict-Averse Gradient Descent for
  Multi-task Learning. NeurIPS. arXiv:2110.14048.
"""

from typing import Any

import numpy as np
from keras import ops

from keras_mtl.aggregators._linalg import machine_epsilon as epsilon
from keras_mtl.aggregators._linalg import masked_systems
from keras_mtl.aggregators._solvers import min_norm_weights
from keras_mtl.aggregators._solvers import support_masks
from keras_mtl.aggregators._solvers import symmetric_pinv
from keras_mtl.types import Tensor


def dual_objective(w: Tensor, gramian: Tensor, linear: Tensor,
                   radius: Tensor) -> Tensor:
    """`F(w) = aᵀw + s ‖Jᵀw‖` for a batch `w` of shape `[S, T]`."""
    quadratic = ops.sum(ops.matmul(w, gramian) * w, axis=-1)
    return ops.matmul(w, linear[:, None])[:, 0] + radius * ops.sqrt(
        ops.maximum(quadratic, 0.0))


def _to_simplex(w: Tensor) -> Tensor:
    w = ops.maximum(w, 0.0)
    total = ops.sum(w, axis=-1, keepdims=True)
    uniform = ops.ones_like(w) / w.shape[-1]
    return ops.where(total > 0.0, w / ops.where(total > 0.0, total, 1.0),
                     uniform)


def _support_candidates(gramian: Tensor, linear: Tensor, radius: Tensor,
                        masks: Tensor) -> Tensor:
    """KKT points of `F` over the simplex on each support (rows of masks).

    On a support `S` the KKT conditions give `w_S ∝ y = μ p - q` with
    `p = G_SS⁺ 1`, `q = G_SS⁺ a` and `μ` the larger root of
    `(1ᵀp) μ² - 2 (1ᵀq) μ + aᵀq - s² = 0`. Returns `[S, T]` points of the
    simplex (clipped where a support has no KKT point).
    """
    inverses = symmetric_pinv(masked_systems(gramian, masks))
    p = ops.einsum("sij,sj->si", inverses, masks) * masks
    q = ops.einsum("sij,sj->si", inverses, masks * linear[None]) * masks
    a_p = ops.sum(p, axis=-1)
    b_q = ops.sum(q, axis=-1)
    c_q = ops.matmul(q, linear[:, None])[:, 0] - radius ** 2
    discriminant = ops.maximum(b_q ** 2 - a_p * c_q, 0.0)
    valid = a_p > 0.0
    mu = (b_q + ops.sqrt(discriminant)) / ops.where(valid, a_p, 1.0)
    y = (mu[:, None] * p - q) * masks
    return _to_simplex(ops.where(valid[:, None], y, masks))


def _best(candidates: Tensor, gramian: Tensor, linear: Tensor,
          radius: Tensor) -> Tensor:
    values = dual_objective(candidates, gramian, linear, radius)
    return ops.take(candidates, ops.argmin(values), axis=0)


def enumerate_dual(gramian: Tensor, linear: Tensor,
                   radius: Tensor) -> Tensor:
    """Exact minimiser of `F` over the simplex, by support enumeration.

    The KKT points of all `2^T` supports and the min-norm point (which
    covers `Jᵀw = 0`) are compared by `F` itself.
    """
    masks = support_masks(gramian.shape[0], gramian.dtype)
    candidates = ops.concatenate([
        _support_candidates(gramian, linear, radius, masks),
        min_norm_weights(gramian)[None]], axis=0)
    return _best(candidates, gramian, linear, radius)


def polish_dual(gramian: Tensor, linear: Tensor, radius: Tensor,
                w: Tensor) -> Tensor:
    """Refines an approximate minimiser by the exact KKT points on the
    supports that its large entries suggest."""
    relative = w / ops.maximum(ops.max(w), 1e-30)
    thresholds = ops.convert_to_tensor(
        [0.0, 1e-4, 1e-3, 1e-2, 1e-1], dtype=w.dtype)
    masks = ops.cast(relative[None, :] > thresholds[:, None], w.dtype)
    candidates = ops.concatenate([
        _support_candidates(gramian, linear, radius, masks), w[None]],
        axis=0)
    return _best(candidates, gramian, linear, radius)


def frank_wolfe_dual(gramian: Tensor, linear: Tensor, radius: Tensor,
                     max_iterations: int) -> Tensor:
    """Frank-Wolfe with exact line search, stopped on the duality gap."""
    dtype = gramian.dtype
    num_tasks = gramian.shape[0]
    eye = ops.eye(num_tasks, dtype=dtype)
    tolerance = 10.0 * num_tasks * epsilon(dtype)
    start = ops.take(
        eye, ops.argmin(dual_objective(eye, gramian, linear, radius)), axis=0)

    def condition(i: Any, w: Tensor, gap: Tensor) -> Any:
        return ops.logical_and(i < max_iterations, gap > tolerance)

    def body(i: Any, w: Tensor, gap: Tensor) -> tuple:
        gw = ops.matmul(gramian, w[:, None])[:, 0]
        norm_sq = ops.sum(gw * w)
        norm = ops.sqrt(ops.maximum(norm_sq, 0.0))
        gradient = linear + ops.where(
            norm > 0.0, radius * gw / ops.where(norm > 0.0, norm, 1.0), 0.0)
        j = ops.argmin(gradient)
        gap = ops.sum(gradient * w) - ops.take(gradient, j)
        # F((1-γ) w + γ e_j) = const + kγ + s sqrt(A γ² + B γ + C).
        h = ops.take(gw, j)
        quad_a = norm_sq - 2.0 * h + ops.take(ops.diagonal(gramian), j)
        quad_b = 2.0 * h - 2.0 * norm_sq
        slope = ops.take(linear, j) - ops.sum(linear * w)
        m = quad_a * radius ** 2 - slope ** 2
        root_a, root_b = m * quad_a, m * quad_b
        root_c = radius ** 2 * quad_b ** 2 / 4.0 - slope ** 2 * norm_sq
        disc = ops.sqrt(ops.maximum(root_b ** 2 - 4.0 * root_a * root_c, 0.0))
        safe_a = ops.where(root_a != 0.0, root_a, 1.0)
        safe_b = ops.where(root_b != 0.0, root_b, 1.0)
        roots = ops.stack([
            ops.where(root_a != 0.0, (-root_b + disc) / (2.0 * safe_a), 0.0),
            ops.where(root_a != 0.0, (-root_b - disc) / (2.0 * safe_a),
                      -root_c / safe_b),
        ])
        steps = ops.concatenate([
            ops.convert_to_tensor([0.0, 1.0], dtype=dtype),
            ops.clip(roots, 0.0, 1.0)])
        values = slope * steps + radius * ops.sqrt(ops.maximum(
            quad_a * steps ** 2 + quad_b * steps + norm_sq, 0.0))
        step = ops.take(steps, ops.argmin(values))
        target = ops.take(eye, j, axis=0)
        return i + 1, w + step * (target - w), gap

    _, w, _ = ops.while_loop(
        condition, body,
        (ops.convert_to_tensor(0), start,
         ops.convert_to_tensor(np.inf, dtype=dtype)))
    return w
