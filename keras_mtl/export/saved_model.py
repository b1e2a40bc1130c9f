"""`export_saved_model`: a TF SavedModel whose heads are keyed by task name.

The SavedModel holds one serving signature, `serving_default`, with one
input per model input (named like the model's inputs) and one output per
task (named like the task). It holds only the inference graph: the
variables that the traced `model(x, training=False)` reads, nothing of the
optimizer, loss weighting, gradient aggregator or metrics. Task metadata
(names, kinds, output sizes) goes to `assets.extra/keras_mtl.json`.
"""

import json
import pathlib
from typing import Any

import keras
import tensorflow as tf

from keras_mtl.export._files import Staging
from keras_mtl.export._files import artifact_size
from keras_mtl.export._files import check_destination
from keras_mtl.export.result import ExportResult
from keras_mtl.export.runtime import METADATA_FILE
from keras_mtl.export.runtime import SavedModelRunner
from keras_mtl.export.signature import SIGNATURE_KEY
from keras_mtl.export.signature import check_multitask_model
from keras_mtl.export.signature import input_infos
from keras_mtl.export.signature import output_infos
from keras_mtl.export.signature import serving_function
from keras_mtl.export.verify import resolve_samples
from keras_mtl.export.verify import verify_export
from keras_mtl.model import MultiTaskModel


def metadata(model: MultiTaskModel) -> dict[str, Any]:
    """The keras_mtl description of an exported model."""
    return {
        "format": "keras_mtl",
        "model_name": model.name,
        "signature": SIGNATURE_KEY,
        "tasks": [{"name": t.name, "kind": t.kind,
                   "output_units": t.output_units} for t in model.tasks],
        "inputs": [i.to_dict() for i in input_infos(model)],
        "outputs": [o.to_dict() for o in output_infos(model)],
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }


def write_saved_model(model: MultiTaskModel, path: pathlib.Path) -> None:
    """Writes the inference SavedModel of `model` to `path` (no checks)."""
    function, _ = serving_function(model)
    concrete = function.get_concrete_function()
    module = tf.Module(name="keras_mtl_inference")
    # Track exactly the variables the traced inference graph reads.
    module.inference_variables = list(concrete.variables)
    module.serve = function
    tf.saved_model.save(module, str(path),
                        signatures={SIGNATURE_KEY: concrete})
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / METADATA_FILE).write_text(json.dumps(metadata(model), indent=2))


def export_saved_model(
    model: MultiTaskModel,
    path: Any,
    *,
    sample_inputs: Any = None,
    overwrite: bool = False,
    verify: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    max_samples: int = 256,
) -> ExportResult:
    """Exports the inference graph of `model` as a TF SavedModel.

    The signature `serving_default` takes the model's inputs by name and
    returns a dict keyed by task name. The artifact is written beside
    `path`, verified against `model.predict` on `sample_inputs` (or on
    inputs drawn from the input specs), and moved into place only if every
    task matches within `atol + rtol * |keras|`.

    Args:
        model: A `keras_mtl.MultiTaskModel`.
        path: The SavedModel folder to write.
        sample_inputs: Inputs to verify on: one array, a list, a dict by
            input name, or a `tf.data.Dataset`. Default: 16 samples drawn
            from the input specs.
        overwrite: Replace an existing SavedModel at `path`.
        verify: Run the verification (default True).
        atol, rtol: Verification tolerance.
        max_samples: At most this many samples are compared.

    Returns:
        An `ExportResult` with the verification report.

    Raises:
        TypeError: `model` is not a `MultiTaskModel`.
        FileExistsError: `path` exists and `overwrite` is False.
        ExportVerificationError: A task's exported output differs from
            Keras's; the message names the task.

    Example:

    ```python
    result = keras_mtl.export.export_saved_model(
        model, "saved_models/census", sample_inputs=x_test[:64])
    print(result)
    outputs = keras_mtl.export.load_saved_model("saved_models/census")(
        x_test[:8])                      # {"income": ..., "age": ...}
    ```
    """
    model = check_multitask_model(model, "export_saved_model")
    destination = check_destination(path, overwrite, "saved_model")
    samples = resolve_samples(model, sample_inputs, None, max_samples) \
        if verify else None
    with Staging(destination) as staging:
        write_saved_model(model, staging.path)
        report = None
        if samples is not None:
            report = verify_export(
                model, SavedModelRunner(staging.path), samples,
                format="saved_model", atol=atol, rtol=rtol)
            report.artifact = str(destination)
        size = artifact_size(staging.path)
        staging.publish()
    return ExportResult(destination, "saved_model", None, size, report)
