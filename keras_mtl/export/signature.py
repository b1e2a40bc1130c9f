"""The inference signature of a `MultiTaskModel`: named inputs, task outputs.

Every export goes through one serving function built here. It runs a clean
Functional view of the model's graph (`keras.Model(model.input,
model.output)`): the same layers and weights, but none of the state that
`compile` and `fit` attach to a `MultiTaskModel` (optimizer, loss weighting,
gradient aggregator, metrics), and it calls the graph with `training=False`
so that training-only layers (dropout, noise) vanish from the traced graph.
Inputs are keyed by the model's input names, outputs by task name.
"""

import re
from dataclasses import dataclass
from typing import Any
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from keras_mtl._compat.keras import keras_history
from keras_mtl.model import MultiTaskModel

SIGNATURE_KEY = "serving_default"
"""The SavedModel / TFLite signature that keras_mtl exports write."""

_VALID_INPUT_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (None for unknown sizes) and dtype of one tensor."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape),
                "dtype": self.dtype}


def check_multitask_model(model: Any, caller: str) -> MultiTaskModel:
    """Returns `model` if it is a `MultiTaskModel`, else raises `TypeError`."""
    if not isinstance(model, MultiTaskModel):
        raise TypeError(
            f"`{caller}` exports a `keras_mtl.MultiTaskModel`, whose outputs "
            "are keyed by task name. Received: "
            f"{type(model).__module__}.{type(model).__name__}. Build the "
            "model with `keras_mtl.build(...)`, or wrap a Functional graph: "
            "keras_mtl.MultiTaskModel(inputs, {'task': output, ...}, "
            "tasks=[keras_mtl.Task('task', kind=...), ...])."
        )
    return model


def _input_layer_name(tensor: Any) -> str:
    history = keras_history(tensor)
    if history is not None:
        return history.operation.name
    return tensor.name


def input_names(model: MultiTaskModel) -> list[str]:
    """The model's input names, in the order the model defines them.

    A dict of inputs is named by its keys; a single input or a list of
    inputs by the names of their `keras.Input` layers.
    """
    structure = model.input
    if isinstance(structure, Mapping):
        names = [str(k) for k in structure]
    elif isinstance(structure, (list, tuple)):
        names = [_input_layer_name(t) for t in structure]
    else:
        names = [_input_layer_name(structure)]
    for name in names:
        if not _VALID_INPUT_NAME.match(name):
            raise ValueError(
                f"Model input name {name!r} cannot name a signature input "
                "(allowed: letters, digits, '_', '.', '-', '/', starting "
                "with a letter, digit or '.'). Rename the input, e.g. "
                "keras.Input(shape, name='features')."
            )
    if len(set(names)) != len(names):
        raise ValueError(
            f"The model's input names {names} are not distinct, so the "
            "exported signature could not address them by name. Give each "
            "keras.Input a distinct `name`."
        )
    return names


def _flat_inputs(model: MultiTaskModel) -> list[Any]:
    structure = model.input
    if isinstance(structure, Mapping):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


def input_infos(model: MultiTaskModel) -> list[TensorInfo]:
    """Name, shape and dtype of each model input."""
    return [
        TensorInfo(name, tuple(tensor.shape), str(tensor.dtype))
        for name, tensor in zip(input_names(model), _flat_inputs(model))
    ]


def output_infos(model: MultiTaskModel) -> list[TensorInfo]:
    """Name (the task name), shape and dtype of each task output."""
    outputs = model.output
    return [
        TensorInfo(name, tuple(outputs[name].shape), str(outputs[name].dtype))
        for name in model.task_names
    ]


def inference_model(model: MultiTaskModel) -> keras.Model:
    """A Functional view of `model`'s graph without its training state.

    The view shares the model's layers and weights; it has no optimizer,
    no loss weighting or gradient aggregator, and no metrics.
    """
    return keras.Model(model.input, model.output,
                       name=f"{model.name}_inference")


def _tensor_spec(info: TensorInfo) -> tf.TensorSpec:
    return tf.TensorSpec((None,) + tuple(info.shape[1:]), info.dtype,
                         name=info.name)


def serving_function(model: MultiTaskModel) -> tuple[Any, keras.Model]:
    """The `tf.function` that every keras_mtl export serves.

    Args:
        model: The `MultiTaskModel` to serve.

    Returns:
        A pair `(function, view)`: a `tf.function` taking one dict of
        named input tensors and returning a dict of task outputs, and the
        inference view it calls (`inference_model(model)`).
    """
    view = inference_model(model)
    names = input_names(model)
    structure = model.input
    tasks = model.task_names

    def serve(inputs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(structure, Mapping):
            x: Any = {k: inputs[k] for k in names}
        elif isinstance(structure, (list, tuple)):
            x = [inputs[k] for k in names]
        else:
            x = inputs[names[0]]
        outputs = view(x, training=False)
        return {task: outputs[task] for task in tasks}

    specs = {info.name: _tensor_spec(info) for info in input_infos(model)}
    function = tf.function(serve, input_signature=[specs], autograph=False)
    return function, view


def conform_shape(array: np.ndarray, info: TensorInfo,
                  what: str) -> np.ndarray:
    """`array` with the rank `info` expects, as `fit` and `predict` do.

    Keras's Functional models accept an input one rank short when the
    expected last size is 1 (`(N,)` for `keras.Input((1,))`: a trailing
    axis is added) and one rank over when the extra last size is 1 (it is
    dropped). Exports accept the same arrays; any other mismatch is a
    ValueError naming the input and the shape it expects.

    Args:
        array: The user's array, batch first.
        info: The expected input (`shape[0]` is the batch).
        what: How to name the array in an error message.
    """
    expected = tuple(info.shape)
    if array.ndim == len(expected) - 1 and expected[-1] == 1:
        array = array[..., np.newaxis]
    elif array.ndim == len(expected) + 1 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != len(expected) or any(
            e is not None and e != g
            for e, g in zip(expected[1:], array.shape[1:])):
        raise ValueError(
            f"{what} has shape {array.shape}; the model expects (batch,) + "
            f"{tuple(expected[1:])}. Pass an array of that shape (batch "
            "first)."
        )
    return array


def as_named_inputs(model: MultiTaskModel, inputs: Any,
                    what: str = "inputs") -> dict[str, np.ndarray]:
    """Turns user inputs into `{input_name: array}` with the model's dtypes.

    Accepts one array (single-input models), a list in the model's input
    order, or a dict keyed by input name.
    """
    infos = input_infos(model)
    names = [info.name for info in infos]
    if isinstance(inputs, Mapping):
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise ValueError(
                f"`{what}` must be keyed by the model's input names {names}. "
                f"Received keys {sorted(inputs)} (unknown: {unknown}, "
                f"missing: {missing})."
            )
        arrays = [inputs[n] for n in names]
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise ValueError(
                f"`{what}` holds {len(inputs)} arrays but the model has "
                f"{len(names)} inputs {names}. Pass a dict keyed by input "
                "name."
            )
        arrays = list(inputs)
    else:
        if len(names) != 1:
            raise ValueError(
                f"The model has {len(names)} inputs {names}; pass `{what}` "
                "as a dict keyed by these names. Received one array."
            )
        arrays = [inputs]
    result = {}
    batch = None
    for info, array in zip(infos, arrays):
        array = conform_shape(np.asarray(array), info,
                              f"`{what}` for model input {info.name!r}")
        if batch is not None and array.shape[0] != batch:
            raise ValueError(
                f"`{what}` arrays have different numbers of samples: "
                f"{array.shape[0]} for input {info.name!r}, {batch} before."
            )
        batch = array.shape[0]
        result[info.name] = array.astype(info.dtype, copy=False)
    if not batch:
        raise ValueError(f"`{what}` holds no samples. Pass at least one.")
    return result


def draw_inputs(model: MultiTaskModel, num_samples: int = 16,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs that match the model's input specs.

    Floats are standard normal, integers are drawn from {0, 1} (valid ids
    for any embedding), booleans uniformly. Unknown non-batch sizes are 4.

    Args:
        model: The `MultiTaskModel`.
        num_samples: Number of samples per input.
        seed: Seed of the numpy generator.

    Returns:
        `{input_name: array}`.
    """
    rng = np.random.default_rng(seed)
    drawn = {}
    for info in input_infos(model):
        shape = (num_samples,) + tuple(
            4 if d is None else d for d in info.shape[1:])
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            drawn[info.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            drawn[info.name] = rng.integers(0, 2, shape).astype(dtype)
        elif dtype.kind == "b":
            drawn[info.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            raise ValueError(
                f"Cannot draw sample values for input {info.name!r} of "
                f"dtype {info.dtype}. Pass `sample_inputs` with real "
                "examples."
            )
    return drawn


def take_samples(
    model: MultiTaskModel, data: Any, max_samples: int,
    what: str = "sample_inputs",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Inputs (and labels, when a dataset carries them) from user data.

    Args:
        model: The `MultiTaskModel`.
        data: Arrays as accepted by `as_named_inputs`, or a `tf.data.Dataset`
            yielding `x`, `(x, y)` or `(x, y, sample_weight)`.
        max_samples: At most this many samples are taken.
        what: The argument name used in error messages.

    Returns:
        `(inputs, labels)`; labels is None unless a dataset yields them.
    """
    labels = None
    if isinstance(data, tf.data.Dataset):
        xs: list[Any] = []
        ys: list[Any] = []
        count = 0
        for element in data.as_numpy_iterator():
            if isinstance(element, tuple) and len(element) in (2, 3):
                x, y = element[0], element[1]
                ys.append(y)
            else:
                x = element
            named = as_named_inputs(model, x, what)
            xs.append(named)
            count += len(next(iter(named.values())))
            if count >= max_samples:
                break
        if not xs:
            raise ValueError(f"`{what}` is an empty dataset.")
        inputs = {k: np.concatenate([x[k] for x in xs])[:max_samples]
                  for k in xs[0]}
        if ys and isinstance(ys[0], Mapping):
            labels = {k: np.concatenate([np.asarray(y[k]) for y in ys])[
                :max_samples] for k in ys[0]}
        return inputs, labels
    inputs = as_named_inputs(model, data, what)
    return {k: v[:max_samples] for k, v in inputs.items()}, labels
