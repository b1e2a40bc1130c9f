"""Trunk specifications turned into blocks that can be shared or copied.

A trunk is given as Dense widths (`(256, 128)`), a list of layers (one block
each; ints and layers may be mixed), or any single Keras layer or model. A
block is *shared* when all tasks call the same layer object and *copied* per
task otherwise: a copy has the same configuration and fresh weights.
"""

import contextlib
import contextvars
from typing import Any
from typing import Iterator
from typing import Sequence

import keras

from keras_mtl.types import Inputs
from keras_mtl.types import KerasTensor
from keras_mtl.types import TrunkSpec

DEFAULT_TRUNK = (128, 64)


class Block:
    """One trunk block: a Dense width or a user layer.

    Args:
        spec: An int (Dense width) or a Keras layer/model.
        index: Position of the block in the trunk.
        activation: Activation of Dense blocks.
        dropout: Dropout rate after Dense blocks.
    """

    def __init__(self, spec: int | keras.layers.Layer, index: int,
                 activation: str = "relu", dropout: float = 0.0) -> None:
        if isinstance(spec, bool) or not (
            isinstance(spec, int) or isinstance(spec, keras.layers.Layer)
        ):
            raise TypeError(
                f"Trunk block {index} must be a positive int (a Dense width) "
                f"or a Keras layer. Received: {spec!r}."
            )
        if isinstance(spec, int) and spec < 1:
            raise ValueError(
                f"Trunk block {index} has width {spec}; Dense widths must be "
                ">= 1."
            )
        self.spec = spec
        self.index = index
        self.activation = activation
        self.dropout = dropout

    @property
    def is_dense(self) -> bool:
        return isinstance(self.spec, int)

    def layers(self, prefix: str | None) -> list[keras.layers.Layer]:
        """The block's layers: shared (`prefix=None`) or a per-task copy."""
        if self.is_dense:
            base = "trunk" if prefix is None else f"{prefix}_trunk"
            layers = [keras.layers.Dense(
                self.spec, activation=self.activation,
                name=f"{base}_{self.index}")]
            if self.dropout:
                layers.append(keras.layers.Dropout(
                    self.dropout, name=f"{base}_dropout_{self.index}"))
            return layers
        if prefix is None:
            return [self.spec]
        return [copy_layer(self.spec, f"{prefix}_{self.spec.name}")]

    def __call__(self, x: KerasTensor, prefix: str | None) -> KerasTensor:
        if self.is_dense:
            x = flatten_if_needed(x, prefix, self.index)
        layers = self.layers(prefix)
        try:
            for layer in layers:
                x = layer(x)
        except Exception as error:  # Keras raises many types here.
            raise ValueError(
                f"Trunk block {self.index} ({layers[0].name}) does not accept "
                f"an input of shape {tuple(x.shape)}: {error} Check the "
                "trunk against the model's inputs (e.g. a Conv2D trunk needs "
                "inputs of shape (height, width, channels))."
            ) from error
        return x


def copy_layer(layer: keras.layers.Layer, name: str) -> keras.layers.Layer:
    """A fresh copy of `layer` (same configuration, new weights)."""
    if isinstance(layer, keras.Model):
        clone = keras.models.clone_model(layer)
        clone.name = name
        return clone
    config = layer.get_config()
    config["name"] = name
    return layer.__class__.from_config(config)


def flatten_if_needed(x: KerasTensor, prefix: str | None,
                      index: int | str) -> KerasTensor:
    """Flattens feature maps before a Dense block or head."""
    if len(x.shape) <= 2:
        return x
    base = "flatten" if prefix is None else f"{prefix}_flatten"
    return keras.layers.Flatten(name=f"{base}_{index}")(x)


def make_blocks(trunk: TrunkSpec, activation: str = "relu",
                dropout: float = 0.0) -> list[Block]:
    """Turns a trunk specification into a list of `Block`s."""
    if trunk is None:
        trunk = DEFAULT_TRUNK
    if isinstance(trunk, keras.layers.Layer):
        specs: Sequence[Any] = [trunk]
    elif isinstance(trunk, (list, tuple)):
        specs = trunk
    else:
        raise TypeError(
            "Argument `trunk` must be a tuple of Dense widths, a list of "
            "layers, or a Keras layer/model. Received: "
            f"{type(trunk).__name__}."
        )
    return [Block(s, i, activation, dropout) for i, s in enumerate(specs)]


class _FusedFeatures:
    """The fused tensor that stands for `inputs` inside `fused_features`."""

    def __init__(self, inputs: Inputs, features: KerasTensor) -> None:
        self.inputs = inputs
        self.features = features
        self.used = False


_FUSED: contextvars.ContextVar[_FusedFeatures | None] = \
    contextvars.ContextVar("keras_mtl_fused_features", default=None)


@contextlib.contextmanager
def fused_features(inputs: Inputs,
                   features: KerasTensor) -> Iterator[_FusedFeatures]:
    """Within the block, `merge_inputs(inputs)` returns `features`.

    `keras_mtl.build` fuses multimodal inputs (encoders, fusion layers)
    into one tensor and runs any builder in this scope, so that every
    architecture starts from the fused tensor while its model keeps the
    original named inputs. The yielded object's `used` says whether the
    builder read its inputs through `merge_inputs`.
    """
    scope = _FusedFeatures(inputs, features)
    token = _FUSED.set(scope)
    try:
        yield scope
    finally:
        _FUSED.reset(token)


def merge_inputs(inputs: Inputs) -> KerasTensor:
    """One tensor from the model inputs (flattened and concatenated)."""
    scope = _FUSED.get()
    if scope is not None and scope.inputs is inputs:
        scope.used = True
        return scope.features
    if isinstance(inputs, dict):
        if not inputs:
            raise ValueError("Argument `inputs` is an empty dict.")
        tensors = [inputs[k] for k in sorted(inputs)]
        if len(tensors) == 1:
            return tensors[0]
        flat = [flatten_if_needed(t, f"input_{k}", "merge")
                for k, t in zip(sorted(inputs), tensors)]
        return keras.layers.Concatenate(name="input_concat")(flat)
    if not isinstance(inputs, keras.KerasTensor):
        raise TypeError(
            "Argument `inputs` must be a `keras.Input(...)` or a dict of "
            f"them. Received: {type(inputs).__name__}. Write e.g. "
            "inputs=keras.Input((40,), name='features')."
        )
    return inputs
