"""`Experts`: a bank of feed-forward experts evaluated in one batched op."""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.layers._checks import check_flat_input
from keras_mtl.layers._checks import check_positive_int
from keras_mtl.registry import register
from keras_mtl.types import Tensor


def _check_units(units: Any) -> tuple[int, ...]:
    if isinstance(units, int) and not isinstance(units, bool):
        units = (units,)
    units = tuple(units) if isinstance(units, (list, tuple)) else ()
    if not units or any(
            isinstance(u, bool) or not isinstance(u, int) or u < 1
            for u in units):
        raise ValueError(
            "Argument `units` must be a positive int or a non-empty tuple of "
            f"positive ints (the widths of each expert's Dense layers). "
            f"Received: units={units!r}."
        )
    return units


def expert_initializer(initializer: Any, num_experts: int) -> Any:
    """An initializer for stacked `[num_experts, fan_in, fan_out]` kernels.

    Keras's variance-scaling initializers (Glorot, He, LeCun) count the
    leading axis of a 3-D shape as a receptive field and would shrink the
    variance `num_experts` times; scaling `scale` back by `num_experts`
    gives every expert the variance of a plain Dense kernel.
    """
    # A fresh instance per kernel: an unseeded Keras initializer repeats
    # its values across calls.
    initializer = keras.initializers.get(
        keras.initializers.serialize(keras.initializers.get(initializer)))
    if isinstance(initializer, keras.initializers.VarianceScaling):
        return keras.initializers.VarianceScaling(
            scale=initializer.scale * num_experts, mode=initializer.mode,
            distribution=initializer.distribution,
            seed=keras.saving.deserialize_keras_object(
                initializer.get_config().get("seed")))
    return initializer


@register
class Experts(keras.layers.Layer):
    """`num_experts` independent feed-forward networks on the same input.

    Each expert is a stack of Dense layers with its own weights; all experts
    run in one batched `einsum` per layer:

    ```
    h_e^(0) = x                                  x: [batch, features]
    h_e^(l) = act(h_e^(l-1) W_e^(l) + b_e^(l))   e = 1..num_experts
    output  = stack_e h_e^(L)                    [batch, num_experts, units[-1]]
    ```

    Mixture-of-experts models combine the outputs with a gate per task
    (`keras_mtl.layers.Gate` and `ExpertMixture`).

    Args:
        num_experts: int >= 1. Number of experts.
        units: int or tuple of ints. Widths of each expert's Dense layers;
            the last is the expert output width. Defaults to `(64,)`.
        activation: Activation after every Dense layer. Defaults to
            `"relu"`.
        dropout: float in [0, 1). Dropout after every Dense layer.
        use_bias: bool. Whether the Dense layers have biases.
        kernel_initializer: Initializer of each expert's kernels (the
            variance of variance-scaling initializers is that of a plain
            Dense layer of the same width).
        bias_initializer: Initializer of the biases.
        seed: Optional int seeding dropout.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    ```python
    experts = keras_mtl.layers.Experts(num_experts=8, units=(64, 32))
    h = experts(keras.Input((100,)))   # shape (None, 8, 32)
    ```

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    - Shazeer, Mirhoseini, Maziarz, Davis, Le, Hinton, Dean (2017).
      Outrageously Large Neural Networks: The Sparsely-Gated
      Mixture-of-Experts Layer. ICLR. arXiv:1701.06538.
    """

    def __init__(
        self,
        num_experts: int,
        units: int | Sequence[int] = (64,),
        activation: Any = "relu",
        dropout: float = 0.0,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive_int("num_experts", num_experts)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                "Argument `dropout` must be in [0, 1). Received: "
                f"dropout={dropout!r}."
            )
        self.num_experts = num_experts
        self.units = _check_units(units)
        self.activation = keras.activations.get(activation)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.dropout_layer = (
            keras.layers.Dropout(self.dropout, seed=seed)
            if self.dropout else None)

    def build(self, input_shape: Sequence[int | None]) -> None:
        fan_in = check_flat_input(self, input_shape)
        self.kernels = []
        self.biases = []
        for i, width in enumerate(self.units):
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=(self.num_experts, fan_in, width),
                initializer=expert_initializer(
                    self.kernel_initializer, self.num_experts)))
            if self.use_bias:
                self.biases.append(self.add_weight(
                    name=f"bias_{i}", shape=(self.num_experts, width),
                    initializer=self.bias_initializer))
            fan_in = width

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        h = ops.einsum("bd,edu->beu", inputs, self.kernels[0])
        for i in range(len(self.units)):
            if i > 0:
                h = ops.einsum("bed,edu->beu", h, self.kernels[i])
            if self.use_bias:
                h = h + self.biases[i]
            h = self.activation(h)
            if self.dropout_layer is not None:
                h = self.dropout_layer(h, training=training)
        return h

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> tuple[int | None, ...]:
        return (input_shape[0], self.num_experts, self.units[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "units": list(self.units),
            "activation": keras.activations.serialize(self.activation),
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer),
            "seed": self.seed,
        }
