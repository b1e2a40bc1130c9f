"""The student against its teachers: per-task metrics, size and latency."""

import time
from typing import Any
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from keras_mtl.distill.teachers import task_output
from keras_mtl.losses import MaskedTaskLoss
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks.task_metric_objects import make_task_metrics


def _latency_ms(model: keras.Model, batch: Any, repeats: int) -> float:
    for _ in range(2):
        model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def _task_metrics(task: Task, y: Any, prediction: Any) -> dict[str, float]:
    loss = MaskedTaskLoss(task)
    y_pred = tf.convert_to_tensor(np.asarray(prediction, "float32"))
    y_safe, weights = loss.prepare(np.asarray(y), y_pred, None)
    results = {}
    for metric in make_task_metrics(task):
        if weights.shape.rank > 1 and isinstance(
                metric, keras.metrics.MeanMetricWrapper):
            metric.update_state(y_safe[..., None], y_pred[..., None],
                                sample_weight=weights)
        else:
            metric.update_state(y_safe, y_pred, sample_weight=weights)
        results[metric.name] = float(metric.result())
    return results


def distillation_report(
    student: MultiTaskModel,
    teachers: Mapping[str, keras.Model],
    x: Any,
    y: Mapping[str, Any],
    *,
    batch_size: int = 256,
    repeats: int = 20,
) -> dict[str, dict[str, Any]]:
    """Student vs teachers: per-task metrics, parameters and latency.

    Latency is the median wall time of `predict_on_batch` on the first
    `batch_size` inputs over `repeats` calls (after two warm-up calls),
    measured for every model in this one run, so the numbers compare.
    "teachers (all)" adds the teachers up: what serving every task with
    the teachers costs.

    Returns:
        `{row: {"params": int, "latency_ms": float, "<task>_<metric>":
        float, ...}}` with rows `"student"`, `"teacher <task>"` and
        `"teachers (all)"`.
    """
    batch = _first_rows(x, batch_size)
    rows: dict[str, dict[str, Any]] = {}
    student_pred = student.predict(x, batch_size=batch_size, verbose=0)
    row: dict[str, Any] = {"params": int(student.count_params()),
                           "latency_ms": _latency_ms(student, batch,
                                                     repeats)}
    for task in student.tasks:
        row.update(_task_metrics(task, y[task.name], student_pred[task.name]))
    rows["student"] = row
    tasks = {t.name: t for t in student.tasks}
    total = {"params": 0, "latency_ms": 0.0}
    for name, teacher in teachers.items():
        prediction = task_output(
            teacher.predict(x, batch_size=batch_size, verbose=0), name)
        row = {"params": int(teacher.count_params()),
               "latency_ms": _latency_ms(teacher, batch, repeats)}
        row.update(_task_metrics(tasks[name], y[name], prediction))
        rows[f"teacher {name}"] = row
        total["params"] += row["params"]
        total["latency_ms"] += row["latency_ms"]
        for key, value in row.items():
            if key.startswith(f"{name}_"):
                total[key] = value
    rows["teachers (all)"] = total
    return rows


def _first_rows(x: Any, count: int) -> Any:
    if isinstance(x, Mapping):
        return {k: np.asarray(v)[:count] for k, v in x.items()}
    return np.asarray(x)[:count]


def format_report(report: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of `distillation_report`'s rows."""
    columns: list[str] = []
    for row in report.values():
        for key in row:
            if key not in columns:
                columns.append(key)
    width = max(len(r) for r in report) + 2
    lines = ["".ljust(width) + "".join(c.rjust(16) for c in columns)]
    for name, row in report.items():
        cells = []
        for column in columns:
            value = row.get(column)
            if value is None:
                cells.append("-".rjust(16))
            elif isinstance(value, int):
                cells.append(f"{value:,}".rjust(16))
            else:
                cells.append(f"{value:.4f}".rjust(16))
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
