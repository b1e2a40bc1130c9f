"""`export_tflite`: a LiteRT (TFLite) model whose heads are keyed by task name.

The model is converted from keras_mtl's SavedModel signature with
`tf.lite.TFLiteConverter.from_saved_model`, which keeps the signature's
input and output names: read outputs through the signature runner by task
name (positional outputs come back sorted by name, not in definition
order). Quantization options:

```
None       float32 weights and activations
"dynamic"  int8 weights (tensors of >= 1024 elements), float activations
"float16"  float16 weights, float32 compute
"int8"     full integer: int8 weights and activations, calibrated on
           `representative_data`; inputs and outputs stay float32
```

References:
- Jacob, Kligys, Chen, Zhu, Tang, Howard, Adam, Kalenichenko (2018).
  Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference. CVPR. arXiv:1712.05877.
"""

import pathlib
import tempfile
import warnings
from typing import Any
from typing import Iterator
from typing import Mapping

import numpy as np
import tensorflow as tf

from keras_mtl.export._files import Staging
from keras_mtl.export._files import check_destination
from keras_mtl.export._layers import converter_failures
from keras_mtl.export._layers import layer_names
from keras_mtl.export._layers import layers_in_node_names
from keras_mtl.export.errors import ExportError
from keras_mtl.export.result import ExportResult
from keras_mtl.export.runtime import LiteRTModel
from keras_mtl.export.saved_model import write_saved_model
from keras_mtl.export.signature import SIGNATURE_KEY
from keras_mtl.export.signature import check_multitask_model
from keras_mtl.export.signature import take_samples
from keras_mtl.export.verify import Samples
from keras_mtl.export.verify import VerificationReport
from keras_mtl.export.verify import resolve_samples
from keras_mtl.export.verify import verify_export
from keras_mtl.model import MultiTaskModel

QUANTIZATIONS = (None, "dynamic", "float16", "int8")
MAX_CALIBRATION_SAMPLES = 200


def check_quantization(quantization: Any) -> str | None:
    """Validates a quantization id (None, dynamic, float16, int8)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Argument `quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}."
        )
    return quantization


def calibration_inputs(model: MultiTaskModel, quantization: str | None,
                       representative_data: Any = None,
                       sample_inputs: Any = None
                       ) -> dict[str, np.ndarray] | None:
    """The inputs that calibrate int8 activations (None otherwise).

    `representative_data` is used when given, else `sample_inputs`; at
    most `MAX_CALIBRATION_SAMPLES` samples.
    """
    if quantization != "int8":
        return None
    data, what = representative_data, "representative_data"
    if data is None:
        data, what = sample_inputs, "sample_inputs"
    if data is None:
        raise ValueError(
            "quantization='int8' calibrates activation ranges on real "
            "inputs. Pass `representative_data` (or `sample_inputs`): a few "
            "hundred typical inputs, e.g. representative_data=x_train[:200]."
        )
    inputs, _ = take_samples(model, data, MAX_CALIBRATION_SAMPLES, what)
    return inputs


def _representative(inputs: dict[str, np.ndarray]
                    ) -> Iterator[dict[str, np.ndarray]]:
    size = len(next(iter(inputs.values())))
    for i in range(size):
        yield {k: v[i:i + 1] for k, v in inputs.items()}


def _conversion_error(error: Exception, model: MultiTaskModel,
                      quantization: str | None,
                      select_tf_ops: bool) -> ExportError:
    message = str(error)
    ops, nodes = converter_failures(message)
    layers = layers_in_node_names(nodes, layer_names(model))
    where = f"layer(s) {layers}" if layers else "the model"
    what = f" (TensorFlow op(s) {ops})" if ops else ""
    if select_tf_ops:
        fix = ("Replace the layer with one built from ops TFLite supports"
               + (", or try another `quantization`." if quantization
                  else "."))
    else:
        fix = ("Retry with select_tf_ops=True (command line: "
               "--select-tf-ops) to keep them as TF Select ops (the runtime "
               "then needs the Flex delegate), or replace the layer with "
               "one built from ops TFLite supports.")
    summary = message.strip().splitlines()
    first = next((line for line in summary if "error" in line.lower()),
                 summary[0] if summary else "")
    return ExportError(
        f"TFLite conversion (quantization={quantization!r}) failed in "
        f"{where}{what}: the converter cannot handle it. {fix} Converter "
        f"message: {first[:500]}",
        layers=tuple(layers), ops=tuple(ops))


def convert_saved_model(
    saved_model: pathlib.Path,
    model: MultiTaskModel,
    quantization: str | None = None,
    calibration: dict[str, np.ndarray] | None = None,
    select_tf_ops: bool = False,
) -> bytes:
    """Converts a keras_mtl SavedModel to TFLite flatbuffer bytes.

    Args:
        saved_model: The SavedModel folder (written by keras_mtl).
        model: The Keras model it came from (to name failing layers).
        quantization: One of `QUANTIZATIONS`.
        calibration: Inputs for int8 calibration.
        select_tf_ops: Allow TF Select ops for what TFLite lacks.

    Raises:
        ExportError: The converter failed; names the layer and the ops.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model), signature_keys=[SIGNATURE_KEY])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        if calibration is None:
            raise ValueError("int8 conversion needs calibration inputs.")
        converter.representative_dataset = lambda: _representative(
            calibration)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    try:
        with warnings.catch_warnings():
            # Calibration runs TF's deprecated tf.lite.Interpreter.
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as error:  # The converter raises several types.
        raise _conversion_error(error, model, quantization,
                                select_tf_ops) from error


def verify_tflite(model: MultiTaskModel, file: pathlib.Path,
                  samples: Samples, quantization: str | None,
                  select_tf_ops: bool,
                  **tolerances: Any) -> VerificationReport | None:
    """Verifies a `.tflite` file; None (with a warning) if it needs Flex.

    A file converted with `select_tf_ops=True` may hold TF Select ops that
    the ai-edge-litert Python interpreter cannot run; it is then reported
    as not verified instead of failing the export.
    """
    try:
        return verify_export(model, LiteRTModel(file), samples,
                             quantization=quantization, format="tflite",
                             **tolerances)
    except ExportError:
        if not select_tf_ops:
            raise
        warnings.warn(
            f"The TFLite file '{file.name}' holds TF Select (Flex) ops, "
            "which the ai-edge-litert Python interpreter cannot run, so "
            "only its signature names were verified, not its outputs. "
            "Check it on a runtime with the Flex delegate.",
            RuntimeWarning, stacklevel=3)
        return None


def publish_tflite(model: MultiTaskModel, content: bytes,
                   destination: pathlib.Path, samples: Samples | None,
                   quantization: str | None, select_tf_ops: bool,
                   **tolerances: Any) -> ExportResult:
    """Writes `content` beside `destination`, verifies it, moves it in."""
    with Staging(destination) as staging:
        staging.path.write_bytes(content)
        report = None
        if samples is not None:
            report = verify_tflite(model, staging.path, samples,
                                   quantization, select_tf_ops, **tolerances)
            if report is not None:
                report.artifact = str(destination)
        staging.publish()
    return ExportResult(destination, "tflite", quantization, len(content),
                        report)


def export_tflite(
    model: MultiTaskModel,
    path: Any,
    quantization: str | None = None,
    representative_data: Any = None,
    *,
    sample_inputs: Any = None,
    labels: Mapping[str, Any] | None = None,
    select_tf_ops: bool = False,
    overwrite: bool = False,
    verify: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    max_degradation: float | None = None,
    max_samples: int = 256,
) -> ExportResult:
    """Exports `model` to a `.tflite` file with heads named by task.

    Float exports are verified against `model.predict` within
    `atol + rtol * |keras|`; quantized exports report each task's metric
    (accuracy / AUC / MAE by kind) before and after, on `labels` when given
    and otherwise against the Keras predictions.

    Args:
        model: A `keras_mtl.MultiTaskModel`.
        path: The `.tflite` file to write.
        quantization: None, `"dynamic"`, `"float16"` or `"int8"`.
        representative_data: int8 calibration inputs (arrays or a
            `tf.data.Dataset`); defaults to `sample_inputs`.
        sample_inputs: Inputs to verify on (default: drawn from the input
            specs).
        labels: `{task: labels}` aligned with `sample_inputs`, for the
            metric change of quantized exports.
        select_tf_ops: Let TF Select ops carry what TFLite lacks (the
            runtime then needs the Flex delegate; the Python interpreter
            cannot verify such a file, which is reported as a warning).
        overwrite: Replace an existing file at `path`.
        verify: Run the verification (default True).
        atol, rtol: Tolerance of float exports.
        max_degradation: Quantized exports raise when a task metric gets
            worse by more than this; None only reports.
        max_samples: At most this many samples are compared.

    Returns:
        An `ExportResult`.

    Raises:
        TypeError: `model` is not a `MultiTaskModel`.
        FileExistsError: `path` exists and `overwrite` is False.
        ExportError: The converter cannot handle a layer (named).
        ExportVerificationError: Outputs disagree (task named).

    Example:

    ```python
    result = keras_mtl.export.export_tflite(
        model, "saved_models/census_int8.tflite", quantization="int8",
        representative_data=x_train[:200], sample_inputs=x_test,
        labels=y_test)
    print(result)        # per-task accuracy / AUC / MAE before and after
    ```
    """
    model = check_multitask_model(model, "export_tflite")
    quantization = check_quantization(quantization)
    if not str(path).endswith(".tflite"):
        raise ValueError(
            f"Argument `path` must end with '.tflite'. Received: "
            f"path={str(path)!r}. Use e.g. 'saved_models/model.tflite'."
        )
    destination = check_destination(path, overwrite, "tflite")
    samples = resolve_samples(model, sample_inputs, labels, max_samples) \
        if verify else None
    calibration = calibration_inputs(model, quantization,
                                     representative_data, sample_inputs)
    with tempfile.TemporaryDirectory() as folder:
        saved_model = pathlib.Path(folder) / "saved_model"
        write_saved_model(model, saved_model)
        content = convert_saved_model(saved_model, model, quantization,
                                      calibration, select_tf_ops)
    return publish_tflite(model, content, destination, samples, quantization,
                          select_tf_ops, atol=atol, rtol=rtol,
                          max_degradation=max_degradation)
