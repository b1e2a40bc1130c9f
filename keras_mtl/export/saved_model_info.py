"""A SavedModel's signatures and variables, read as data, never executed.

`tf.saved_model.load` runs the SavedModel's graph: restore and init
functions, resource initializers, whatever the author put there. A
SavedModel is code, not data. Inspecting one must not run it, so this
module parses `saved_model.pb` (a `SavedModel` protocol buffer) and reads
the signatures (`SignatureDef`: input and output names, dtypes, shapes) and
the variables (the object graph's variable nodes: shapes and dtypes) from
the proto. Nothing in the file is executed, traced or imported.
"""

import os
import pathlib
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2


def _shape(proto: Any) -> list[int | None] | None:
    """A `TensorShapeProto` as a list (None for unknown sizes), or None
    when even the rank is unknown."""
    if proto.unknown_rank:
        return None
    return [None if d.size < 0 else int(d.size) for d in proto.dim]


def _dtype(enum: int) -> str:
    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:
        return f"dtype_enum_{enum}"


def _tensors(mapping: Any) -> list[dict[str, Any]]:
    return [{"name": key, "shape": _shape(mapping[key].tensor_shape),
             "dtype": _dtype(mapping[key].dtype)}
            for key in sorted(mapping)]


def read_saved_model_proto(path: Any) -> Any:
    """Parses `path/saved_model.pb` into a `SavedModel` proto.

    Raises:
        FileNotFoundError: No `saved_model.pb` in `path`.
        ValueError: The file is not a SavedModel proto.
    """
    file = pathlib.Path(os.fspath(path)) / "saved_model.pb"
    if not file.is_file():
        raise FileNotFoundError(
            f"No SavedModel at '{path}' (no saved_model.pb)."
        )
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(file.read_bytes())
    except Exception as error:  # protobuf's DecodeError
        raise ValueError(
            f"'{file}' is not a SavedModel protocol buffer ({error})."
        ) from error
    if not proto.meta_graphs:
        raise ValueError(f"'{file}' holds no MetaGraph.")
    return proto


def saved_model_signatures(path: Any) -> dict[str, dict[str, Any]]:
    """`{key: {"inputs": [...], "outputs": [...]}}` read from the proto.

    Each tensor is `{"name", "shape", "dtype"}`, sorted by name; signature
    keys that TensorFlow reserves for itself (`__saved_model_init_op`)
    are left out.
    """
    signatures: dict[str, dict[str, Any]] = {}
    for meta_graph in read_saved_model_proto(path).meta_graphs:
        for key, signature in meta_graph.signature_def.items():
            if key.startswith("__"):
                continue
            signatures[key] = {"inputs": _tensors(signature.inputs),
                               "outputs": _tensors(signature.outputs)}
    return dict(sorted(signatures.items()))


def saved_model_variables(path: Any) -> list[dict[str, Any]]:
    """Name, shape and dtype of every variable in the SavedModel's object
    graph (read from the proto)."""
    proto = read_saved_model_proto(path)
    variables = []
    for node in proto.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") != "variable":
            continue
        variables.append({"name": node.variable.name,
                          "shape": _shape(node.variable.shape),
                          "dtype": _dtype(node.variable.dtype)})
    return variables


def count_parameters(variables: list[dict[str, Any]]) -> int | None:
    """The number of scalars in `variables` (None if a shape is unknown)."""
    total = 0
    for variable in variables:
        shape = variable["shape"]
        if shape is None or any(d is None for d in shape):
            return None
        total += int(np.prod(shape, dtype=np.int64))
    return total


__all__ = ["count_parameters", "read_saved_model_proto",
           "saved_model_signatures", "saved_model_variables"]
