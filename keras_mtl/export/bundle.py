"""`export_all`: SavedModel and TFLite exports of one model in one folder.

```
saved_models/NAME/
  saved_model/            TF SavedModel, signature serving_default
  model.tflite            float32 LiteRT model
  model_<quant>.tflite    one per requested quantization
  export.json             tasks, inputs, and every verification report
```

The TFLite files are converted from the bundle's own SavedModel; all
artifacts are verified against the Keras model before the folder appears.
"""

import dataclasses
import json
import pathlib
from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl.export._files import BUNDLE_MARKER
from keras_mtl.export._files import Staging
from keras_mtl.export._files import artifact_size
from keras_mtl.export._files import check_destination
from keras_mtl.export.result import ExportResult
from keras_mtl.export.runtime import SavedModelRunner
from keras_mtl.export.saved_model import metadata
from keras_mtl.export.saved_model import write_saved_model
from keras_mtl.export.signature import check_multitask_model
from keras_mtl.export.tflite import calibration_inputs
from keras_mtl.export.tflite import check_quantization
from keras_mtl.export.tflite import convert_saved_model
from keras_mtl.export.tflite import verify_tflite
from keras_mtl.export.verify import resolve_samples
from keras_mtl.export.verify import verify_export
from keras_mtl.model import MultiTaskModel


@dataclasses.dataclass
class ExportBundle:
    """The artifacts `export_all` wrote.

    Attributes:
        path: The bundle folder.
        results: `{artifact_name: ExportResult}`, e.g. `"saved_model"`,
            `"tflite"`, `"tflite_dynamic"`.
    """

    path: pathlib.Path
    results: dict[str, ExportResult]

    @property
    def passed(self) -> bool:
        return all(r.report is None or r.report.passed
                   for r in self.results.values())

    def __getitem__(self, name: str) -> ExportResult:
        return self.results[name]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path),
                "artifacts": {k: r.to_dict()
                              for k, r in self.results.items()}}

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.results.values())


def export_all(
    model: MultiTaskModel,
    path: Any,
    *,
    sample_inputs: Any = None,
    labels: Mapping[str, Any] | None = None,
    quantizations: Sequence[str] = ("dynamic",),
    representative_data: Any = None,
    select_tf_ops: bool = False,
    overwrite: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    max_degradation: float | None = None,
    max_samples: int = 256,
) -> ExportBundle:
    """Exports `model` as a SavedModel and TFLite files, all verified.

    Args:
        model: A `keras_mtl.MultiTaskModel`.
        path: The bundle folder (e.g. `"saved_models/quickstart"`).
        sample_inputs: Inputs to verify on (default: drawn from specs).
        labels: `{task: labels}` for the metric change of quantized files.
        quantizations: Quantized TFLite variants to add to the float one
            (`"dynamic"`, `"float16"`, `"int8"`); `()` for none.
        representative_data: int8 calibration inputs (default:
            `sample_inputs`).
        select_tf_ops: Allow TF Select ops in the TFLite files.
        overwrite: Replace an existing bundle folder.
        atol, rtol: Tolerance of float exports.
        max_degradation: See `export_tflite`.
        max_samples: At most this many samples are compared.

    Returns:
        An `ExportBundle`; `print(bundle)` shows every verification.

    Example:

    ```python
    bundle = keras_mtl.export.export_all(
        model, "saved_models/quickstart", sample_inputs=x_test[:256],
        labels=y_test_256, overwrite=True)
    print(bundle)
    ```
    """
    model = check_multitask_model(model, "export_all")
    if isinstance(quantizations, str):
        quantizations = (quantizations,)
    variants = [None] + [check_quantization(q) for q in quantizations
                         if q is not None]
    destination = check_destination(path, overwrite, "bundle")
    samples = resolve_samples(model, sample_inputs, labels, max_samples)
    results: dict[str, ExportResult] = {}
    with Staging(destination) as staging:
        folder = staging.path
        folder.mkdir()
        saved_model = folder / "saved_model"
        write_saved_model(model, saved_model)
        results["saved_model"] = ExportResult(
            destination / "saved_model", "saved_model", None,
            artifact_size(saved_model),
            verify_export(model, SavedModelRunner(saved_model), samples,
                          format="saved_model", atol=atol, rtol=rtol))
        for quantization in dict.fromkeys(variants):
            name = "model" if quantization is None \
                else f"model_{quantization}"
            calibration = calibration_inputs(
                model, quantization, representative_data, sample_inputs)
            content = convert_saved_model(saved_model, model, quantization,
                                          calibration, select_tf_ops)
            file = folder / f"{name}.tflite"
            file.write_bytes(content)
            report = verify_tflite(
                model, file, samples, quantization, select_tf_ops,
                atol=atol, rtol=rtol, max_degradation=max_degradation)
            key = "tflite" if quantization is None \
                else f"tflite_{quantization}"
            results[key] = ExportResult(destination / file.name, "tflite",
                                        quantization, len(content), report)
        for result in results.values():
            if result.report is not None:
                result.report.artifact = str(result.path)
        bundle = ExportBundle(destination, results)
        (folder / BUNDLE_MARKER).write_text(json.dumps(
            {"model": metadata(model), **bundle.to_dict()}, indent=2,
            default=float))
        staging.publish()
    return bundle
