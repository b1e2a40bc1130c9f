"""What a task's labels look like: their shape and which values are missing.

Two rules used to be guessed and are now explicit:

- **Label shape.** A binary, multilabel or regression task's labels have
  the head's output shape (a trailing axis of 1 may be left out). A
  multiclass task's labels are class indices (the output shape with a
  last axis of 1) when its loss is one of Keras's sparse losses, and
  one-hot rows when its loss is one of Keras's categorical losses; the
  loss is recognised by identity, never by its name, so a user loss
  called `sparse_...` changes nothing. Any task may declare its own
  `label_shape` (a custom retrieval task takes ids of shape `(1,)` while
  its head outputs `(64,)`).
- **Missing labels.** `missing_label` is a number (the sentinel: that
  value, and NaN, mark a missing label), NaN (only NaN is missing) or
  None (no label is ever missing). Defaults: -1 for binary, multiclass
  and multilabel (never a valid label of those kinds: labels are 0/1 or
  class indices), NaN for regression and custom tasks (NaN is never a
  valid number, so the default never masks a valid value).
"""

import math
from typing import Any

import keras

# Keras losses that take class indices, and those that take one-hot rows.
_INDEX_LOSSES = (
    keras.losses.sparse_categorical_crossentropy,
    keras.losses.SparseCategoricalCrossentropy,
)
_ONE_HOT_LOSSES = (
    keras.losses.categorical_crossentropy,
    keras.losses.CategoricalCrossentropy,
    keras.losses.categorical_focal_crossentropy,
    keras.losses.CategoricalFocalCrossentropy,
    keras.losses.categorical_hinge,
    keras.losses.CategoricalHinge,
    keras.losses.kl_divergence,
    keras.losses.KLDivergence,
)

DEFAULT = "default"


def _resolved(loss: Any) -> Any:
    if isinstance(loss, (str, dict)):
        try:
            return keras.losses.get(loss)
        except ValueError:
            return None
    return loss


def loss_takes_indices(loss: Any) -> bool | None:
    """True for Keras's sparse (class-index) losses, False for its
    categorical (one-hot) losses, None for a loss it does not know."""
    fn = _resolved(loss)
    for known, answer in ((_INDEX_LOSSES, True), (_ONE_HOT_LOSSES, False)):
        for item in known:
            if fn is item or (isinstance(item, type)
                              and isinstance(fn, item)):
                return answer
    return None


def check_label_shape(
    task_name: str, kind: str, label_shape: Any, loss: Any,
    num_classes: int | None,
) -> tuple[tuple[int, ...] | None, bool]:
    """Validates a declared `label_shape`; returns `(shape, indices)`.

    `shape` is the declared per-sample label shape (None: derived from
    the head's output), `indices` whether labels are class indices (the
    head's output shape with a last axis of 1).
    """
    if label_shape is not None:
        if isinstance(label_shape, int):
            label_shape = (label_shape,)
        shape = tuple(label_shape)
        if not shape or not all(isinstance(d, int) and d >= 1
                                for d in shape):
            raise ValueError(
                f"Task {task_name!r}: argument `label_shape` must be a "
                "non-empty tuple of positive ints, the shape of one "
                "sample's label, e.g. (1,) for an id. Received: "
                f"label_shape={label_shape!r}.")
        if kind in ("binary", "multilabel", "regression"):
            raise ValueError(
                f"Task {task_name!r}: `label_shape` is for kind='custom' "
                f"and 'multiclass'; a {kind} task's labels have its head's "
                "output shape. Remove `label_shape`.")
        if kind == "multiclass" and shape not in ((1,), (num_classes,)):
            raise ValueError(
                f"Task {task_name!r}: a multiclass task takes class "
                f"indices, label_shape=(1,), or one-hot rows, "
                f"label_shape=({num_classes},). Received: "
                f"label_shape={shape!r}.")
        indices = kind == "multiclass" and shape == (1,)
        takes = loss_takes_indices(loss) if kind == "multiclass" else None
        if takes is not None and takes != indices:
            wanted = "(1,)" if takes else f"({num_classes},)"
            raise ValueError(
                f"Task {task_name!r}: loss {loss!r} takes "
                f"{'class indices' if takes else 'one-hot rows'}, but "
                f"label_shape={shape!r} declares the other. Use "
                f"label_shape={wanted} or a loss for "
                f"{'class indices' if indices else 'one-hot rows'}.")
        return shape, indices
    if kind != "multiclass":
        return None, False
    takes = loss_takes_indices(loss)
    if takes is None:
        raise ValueError(
            f"Task {task_name!r}: cannot tell whether loss {loss!r} takes "
            "class indices or one-hot labels. Declare it: "
            "label_shape=(1,) for class indices or "
            f"label_shape=({num_classes},) for one-hot rows.")
    return None, takes


def resolve_missing_label(
    task_name: str, kind: str, missing_label: Any,
    num_classes: int | None = None,
) -> tuple[float | None, bool]:
    """Returns `(missing_label, declared)` after validation."""
    if isinstance(missing_label, str) and missing_label == DEFAULT:
        value = -1.0 if kind in ("binary", "multiclass", "multilabel") \
            else math.nan
        return value, False
    if missing_label is None:
        return None, True
    if isinstance(missing_label, str) and missing_label.lower() == "nan":
        return math.nan, True
    if isinstance(missing_label, bool) or not isinstance(
            missing_label, (int, float)):
        raise ValueError(
            f"Task {task_name!r}: argument `missing_label` must be a "
            "number (the sentinel), NaN or None (no label is missing). "
            f"Received: missing_label={missing_label!r}.")
    value = float(missing_label)
    if kind in ("binary", "multilabel") and value in (0.0, 1.0):
        raise ValueError(
            f"Task {task_name!r}: missing_label={missing_label!r} is a "
            f"valid {kind} label, so every such label would be dropped. "
            "Use -1, NaN or None.")
    if (kind == "multiclass" and num_classes is not None
            and 0 <= value < num_classes and value == int(value)):
        raise ValueError(
            f"Task {task_name!r}: missing_label={missing_label!r} is a "
            "valid class index, so every such label would be dropped. "
            "Use -1, NaN or None.")
    return value, True


def describe_missing(missing_label: float | None) -> str:
    """Words for a task's missing-label rule, for error messages."""
    if missing_label is None:
        return "no label is missing (missing_label=None)"
    if math.isnan(missing_label):
        return "NaN marks a missing label"
    return f"{missing_label:g} or NaN marks a missing label"
