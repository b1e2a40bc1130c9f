"""FAMO, fast adaptive multitask optimization (Liu et al., 2023)."""

from typing import Any

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import adam_update
from keras_mtl.weightings._utils import add_adam_slots
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings._utils import present
from keras_mtl.weightings.base import Weighting

_OPTIMIZERS = ("adam", "sgd")


@register
class FAMO(Weighting):
    """Balances the rates at which the task losses fall, in O(1) per step.

    FAMO keeps logits `xi` (`[T]`) with `z = softmax(xi)`. The model's
    update direction is the gradient of `sum_i z_i log L_i / c` with
    `c = sum_i z_i / L_i` held constant, i.e. the weights

    ```
    w_i = (z_i / L_i) / sum_j (z_j / L_j)           (sum to 1)
    ```

    on the raw losses. After the optimizer step the model measures the
    same batch again (`L'`) and FAMO moves the logits against the tasks
    whose log-loss fell most:

    ```
    delta = J_softmax(xi)^T (log L - log L')
    xi   <- xi - lr * (delta + gamma * xi)
    ```

    (Algorithm 2 of the paper; the step uses Adam, as the authors'
    implementation does, or plain SGD). The model's `after_step` hook runs
    the second forward pass inside the compiled step (one extra forward
    pass per step, in inference mode). Losses are shifted by `epsilon`
    before the log; tasks without labels in the batch (loss 0) get weight
    0 and no logit update. The logits and the optimizer moments are Keras
    variables. Works with `jit_compile=True`.

    Args:
        learning_rate: float > 0. Step size of the logits. Defaults to
            0.025.
        gamma: float >= 0. Decay of the logits. Defaults to 0.001.
        optimizer: `"adam"` (default) or `"sgd"`.
        epsilon: float > 0. Added to the losses before the log. Defaults
            to 1e-8.

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.FAMO(gamma=1e-3))
    ```

    References:
    - Liu, Feng, Stone, Liu (2023). FAMO: Fast Adaptive Multitask
      Optimization. NeurIPS. arXiv:2306.03792.
    """

    requires_post_step_losses = True

    def __init__(
        self,
        learning_rate: float = 0.025,
        gamma: float = 0.001,
        optimizer: str = "adam",
        epsilon: float = 1e-8,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "famo")
        super().__init__(**kwargs)
        self.learning_rate = check_positive(
            "FAMO", "learning_rate", learning_rate)
        self.gamma = check_positive("FAMO", "gamma", gamma, allow_zero=True)
        self.epsilon = check_positive("FAMO", "epsilon", epsilon)
        if optimizer not in _OPTIMIZERS:
            raise ValueError(
                f"FAMO: argument `optimizer` must be one of "
                f"{list(_OPTIMIZERS)}. Received: optimizer={optimizer!r}."
            )
        self.optimizer = optimizer

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.logits = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=False,
            name="logits", aggregation="mean")
        self.slots = add_adam_slots(self, input_shape, "logits")

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        losses = ops.stop_gradient(ops.cast(losses, "float32"))
        mask = present(losses)
        z = ops.softmax(ops.convert_to_tensor(self.logits))
        ratio = mask * z / (losses + self.epsilon)
        total = ops.sum(ratio)
        return ops.where(ops.greater(total, 0.0),
                         ratio / ops.where(ops.greater(total, 0.0),
                                           total, 1.0), 0.0)

    def logit_gradient(
        self, losses_before: Tensor, losses_after: Tensor
    ) -> Tensor:
        """`delta = J_softmax^T (log L - log L')` (without the decay)."""
        mask = present(losses_before) * present(losses_after)
        drop = mask * (ops.log(losses_before + self.epsilon)
                       - ops.log(losses_after + self.epsilon))
        z = ops.softmax(ops.convert_to_tensor(self.logits))
        # Jacobian of the softmax: diag(z) - z z^T (symmetric).
        return z * drop - z * ops.sum(z * drop)

    def after_step(self, losses_before: Tensor, losses_after: Tensor) -> None:
        losses_before = ops.stop_gradient(ops.cast(losses_before, "float32"))
        losses_after = ops.stop_gradient(ops.cast(losses_after, "float32"))
        gradient = self.logit_gradient(losses_before, losses_after)
        if self.optimizer == "adam":
            adam_update(self.logits, gradient, self.slots,
                        self.learning_rate, weight_decay=self.gamma)
        else:
            logits = ops.convert_to_tensor(self.logits)
            self.logits.assign(logits - self.learning_rate * (
                gradient + self.gamma * logits))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "learning_rate": self.learning_rate,
                "gamma": self.gamma, "optimizer": self.optimizer,
                "epsilon": self.epsilon}
