"""Fresh copies of the inputs, tasks and trunk for each trial.

Keras layers belong to one model: every trial (and every probe build)
gets its own `keras.Input`s, `Task`s and trunk layers, so that trials
share no layer and no weight.
"""

from typing import Any
from typing import Sequence

import keras

from keras_mtl._compat import keras as keras_compat
from keras_mtl.builders.blocks import DEFAULT_TRUNK
from keras_mtl.builders.blocks import copy_layer
from keras_mtl.tasks import Task
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def _clone_input(tensor: keras.KerasTensor) -> keras.KerasTensor:
    history = keras_compat.keras_history(tensor)
    name = history.operation.name if history else tensor.name
    return keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype,
                       sparse=bool(getattr(tensor, "sparse", False)),
                       name=name)


def fresh_inputs(inputs: Inputs) -> Inputs:
    """New `keras.Input`s with the names, shapes and dtypes of `inputs`."""
    if isinstance(inputs, dict):
        return {k: _clone_input(v) for k, v in inputs.items()}
    return _clone_input(inputs)


def fresh_tasks(tasks: Sequence[Task]) -> list[Task]:
    """New `Task`s from the configs of `tasks` (heads are not shared)."""
    return [Task.from_config(t.get_config()) for t in tasks]


def trunk_copy(trunk: TrunkSpec,
               widths: Sequence[int | None] | None) -> Any:
    """A copy of `trunk` (default `DEFAULT_TRUNK`) with Dense block `i`'s
    width replaced by `widths[i]` where that is not None."""
    if trunk is None:
        trunk = DEFAULT_TRUNK
    if isinstance(trunk, keras.layers.Layer):
        return copy_layer(trunk, trunk.name)
    blocks = []
    for i, spec in enumerate(trunk):
        if isinstance(spec, keras.layers.Layer):
            blocks.append(copy_layer(spec, spec.name))
        else:
            width = None if widths is None else widths[i]
            blocks.append(spec if width is None else int(width))
    return tuple(blocks) if all(isinstance(b, int) for b in blocks) \
        else blocks
