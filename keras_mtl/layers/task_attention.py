"""`TaskAttention`: one task's soft attention mask over shared features."""

from typing import Any
from typing import Sequence

import keras

from keras_mtl.layers._checks import check_positive_int
from keras_mtl.registry import register
from keras_mtl.types import Tensor


def _is_shape_list(shape: Any) -> bool:
    return isinstance(shape, (list, tuple)) and bool(shape) and \
        isinstance(shape[0], (list, tuple))


@register
class TaskAttention(keras.layers.Layer):
    """A task-specific attention module of MTAN over one shared block.

    ```
    first block:  a = sigmoid(W2 relu(W1 p + b1) + b2)
    later blocks: a = sigmoid(W2 relu(W1 [p ; f(q)] + b1) + b2),
                  f(q) = relu(Wf q + bf)
    output:       a * p                     (element-wise)
    ```

    `p` is the shared feature of the block and `q` the task's attended
    feature of the previous block, projected to `p`'s channels by `f`. The
    Dense maps act on the last axis, so on feature maps they are the
    paper's 1x1 convolutions (the paper's batch normalisation is left to
    the trunk). Called on `p` (first block) or `[p, q]`.

    Args:
        units: int or None. Width of the hidden layer of the mask network
            (default: the number of channels of `p`).
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    p1 = keras.layers.Dense(64, activation="relu")(x)
    p2 = keras.layers.Dense(32, activation="relu")(p1)
    a1 = keras_mtl.layers.TaskAttention(name="seg_attention_0")(p1)
    a2 = keras_mtl.layers.TaskAttention(name="seg_attention_1")([p2, a1])
    ```

    References:
    - Liu, Johns, Davison (2019). End-to-End Multi-Task Learning with
      Attention. CVPR. arXiv:1803.10704.
    """

    def __init__(self, units: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units, optional=True)

    def build(self, input_shape: Any) -> None:
        if _is_shape_list(input_shape):
            if len(input_shape) != 2:
                raise ValueError(
                    f"Layer {self.name!r} (TaskAttention) is called on the "
                    "shared feature or on [shared feature, previous task "
                    f"feature]. Received {len(input_shape)} inputs."
                )
            shared_shape, previous_shape = input_shape
        else:
            shared_shape, previous_shape = input_shape, None
        channels = shared_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer {self.name!r} (TaskAttention) needs a known channel "
                f"axis. Received: input_shape={input_shape!r}."
            )
        if previous_shape is not None and \
                tuple(previous_shape[1:-1]) != tuple(shared_shape[1:-1]):
            raise ValueError(
                f"Layer {self.name!r} (TaskAttention): the previous task "
                f"feature {tuple(previous_shape)} and the shared feature "
                f"{tuple(shared_shape)} differ in their non-channel axes. "
                "Attend at blocks whose feature maps have the same spatial "
                "size, or flatten the trunk's features."
            )
        channels = int(channels)
        self.projection: keras.layers.Dense | None = None
        mask_input = tuple(shared_shape)
        if previous_shape is not None:
            self.projection = keras.layers.Dense(
                channels, activation="relu", name="projection")
            self.projection.build(tuple(previous_shape))
            mask_input = tuple(shared_shape[:-1]) + (2 * channels,)
        self.hidden = keras.layers.Dense(
            self.units or channels, activation="relu", name="hidden")
        self.hidden.build(mask_input)
        self.mask = keras.layers.Dense(
            channels, activation="sigmoid", name="mask")
        self.mask.build(tuple(shared_shape[:-1]) + (self.units or channels,))

    def attention_mask(self, inputs: Tensor | Sequence[Tensor]) -> Tensor:
        """The mask `a` (values in (0, 1), the shape of the shared
        feature)."""
        if isinstance(inputs, (list, tuple)):
            shared, previous = inputs
            if self.projection is None:
                raise ValueError(
                    f"Layer {self.name!r} (TaskAttention) was built for the "
                    "first attended block (no previous task feature) and "
                    "cannot take [shared, previous]."
                )
            features = keras.ops.concatenate(
                [shared, self.projection(previous)], axis=-1)
        else:
            features = inputs
        return self.mask(self.hidden(features))

    def call(self, inputs: Tensor | Sequence[Tensor]) -> Tensor:
        shared = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return self.attention_mask(inputs) * shared

    def compute_output_shape(self, input_shape: Any) -> tuple:
        if _is_shape_list(input_shape):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}
