"""Geometric loss strategy, GLS (Chennupati et al., 2019)."""

from typing import Any

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import present
from keras_mtl.weightings.base import Weighting


@register
class GLS(Weighting):
    """Minimises the geometric mean of the task losses.

    The objective is `G = (prod_t L_t)^(1/T)`, which is invariant to the
    scale of each loss. Its gradient is `sum_t G / (T L_t) grad L_t`, so
    the weights (held constant in the step's backward pass)

    ```
    w_t = G / (T L_t),          sum_t w_t L_t = G
    ```

    give exactly the gradient and the value of the geometric mean. Tasks
    without labels in the batch (loss 0) are left out of the product and
    get weight 0; `T` counts the others. The geometric mean is computed as
    `exp(mean(log L_t))` for stability. Works with `jit_compile=True`.

    Example:

    ```python
    model.compile("adam", weighting="gls")
    ```

    References:
    - Chennupati, Sistu, Yogamani, Rawashdeh (2019). MultiNet++:
      Multi-Stream Feature Aggregation and Geometric Loss Strategy for
      Multi-Task Learning. CVPR Workshops. arXiv:1904.08492.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "gls")
        super().__init__(**kwargs)

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        losses = ops.stop_gradient(losses)
        mask = present(losses)
        count = ops.maximum(ops.sum(mask), 1.0)
        safe = ops.where(ops.greater(mask, 0.0), losses, 1.0)
        geometric_mean = ops.exp(ops.sum(mask * ops.log(safe)) / count)
        return mask * geometric_mean / (count * safe)
