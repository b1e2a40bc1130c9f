"""Checks of in-memory labels and sample weights before `fit`/`evaluate`.

Labels that a task's loss cannot take fail deep inside TensorFlow: class
indices out of range stop a graph with "Received a label value of 5 which
is outside the valid range" (on GPU they silently give NaN), string labels
fail in Keras's data adapter with "Invalid dtype: str96", and a
`sample_weight` dict that names only some tasks, or an unknown one, is
refused by Keras with a dump of every array. `check_fit_arguments` checks
NumPy (or array-like) labels once, on the host, before training starts,
and names the task, the offending value and the fix. Datasets and tensors
pass through unchecked (reading them would cost a pass over the data).
"""

import math
import warnings
from typing import Any
from typing import Mapping
from typing import Sequence

import numpy as np

from keras_mtl.tasks import Task
from keras_mtl.tasks.class_weights import class_weights_as_sample_weights
from keras_mtl.tasks.label_rules import describe_missing

_CLASS_KINDS = ("binary", "multilabel")


def _array(values: Any) -> np.ndarray | None:
    """`values` as a NumPy array if it is in memory, else None."""
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, (list, tuple)) or hasattr(values, "to_numpy"):
        return np.asarray(values)
    return None


def _missing(task: Task, values: np.ndarray) -> np.ndarray:
    sentinel = task.missing_label
    if sentinel is None:  # declared: no label is missing
        return np.zeros(values.shape, bool)
    mask = np.isnan(values)
    if not math.isnan(sentinel):
        mask |= values == sentinel
    return mask


def _check_rule(task: Task, values: np.ndarray) -> None:
    """Refuses labels that the task's missing-label rule would misread."""
    infinite = np.isinf(values) if values.dtype.kind == "f" else None
    if infinite is not None and task.missing_label is not None \
            and infinite.any():
        raise ValueError(
            f"Task {task.name!r}: labels hold Inf "
            f"({_first_bad(values, infinite)}). Labels must be finite: mark "
            "a missing label with NaN (or the task's missing_label "
            "sentinel), and check how the value was computed.")
    if task.missing_label is None and not np.isfinite(values).all():
        bad = ~np.isfinite(values)
        raise ValueError(
            f"Task {task.name!r}: labels hold NaN or Inf "
            f"({_first_bad(values, bad)}) but the task declares that no "
            "label is missing (missing_label=None). Give a label, or set "
            "missing_label=float('nan') to mark missing labels with NaN.")
    if (task.kind in _CLASS_KINDS and not task.missing_label_declared
            and task.missing_label == -1.0):
        negative = values == -1.0
        if negative.any() and not (values == 0.0).any() \
                and (values == 1.0).any():
            raise ValueError(
                f"Task {task.name!r} ({task.kind}): labels look like "
                "{-1, 1} (no 0), but -1 is this task's default "
                "missing-label sentinel, so every -1 would be dropped. "
                "Use 0/1 labels (Keras's hinge losses convert them to "
                "-1/1), or, if -1 really marks missing labels, declare it: "
                "Task(..., missing_label=-1).")


def missing_fraction(task: Task, labels: Any) -> float | None:
    """Share of `labels`' entries that `task` reads as missing (None for
    labels not in memory)."""
    values = _array(labels)
    if values is None or values.dtype.kind not in "biuf" or not values.size:
        return None
    return float(_missing(task, values.astype("float64")).mean())


def warn_if_mostly_missing(
    tasks: Sequence[Task], y: Mapping[str, Any], threshold: float = 0.5
) -> None:
    """Warns for each supervised task with more than `threshold` of its
    in-memory labels missing: its loss is the mean over the few labelled
    entries, and a wrong sentinel looks exactly like this."""
    for task in tasks:
        if not task.supervised or task.name not in y:
            continue
        share = missing_fraction(task, y[task.name])
        if share is not None and share > threshold:
            warnings.warn(
                f"Task {task.name!r}: {share:.0%} of its labels in this "
                f"fit are missing ({describe_missing(task.missing_label)}"
                "). Its loss averages over the labelled entries only; if "
                "these labels are valid, fix the task's `missing_label`.",
                stacklevel=3)


def _first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    position = tuple(int(i) for i in index)
    return f"{values[index].item()!r} at index {position}"


def check_labels(task: Task, labels: Any) -> None:
    """Raises if in-memory `labels` cannot be `task`'s labels."""
    values = _array(labels)
    if values is None:
        return
    if values.dtype.kind in "OUSV":
        example = values.reshape(-1)[:1].tolist()
        raise TypeError(
            f"Task {task.name!r}: labels have dtype {values.dtype} (e.g. "
            f"{example}); the model trains on numbers. Encode them first, "
            "e.g. (labels == 'yes').astype('float32') for a binary task or "
            "keras.layers.StringLookup for class indices."
        )
    if values.dtype.kind not in "biuf":
        return
    if task.kind not in _CLASS_KINDS + ("multiclass",):
        if values.dtype.kind == "f":
            _check_rule(task, values.astype("float64"))
        return
    values = values.astype("float64")
    _check_rule(task, values)
    num_classes = int(task.num_classes or 0)
    known = ~_missing(task, values)
    one_hot = (task.kind == "multiclass" and values.ndim >= 2
               and values.shape[-1] == num_classes and num_classes > 1)
    if task.kind in _CLASS_KINDS or one_hot:
        bad = known & ((values < 0) | (values > 1))
        if bad.any():
            raise ValueError(
                f"Task {task.name!r} ({task.kind}): labels must be 0 or 1 "
                f"(or probabilities in [0, 1]). Received "
                f"{_first_bad(values, bad)}; here "
                f"{describe_missing(task.missing_label)} (the task's "
                "`missing_label`). Map the labels to 0/1, or declare the "
                "sentinel you use with Task(..., missing_label=...)."
            )
        return
    bad = known & ((values < 0) | (values >= num_classes)
                   | (values != np.round(values)))
    if bad.any():
        raise ValueError(
            f"Task {task.name!r} (multiclass, num_classes={num_classes}): "
            f"labels must be class indices in [0, {num_classes - 1}]. "
            f"Received {_first_bad(values, bad)}. "
            f"Mark a missing label with {task.missing_label} (the task's "
            "`missing_label`), or raise `num_classes`."
        )


def check_sample_weight(
    tasks: Sequence[Task], y: Mapping[str, Any], sample_weight: Any
) -> Any:
    """A `{task: weights}` dict completed with ones for the tasks it
    leaves out (Keras needs one entry per output); raises on unknown
    task names."""
    if not isinstance(sample_weight, Mapping):
        return sample_weight
    names = [t.name for t in tasks]
    unknown = sorted(set(sample_weight) - set(names))
    if unknown:
        raise ValueError(
            f"`sample_weight` names unknown task(s) {unknown}. The model's "
            f"tasks are {names}. Fix the keys (tasks left out get weight 1)."
        )
    sizes = {len(a) for a in map(_array, y.values()) if a is not None}
    if len(sizes) != 1:
        return dict(sample_weight)
    size = sizes.pop()
    return {n: sample_weight[n] if n in sample_weight
            else np.ones((size,), "float32") for n in names if n in y}


def check_fit_arguments(
    tasks: Sequence[Task], args: tuple, kwargs: dict[str, Any],
    warn_missing: bool = False,
) -> tuple[tuple, dict[str, Any]]:
    """Checks `fit(x, y, ..., sample_weight=...)`'s in-memory labels and
    sample weights; returns the arguments with `sample_weight` completed.
    With `warn_missing`, warns about tasks whose labels are mostly
    missing."""
    y = args[1] if len(args) > 1 else kwargs.get("y")
    names = [t.name for t in tasks]
    if "class_weight" in kwargs:  # Keras refuses it for several outputs
        kwargs = _fold_class_weight(tasks, y, dict(kwargs))
    if not isinstance(y, Mapping):
        values = _array(y)
        if values is not None and len(names) > 1:
            raise ValueError(
                f"Labels must be a dict {{task_name: labels}} for a model "
                f"with tasks {names}. Received: an array of shape "
                f"{values.shape}. Pass y={{'{names[0]}': ..., "
                f"'{names[1]}': ...}}; mark missing labels with the task's "
                "sentinel (-1 or NaN)."
            )
        return args, kwargs
    by_name = {t.name: t for t in tasks}
    for name, labels in y.items():
        if name in by_name:
            check_labels(by_name[name], labels)
    if warn_missing:
        warn_if_mostly_missing(tasks, y)
    # Label keys are checked by the model's step; weights are completed
    # only for labels that cover every task (Keras matches structures).
    needed = {t.name for t in tasks if t.supervised}
    if "sample_weight" in kwargs and needed <= set(y) <= set(names):
        kwargs = dict(kwargs)
        kwargs["sample_weight"] = check_sample_weight(
            tasks, y, kwargs["sample_weight"])
    return args, kwargs


def _fold_class_weight(
    tasks: Sequence[Task], y: Any, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Moves `class_weight` into per-task sample weights."""
    class_weight = kwargs.pop("class_weight")
    if not class_weight:
        return kwargs
    single = tasks[0].name if len(tasks) == 1 else None
    as_array = single is not None and not isinstance(y, Mapping)
    if as_array:
        y = {single: y}
        if isinstance(class_weight, Mapping) and single not in class_weight:
            class_weight = {single: class_weight}  # Keras's own form
    weights = class_weights_as_sample_weights(
        tasks, y, class_weight, kwargs.get("sample_weight"))
    # Labels given as one array take one weight array.
    kwargs["sample_weight"] = weights[single] if as_array else weights
    return kwargs
