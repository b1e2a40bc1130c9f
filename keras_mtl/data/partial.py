"""Partial labels: turn the gaps of a table into the model's label masks.

Real multi-task tables rarely label every task on every row (LibMTL#11,
#63). `MultiTaskModel` understands three marks of a missing label: the
task's sentinel (`Task.missing_label`, -1 for class labels), NaN in float
labels, and a per-task `sample_weight` of 0. These helpers read a table
(a dict of columns or a pandas DataFrame) whose gaps may be NaN, a
sentinel, a string such as `"?"`, or a whole absent column, and return
labels in that convention, masks, per-task sample weights and label rates.
"""

import math
from typing import Any
from typing import Iterable
from typing import Mapping
from typing import Sequence

import numpy as np

from keras_mtl.tasks import Task

DEFAULT_MISSING_VALUES = ("", "?", "na", "n/a", "nan", "none", "null")


def _is_missing_entry(values: np.ndarray,
                      missing_values: Iterable[Any]) -> np.ndarray:
    """Boolean array: which entries are NaN/None or one of the markers."""
    strings = {str(v).strip().lower() for v in missing_values
               if isinstance(v, str)}
    numbers = [float(v) for v in missing_values
               if not isinstance(v, str) and v is not None]
    if values.dtype.kind in "fc":
        mask = np.isnan(values)
    elif values.dtype.kind in "iub":
        mask = np.zeros(values.shape, bool)
    else:
        # None and NaN print as "none" and "nan", both default markers.
        text = np.char.lower(np.char.strip(values.astype(str)))
        return np.isin(text, list(strings | {"none", "nan"}))
    for number in numbers:
        mask |= values == number
    return mask


def _column(table: Any, name: str) -> np.ndarray | None:
    try:
        present = name in table
    except TypeError:
        present = False
    if not present:
        return None
    return np.asarray(table[name])


def _num_rows(table: Any) -> int:
    if hasattr(table, "shape") and len(getattr(table, "shape", ())) >= 1:
        return int(table.shape[0])
    for key in table:
        return len(np.asarray(table[key]))
    raise ValueError("The table has no columns: cannot tell its length.")


def labels_from_table(
    table: Any,
    tasks: Sequence[Task],
    *,
    columns: Mapping[str, str | Sequence[str]] | None = None,
    missing_values: Iterable[Any] = DEFAULT_MISSING_VALUES,
    absent: str = "missing",
) -> dict[str, np.ndarray]:
    """Reads each task's labels from a table, marking gaps as missing.

    A label is missing when it is NaN or None, one of `missing_values`
    (compared case-insensitively for strings), already the task's
    sentinel, or when the task's column is absent from the table
    (`absent="missing"`). Missing class labels (binary, multiclass,
    multilabel) become the task's `missing_label` (default -1) in an int32
    array; missing regression targets become NaN in a float32 array.

    Args:
        table: dict `{column: array}` or a pandas DataFrame.
        tasks: The `keras_mtl.Task` list.
        columns: Optional dict `{task: column}` or, for multilabel and
            multi-target regression tasks, `{task: [columns]}`. Defaults to
            the task name (and `{task}_{i}` columns for wide tasks).
        missing_values: Markers of a missing entry besides NaN and None.
        absent: `"missing"` (an absent column labels no row) or `"raise"`.

    Returns:
        dict `{task: labels}` of shape `(N,)` or `(N, width)`.

    Example:

    ```python
    table = {"income": [1, 0, float("nan")], "age": [31.0, "?", 40.0]}
    y = keras_mtl.data.labels_from_table(
        table, [Task("income", "binary"), Task("age", "regression")])
    # {"income": [1, 0, -1], "age": [31., nan, 40.]}
    ```
    """
    if absent not in ("missing", "raise"):
        raise ValueError(
            "Argument `absent` must be 'missing' or 'raise'. Received: "
            f"absent={absent!r}.")
    columns = dict(columns or {})
    missing_values = tuple(missing_values)
    num_rows = _num_rows(table)
    out = {}
    for task in tasks:
        width = task.output_units or 1
        if task.kind == "multiclass":
            width = 1
        spec = columns.get(task.name)
        if spec is None:
            spec = task.name if width == 1 else [
                f"{task.name}_{i}" for i in range(width)]
        names = [spec] if isinstance(spec, str) else list(spec)
        values, gaps = [], []
        for name in names:
            column = _column(table, name)
            if column is None:
                if absent == "raise":
                    raise ValueError(
                        f"Task {task.name!r}: the table has no column "
                        f"{name!r}. Pass columns={{{task.name!r}: ...}} or "
                        "absent='missing' to treat it as unlabelled.")
                column = np.full(num_rows, np.nan)
            gap = _is_missing_entry(column, missing_values)
            if column.dtype.kind in "US":
                column = column.astype(object)
            filled = np.where(gap, 0, column)
            try:
                numeric = filled.astype("float64")
            except ValueError as error:
                raise ValueError(
                    f"Task {task.name!r}: column {name!r} holds values that "
                    "are neither numbers nor missing markers "
                    f"{missing_values}. Encode the labels as numbers first."
                ) from error
            sentinel = task.missing_label
            if sentinel is not None and not math.isnan(sentinel):
                gap = gap | (numeric == sentinel)
            values.append(numeric)
            gaps.append(gap)
        stacked = np.stack(values, axis=-1)
        gap = np.stack(gaps, axis=-1)
        if len(names) == 1:
            stacked, gap = stacked[:, 0], gap[:, 0]
        out[task.name] = _with_sentinel(task, stacked, gap)
    return out


def _with_sentinel(task: Task, values: np.ndarray,
                   gap: np.ndarray) -> np.ndarray:
    if task.kind in ("regression", "custom"):
        fill = task.missing_label
        fill = math.nan if fill is None else fill
        return np.where(gap, fill, values).astype("float32")
    if task.missing_label is None or math.isnan(task.missing_label):
        if gap.any():
            raise ValueError(
                f"Task {task.name!r} has missing labels but no integer "
                "sentinel (missing_label=None or NaN). Give the task "
                "missing_label=-1, or use label_masks() and "
                "sample_weights_from_masks() instead.")
        return values.astype("int32")
    return np.where(gap, task.missing_label, values).astype("int32")


def label_masks(
    labels: Mapping[str, Any], tasks: Sequence[Task], *,
    per_entry: bool = False,
) -> dict[str, np.ndarray]:
    """Which rows (or entries) carry a label, in the model's convention.

    An entry is unlabelled when it is NaN or equals the task's
    `missing_label`. A row counts as labelled when any of its entries is
    (multilabel and multi-target tasks mask single entries in the loss).

    Args:
        labels: dict `{task: labels}`.
        tasks: The `keras_mtl.Task` list.
        per_entry: bool. Return entry masks of the labels' shape instead
            of row masks of shape `(N,)`.

    Returns:
        dict `{task: bool mask}`.
    """
    masks: dict[str, np.ndarray] = {}
    for task in tasks:
        if task.name not in labels:
            raise ValueError(
                f"Task {task.name!r} has no labels in `labels` (keys "
                f"{sorted(labels)}).")
        values = np.asarray(labels[task.name])
        valid: np.ndarray = (
            ~np.isnan(values) if values.dtype.kind == "f"
            else np.ones(values.shape, bool))
        sentinel = task.missing_label
        if sentinel is not None and not math.isnan(sentinel):
            valid &= values != sentinel
        if not per_entry and valid.ndim > 1:
            masks[task.name] = np.asarray(
                valid.reshape(len(valid), -1).any(axis=1))
        else:
            masks[task.name] = valid
    return masks


def sample_weights_from_masks(
    masks: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Row masks to per-task sample weights (1 labelled, 0 missing)."""
    out = {}
    for name, mask in masks.items():
        rows = np.asarray(mask, bool)
        if rows.ndim > 1:
            rows = np.asarray(rows.reshape(len(rows), -1).any(axis=1))
        out[name] = rows.astype("float32")
    return out


def label_rates(labels: Mapping[str, Any],
                tasks: Sequence[Task]) -> dict[str, float]:
    """The share of rows that carry each task's label."""
    return {name: float(mask.mean()) if mask.size else 0.0
            for name, mask in label_masks(labels, tasks).items()}


def hide_labels(
    labels: Mapping[str, Any],
    tasks: Sequence[Task],
    keep: float | Mapping[str, float],
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Hides labels at random, for partial-label experiments.

    Each row keeps a task's label with probability `keep` (one float, or a
    dict `{task: float}`); hidden labels take the task's sentinel (NaN for
    regression).

    Args:
        labels: dict `{task: labels}`.
        tasks: The `keras_mtl.Task` list.
        keep: float in [0, 1] or dict `{task: float}`.
        seed: Optional int.

    Returns:
        A new dict `{task: labels}`.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for task in tasks:
        rate = keep[task.name] if isinstance(keep, Mapping) else keep
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(
                f"Task {task.name!r}: the kept share must be in [0, 1]. "
                f"Received: keep={rate!r}.")
        values = np.asarray(labels[task.name])
        hidden = rng.random(len(values)) >= rate
        shape = (len(values),) + (1,) * (values.ndim - 1)
        hidden = np.broadcast_to(hidden.reshape(shape), values.shape)
        out[task.name] = _with_sentinel(
            task, values.astype("float64"),
            hidden | ~label_masks({task.name: values}, [task],
                                  per_entry=True)[task.name])
    return out
