"""Aligned-MTL: align the principal components of the task gradients."""

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

_SCALE_MODES = ("min", "median", "rmse")


@register
class AlignedMTL(GramianAggregator):
    """Makes the task gradients orthogonal and of equal norm, then sums them.

    Aligned-MTL removes the two sources of conflict the paper identifies,
    opposite directions and dominating magnitudes, by replacing the task
    gradients `J` (`[T, P]`) with aligned gradients `Ĵ = B J` whose
    Gramian `Ĵ Ĵᵀ` is `s² I`: their condition number is 1.

    ```
    G = J Jᵀ = V diag(λ) Vᵀ              eigen-decomposition (tf.linalg.eigh)
    R = {i : λ_i > λ_max · T · ε}        the numerical rank (ε: dtype eps)
    B = s · V_R diag(λ_R)^(-1/2) V_Rᵀ    so that B G B = s² V_R V_Rᵀ
    g = 1ᵀ Ĵ = (B 1)ᵀ J                  task weights α = B 1
    ```

    The scale `s` fixes the length of the aligned gradients, as in the
    paper's scale modes:

    - `"min"`: the smallest singular value `sqrt(min λ_R)` (the paper's
      default, which keeps the update no longer than the weakest
      direction);
    - `"median"`: the median singular value `median(sqrt(λ_R))`;
    - `"rmse"`: `sqrt(mean(λ_R))`.

    Directions outside the span of the task gradients (a zero gradient,
    parallel gradients, more tasks than parameters) are dropped through the
    rank cut-off, so degenerate inputs give finite weights.

    Args:
        scale_mode: str. One of `"min"`, `"median"`, `"rmse"`. Defaults to
            `"min"`.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.AlignedMTL())
    ```

    References:
    - Senushkin, Patakin, Kuznetsov, Konushin (2023). Independent Component
      Alignment for Multi-Task Learning. CVPR. arXiv:2305.19000.
    """

    def __init__(self, scale_mode: str = "min", **kwargs: Any) -> None:
        kwargs.setdefault("name", "aligned_mtl")
        super().__init__(**kwargs)
        if scale_mode not in _SCALE_MODES:
            raise ValueError(
                f"Argument `scale_mode` must be one of {list(_SCALE_MODES)}. "
                f"Received: scale_mode={scale_mode!r}."
            )
        self.scale_mode = scale_mode

    def alignment_matrix(self, gramian: Tensor) -> Tensor:
        """The `[T, T]` matrix `B` that maps `J` to the aligned `B J`."""
        gramian = ops.convert_to_tensor(gramian)
        gramian = 0.5 * (gramian + ops.transpose(gramian))
        num_tasks = ops.shape(gramian)[0]
        eps = float(np.finfo(
            keras.backend.standardize_dtype(gramian.dtype)).eps)
        values, vectors = ops.eigh(gramian)
        tol = ops.max(values) * ops.cast(num_tasks, values.dtype) * eps
        keep = values > tol
        safe = ops.where(keep, values, ops.ones_like(values))
        inv_sqrt = ops.where(keep, ops.rsqrt(safe), ops.zeros_like(values))
        scale = self._scale(values, keep)
        return scale * ops.matmul(
            vectors * inv_sqrt[None, :], ops.transpose(vectors))

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        matrix = self.alignment_matrix(gramian)
        return ops.sum(matrix, axis=1)

    def _scale(self, values: Tensor, keep: Tensor) -> Tensor:
        """The length `s` of the aligned gradients (0 if all are zero)."""
        zero = ops.zeros((), values.dtype)
        count = ops.sum(ops.cast(keep, "int32"))
        kept = ops.where(keep, values, ops.zeros_like(values))
        if self.scale_mode == "min":
            big = ops.max(values) + ops.ones((), values.dtype)
            smallest = ops.min(ops.where(keep, values, big))
            scale = ops.sqrt(ops.maximum(smallest, zero))
        elif self.scale_mode == "rmse":
            mean = ops.sum(kept) / ops.cast(
                ops.maximum(count, 1), values.dtype)
            scale = ops.sqrt(mean)
        else:
            # The kept eigenvalues are the `count` largest: the last ones
            # in ascending order.
            ordered = ops.sqrt(ops.maximum(ops.sort(values), zero))
            first = ops.shape(values)[0] - count
            low = first + (count - 1) // 2
            high = first + count // 2
            last = ops.shape(values)[0] - 1
            low = ops.clip(low, 0, last)
            high = ops.clip(high, 0, last)
            scale = 0.5 * (ops.take(ordered, low) + ops.take(ordered, high))
        return ops.where(count > 0, scale, zero)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale_mode": self.scale_mode}
