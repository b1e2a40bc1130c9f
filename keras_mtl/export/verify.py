"""Verification of an exported model against the Keras model, task by task.

Every keras_mtl export runs the exported artifact on sample inputs and
compares each task's output, read by task name, with `model.predict`:

- float exports must match elementwise within `atol + rtol * |keras|`
  (both 1e-5 by default); a task outside it raises
  `ExportVerificationError` naming the task;
- quantized exports report, per task, the metric of its kind (accuracy,
  AUC, MAE) for the Keras model and the export, on the given labels or,
  without labels, against the Keras model's own predictions; with
  `max_degradation` set, a task that loses more raises.
"""

import dataclasses
import math
from typing import Any
from typing import Mapping

import numpy as np

from keras_mtl.export import quality
from keras_mtl.export._layers import layer_names
from keras_mtl.export._layers import layers_in_node_names
from keras_mtl.export.errors import ExportError
from keras_mtl.export.errors import ExportVerificationError
from keras_mtl.export.runtime import ExportedModel
from keras_mtl.export.runtime import LiteRTModel
from keras_mtl.export.signature import check_multitask_model
from keras_mtl.export.signature import draw_inputs
from keras_mtl.export.signature import input_names
from keras_mtl.export.signature import inference_model
from keras_mtl.export.signature import take_samples
from keras_mtl.model import MultiTaskModel


@dataclasses.dataclass
class TaskCheck:
    """One task's comparison between the export and the Keras model.

    Attributes:
        task: Task name.
        kind: Task kind.
        max_abs_diff: Largest elementwise |export - keras|.
        within_tolerance: Whether every element is within tolerance.
        metrics: `{metric: (keras_value, export_value)}` (quantized exports).
    """

    task: str
    kind: str
    max_abs_diff: float
    within_tolerance: bool
    metrics: dict[str, tuple[float, float]] = dataclasses.field(
        default_factory=dict)

    def change(self, metric: str) -> float:
        keras_value, export_value = self.metrics[metric]
        return export_value - keras_value


@dataclasses.dataclass
class VerificationReport:
    """The result of verifying one exported artifact.

    Attributes:
        artifact: Path of the artifact.
        format: `"saved_model"` or `"tflite"`.
        quantization: None, `"dynamic"`, `"float16"` or `"int8"`.
        num_samples: Number of samples compared.
        inputs_source: `"given"` or `"drawn"` (from the input specs).
        metric_reference: `"labels"`, `"keras"` (the Keras predictions) or
            None (float exports: no metrics).
        atol, rtol: The tolerance of float exports.
        tasks: `{task_name: TaskCheck}` in the model's task order.
    """

    artifact: str
    format: str
    quantization: str | None
    num_samples: int
    inputs_source: str
    metric_reference: str | None
    atol: float
    rtol: float
    tasks: dict[str, TaskCheck]

    @property
    def passed(self) -> bool:
        """Float exports: all tasks within tolerance. Quantized: True."""
        return self.quantization is not None or all(
            c.within_tolerance for c in self.tasks.values())

    def to_dict(self) -> dict[str, Any]:
        result = dataclasses.asdict(self)
        result["passed"] = self.passed
        for check in result["tasks"].values():
            check["metrics"] = {
                m: {"keras": k, "export": e, "change": e - k}
                for m, (k, e) in check["metrics"].items()}
        return result

    def task_lines(self) -> list[str]:
        """One line per task: max |diff| and, if quantized, metrics."""
        lines = []
        for check in self.tasks.values():
            text = f"  {check.task:<16} max|diff| {check.max_abs_diff:.2e}"
            if self.quantization is None:
                text += "  ok" if check.within_tolerance else "  MISMATCH"
            for metric, (k, e) in check.metrics.items():
                text += f"  {metric} {k:.4f} -> {e:.4f} ({e - k:+.4f})"
            lines.append(text)
        if self.metric_reference == "keras":
            lines.append("  (metrics against the Keras model's predictions; "
                         "pass labels for metrics on data)")
        return lines

    def __str__(self) -> str:
        kind = self.quantization or "float32"
        return "\n".join(
            [f"{self.format} ({kind}) {self.artifact}: "
             f"{self.num_samples} {self.inputs_source} samples"]
            + self.task_lines())


@dataclasses.dataclass
class Samples:
    """Inputs (and optional labels) used to verify exports."""

    inputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] | None
    source: str


def resolve_samples(model: MultiTaskModel, sample_inputs: Any = None,
                    labels: Mapping[str, Any] | None = None,
                    max_samples: int = 256, seed: int = 0) -> Samples:
    """The samples an export is verified on: given, or drawn from specs.

    Args:
        model: The `MultiTaskModel`.
        sample_inputs: Arrays (one, a list, or a dict by input name) or a
            `tf.data.Dataset` of `x` or `(x, y)`; None draws 16 random
            samples from the input specs.
        labels: Optional `{task_name: array}` aligned with
            `sample_inputs`.
        max_samples: At most this many samples are used.
        seed: Seed for drawn inputs.
    """
    if sample_inputs is None:
        if labels is not None:
            raise ValueError(
                "`labels` were given without `sample_inputs`. Pass the "
                "inputs the labels belong to."
            )
        return Samples(draw_inputs(model, 16, seed), None, "drawn")
    inputs, found = take_samples(model, sample_inputs, max_samples)
    labels = labels if labels is not None else found
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise TypeError(
                "`labels` must be a dict {task_name: array}. Received: "
                f"{type(labels).__name__}."
            )
        unknown = sorted(set(labels) - set(model.task_names))
        if unknown:
            raise ValueError(
                f"`labels` names unknown task(s) {unknown}. The model's "
                f"tasks are {list(model.task_names)}."
            )
        size = len(next(iter(inputs.values())))
        labels = {k: np.asarray(v)[:size] for k, v in labels.items()}
    return Samples(inputs, labels or None, "given")


def _structured(model: MultiTaskModel, named: dict[str, np.ndarray]) -> Any:
    structure = model.input
    if isinstance(structure, Mapping):
        return named
    if isinstance(structure, (list, tuple)):
        return [named[n] for n in input_names(model)]
    return named[input_names(model)[0]]


def _run_exported(model: MultiTaskModel, exported: ExportedModel,
                  inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        return exported(inputs, batch_size=256)
    except ExportError:
        raise
    except RuntimeError as error:
        where = ""
        if isinstance(exported, LiteRTModel):
            node = exported.failing_node(error)
            if node is not None:
                layers = layers_in_node_names(
                    exported.node_tensor_names(node), layer_names(model))
                if layers:
                    where = f" in layer(s) {layers}"
        raise ExportVerificationError(
            f"The exported model '{exported.path}' fails to run{where}: "
            f"{error} The converter produced a model the runtime cannot "
            "execute; replace the layer with standard Keras layers or "
            "report the op to the converter's maintainers."
        ) from error


def verify_export(
    model: MultiTaskModel,
    exported: ExportedModel,
    samples: Any = None,
    labels: Mapping[str, Any] | None = None,
    *,
    quantization: str | None = None,
    format: str = "",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    max_degradation: float | None = None,
) -> VerificationReport:
    """Compares an exported model with the Keras model, task by task.

    Args:
        model: The `MultiTaskModel` that was exported.
        exported: The loaded export (`load_tflite` / `load_saved_model`).
        samples: Inputs to compare on: arrays (one, a list, or a dict by
            input name), a `tf.data.Dataset`, a `Samples` from
            `resolve_samples`, or None (drawn from the input specs).
        labels: Optional `{task: labels}` aligned with `samples`, for the
            metric change of quantized exports.
        quantization: The export's quantization; None for float exports.
        format: `"saved_model"` or `"tflite"` (for messages).
        atol, rtol: Float tolerance: every element must satisfy
            `|export - keras| <= atol + rtol * |keras|`.
        max_degradation: Quantized exports: the largest loss of any task
            metric (in metric units, e.g. 0.02 accuracy) that passes; None
            only reports.

    Returns:
        A `VerificationReport`.

    Raises:
        ExportVerificationError: Outputs are missing or misnamed, shapes
            differ, a float export is outside tolerance, or a quantized
            one degrades a task by more than `max_degradation`; the
            message names the tasks.
    """
    model = check_multitask_model(model, "verify_export")
    if not isinstance(samples, Samples):
        samples = resolve_samples(model, samples, labels)
    elif labels is not None:
        raise ValueError("Pass labels inside `Samples`, not beside it.")
    names = list(model.task_names)
    if sorted(exported.output_names) != sorted(names):
        raise ExportVerificationError(
            f"The exported model '{exported.path}' has outputs "
            f"{exported.output_names}, not the task names {names}: the "
            "heads are not addressable by task name. Export with "
            "keras_mtl.export, which keys every output by its task.",
            tasks=tuple(sorted(set(names) ^ set(exported.output_names))))
    # A fresh inference view, not `model.predict`: Keras 3.15's cached
    # predict function fails ("as_list() is not defined on an unknown
    # TensorShape") on (N, 1) arrays once it has run on (N,) ones, which
    # is what a user's `predict` on rank-one inputs leaves behind.
    reference = inference_model(model).predict(
        _structured(model, samples.inputs), batch_size=256, verbose=0)
    outputs = _run_exported(model, exported, samples.inputs)
    labels = samples.labels
    metric_reference = None
    if quantization is not None:
        metric_reference = "labels" if labels else "keras"
    checks: dict[str, TaskCheck] = {}
    for task in model.tasks:
        want = np.asarray(reference[task.name], dtype="float64")
        got = np.asarray(outputs[task.name], dtype="float64")
        if want.shape != got.shape:
            raise ExportVerificationError(
                f"Task {task.name!r}: the exported output has shape "
                f"{got.shape}, the Keras model's {want.shape}.",
                tasks=(task.name,))
        diff = np.abs(got - want)
        same_nan = np.isnan(got) & np.isnan(want)
        diff = np.where(same_nan, 0.0, diff)
        ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
        # NaN where only one side is NaN: reported as nan, never "ok".
        check = TaskCheck(task.name, task.kind,
                          float(np.max(diff, initial=0.0)), ok)
        if quantization is not None:
            truth = (labels or {}).get(task.name)
            if truth is None:
                truth = quality.reference_labels(task, want)
            before = quality.task_metrics(task, truth, want)
            after = quality.task_metrics(task, truth, got)
            check.metrics = {m: (before[m], after[m]) for m in before}
        checks[task.name] = check
    report = VerificationReport(
        str(exported.path), format, quantization,
        len(next(iter(samples.inputs.values()))), samples.source,
        metric_reference, atol, rtol, checks)
    _raise_if_failed(report, max_degradation)
    return report


def _raise_if_failed(report: VerificationReport,
                     max_degradation: float | None) -> None:
    if report.quantization is None:
        bad = [c for c in report.tasks.values() if not c.within_tolerance]
        if bad:
            detail = ", ".join(f"{c.task!r} (max|diff| {c.max_abs_diff:.3g})"
                               for c in bad)
            raise ExportVerificationError(
                f"The {report.format} export '{report.artifact}' does not "
                f"reproduce the Keras model for task(s) {detail}: allowed "
                f"|diff| <= {report.atol:g} + {report.rtol:g}*|keras| on "
                f"{report.num_samples} samples. A layer may behave "
                "differently at inference (check custom layers' `call` "
                "with training=False) or the converter changed its math.",
                tasks=tuple(c.task for c in bad), report=report)
        return
    if max_degradation is None:
        return
    losses: list[str] = []
    tasks: list[str] = []
    for check in report.tasks.values():
        for metric, (k, e) in check.metrics.items():
            loss = quality.degradation(metric, k, e)
            if not math.isnan(loss) and loss > max_degradation:
                losses.append(f"{check.task!r} ({metric} {k:.4f} -> {e:.4f})")
                if check.task not in tasks:
                    tasks.append(check.task)
    if losses:
        raise ExportVerificationError(
            f"The {report.quantization}-quantized export "
            f"'{report.artifact}' loses more than max_degradation="
            f"{max_degradation:g} on task(s) {', '.join(losses)}. Try "
            "quantization='dynamic' or 'float16', or more representative "
            "data for int8 calibration.",
            tasks=tuple(tasks), report=report)
