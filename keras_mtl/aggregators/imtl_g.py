"""IMTL-G: impartial multi-task learning, gradient part."""

from typing import Any

from keras import ops

from keras_mtl.aggregators._solvers import symmetric_pinv
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class IMTLG(GramianAggregator):
    """Weights the gradients so that the update projects equally on each.

    The update `g = αᵀ J` with `Σ α = 1` has the same projection onto every
    task's unit gradient `u_t = g_t / ‖g_t‖`:

    ```
    g · u_1 = g · u_2 = ... = g · u_T,       Σ_t α_t = 1
    ```

    The paper solves this as `α_{2:T} = g_1 Uᵀ (D Uᵀ)⁻¹` with
    `D = [g_1 - g_t]`, `U = [u_1 - u_t]`. Here the same conditions are
    solved on the Gramian: with `β = diag(‖g_t‖) α` they read `C β ∝ 1`
    for the cosine matrix `C_ij = cos(g_i, g_j)`, so

    ```
    β = pinv(C) 1,        α = β / ‖g‖ normalised to Σ α = 1
    ```

    which stays well scaled whatever the gradient norms. Tasks with a zero
    gradient have no direction to be impartial to and get weight 0;
    linearly dependent gradients (the paper's matrix is singular) get the
    least-squares solution of the pseudo-inverse. The loss-scaling half of
    IMTL (IMTL-L) is a loss weighting, not an aggregator.

    Args:
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.IMTLG())
    ```

    References:
    - Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang (2021). Towards
      Impartial Multi-task Learning. ICLR.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "imtl_g")
        super().__init__(**kwargs)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        dtype = gramian.dtype
        num_tasks = gramian.shape[0]
        diagonal = ops.diagonal(gramian)
        present = diagonal > 0.0
        inverse_norms = ops.where(
            present, ops.rsqrt(ops.where(present, diagonal, 1.0)), 0.0)
        cosines = (gramian * inverse_norms[:, None]) * inverse_norms[None, :]
        eye = ops.eye(num_tasks, dtype=dtype)
        both = ops.cast(present, dtype)
        both = both[:, None] * both[None, :]
        cosines = both * cosines + (1.0 - both) * eye
        cosines = 0.5 * (cosines + ops.transpose(cosines))
        beta = ops.matmul(symmetric_pinv(cosines),
                          ops.cast(present, dtype)[:, None])[:, 0]
        alpha = beta * inverse_norms
        total = ops.sum(alpha)
        uniform = ops.ones((num_tasks,), dtype) / num_tasks
        usable = ops.logical_and(ops.any(present), ops.abs(total) > 0.0)
        return ops.where(
            usable, alpha / ops.where(usable, total, 1.0), uniform)
