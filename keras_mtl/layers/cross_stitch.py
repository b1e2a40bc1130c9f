"""`CrossStitch`: learned linear mixing of per-task activations."""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class CrossStitch(keras.layers.Layer):
    """Mixes the activations of T task columns with a learned T x T matrix.

    ```
    x~_i = sum_j alpha_ij x_j          i, j = 1..T
    ```

    With `per_channel=True` each channel (last axis) has its own matrix
    (`alpha` of shape `[T, T, channels]`). The matrix starts near the
    identity, as in the paper: `alpha_ii = self_weight` and
    `alpha_ij = (1 - self_weight) / (T - 1)`, so every row is a convex
    combination. `self_weight=1.0` starts from independent columns.

    Called on a list of T tensors of the same shape; returns a list of T
    tensors of that shape.

    Args:
        self_weight: float. Initial weight of a task's own column
            (the paper's alpha_S). Defaults to 0.9 (alpha_D = 0.1 for two
            tasks, the paper's best setting).
        per_channel: bool. One matrix per channel instead of one scalar per
            pair of tasks. Defaults to False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    a, b = keras.layers.Dense(32)(x), keras.layers.Dense(32)(x)
    a, b = keras_mtl.layers.CrossStitch()([a, b])
    ```

    References:
    - Misra, Shrivastava, Gupta, Hebert (2016). Cross-stitch Networks for
      Multi-task Learning. CVPR. arXiv:1604.03539.
    """

    def __init__(self, self_weight: float = 0.9, per_channel: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(self_weight) <= 1.0:
            raise ValueError(
                "Argument `self_weight` must be in [0, 1] (rows of the "
                "cross-stitch matrix start as convex combinations). "
                f"Received: self_weight={self_weight!r}."
            )
        self.self_weight = float(self_weight)
        self.per_channel = bool(per_channel)

    def _initial_alpha(self, shape: Sequence[int], dtype: Any = None) -> Any:
        num_tasks = shape[0]
        other = ((1.0 - self.self_weight) / (num_tasks - 1)
                 if num_tasks > 1 else 0.0)
        eye = ops.eye(num_tasks, dtype=dtype)
        alpha = self.self_weight * eye + other * (1.0 - eye)
        if len(shape) == 3:
            alpha = ops.repeat(alpha[:, :, None], shape[2], axis=2)
        return alpha

    def build(self, input_shape: Sequence[Sequence[int | None]]) -> None:
        shapes = [tuple(s) for s in input_shape]
        if not shapes or any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(
                f"Layer {self.name!r} (CrossStitch) expects a list of task "
                "activations of the same shape. Received shapes: "
                f"{shapes}. Give every task column the same architecture."
            )
        self.num_tasks = len(shapes)
        shape: tuple[int, ...] = (self.num_tasks, self.num_tasks)
        if self.per_channel:
            if shapes[0][-1] is None:
                raise ValueError(
                    f"Layer {self.name!r}: `per_channel=True` needs a known "
                    f"channel axis. Received shapes: {shapes}."
                )
            shape = shape + (int(shapes[0][-1]),)
        self.alpha = self.add_weight(
            name="alpha", shape=shape, initializer=self._initial_alpha)

    def call(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        stacked = ops.stack(list(inputs), axis=0)  # [T, batch, ..., C]
        alpha = ops.cast(self.alpha, stacked.dtype)
        if self.per_channel:
            mixed = ops.einsum("ijc,j...c->i...c", alpha, stacked)
        else:
            mixed = ops.einsum("ij,j...->i...", alpha, stacked)
        return [mixed[i] for i in range(self.num_tasks)]

    def compute_output_shape(
        self, input_shape: Sequence[Sequence[int | None]]
    ) -> list[tuple[int | None, ...]]:
        return [tuple(s) for s in input_shape]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "self_weight": self.self_weight,
                "per_channel": self.per_channel}
