"""`Gate` (softmax weights over experts) and `ExpertMixture` (their sum)."""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.layers._checks import check_flat_input
from keras_mtl.layers._checks import check_positive_int
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class Gate(keras.layers.Layer):
    """A softmax gate: a distribution over experts for each sample.

    ```
    g(x) = softmax(x W + b)        x: [batch, features], g: [batch, experts]
    ```

    The paper's gate has no bias (`use_bias=False`, the default). Each row
    of the output sums to one; `keras_mtl.callbacks.ExpertUtilisation`
    logs its average per expert, which shows collapsed gates (all weight on
    one expert).

    Args:
        num_experts: int >= 1. Number of experts the gate weighs.
        use_bias: bool. Whether the gate has a bias. Defaults to False.
        kernel_initializer: Initializer of the gate kernel.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    x = keras.Input((100,))
    experts = keras_mtl.layers.Experts(4, units=16)(x)
    weights = keras_mtl.layers.Gate(4, name="ctr_gate")(x)
    mixed = keras_mtl.layers.ExpertMixture()([experts, weights])
    ```

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    """

    def __init__(
        self,
        num_experts: int,
        use_bias: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_experts = check_positive_int("num_experts", num_experts)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape: Sequence[int | None]) -> None:
        features = check_flat_input(self, input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(features, self.num_experts),
            initializer=self.kernel_initializer)
        self.bias = (
            self.add_weight(name="bias", shape=(self.num_experts,),
                            initializer="zeros")
            if self.use_bias else None)

    def call(self, inputs: Tensor) -> Tensor:
        logits = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            logits = logits + self.bias
        return ops.softmax(logits, axis=-1)

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        return (input_shape[0], self.num_experts)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }


@register
class ExpertMixture(keras.layers.Layer):
    """Sums expert outputs weighted by a gate: `y = sum_e g_e h_e`.

    Called on `[experts, gate_weights]` with `experts` of shape
    `(batch, num_experts, units)` (e.g. a concatenation of several
    `Experts` outputs along axis 1) and `gate_weights` of shape
    `(batch, num_experts)`; returns `(batch, units)`. It has no weights.

    Args:
        **kwargs: Base `keras.layers.Layer` arguments.

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    """

    def build(self, input_shape: Sequence[Sequence[int | None]]) -> None:
        experts_shape, gate_shape = input_shape
        if len(experts_shape) != 3 or len(gate_shape) != 2 or (
                experts_shape[1] is not None and gate_shape[1] is not None
                and experts_shape[1] != gate_shape[1]):
            raise ValueError(
                f"Layer {self.name!r} (ExpertMixture) expects "
                "[experts (batch, num_experts, units), gate weights (batch, "
                "num_experts)] with the same num_experts. Received shapes: "
                f"{tuple(experts_shape)} and {tuple(gate_shape)}."
            )

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        experts, weights = inputs
        return ops.einsum("beu,be->bu", experts,
                          ops.cast(weights, experts.dtype))

    def compute_output_shape(
        self, input_shape: Sequence[Sequence[int | None]]
    ) -> tuple[int | None, ...]:
        experts_shape, _ = input_shape
        return (experts_shape[0], experts_shape[2])
