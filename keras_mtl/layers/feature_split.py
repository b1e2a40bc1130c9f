"""`FeatureSplit`: splits a tensor's last axis into named-size parts."""

from typing import Any
from typing import Sequence

import keras

from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class FeatureSplit(keras.layers.Layer):
    """Splits the last axis into consecutive parts of the given sizes.

    The inverse of `keras.layers.Concatenate(axis=-1)`. Builders use it to
    route several shared features through one named representation tensor
    (e.g. MTAN's attended trunk blocks), so that gradient aggregation in
    representation mode sees a single shared tensor.

    Args:
        sizes: Sequence of positive ints, summing to the last axis.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    a, b = keras_mtl.layers.FeatureSplit([64, 32])(concatenated)
    ```
    """

    def __init__(self, sizes: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        sizes = list(sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, int)
                            or s < 1 for s in sizes):
            raise ValueError(
                "Argument `sizes` must be a non-empty list of positive "
                f"ints. Received: sizes={sizes!r}."
            )
        self.sizes = sizes

    def build(self, input_shape: Sequence[int | None]) -> None:
        if input_shape[-1] is not None and \
                int(input_shape[-1]) != sum(self.sizes):
            raise ValueError(
                f"Layer {self.name!r} (FeatureSplit): sizes {self.sizes} "
                f"sum to {sum(self.sizes)} but the last axis has "
                f"{input_shape[-1]} entries."
            )

    def call(self, inputs: Tensor) -> list[Tensor]:
        bounds = [0]
        for size in self.sizes:
            bounds.append(bounds[-1] + size)
        return [inputs[..., bounds[i]:bounds[i + 1]]
                for i in range(len(self.sizes))]

    def compute_output_shape(
        self, input_shape: Sequence[int | None]
    ) -> list[tuple[int | None, ...]]:
        return [tuple(input_shape[:-1]) + (s,) for s in self.sizes]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sizes": list(self.sizes)}

