"""Run exported models by name: `load_tflite`, `load_saved_model`, `load`.

Both wrappers take named inputs (a dict keyed by the model's input names,
or one array for a single-input model) and return a dict of numpy arrays
keyed by task name, read from the exported signature by name, never by
position: converters return outputs in an order of their own (sorted by
name, not in definition order).
"""

import abc
import json
import os
import pathlib
import re
from typing import Any
from typing import Mapping

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_mtl._compat.litert import ops_details
from keras_mtl.export._files import artifact_kind
from keras_mtl.export.errors import ExportError
from keras_mtl.export.signature import SIGNATURE_KEY
from keras_mtl.export.signature import TensorInfo
from keras_mtl.export.signature import conform_shape

METADATA_FILE = "keras_mtl.json"
"""Task metadata written into a SavedModel's `assets.extra/` folder."""

_FLEX_MESSAGE = "Select TensorFlow op"


def _batches(inputs: dict[str, np.ndarray],
             batch_size: int | None) -> list[dict[str, np.ndarray]]:
    size = len(next(iter(inputs.values())))
    if batch_size is None or size <= batch_size:
        return [inputs]
    return [{k: v[i:i + batch_size] for k, v in inputs.items()}
            for i in range(0, size, batch_size)]


class ExportedModel(abc.ABC):
    """Common interface of the runtime wrappers.

    Attributes:
        path: Where the artifact was loaded from.
        inputs: `TensorInfo` of each signature input.
        outputs: `TensorInfo` of each signature output (task outputs).
    """

    path: pathlib.Path
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @property
    def input_names(self) -> list[str]:
        return [info.name for info in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The output names: the task names, for keras_mtl exports."""
        return [info.name for info in self.outputs]

    def _named(self, inputs: Any) -> dict[str, np.ndarray]:
        names = self.input_names
        if not isinstance(inputs, Mapping):
            if len(names) != 1:
                raise ValueError(
                    f"This model has inputs {names}; pass a dict keyed by "
                    "these names. Received one array."
                )
            inputs = {names[0]: inputs}
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise ValueError(
                f"Inputs must be keyed by the signature input names {names}. "
                f"Unknown: {unknown}; missing: {missing}."
            )
        named = {info.name: conform_shape(
            np.asarray(inputs[info.name], dtype=info.dtype), info,
            f"Input {info.name!r}") for info in self.inputs}
        sizes = {name: len(array) for name, array in named.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"The inputs have different numbers of samples: {sizes}. "
                "Pass the same number of samples for every input."
            )
        return named

    @abc.abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one batch of named, correctly typed inputs."""

    def __call__(self, inputs: Any,
                 batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Runs the exported model.

        Args:
            inputs: A dict `{input_name: array}`, or one array for a
                single-input model.
            batch_size: Optional. Runs in chunks of this many samples.

        Returns:
            `{task_name: array}`.
        """
        parts = [self.run(chunk)
                 for chunk in _batches(self._named(inputs), batch_size)]
        return {name: np.concatenate([p[name] for p in parts])
                for name in self.output_names}


def tensor_infos(details: Mapping[str, Any]) -> list[TensorInfo]:
    """`TensorInfo`s from a signature runner's input or output details."""
    infos = []
    for name in sorted(details):
        detail = details[name]
        shape = detail.get("shape_signature", detail["shape"])
        infos.append(TensorInfo(
            name, tuple(None if d < 0 else int(d) for d in shape),
            np.dtype(detail["dtype"]).name))
    return infos


class LiteRTModel(ExportedModel):
    """A `.tflite` model run through ai-edge-litert's signature runner.

    Args:
        path: The `.tflite` file.
        signature_key: The signature to run (default `"serving_default"`).
        num_threads: Interpreter threads (default: LiteRT's choice).

    Example:

    ```python
    heads = keras_mtl.export.load_tflite("saved_models/census.tflite")
    heads({"features": x})["income"]
    ```
    """

    def __init__(self, path: Any, signature_key: str = SIGNATURE_KEY,
                 num_threads: int | None = None) -> None:
        self.path = pathlib.Path(os.fspath(path))
        if not self.path.is_file():
            raise FileNotFoundError(
                f"No .tflite file at '{self.path}'. Export one with "
                "keras_mtl.export.export_tflite(model, path)."
            )
        self.interpreter = Interpreter(model_path=str(self.path),
                                       num_threads=num_threads)
        signatures = self.interpreter.get_signature_list()
        if signature_key not in signatures:
            raise ValueError(
                f"'{self.path}' has no signature {signature_key!r}; it has "
                f"{sorted(signatures)}. Pass one of these as "
                "`signature_key`."
            )
        self.signature_key = signature_key
        self._runner = self.interpreter.get_signature_runner(signature_key)
        self.inputs = tensor_infos(self._runner.get_input_details())
        self.outputs = tensor_infos(self._runner.get_output_details())

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            result = self._runner(**inputs)
        except RuntimeError as error:
            if _FLEX_MESSAGE in str(error):
                raise ExportError(
                    f"'{self.path}' contains TF Select (Flex) ops, which the "
                    "ai-edge-litert Python interpreter does not link. Run it "
                    "where the Flex delegate is available (Android: "
                    "org.tensorflow:tensorflow-lite-select-tf-ops), or "
                    "export without select_tf_ops after replacing the layer "
                    "that needs them."
                ) from error
            shapes = {k: v.shape for k, v in inputs.items()}
            expected = {i.name: i.shape for i in self.inputs}
            raise ExportError(
                f"LiteRT could not run '{self.path}' on inputs of shapes "
                f"{shapes} (the signature takes {expected}, None for any "
                f"size): {error}"
            ) from error
        # The runner hands out views of interpreter buffers: copy them.
        return {name: np.array(result[name]) for name in self.output_names}

    def node_tensor_names(self, node: int) -> list[str]:
        """Names of the output tensors of interpreter node `node`."""
        names = {d["index"]: d["name"]
                 for d in self.interpreter.get_tensor_details()}
        for op in ops_details(self.interpreter):
            if op["index"] == node:
                return [names.get(i, "") for i in op["outputs"]]
        return []

    @staticmethod
    def failing_node(error: BaseException) -> int | None:
        """The node index that an interpreter error names, if any."""
        match = re.search(r"Node number (\d+)", str(error))
        return int(match.group(1)) if match else None


class SavedModelRunner(ExportedModel):
    """A SavedModel's serving signature, called with named inputs.

    Constructing one loads the SavedModel with `tf.saved_model.load`,
    which runs its graph (init ops included): use it on trusted files only
    (see `load_saved_model`).

    Args:
        path: The SavedModel folder.
        signature_key: The signature to run (default `"serving_default"`).

    Attributes:
        metadata: The keras_mtl metadata (tasks, inputs, versions) found in
            `assets.extra/keras_mtl.json`, or None for other SavedModels.
    """

    def __init__(self, path: Any, signature_key: str = SIGNATURE_KEY) -> None:
        self.path = pathlib.Path(os.fspath(path))
        if not (self.path / "saved_model.pb").is_file():
            raise FileNotFoundError(
                f"No SavedModel at '{self.path}' (no saved_model.pb). "
                "Export one with keras_mtl.export.export_saved_model(model, "
                "path)."
            )
        self.loaded = tf.saved_model.load(str(self.path))
        signatures = self.loaded.signatures
        if signature_key not in signatures:
            raise ValueError(
                f"'{self.path}' has no signature {signature_key!r}; it has "
                f"{sorted(signatures)}. Pass one of these as "
                "`signature_key`."
            )
        self.signature_key = signature_key
        self._function = signatures[signature_key]
        specs = self._function.structured_input_signature[1]
        self.inputs = [TensorInfo(k, tuple(specs[k].shape.as_list()),
                                  specs[k].dtype.name) for k in sorted(specs)]
        outputs = self._function.structured_outputs
        self.metadata = read_metadata(self.path)
        order = sorted(outputs)
        if self.metadata is not None:
            tasks = [t["name"] for t in self.metadata.get("tasks", [])]
            if sorted(tasks) == order:
                order = tasks
        self.outputs = [TensorInfo(k, tuple(outputs[k].shape.as_list()),
                                   outputs[k].dtype.name) for k in order]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self._function(
            **{k: tf.constant(v) for k, v in inputs.items()})
        return {name: result[name].numpy() for name in self.output_names}


def read_metadata(path: Any) -> dict[str, Any] | None:
    """The keras_mtl metadata of a SavedModel folder, or None."""
    file = pathlib.Path(os.fspath(path)) / "assets.extra" / METADATA_FILE
    if not file.is_file():
        return None
    return json.loads(file.read_text())


def load_tflite(path: Any, signature_key: str = SIGNATURE_KEY,
                num_threads: int | None = None) -> LiteRTModel:
    """Loads a `.tflite` file for inference by input and task name.

    Args:
        path: The `.tflite` file.
        signature_key: The signature to run.
        num_threads: Interpreter threads.

    Returns:
        A `LiteRTModel`: `model(inputs) -> {task_name: array}`.
    """
    return LiteRTModel(path, signature_key, num_threads)


def load_saved_model(path: Any,
                     signature_key: str = SIGNATURE_KEY) -> SavedModelRunner:
    """Loads a SavedModel folder for inference by input and task name.

    Loading a SavedModel runs its graph, as `tf.saved_model.load` does:
    its restore and initialization ops execute when it loads, and its
    functions when it is called. A SavedModel is a program, not data, so
    load only files you trust. To look at one without running anything
    use `keras_mtl.export.inspect_export(path)` (or `keras-mtl inspect
    PATH`), which reads `saved_model.pb` as a protocol buffer.

    Args:
        path: The SavedModel folder.
        signature_key: The signature to run.

    Returns:
        A `SavedModelRunner`: `model(inputs) -> {task_name: array}`.
    """
    return SavedModelRunner(path, signature_key)


def load(path: Any) -> ExportedModel:
    """Loads a `.tflite` file or a SavedModel folder, by its kind.

    `NAME` also finds `NAME.tflite` (what `keras-mtl export --format
    tflite --out NAME` writes). A SavedModel runs its graph when loaded:
    load trusted files only (see `load_saved_model`).

    Raises:
        FileNotFoundError: `path` is not an export.
        ValueError: `path` is a `.keras` file or an `export_all` bundle
            (the message names the files to load instead).
    """
    kind, path = artifact_kind(path)
    if kind == "tflite":
        return load_tflite(path)
    if kind == "saved_model":
        return load_saved_model(path)
    if kind == "bundle":
        raise ValueError(
            f"'{path}' is an export_all bundle folder holding several "
            f"exports; load one of them: '{path / 'model.tflite'}' or "
            f"'{path / 'saved_model'}'."
        )
    raise ValueError(
        f"'{path}' is a .keras file, not an export. Load it with "
        "keras.saving.load_model(path), or export it first "
        "(keras_mtl.export.export_all)."
    )
