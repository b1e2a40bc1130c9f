"""IMTL-L, the loss-balancing half of impartial MTL (Liu et al., 2021)."""

from typing import Any

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import present
from keras_mtl.weightings.base import Weighting


@register
class IMTLL(Weighting):
    """Learns a scale per task so that the scaled losses stay equal.

    Each task has a learned log-scale `s_t` (trainable, updated by the
    model's optimizer) and contributes `e^{s_t} L_t - s_t`:

    ```
    w_t = exp(s_t),     regularization = -sum_t s_t
    ```

    At the optimum in `s_t`, `e^{s_t} L_t = 1` for every task: the scaled
    losses are equal whatever the raw loss scales. Tasks without labels in
    the batch (loss 0) add no `-s_t` term. Works with `jit_compile=True`.

    Args:
        initial_scale: float. Initial log-scale `s_t`. Defaults to 0.0.

    Example:

    ```python
    model.compile("adam", weighting="imtl_l")
    ```

    References:
    - Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang (2021). Towards
      Impartial Multi-task Learning. ICLR.
      https://openreview.net/forum?id=IMPnRXEWpvr
    """

    def __init__(self, initial_scale: float = 0.0, **kwargs: Any) -> None:
        kwargs.setdefault("name", "imtl_l")
        super().__init__(**kwargs)
        if isinstance(initial_scale, bool) or not isinstance(
                initial_scale, (int, float)):
            raise TypeError(
                "IMTLL: argument `initial_scale` must be a float. "
                f"Received: initial_scale={initial_scale!r}."
            )
        self.initial_scale = float(initial_scale)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.log_scale = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=True,
            name="log_scale")
        self.log_scale.assign(ops.full(input_shape, self.initial_scale))

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.exp(ops.cast(self.log_scale, losses.dtype))

    def regularization(self, losses: Tensor) -> Tensor:
        s = ops.cast(self.log_scale, "float32")
        return -ops.sum(present(losses) * s)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_scale": self.initial_scale}
