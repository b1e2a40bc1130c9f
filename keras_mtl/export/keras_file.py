"""`inspect_keras_file`: what a saved `.keras` MultiTaskModel holds.

A `.keras` file is a zip archive with `config.json` (the model's and the
compile configuration), `metadata.json` and the weights. The tasks (kind,
head, loss, metrics) and the compile setup (optimizer, loss weighting,
gradient aggregator, non-finite policy) are read from `config.json` as
plain JSON. The shared and task-specific layers and their parameter
counts need the graph, so the model is rebuilt with
`keras.saving.load_model(path, compile=False, safe_mode=True)`: Keras then
refuses to deserialize Python bytecode (Lambda layers, functions saved by
value), so only classes already importable (Keras, keras_mtl, and what
`--import` registered) are constructed; nothing from the file is run. When
that fails, the rest of the description is still returned, with the
reason under `layers_error`.
"""

import json
import os
import pathlib
import zipfile
from typing import Any

_MODEL_CLASS = "MultiTaskModel"
_TASK_KEYS = ("name", "kind", "head", "loss", "metrics")
_UNSET = (None, [], (), {}, 0.0, "relu")
_COMPILE_DEFAULTS = {"run_eagerly": False, "steps_per_execution": 1,
                     "jit_compile": "auto", "auto_scale_loss": True}
_HIDDEN_CONFIG = ("name", "trainable", "dtype")


def _read_archive(path: pathlib.Path) -> tuple[dict, dict]:
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            names = archive.namelist()
            metadata = json.loads(archive.read("metadata.json")) \
                if "metadata.json" in names else {}
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ValueError(
            f"'{path}' is not a Keras 3 .keras archive with a config.json "
            f"({error}). Save the model with model.save('model.keras')."
        ) from error
    return config, metadata


def _object_name(obj: Any) -> Any:
    """A short description of a serialized Keras object or a plain value."""
    if isinstance(obj, dict) and "class_name" in obj:
        config = obj.get("config")
        if not isinstance(config, dict):
            return obj["class_name"]
        if obj.get("module", "").startswith("keras.optimizers"):
            rate = config.get("learning_rate")
            return f"{obj['class_name']}(learning_rate={rate:.3g})" \
                if isinstance(rate, (int, float)) else obj["class_name"]
        args = ", ".join(
            f"{k}={v!r}" for k, v in config.items()
            if k not in _HIDDEN_CONFIG and v is not None
            and isinstance(v, (str, int, float, bool)))
        return f"{obj['class_name']}({args})"
    if isinstance(obj, dict):
        return {k: _object_name(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_object_name(v) for v in obj]
    return obj


def _task(serialized: dict) -> dict[str, Any]:
    config = serialized.get("config", serialized)
    head = config.get("head")
    options = {k: v for k, v in config.items()
               if k not in _TASK_KEYS and v not in _UNSET}
    return {
        "name": config.get("name"),
        "kind": config.get("kind"),
        "head": "default" if head is None else _object_name(head),
        "loss": _object_name(config.get("loss")),
        "metrics": [m if isinstance(m, str) else _object_name(m)
                    for m in config.get("metrics") or []],
        "options": options,
    }


def _compile(config: dict | None) -> dict[str, Any] | None:
    if not config:
        return None
    setup = {
        "optimizer": _object_name(config.get("optimizer")),
        "weighting": _object_name(config.get("weighting"))
        or "equal (default)",
        "aggregator": _object_name(config.get("aggregator"))
        or "none (one gradient of the weighted sum)",
        "aggregation_mode": config.get("aggregation_mode") or "default",
        "on_nonfinite": config.get("on_nonfinite"),
    }
    for key, value in config.items():
        if key in setup or value is None \
                or _COMPILE_DEFAULTS.get(key, object()) == value:
            continue
        setup[key] = _object_name(value)
    return setup


def _layer(layer: Any) -> dict[str, Any]:
    return {"name": layer.name, "class": type(layer).__name__,
            "parameters": int(layer.count_params())}


def _layers(path: pathlib.Path) -> dict[str, Any]:
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - reported, never swallowed
        return {"layers_error": (
            f"{type(error).__name__}: {error} (listing the layers needs "
            "the model rebuilt with safe_mode=True, which failed; for "
            "custom classes pass --import MODULE, or call "
            "keras_mtl.export.inspect_export after importing them)")}
    shared = [_layer(layer) for layer in model.shared_layers]
    tasks = {task: [_layer(layer) for layer in layers]
             for task, layers in model.task_layers.items()}
    return {"parameters": int(model.count_params()),
            "shared_layers": shared, "task_layers": tasks}


def inspect_keras_file(path: Any) -> dict[str, Any]:
    """Describes a `.keras` MultiTaskModel file.

    Args:
        path: The `.keras` file.

    Returns:
        A dict with `path`, `format` (`"keras"`), `size_bytes`,
        `keras_version`, `model_name`, `tasks` (each with `name`, `kind`,
        `head`, `loss`, `metrics`, `options`), `compile` (optimizer,
        weighting, aggregator, aggregation_mode, on_nonfinite and any other
        non-default compile argument; None if the model was saved
        uncompiled), and either `parameters` (the network's: the layers'
        weights, not a weighting's or aggregator's own variables),
        `shared_layers` and `task_layers` (each layer with `name`,
        `class`, `parameters`) or `layers_error` when the model cannot be
        rebuilt safely.

    Raises:
        ValueError: The file is not a `.keras` archive or holds another
            kind of model.
    """
    path = pathlib.Path(os.fspath(path))
    config, metadata = _read_archive(path)
    if config.get("class_name") != _MODEL_CLASS:
        raise ValueError(
            f"'{path}' holds a {config.get('class_name')!r}, not a "
            "keras_mtl MultiTaskModel; `keras-mtl inspect` describes "
            "models built with keras_mtl.build(...) or MultiTaskModel."
        )
    model_config = config.get("config", {})
    info: dict[str, Any] = {
        "path": str(path),
        "format": "keras",
        "size_bytes": path.stat().st_size,
        "keras_version": metadata.get("keras_version"),
        "model_name": model_config.get("name"),
        "tasks": [_task(t) for t in model_config.get("tasks", [])],
        "compile": _compile(config.get("compile_config")),
    }
    info.update(_layers(path))
    return info


def _layer_lines(layers: list[dict[str, Any]], indent: str) -> list[str]:
    return [f"{indent}{layer['name']:<24} {layer['class']:<20} "
            f"{layer['parameters']:>10,}" for layer in layers]


def format_keras_file(info: dict[str, Any]) -> str:
    """Human-readable text for `inspect_keras_file`'s result."""
    lines = [info["path"],
             f"  format:       .keras (Keras {info['keras_version']})",
             f"  size:         {info['size_bytes'] / 1024:.1f} KiB",
             f"  model:        {info['model_name']}"]
    if "parameters" in info:
        lines.append(f"  parameters:   {info['parameters']:,}")
    lines.append("  tasks:")
    for task in info["tasks"]:
        metrics = ", ".join(str(m) for m in task["metrics"]) or "none"
        lines.append(f"    {task['name']:<16} {task['kind']:<11} "
                     f"head: {task['head']}; loss: {task['loss']}; "
                     f"metrics: {metrics}")
        if task["options"]:
            options = ", ".join(f"{k}={v}" for k, v in
                                task["options"].items())
            lines.append(f"    {'':<16} {'':<11} {options}")
    if "layers_error" in info:
        lines.append(f"  layers: not read: {info['layers_error']}")
    else:
        shared = info["shared_layers"]
        total = sum(layer["parameters"] for layer in shared)
        lines.append(f"  shared layers ({total:,} parameters):")
        lines += _layer_lines(shared, "    ") or ["    (none)"]
        for task, layers in info["task_layers"].items():
            total = sum(layer["parameters"] for layer in layers)
            lines.append(f"  {task} layers ({total:,} parameters):")
            lines += _layer_lines(layers, "    ") or ["    (none)"]
    if info["compile"] is None:
        lines.append("  compile: not compiled when saved")
    else:
        lines.append("  compile:")
        for key, value in info["compile"].items():
            lines.append(f"    {key + ':':<18} {value}")
    return "\n".join(lines)


__all__ = ["format_keras_file", "inspect_keras_file"]
