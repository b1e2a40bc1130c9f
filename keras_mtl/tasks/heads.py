"""The layers of a task's head, built on features or on other tasks' outputs.

A kind's default head is `head_units` hidden Dense layers and an output
Dense layer named after the task (sigmoid, softmax or linear; linear with
`from_logits=True`). A custom task's head is its own layer; a task with
`inputs_from` gets the list of its sources' outputs (its `head` called on
the list, or the default head on their concatenation).
"""

from typing import Any

import keras

from keras_mtl.types import KerasTensor

_OUTPUT_ACTIVATION = {
    "binary": "sigmoid",
    "multiclass": "softmax",
    "multilabel": "sigmoid",
    "regression": "linear",
}


def build_task_head(task: Any, features: Any) -> KerasTensor:
    """Applies `task`'s head to `features` (a tensor, or for a task with
    `inputs_from` the list of its sources' outputs); returns the output,
    whose last layer is named after the task. Under a mixed-precision
    policy the output layer computes in float32 for a stable loss."""
    if task.inputs_from and task.head is None and isinstance(
            features, (list, tuple)):
        features = features[0] if len(features) == 1 else \
            keras.layers.Concatenate(name=f"{task.name}_inputs")(
                list(features))
    if task.head is not None:  # custom kind, or a head over inputs_from
        out = task.head(features)
        if task.head.name != task.name:
            out = keras.layers.Identity(name=task.name)(out)
        return out
    x = features
    for i, width in enumerate(task.head_units):
        x = keras.layers.Dense(
            width, activation=task.head_activation,
            name=f"{task.name}_head_{i}")(x)
        if task.head_dropout:
            x = keras.layers.Dropout(
                task.head_dropout, name=f"{task.name}_head_dropout_{i}"
            )(x)
    policy = keras.config.dtype_policy().name
    out_dtype = "float32" if policy.startswith("mixed") else None
    activation = ("linear" if task.from_logits
                  else _OUTPUT_ACTIVATION[task.kind])
    return keras.layers.Dense(
        task.output_units, activation=activation,
        dtype=out_dtype, name=task.name)(x)
