"""Fusion of modality embeddings: a learned weight each, or attention."""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.layers._checks import check_positive_int
from keras_mtl.registry import register
from keras_mtl.types import Tensor


def _check_same_shapes(layer: keras.layers.Layer,
                       input_shape: Any) -> list[tuple]:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or \
            not isinstance(input_shape[0], (list, tuple)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) is called on a "
            "list of tensors (one per modality). Received: input_shape="
            f"{input_shape!r}."
        )
    shapes = [tuple(s) for s in input_shape]
    if any(s[1:] != shapes[0][1:] for s in shapes):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) fuses "
            "embeddings of one common shape. Received shapes: "
            f"{shapes}. Project them to a common width first (e.g. "
            "keras_mtl.build(..., fusion_units=64))."
        )
    return shapes


@register
class WeightedSumFusion(keras.layers.Layer):
    """A learned convex combination of same-shape tensors.

    ```
    w = softmax(theta)            theta: [M], initialised to 0 (equal weights)
    y = sum_m w_m x_m
    ```

    Used for early fusion of modality embeddings and for late fusion of
    per-modality task predictions (a convex combination of probabilities is
    a probability).

    Args:
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    fused = keras_mtl.layers.WeightedSumFusion()([text_emb, image_emb])
    ```

    References:
    - Baltrusaitis, Ahuja, Morency (2019). Multimodal Machine Learning: A
      Survey and Taxonomy. IEEE TPAMI 41(2). arXiv:1705.09406.
    """

    def build(self, input_shape: Any) -> None:
        shapes = _check_same_shapes(self, input_shape)
        self.logits = self.add_weight(
            name="logits", shape=(len(shapes),), initializer="zeros")

    def modality_weights(self) -> Tensor:
        """The current weights `softmax(theta)`, shape `[M]`."""
        return ops.softmax(self.logits)

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        stacked = ops.stack(list(inputs), axis=0)
        weights = ops.cast(self.modality_weights(), stacked.dtype)
        return ops.tensordot(weights, stacked, axes=1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape[0])


@register
class AttentionFusion(keras.layers.Layer):
    """Per-sample attention over modality embeddings.

    ```
    s_m   = v^T tanh(W e_m + b)          e_m: [batch, D]
    a     = softmax_m(s)                 [batch, M]
    y     = sum_m a_m e_m                [batch, D]
    ```

    Args:
        units: int or None. Width of the attention's hidden layer
            (default: the embedding width D).
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    fused = keras_mtl.layers.AttentionFusion()([text_emb, image_emb])
    ```

    References:
    - Bahdanau, Cho, Bengio (2015). Neural Machine Translation by Jointly
      Learning to Align and Translate. ICLR. arXiv:1409.0473.
    - Hori, Hori, Lee, Zhang, Harsham, Hershey, Marks, Sumi (2017).
      Attention-Based Multimodal Fusion for Video Description. ICCV.
      arXiv:1701.03126.
    """

    def __init__(self, units: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units, optional=True)

    def build(self, input_shape: Any) -> None:
        shapes = _check_same_shapes(self, input_shape)
        if len(shapes[0]) != 2 or shapes[0][-1] is None:
            raise ValueError(
                f"Layer {self.name!r} (AttentionFusion) expects embeddings "
                f"of shape (batch, width). Received shapes: {shapes}."
            )
        width = int(shapes[0][-1])
        units = self.units or width
        self.kernel = self.add_weight(
            name="kernel", shape=(width, units),
            initializer="glorot_uniform")
        self.bias = self.add_weight(
            name="bias", shape=(units,), initializer="zeros")
        self.context = self.add_weight(
            name="context", shape=(units,), initializer="glorot_uniform")

    def attention_weights(self, inputs: Sequence[Tensor]) -> Tensor:
        """The attention `a` over modalities, shape `[batch, M]`."""
        stacked = ops.stack(list(inputs), axis=1)  # [batch, M, D]
        hidden = ops.tanh(ops.matmul(stacked, self.kernel) + self.bias)
        scores = ops.matmul(hidden, self.context)  # [batch, M]
        return ops.softmax(scores, axis=-1)

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        stacked = ops.stack(list(inputs), axis=1)
        weights = self.attention_weights(inputs)
        return ops.einsum("bm,bmd->bd", weights, stacked)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}
