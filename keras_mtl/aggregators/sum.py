"""Sum: the plain sum of the task gradients."""

from typing import Any

from keras import ops

from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class Sum(GramianAggregator):
    """Sums the task gradients of the shared parameters.

    ```
    α = (1, ..., 1)
    g = αᵀ J = Σ_t g_t
    ```

    This is exactly the gradient of the weighted objective that the fast
    path (`aggregator=None`) computes in one backward pass; through the
    Jacobian engine it serves as a check of the engine, and it is the
    linear baseline against which the other aggregators are compared.

    Args:
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator="sum")
    ```
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "sum")
        super().__init__(**kwargs)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        return ops.ones((gramian.shape[0],), gramian.dtype)
