"""CAGrad: conflict-averse gradient descent."""

from typing import Any

import numpy as np
from keras import backend
from keras import ops

from keras_mtl.aggregators._solvers import ENUMERATION_MAX_TASKS
from keras_mtl.aggregators._solvers import masked_systems
from keras_mtl.aggregators._solvers import min_norm_weights
from keras_mtl.aggregators._solvers import normalize_gramian
from keras_mtl.aggregators._solvers import support_masks
from keras_mtl.aggregators._solvers import symmetric_pinv
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


def _objective(w: Tensor, gramian: Tensor, linear: Tensor,
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
    values = _objective(candidates, gramian, linear, radius)
    return ops.take(candidates, ops.argmin(values), axis=0)


def _enumerate(gramian: Tensor, linear: Tensor, radius: Tensor) -> Tensor:
    """Exact minimiser of `F` over the simplex, by support enumeration.

    The KKT points of all `2^T` supports and the min-norm point (which
    covers `Jᵀw = 0`) are compared by `F` itself.
    """
    masks = support_masks(gramian.shape[0], gramian.dtype)
    candidates = ops.concatenate([
        _support_candidates(gramian, linear, radius, masks),
        min_norm_weights(gramian)[None]], axis=0)
    return _best(candidates, gramian, linear, radius)


def _polish(gramian: Tensor, linear: Tensor, radius: Tensor,
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


def _frank_wolfe(gramian: Tensor, linear: Tensor, radius: Tensor,
                 max_iterations: int) -> Tensor:
    """Frank-Wolfe with exact line search, stopped on the duality gap."""
    dtype = gramian.dtype
    num_tasks = gramian.shape[0]
    eye = ops.eye(num_tasks, dtype=dtype)
    eps = float(np.finfo(backend.standardize_dtype(dtype)).eps)
    tolerance = 10.0 * num_tasks * eps
    start = ops.take(
        eye, ops.argmin(_objective(eye, gramian, linear, radius)), axis=0)

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


@register
class CAGrad(GramianAggregator):
    """Conflict-averse gradient: the best worst-case improvement near g_0.

    The update maximises the smallest task improvement within a ball
    around the average gradient `g_0 = (1/T) Σ_t g_t`:

    ```
    max_d min_t g_tᵀ d    subject to  ‖d - g_0‖ <= c ‖g_0‖
    ```

    Its dual over the simplex, with `g_w = Σ_t w_t g_t` and `s = c ‖g_0‖`,

    ```
    w = argmin_{w >= 0, Σ w = 1} g_wᵀ g_0 + s ‖g_w‖
    d = g_0 + (s / ‖g_w‖) g_w
    ```

    is solved on the Gramian in the step: exactly by support enumeration
    for up to six tasks (on each support the KKT conditions reduce to a
    quadratic equation), and beyond by Frank-Wolfe with exact line search
    until the duality gap vanishes (or `max_iterations`), followed by the
    exact KKT point on the support Frank-Wolfe found. Where
    `‖g_w‖` vanishes (the tasks' gradients are in equilibrium) the
    direction is `g_0`, as in the authors' code. `c = 0` gives the mean
    gradient; large `c` approaches MGDA. As in the authors' code the
    result is divided by `1 + c²` (`rescale=1`, their default), by
    `1 + c` (`rescale=2`) or left as is (`rescale=0`).

    Args:
        c: float >= 0. Radius of the ball relative to `‖g_0‖`. Defaults
            to 0.5 (the paper's choice for NYUv2 and CityScapes).
        rescale: 0, 1 or 2, as above. Defaults to 1.
        max_iterations: int >= 1. Frank-Wolfe iterations for more than
            six tasks. Defaults to 500.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.CAGrad(c=0.4))
    ```

    References:
    - Liu, Liu, Jin, Stone, Liu (2021). Conflict-Averse Gradient Descent
      for Multi-task Learning. NeurIPS. arXiv:2110.14048.
    """

    def __init__(
        self,
        c: float = 0.5,
        rescale: int = 1,
        max_iterations: int = 500,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "cagrad")
        super().__init__(**kwargs)
        if not c >= 0:
            raise ValueError(
                f"Argument `c` must be >= 0. Received: c={c!r}.")
        if rescale not in (0, 1, 2):
            raise ValueError(
                "Argument `rescale` must be 0, 1 or 2 (no rescaling, "
                f"divide by 1 + c², divide by 1 + c). Received: "
                f"rescale={rescale!r}.")
        if int(max_iterations) < 1:
            raise ValueError(
                "Argument `max_iterations` must be >= 1. Received: "
                f"max_iterations={max_iterations!r}.")
        self.c = float(c)
        self.rescale = int(rescale)
        self.max_iterations = int(max_iterations)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = normalize_gramian(gramian)
        dtype = gramian.dtype
        num_tasks = gramian.shape[0]
        mean = ops.ones((num_tasks,), dtype) / num_tasks
        linear = ops.matmul(gramian, mean[:, None])[:, 0]  # g_t · g_0
        radius = self.c * ops.sqrt(ops.maximum(ops.sum(linear * mean), 0.0))
        if num_tasks <= ENUMERATION_MAX_TASKS:
            w = _enumerate(gramian, linear, radius)
        else:
            w = _polish(gramian, linear, radius, _frank_wolfe(
                gramian, linear, radius, self.max_iterations))
        norm_sq = ops.sum(ops.matmul(gramian, w[:, None])[:, 0] * w)
        eps = float(np.finfo(backend.standardize_dtype(dtype)).eps)
        usable = norm_sq > 10.0 * num_tasks * eps
        scale = ops.where(
            usable, radius / ops.sqrt(ops.where(usable, norm_sq, 1.0)), 0.0)
        alpha = mean + scale * w
        if self.rescale == 1:
            alpha = alpha / (1.0 + self.c ** 2)
        elif self.rescale == 2:
            alpha = alpha / (1.0 + self.c)
        return alpha

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "c": self.c,
                "rescale": self.rescale,
                "max_iterations": self.max_iterations}
