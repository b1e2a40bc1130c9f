"""Export multi-task models with every head addressable by its task name.

```python
bundle = keras_mtl.export.export_all(model, "saved_models/census",
                                     sample_inputs=x_test[:256])
print(bundle)                         # per-task verification
heads = keras_mtl.export.load_tflite("saved_models/census/model.tflite")
heads({"features": x})["income"]
```

- `export_saved_model(model, path)`: a SavedModel signature with inputs
  named like the model's inputs and outputs keyed by task name, holding
  only the inference graph.
- `export_tflite(model, path, quantization=None|"dynamic"|"float16"|"int8")`:
  a LiteRT model converted from that signature, names kept.
- Every export is verified against `model.predict`, task by task; a
  mismatch raises `ExportVerificationError` naming the task.
- `load_tflite`, `load_saved_model`: named inputs in, `{task: array}` out;
  inputs of shape `(N,)` for a `(1,)` input are accepted, as in `predict`.
  Loading a SavedModel runs its graph: load trusted files only.
- `inspect_export(path)`: a `.keras` file (tasks, layers, compile setup),
  a `.tflite` file, a SavedModel (read from its proto, never run) or an
  `export_all` bundle. The `keras-mtl` command line wraps all of it.
"""

from keras_mtl.export.bundle import ExportBundle
from keras_mtl.export.bundle import export_all
from keras_mtl.export.errors import ExportError
from keras_mtl.export.errors import ExportVerificationError
from keras_mtl.export.inspection import format_inspection
from keras_mtl.export.inspection import inspect_export
from keras_mtl.export.result import ExportResult
from keras_mtl.export.runtime import ExportedModel
from keras_mtl.export.runtime import LiteRTModel
from keras_mtl.export.runtime import SavedModelRunner
from keras_mtl.export.runtime import load
from keras_mtl.export.runtime import load_saved_model
from keras_mtl.export.runtime import load_tflite
from keras_mtl.export.saved_model import export_saved_model
from keras_mtl.export.signature import draw_inputs
from keras_mtl.export.signature import inference_model
from keras_mtl.export.tflite import QUANTIZATIONS
from keras_mtl.export.tflite import export_tflite
from keras_mtl.export.verify import TaskCheck
from keras_mtl.export.verify import VerificationReport
from keras_mtl.export.verify import resolve_samples
from keras_mtl.export.verify import verify_export

__all__ = [
    "QUANTIZATIONS",
    "ExportBundle",
    "ExportError",
    "ExportResult",
    "ExportVerificationError",
    "ExportedModel",
    "LiteRTModel",
    "SavedModelRunner",
    "TaskCheck",
    "VerificationReport",
    "draw_inputs",
    "export_all",
    "export_saved_model",
    "export_tflite",
    "format_inspection",
    "inference_model",
    "inspect_export",
    "load",
    "load_saved_model",
    "load_tflite",
    "resolve_samples",
    "verify_export",
]
