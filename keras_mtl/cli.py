"""The `keras-mtl` command line: export and inspect multi-task models.

```
keras-mtl export MODEL.keras --format saved_model|tflite|all
                 [--quantize dynamic|float16|int8] --out saved_models/NAME
                 [--data SAMPLES.npz] [--overwrite] [--select-tf-ops]
keras-mtl inspect PATH [--json] [--import MODULE]
```

`inspect` reads a `.keras` file (tasks with kind, head, loss and metrics;
shared and task layers with parameter counts; compile setup), a `.tflite`
file, a SavedModel folder or an `export_all` bundle folder. `NAME` also
finds `NAME.tflite`, so `keras-mtl export ... --format tflite --out
saved_models/NAME` then `keras-mtl inspect saved_models/NAME` works. A
SavedModel is read from its `saved_model.pb` proto and never loaded:
loading one runs its graph.

`--data` is an `.npz` file whose arrays are named after the model's inputs
(a single-input model may use any one name, e.g. `x`) and, optionally,
after its tasks (labels, for the metric change of quantized exports).
Without it, exports are verified on inputs drawn from the input specs, and
int8 quantization, which needs real inputs to calibrate, is refused.
"""

import argparse
import importlib
import json
import os
import sys
from typing import Any
from typing import Sequence

_FORMATS = ("saved_model", "tflite", "all")
_QUANTIZATIONS = ("dynamic", "float16", "int8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-mtl",
        description="Export and inspect keras_mtl multi-task models; every "
                    "head stays addressable by its task name.")
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser(
        "export", help="export a .keras MultiTaskModel, verified against it",
        description="Export a .keras MultiTaskModel as a SavedModel, a "
                    ".tflite file or both (--format all), verified task by "
                    "task against the Keras model.")
    export.add_argument("model", help="the .keras file")
    export.add_argument("--format", choices=_FORMATS, default="saved_model",
                        help="artifact kind (default: saved_model)")
    export.add_argument("--quantize", choices=_QUANTIZATIONS, default=None,
                        help="TFLite quantization (tflite and all only)")
    export.add_argument("--out", required=True,
                        help="destination: SavedModel folder, .tflite file "
                             "(suffix added if missing) or bundle folder")
    export.add_argument("--data", default=None,
                        help=".npz with inputs (by input name) and optional "
                             "labels (by task name) to verify and calibrate")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an existing artifact at --out")
    export.add_argument("--select-tf-ops", action="store_true",
                        help="allow TF Select ops for layers TFLite lacks")
    export.add_argument("--max-degradation", type=float, default=None,
                        help="fail if a quantized task metric drops more")
    export.add_argument("--import", dest="imports", action="append",
                        default=[], metavar="MODULE",
                        help="import MODULE first (registers custom layers)")

    inspect = commands.add_parser(
        "inspect", help="describe a .keras file or an export, unexecuted",
        description="Describe a .keras MultiTaskModel (tasks, shared and "
                    "task layers with parameter counts, compile setup) or "
                    "an export: signatures (input and output names, "
                    "shapes, dtypes), size, quantization. SavedModels are "
                    "read from their proto, never run.")
    inspect.add_argument(
        "path", help="a .keras file, a .tflite file (NAME finds "
                     "NAME.tflite), a SavedModel folder or an export_all "
                     "bundle folder")
    inspect.add_argument("--json", action="store_true",
                         help="print JSON instead of text")
    inspect.add_argument("--import", dest="imports", action="append",
                         default=[], metavar="MODULE",
                         help="import MODULE first (registers custom "
                              "layers of a .keras file)")
    return parser


def _read_data(path: str, model: Any) -> tuple[Any, dict | None]:
    import numpy as np

    from keras_mtl.export.signature import input_names

    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    names = input_names(model)
    tasks = set(model.task_names)
    labels = {k: v for k, v in arrays.items() if k in tasks}
    rest = {k: v for k, v in arrays.items() if k not in tasks}
    if len(names) == 1 and len(rest) == 1:
        return next(iter(rest.values())), labels or None
    unknown = sorted(set(rest) - set(names))
    if unknown:
        raise ValueError(
            f"--data '{path}' holds arrays {unknown} that are neither model "
            f"inputs {names} nor tasks {sorted(tasks)}. Name each array "
            "after an input or a task."
        )
    return rest, labels or None


def _export(args: argparse.Namespace) -> int:
    for module in args.imports:
        importlib.import_module(module)
    import keras

    import keras_mtl
    from keras_mtl import export

    if args.quantize and args.format == "saved_model":
        raise ValueError(
            "--quantize applies to TFLite files. Use --format tflite or "
            "--format all."
        )
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"No model file at '{args.model}'.")
    model = keras.saving.load_model(args.model, compile=False)
    if not isinstance(model, keras_mtl.MultiTaskModel):
        raise TypeError(
            f"'{args.model}' holds a {type(model).__name__}, not a "
            "keras_mtl.MultiTaskModel. Save the model built with "
            "keras_mtl.build(...) (model.save('model.keras'))."
        )
    inputs, labels = (None, None)
    if args.data:
        inputs, labels = _read_data(args.data, model)
    common = dict(sample_inputs=inputs, overwrite=args.overwrite)
    if args.format == "saved_model":
        result: Any = export.export_saved_model(model, args.out, **common)
    elif args.format == "tflite":
        out = args.out if args.out.endswith(".tflite") \
            else args.out + ".tflite"
        result = export.export_tflite(
            model, out, args.quantize, labels=labels,
            select_tf_ops=args.select_tf_ops,
            max_degradation=args.max_degradation, **common)
    else:
        result = export.export_all(
            model, args.out, labels=labels,
            quantizations=(args.quantize,) if args.quantize else (),
            select_tf_ops=args.select_tf_ops,
            max_degradation=args.max_degradation, **common)
    print(result)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from keras_mtl.export import format_inspection
    from keras_mtl.export import inspect_export

    for module in args.imports:
        importlib.import_module(module)
    info = inspect_export(args.path)
    print(json.dumps(info, indent=2) if args.json
          else format_inspection(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `keras-mtl` command line; returns the exit status.

    Args:
        argv: Arguments without the program name (default: `sys.argv`).
    """
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_mtl.export.errors import ExportError
    from keras_mtl.export.errors import ExportVerificationError

    command = _export if args.command == "export" else _inspect
    try:
        return command(args)
    except (ValueError, TypeError, OSError, ExportError,
            ExportVerificationError) as error:
        print(f"keras-mtl: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
