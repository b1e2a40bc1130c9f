"""Checks of a wrapped Functional graph's output layers against the tasks.

`MultiTaskModel` wraps any user Functional model. A binary task whose
head emits logits (no sigmoid) trains silently into garbage under
`binary_crossentropy` (measured in issue 18: loss 6.7, AUC 0.32), and a
4-wide head for `num_classes=3` was accepted. At wrap time the last layer
of every task is checked:

- width: the output's last axis must be the kind's width (1 for binary,
  `num_classes`, `num_labels`, `units`);
- activation, when the last layer declares one (Dense, Activation, or the
  last layer of a nested Sequential/Functional model): sigmoid for binary
  and multilabel, softmax for multiclass, or none (linear) with
  `Task(..., from_logits=True)`. Regression and custom heads may end in
  any activation. A last layer without an `activation` attribute (ESMM's
  product, a custom layer) cannot be read and is accepted.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

import keras

from keras_mtl._compat.keras import keras_history
from keras_mtl.tasks.task import Task
from keras_mtl.types import KerasTensor

_EXPECTED = {"binary": "sigmoid", "multilabel": "sigmoid",
             "multiclass": "softmax"}


def _last_layer(tensor: KerasTensor) -> Any:
    """The layer that computes `tensor`, looking inside nested models
    (their output at the same position); None if it cannot be read."""
    layer, _, index = keras_history(tensor)
    for _ in range(32):  # nesting depth
        inner = getattr(layer, "outputs", None)
        if not isinstance(layer, keras.Model) or not inner:
            return layer
        if index >= len(inner):
            return None
        layer, _, index = keras_history(inner[index])
    return None


def _activation_name(layer: Any) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return str(name).lower()


def check_output_heads(
    tasks: Sequence[Task], outputs: Mapping[str, KerasTensor]
) -> None:
    """Raises when a task's output width or activation does not fit its
    kind (see the module docstring)."""
    for task in tasks:
        if task.kind == "custom":
            continue
        tensor = outputs[task.name]
        last = _last_layer(tensor)
        width = tensor.shape[-1] if tensor.shape else None
        expected = task.output_units
        if width is not None and width != expected:
            arg = {"binary": None, "multiclass": "num_classes",
                   "multilabel": "num_labels", "regression": "units"}[
                task.kind]
            fix = f" or set {arg}={width}" if arg else ""
            raise ValueError(
                f"Task {task.name!r} ({task.kind}) expects an output of "
                f"width {expected}, but its output layer "
                f"{getattr(last, 'name', '?')!r} has width {width}. Make "
                f"the last layer {expected} wide{fix}.")
        wanted = _EXPECTED.get(task.kind)
        found = None if last is None else _activation_name(last)
        if wanted is None or found is None:
            continue
        layer = last.name
        if task.from_logits and found != "linear":
            raise ValueError(
                f"Task {task.name!r} declares from_logits=True, but its "
                f"output layer {layer!r} applies {found!r}. Remove the "
                "activation, or drop from_logits.")
        if not task.from_logits and found == "linear":
            raise ValueError(
                f"Task {task.name!r} ({task.kind}) expects probabilities, "
                f"but its output layer {layer!r} has no activation (it "
                f"emits logits). Use activation={wanted!r}, or declare "
                f"Task({task.name!r}, ..., from_logits=True).")
        if not task.from_logits and found != wanted:
            raise ValueError(
                f"Task {task.name!r} ({task.kind}) expects a {wanted!r} "
                f"output, but its output layer {layer!r} applies "
                f"{found!r}. Use activation={wanted!r}.")
