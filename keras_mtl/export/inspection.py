"""`inspect_export`: signatures, names, shapes, dtypes, size, quantization.

Works on any `.tflite` file or SavedModel folder; for keras_mtl exports it
also shows the tasks' kinds (SavedModel metadata).
"""

import os
import pathlib
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_mtl._compat.litert import ops_details
from keras_mtl.export._files import artifact_size
from keras_mtl.export.runtime import SavedModelRunner
from keras_mtl.export.runtime import tensor_infos


def detect_quantization(interpreter: Interpreter) -> str | None:
    """Reads a TFLite model's quantization off its tensors and ops.

    Returns:
        `"float16"` (float16 weights), `"int8"` (integer activations: the
        model quantizes its inputs), `"dynamic"` (int8 weights, float
        activations) or None (float32).
    """
    dtypes = {np.dtype(d["dtype"]).name
              for d in interpreter.get_tensor_details()}
    ops = {op["op_name"] for op in ops_details(interpreter)}
    if "float16" in dtypes:
        return "float16"
    if "int8" in dtypes or "uint8" in dtypes:
        return "int8" if "QUANTIZE" in ops else "dynamic"
    return None


def _tflite(path: pathlib.Path) -> dict[str, Any]:
    interpreter = Interpreter(model_path=str(path))
    signatures = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        signatures[key] = {
            "inputs": [i.to_dict() for i in tensor_infos(
                runner.get_input_details())],
            "outputs": [o.to_dict() for o in tensor_infos(
                runner.get_output_details())],
        }
    return {
        "path": str(path),
        "format": "tflite",
        "size_bytes": path.stat().st_size,
        "quantization": detect_quantization(interpreter),
        "signatures": signatures,
        "ops": sorted({op["op_name"]
                       for op in ops_details(interpreter)}),
    }


def _saved_model(path: pathlib.Path) -> dict[str, Any]:
    runner = SavedModelRunner(path)
    signatures = {}
    for key, function in runner.loaded.signatures.items():
        specs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        signatures[key] = {
            "inputs": [{"name": k, "shape": specs[k].shape.as_list(),
                        "dtype": specs[k].dtype.name} for k in sorted(specs)],
            "outputs": [{"name": k, "shape": outputs[k].shape.as_list(),
                         "dtype": outputs[k].dtype.name}
                        for k in sorted(outputs)],
        }
    info: dict[str, Any] = {
        "path": str(path),
        "format": "saved_model",
        "size_bytes": artifact_size(path),
        "quantization": None,
        "signatures": signatures,
    }
    variables = getattr(runner.loaded, "inference_variables", None)
    if variables is not None:
        info["variables"] = len(variables)
        info["parameters"] = int(sum(
            np.prod(v.shape.as_list()) for v in variables))
    if runner.metadata is not None:
        info["tasks"] = runner.metadata["tasks"]
    return info


def inspect_export(path: Any) -> dict[str, Any]:
    """Describes an exported model.

    Args:
        path: A `.tflite` file or a SavedModel folder.

    Returns:
        A dict with `path`, `format`, `size_bytes`, `quantization`,
        `signatures` (`{key: {"inputs": [...], "outputs": [...]}}`, each
        tensor with name, shape and dtype), and for SavedModels written by
        keras_mtl `tasks`, `variables` and `parameters`.
    """
    path = pathlib.Path(os.fspath(path))
    if path.is_file() and path.suffix == ".tflite":
        return _tflite(path)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model(path)
    raise FileNotFoundError(
        f"'{path}' is neither a .tflite file nor a SavedModel folder (with "
        "saved_model.pb). Pass the path that `keras-mtl export` printed."
    )


def _shape(shape: list[int | None]) -> str:
    return "(" + ", ".join("None" if d is None or d < 0 else str(d)
                           for d in shape) + ")"


def format_inspection(info: dict[str, Any]) -> str:
    """Human-readable text for `inspect_export`'s result."""
    lines = [
        f"{info['path']}",
        f"  format:       {info['format']}",
        f"  size:         {info['size_bytes'] / 1024:.1f} KiB",
        f"  quantization: {info['quantization'] or 'none (float32)'}",
    ]
    if "parameters" in info:
        lines.append(f"  variables:    {info['variables']} "
                     f"({info['parameters']} parameters)")
    kinds = {t["name"]: t["kind"] for t in info.get("tasks", [])}
    for key, signature in info["signatures"].items():
        lines.append(f"  signature {key!r}:")
        for role in ("inputs", "outputs"):
            lines.append(f"    {role}:")
            for tensor in signature[role]:
                kind = kinds.get(tensor["name"])
                suffix = f"  [{kind}]" if role == "outputs" and kind else ""
                lines.append(f"      {tensor['name']:<20} "
                             f"{tensor['dtype']:<8} "
                             f"{_shape(tensor['shape'])}{suffix}")
    return "\n".join(lines)
