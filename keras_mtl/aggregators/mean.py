"""Mean: the average of the task gradients."""

from typing import Any

from keras import ops

from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class Mean(GramianAggregator):
    """Averages the task gradients of the shared parameters.

    ```
    α = (1/T, ..., 1/T)
    g = αᵀ J = (1/T) Σ_t g_t
    ```

    Under equal loss weights this is the gradient of the mean task loss;
    with the Jacobian engine it reproduces the fast path's step for the
    shared parameters up to the factor `1/T` (see `Sum`). It is the
    reference point of the other aggregators and the cheapest way to check
    the engine.

    Args:
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.Mean())
    ```
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "mean")
        super().__init__(**kwargs)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        num_tasks = gramian.shape[0]
        return ops.ones((num_tasks,), gramian.dtype) / num_tasks
