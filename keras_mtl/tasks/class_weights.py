"""`fit(class_weight={task: {class: weight}})` as per-task sample weights.

Keras refuses `class_weight` for a model with several outputs ("only
supported for Models with a single output"). A multi-task model takes one
dict per task; each is turned into that task's sample weights (multiplied
into any `sample_weight` given for the task), so a class weight and a
sample weight mean the same thing to the loss and to `weighted_metrics`.
As in Keras, classes left out of a task's dict weigh 1, and validation
data are not reweighted.
"""

import math
from typing import Any
from typing import Mapping
from typing import Sequence

import numpy as np

from keras_mtl.tasks.task import Task

_KINDS = ("binary", "multiclass")


def _class_ids(task: Task, labels: np.ndarray) -> np.ndarray:
    """Per-sample class ids (-1 where the label is missing)."""
    values = labels.astype("float64")
    if task.kind == "multiclass" and not task.labels_are_indices:
        missing = ~np.isfinite(values).all(axis=-1)
        ids = np.argmax(np.nan_to_num(values), axis=-1).astype("float64")
    else:
        values = values.reshape(len(values), -1)[:, 0]
        missing = ~np.isfinite(values)
        sentinel = task.missing_label
        if sentinel is not None and not math.isnan(sentinel):
            missing |= values == sentinel
        ids = np.round(np.nan_to_num(values))
    return np.where(missing, -1, ids).astype("int64")


def _check_table(task: Task, table: Any) -> dict[int, float]:
    if task.kind not in _KINDS:
        raise ValueError(
            f"`class_weight` names task {task.name!r} of kind "
            f"{task.kind!r}; class weights apply to binary and multiclass "
            "tasks. Weight its samples with sample_weight={"
            f"{task.name!r}: weights}} instead.")
    if not isinstance(table, Mapping):
        raise TypeError(
            f"`class_weight[{task.name!r}]` must be a dict {{class: "
            f"weight}}. Received: {table!r}.")
    classes = 2 if task.kind == "binary" else int(task.num_classes or 0)
    checked = {}
    for key, weight in table.items():
        if isinstance(key, bool) or not isinstance(
                key, (int, np.integer)) or not 0 <= key < classes:
            raise ValueError(
                f"`class_weight[{task.name!r}]` has key {key!r}; the "
                f"classes of this {task.kind} task are the ints 0 .. "
                f"{classes - 1}.")
        if isinstance(weight, bool) or not isinstance(
                weight, (int, float, np.floating, np.integer)) \
                or not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"`class_weight[{task.name!r}][{key}]` must be a finite "
                f"number >= 0. Received: {weight!r}.")
        checked[int(key)] = float(weight)
    return checked


def class_weights_as_sample_weights(
    tasks: Sequence[Task], y: Any, class_weight: Any, sample_weight: Any,
) -> dict[str, Any]:
    """Returns `{task: sample weights}` with the class weights folded in.

    Args:
        tasks: The model's tasks.
        y: The `fit` labels, a dict of in-memory arrays.
        class_weight: `{task: {class: weight}}`.
        sample_weight: None, one array for every task, or a dict.
    """
    names = [t.name for t in tasks]
    if not isinstance(class_weight, Mapping) or not all(
            isinstance(v, Mapping) for v in class_weight.values()):
        raise TypeError(
            "`class_weight` of a multi-task model must be a dict {task: "
            f"{{class: weight}}}} (tasks: {names}), e.g. class_weight="
            f"{{{names[0]!r}: {{0: 1.0, 1: 5.0}}}}. Received: "
            f"{class_weight!r}.")
    unknown = sorted(set(class_weight) - set(names))
    if unknown:
        raise ValueError(
            f"`class_weight` names unknown task(s) {unknown}. The model's "
            f"tasks are {names}.")
    if not isinstance(y, Mapping) or any(
            not isinstance(y.get(n), np.ndarray)
            and not isinstance(y.get(n), (list, tuple))
            for n in class_weight):
        raise ValueError(
            "`class_weight` needs the labels in memory (a dict of NumPy "
            "arrays) to weigh each sample by its class. With a dataset or "
            "generator, yield (x, y, {task: sample_weights}) instead, with "
            "the weight of each sample's class.")
    by_name = {t.name: t for t in tasks}
    if sample_weight is None or isinstance(sample_weight, Mapping):
        weights = dict(sample_weight or {})
    else:
        weights = {n: sample_weight for n in names}
    for name, table in class_weight.items():
        task = by_name[name]
        table = _check_table(task, table)
        ids = _class_ids(task, np.asarray(y[name]))
        size = max(2, int(task.num_classes or 2))
        lookup = np.ones(size, "float32")
        for key, value in table.items():
            lookup[key] = value
        factor = np.where(ids >= 0, lookup[np.clip(ids, 0, size - 1)], 1.0)
        base = weights.get(name)
        base = np.ones(len(ids), "float32") if base is None else \
            np.asarray(base, "float32").reshape(len(ids))
        weights[name] = (base * factor).astype("float32")
    return weights
