"""GradNorm (Chen, Badrinarayanan, Lee, Rabinovich, 2018)."""

from typing import Any

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import adam_update
from keras_mtl.weightings._utils import add_adam_slots
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings._utils import present
from keras_mtl.weightings._utils import remember_first_losses
from keras_mtl.weightings.base import Weighting

_OPTIMIZERS = ("adam", "sgd")
_MIN_WEIGHT = 1e-4


@register
class GradNorm(Weighting):
    """Learns weights that balance the task gradient norms at the trunk.

    At every step, with `W` the last shared layer's weights and `L_i(0)`
    the task's first loss:

    ```
    G_i     = || grad_W w_i L_i ||_2          G_mean = mean_i G_i
    r_i     = (L_i / L_i(0)) / mean_j (L_j / L_j(0))    (inverse rate)
    L_grad  = sum_i | G_i - G_mean r_i^alpha |   (target held constant)
    w      <- w - lr * dL_grad/dw,  then  w <- T w / sum_j w_j
    ```

    so a task whose loss falls slowly (large `r_i`) gets a larger share of
    the gradient at the shared layer; `alpha = 0` equalises the norms.
    `dL_grad/dw_i = sign(G_i - target_i) G_i / w_i`. The model computes
    `G_i` at its last shared layer and calls `update_from_gradients` inside
    the compiled step (one extra backward pass per task through that layer
    only). The weights, first losses and optimizer moments are Keras
    variables. Works with `jit_compile=True`; needs a model with a shared
    layer.

    The weights follow their own small optimizer (`"adam"`, default, or
    plain `"sgd"` as written in the paper); Adam makes the step size
    independent of the scale of the gradient norms. Weights are kept above
    1e-4 before renormalising.

    Args:
        alpha: float >= 0. The asymmetry `alpha`. Defaults to 1.5 (the
            paper's NYUv2 value).
        learning_rate: float > 0. Learning rate of the weights. Defaults to
            0.025.
        optimizer: `"adam"` (default) or `"sgd"`.

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.GradNorm(alpha=1.0))
    ```

    References:
    - Chen, Badrinarayanan, Lee, Rabinovich (2018). GradNorm: Gradient
      Normalization for Adaptive Loss Balancing in Deep Multitask
      Networks. ICML. arXiv:1711.02257.
    """

    requires_shared_gradient_norms = True

    def __init__(
        self,
        alpha: float = 1.5,
        learning_rate: float = 0.025,
        optimizer: str = "adam",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "gradnorm")
        super().__init__(**kwargs)
        self.alpha = check_positive("GradNorm", "alpha", alpha,
                                    allow_zero=True)
        self.learning_rate = check_positive(
            "GradNorm", "learning_rate", learning_rate)
        if optimizer not in _OPTIMIZERS:
            raise ValueError(
                f"GradNorm: argument `optimizer` must be one of "
                f"{list(_OPTIMIZERS)}. Received: optimizer={optimizer!r}."
            )
        self.optimizer = optimizer

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.task_weights = self.add_weight(
            shape=input_shape, initializer="ones", trainable=False,
            name="task_weights", aggregation="mean")
        self.initial_losses = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=False,
            name="initial_losses", aggregation="mean")
        self.slots = add_adam_slots(self, input_shape, "weights")

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.cast(ops.convert_to_tensor(self.task_weights), losses.dtype)

    def weight_gradient(
        self, losses: Tensor, gradient_norms: Tensor, initial: Tensor
    ) -> Tensor:
        """`dL_grad/dw` from the weighted gradient norms `G` (`[T]`)."""
        mask = present(losses)
        count = ops.maximum(ops.sum(mask), 1.0)
        weights = ops.convert_to_tensor(self.task_weights)
        ratio = ops.where(ops.greater(initial, 0.0),
                          losses / ops.where(ops.greater(initial, 0.0),
                                             initial, 1.0), 0.0) * mask
        mean_ratio = ops.sum(ratio) / count
        inverse_rate = ops.where(ops.greater(mean_ratio, 0.0),
                                 ratio / ops.maximum(mean_ratio, 1e-12), 0.0)
        mean_norm = ops.sum(gradient_norms * mask) / count
        target = mean_norm * ops.power(inverse_rate, self.alpha)
        return mask * ops.sign(gradient_norms - target) * (
            gradient_norms / weights)

    def update_from_gradients(
        self, losses: Tensor, gradient_norms: Tensor
    ) -> None:
        losses = ops.cast(losses, "float32")
        gradient_norms = ops.cast(gradient_norms, "float32")
        initial = remember_first_losses(self.initial_losses, losses)
        gradient = self.weight_gradient(losses, gradient_norms, initial)
        if self.optimizer == "adam":
            adam_update(self.task_weights, gradient, self.slots,
                        self.learning_rate)
        else:
            self.task_weights.assign(
                self.task_weights - self.learning_rate * gradient)
        weights = ops.maximum(
            ops.convert_to_tensor(self.task_weights), _MIN_WEIGHT)
        self.task_weights.assign(
            self.num_tasks * weights / ops.sum(weights))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha,
                "learning_rate": self.learning_rate,
                "optimizer": self.optimizer}
