"""ConFIG: the conflict-free direction of equal positive projections.

The method is called ConFIG; this module holds the aggregator, not package
configuration.
"""

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class ConFIG(GramianAggregator):
    """ConFIG: a direction with the same positive cosine to every task.

    The task gradients are normalised to unit length (`Ĵ`, `[T, P]`); the
    pseudo-inverse gives the direction whose projection on each of them is
    1, and its length is set to the sum of the task gradients' projections
    on it:

    ```
    ĝ_i = g_i / |g_i|
    g_u = Ĵ⁺ 1                    (Ĵ g_u = 1: equal projections)
    v   = g_u / |g_u|
    g   = (Σ_i g_iᵀ v) v
    ```

    Whenever `Ĵ` has full row rank (at most `P` linearly independent
    tasks), `cos(g, g_i)` is the same positive number for every task, so
    the update decreases every loss at the same relative rate and none is
    sacrificed. Since `Ĵ⁺ = Ĵᵀ (Ĵ Ĵᵀ)⁺`, the direction is a combination of
    the rows of `J` computed from the Gramian alone (an eigen-decomposition
    of the `[T, T]` normalised Gramian with a rank cut-off), so degenerate
    inputs (zero, parallel or opposite gradients) give finite weights;
    exactly opposite gradients give the zero update.

    Args:
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.ConFIG())
    ```

    References:
    - Liu, Chen, Thuerey (2025). ConFIG: Towards Conflict-free Training of
      Physics Informed Neural Networks. ICLR. arXiv:2408.11104.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "config")
        super().__init__(**kwargs)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        gramian = 0.5 * (gramian + ops.transpose(gramian))
        dtype = gramian.dtype
        eps = float(np.finfo(keras.backend.standardize_dtype(dtype)).eps)
        zero = ops.zeros((), dtype)
        squared = ops.maximum(ops.diagonal(gramian), zero)
        active = squared > ops.max(squared) * eps * eps
        inverse_norms = ops.where(
            active, ops.rsqrt(ops.where(active, squared, 1.0)), zero)
        unit = gramian * inverse_norms[:, None] * inverse_norms[None, :]
        projections = _pseudo_inverse_apply(unit, ops.ones_like(squared), eps)
        coefficients = inverse_norms * projections
        with_gramian = ops.matmul(gramian, coefficients)
        length = ops.sum(with_gramian)
        squared_norm = ops.sum(coefficients * with_gramian)
        defined = squared_norm > zero
        factor = ops.where(
            defined, length / ops.where(defined, squared_norm, 1.0), zero)
        return factor * coefficients


def _pseudo_inverse_apply(matrix: Tensor, vector: Tensor, eps: float) -> Tensor:
    """`matrix⁺ vector` for a symmetric positive semi-definite `matrix`."""
    values, vectors = ops.eigh(matrix)
    size = ops.cast(ops.shape(values)[0], values.dtype)
    keep = values > ops.max(values) * size * eps
    inverse = ops.where(
        keep, 1.0 / ops.where(keep, values, 1.0), ops.zeros_like(values))
    return ops.matmul(
        vectors, inverse * ops.matmul(ops.transpose(vectors), vector))
