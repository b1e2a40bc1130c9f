"""Per-task quality numbers for comparing an exported model with Keras.

Quantized exports are judged by what they do to each task's metric, chosen
by the task's kind: accuracy and ROC AUC for binary and multi-label tasks,
accuracy for multi-class tasks, mean absolute error for regression and
custom tasks. Missing labels (the task's sentinel or NaN) are left out.

These run on the host after an export, never inside a training step.
"""

import math

import numpy as np
from scipy.stats import rankdata

from keras_mtl.tasks import Task

HIGHER_IS_BETTER = {"accuracy": True, "auc": True, "mae": False}


def _valid(task: Task, labels: np.ndarray) -> np.ndarray:
    labels = labels.astype("float64")
    valid = ~np.isnan(labels)
    missing = task.missing_label
    if missing is not None and not math.isnan(missing):
        valid &= labels != missing
    return valid


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (the Mann-Whitney statistic); NaN without both classes.

    ```
    AUC = (sum of ranks of positives - P (P + 1) / 2) / (P N)
    ```
    """
    positive = labels > 0.5
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    if num_pos == 0 or num_neg == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - num_pos * (num_pos + 1) / 2)
                 / (num_pos * num_neg))


def reference_labels(task: Task, keras_outputs: np.ndarray) -> np.ndarray:
    """Labels read off the Keras model's own predictions.

    Used when no labels are given: the exported model is then scored on how
    well it reproduces the Keras model's decisions (accuracy becomes
    agreement, MAE the mean distance to the Keras outputs).
    """
    if task.kind in ("binary", "multilabel"):  # a logit > 0 is class 1
        threshold = 0.0 if getattr(task, "from_logits", False) else 0.5
        return (keras_outputs > threshold).astype("float32")
    if task.kind == "multiclass":
        return np.argmax(keras_outputs, axis=-1)
    return keras_outputs


def task_metrics(task: Task, labels: np.ndarray,
                 outputs: np.ndarray) -> dict[str, float]:
    """The kind's metrics of `outputs` against `labels`.

    Args:
        task: The task (its kind and missing-label sentinel).
        labels: Labels as the task trains on them.
        outputs: Predictions of shape `(N,) + output shape`.

    Returns:
        `{metric: value}`; NaN where a metric is undefined (e.g. AUC
        without both classes).
    """
    labels = np.asarray(labels)
    outputs = np.asarray(outputs, dtype="float64")
    if task.kind == "multiclass":
        if labels.ndim == outputs.ndim and labels.shape[-1] == \
                outputs.shape[-1] and outputs.shape[-1] > 1:
            valid = _valid(task, labels).all(axis=-1)
            labels = np.argmax(labels, axis=-1)
        else:
            labels = labels.reshape(outputs.shape[0])
            valid = _valid(task, labels)
        if not valid.any():
            return {"accuracy": math.nan}
        hits = np.argmax(outputs[valid], axis=-1) == labels[valid]
        return {"accuracy": float(hits.mean())}
    if labels.size != outputs.size:
        raise ValueError(
            f"Task {task.name!r}: labels of shape {labels.shape} do not "
            f"match its outputs of shape {outputs.shape}."
        )
    labels = labels.reshape(outputs.shape)
    valid = _valid(task, labels)
    if not valid.any():
        return {"mae": math.nan} if task.kind in ("regression", "custom") \
            else {"accuracy": math.nan, "auc": math.nan}
    y, p = labels[valid].astype("float64"), outputs[valid]
    if task.kind in ("binary", "multilabel"):  # a logit > 0 is class 1
        threshold = 0.0 if getattr(task, "from_logits", False) else 0.5
        return {"accuracy": float(((p > threshold) == (y > 0.5)).mean()),
                "auc": roc_auc(y, p)}
    return {"mae": float(np.abs(p - y).mean())}


def degradation(metric: str, keras_value: float, export_value: float
                ) -> float:
    """How much worse the export is (positive = worse), in metric units."""
    change = export_value - keras_value
    return -change if HIGHER_IS_BETTER.get(metric, False) else change
