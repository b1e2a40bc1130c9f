"""`inspect_export`: what a saved or exported model holds, without running it.

Works on a `.keras` file (tasks, layers, compile setup), any `.tflite`
file or SavedModel folder (signatures: names, shapes, dtypes; size,
quantization), and an `export_all` bundle folder (all of its artifacts).
For keras_mtl exports it also shows the tasks' kinds. SavedModels are read
from their proto: loading one would run its graph.
"""

import json
import pathlib
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_mtl._compat.litert import ops_details
from keras_mtl.export._files import BUNDLE_MARKER
from keras_mtl.export._files import artifact_kind
from keras_mtl.export._files import artifact_size
from keras_mtl.export.keras_file import format_keras_file
from keras_mtl.export.keras_file import inspect_keras_file
from keras_mtl.export.runtime import read_metadata
from keras_mtl.export.runtime import tensor_infos
from keras_mtl.export.saved_model_info import count_parameters
from keras_mtl.export.saved_model_info import saved_model_signatures
from keras_mtl.export.saved_model_info import saved_model_variables


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
    """Read from `saved_model.pb` and the metadata JSON, never loaded:
    loading a SavedModel runs its graph."""
    variables = saved_model_variables(path)
    info: dict[str, Any] = {
        "path": str(path),
        "format": "saved_model",
        "size_bytes": artifact_size(path),
        "quantization": None,
        "signatures": saved_model_signatures(path),
        "variables": len(variables),
        "parameters": count_parameters(variables),
    }
    metadata = read_metadata(path)
    if metadata is not None:
        info["tasks"] = metadata["tasks"]
    return info


def _bundle(path: pathlib.Path) -> dict[str, Any]:
    record = json.loads((path / BUNDLE_MARKER).read_text())
    artifacts = {}
    if (path / "saved_model" / "saved_model.pb").is_file():
        artifacts["saved_model"] = _saved_model(path / "saved_model")
    for file in sorted(path.glob("*.tflite")):
        artifacts[file.name] = _tflite(file)
    model = record.get("model", {})
    return {
        "path": str(path),
        "format": "bundle",
        "size_bytes": artifact_size(path),
        "model_name": model.get("model_name"),
        "tasks": model.get("tasks", []),
        "artifacts": artifacts,
    }


def inspect_export(path: Any) -> dict[str, Any]:
    """Describes a saved or exported model without running it.

    Args:
        path: A `.keras` file, a `.tflite` file, a SavedModel folder or an
            `export_all` bundle folder. A path `NAME` that does not exist
            while `NAME.tflite` does (what `keras-mtl export --format
            tflite --out NAME` writes) means that file.

    Returns:
        For exports, a dict with `path`, `format`, `size_bytes`,
        `quantization`, `signatures` (`{key: {"inputs": [...],
        "outputs": [...]}}`, each tensor with name, shape and dtype); for
        SavedModels also `variables` and `parameters`, and `tasks` for
        those written by keras_mtl. A SavedModel is read from its
        `saved_model.pb` proto, never loaded, so none of its ops run. A
        bundle gives `tasks` and `artifacts` (one such dict per file). A
        `.keras` file gives tasks, layers and compile setup (see
        `keras_mtl.export.keras_file.inspect_keras_file`).
    """
    kind, path = artifact_kind(path)
    if kind == "keras":
        return inspect_keras_file(path)
    if kind == "tflite":
        return _tflite(path)
    if kind == "saved_model":
        return _saved_model(path)
    return _bundle(path)


def _shape(shape: list[int | None] | None) -> str:
    if shape is None:
        return "(unknown rank)"
    return "(" + ", ".join("None" if d is None or d < 0 else str(d)
                           for d in shape) + ")"


def _format_export(info: dict[str, Any], kinds: dict[str, str]) -> list[str]:
    lines = [
        f"{info['path']}",
        f"  format:       {info['format']}",
        f"  size:         {info['size_bytes'] / 1024:.1f} KiB",
        f"  quantization: {info['quantization'] or 'none (float32)'}",
    ]
    if "variables" in info:
        parameters = info["parameters"]
        lines.append(f"  variables:    {info['variables']} ("
                     + ("unknown" if parameters is None else str(parameters))
                     + " parameters)")
    kinds = {**kinds, **{t["name"]: t["kind"] for t in info.get("tasks", [])}}
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
    return lines


def format_inspection(info: dict[str, Any]) -> str:
    """Human-readable text for `inspect_export`'s result."""
    if info["format"] == "keras":
        return format_keras_file(info)
    if info["format"] != "bundle":
        return "\n".join(_format_export(info, {}))
    kinds = {t["name"]: t["kind"] for t in info["tasks"]}
    lines = [
        f"{info['path']}",
        "  format:       export_all bundle",
        f"  size:         {info['size_bytes'] / 1024:.1f} KiB",
        f"  model:        {info['model_name']}",
        "  tasks:        " + ", ".join(
            f"{name} [{kind}]" for name, kind in kinds.items()),
    ]
    for artifact in info["artifacts"].values():
        lines += ["  " + line for line in _format_export(artifact, kinds)]
    return "\n".join(lines)
