"""Type aliases shared across keras_mtl's public signatures."""

from typing import Any
from typing import Mapping
from typing import Sequence
from typing import Union

import keras

Tensor = Any
"""A backend tensor (`tf.Tensor` on the TensorFlow backend)."""

KerasTensor = keras.KerasTensor
"""A symbolic Functional-API tensor."""

Inputs = Union[KerasTensor, Mapping[str, KerasTensor]]
"""One `keras.Input` or a dict of named `keras.Input`s."""

TrunkSpec = Union[None, Sequence[int], Sequence[keras.layers.Layer],
                  keras.layers.Layer]
"""Dense widths, a list of layers (blocks), or any Keras layer or model."""

PerTask = Mapping[str, Any]
"""A value per task, keyed by task name."""
