"""What a compiled `MultiTaskModel` logs, and which way each log improves.

Keras's monitoring callbacks (`EarlyStopping`, `ReduceLROnPlateau`,
`ModelCheckpoint`) infer `mode="auto"` only for `loss` and for metrics they
find in Keras's own compile containers. A multi-task model logs per-task
names (`val_ctr_auc`, `val_age_loss`) that this inference does not see, so
with `mode="auto"` they fail with "isn't able to automatically determine
whether that metric should be maximized or minimized", and only at the end
of the first epoch. This module answers both questions up front, from the
compiled model:

- `logged_names(model)`: every name `fit` logs (`val_` copies included);
- `monitor_mode(model, monitor)`: `"min"` or `"max"`, or a ValueError that
  lists the names the model logs.

The direction comes from the log name (`keras_mtl.reporting.metric_direction`,
the inference `keras_mtl.tuning` uses for objectives), then from the class
of the metric object (`Precision`, `MeanAbsoluteError` or a subclass), so a
metric renamed by the user (`Precision(name="prec")`) is understood too.
"""

import difflib
import re
from typing import Any

from keras_mtl.reporting.directions import metric_direction

MODES = ("min", "max")

# Logged counters and weights that no callback should monitor: they say
# how training went, not how good the model is.
_NOT_QUALITIES = ("_weight", "_nonfinite", "nonfinite_steps")


def logged_names(model: Any, validation: bool = True) -> list[str]:
    """The names a compiled model logs in `fit`.

    Args:
        model: A compiled `keras_mtl.MultiTaskModel` (or any compiled Keras
            model).
        validation: Also list the `val_` copies logged when `fit` gets
            validation data.

    Returns:
        A list such as `["loss", "ctr_loss", ..., "ctr_auc", "val_loss",
        ...]`, in the model's metric order.

    Raises:
        ValueError: The model is not compiled (it logs nothing yet).
    """
    names = [m.name for m in getattr(model, "metrics", [])]
    if not names:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} logs no metrics yet: "
            "compile it first (model.compile(...)), then create or use the "
            "callback."
        )
    if validation:  # training-only entries have no `val_` copy
        only = set(getattr(model, "training_only_log_names", ()))
        names += [f"val_{n}" for n in names if n not in only]
    return names


def _unknown_monitor(model: Any, monitor: str) -> ValueError:
    available = logged_names(model)
    close = difflib.get_close_matches(monitor, available, n=3)
    hint = f" Did you mean {close}?" if close else ""
    return ValueError(
        f"Argument `monitor` names {monitor!r}, which model "
        f"{model.name!r} does not log.{hint} Per-task logs are "
        "`<task>_<metric>` (`val_<task>_<metric>` with validation data). "
        f"Logged names: {available}."
    )


def _metric_object(model: Any, name: str) -> Any:
    for metric in model.metrics:
        if metric.name == name:
            return metric
    return None


def check_monitor(model: Any, monitor: str) -> None:
    """Raises a ValueError naming the logged names if `monitor` is not one.

    A `val_` name is accepted when the model logs the name without the
    prefix (validation names exist only once `fit` gets validation data).
    """
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            "Argument `monitor` must be a logged name such as "
            f"'val_loss' or 'val_<task>_auc'. Received: monitor={monitor!r}."
        )
    if monitor not in logged_names(model):
        raise _unknown_monitor(model, monitor)


def monitor_mode(model: Any, monitor: str) -> str:
    """`"min"` or `"max"`: which way `monitor` improves for this model.

    Args:
        model: A compiled `keras_mtl.MultiTaskModel`.
        monitor: A name the model logs, e.g. `"val_ctr_auc"`.

    Returns:
        `"max"` for AUC, accuracy, precision, ... and `"min"` for losses,
        errors and other metrics whose smaller values are better.

    Raises:
        ValueError: The model does not log `monitor` (the message lists the
            names it logs), or the direction of a custom metric cannot be
            told (pass `mode=` to the callback).

    Example:

    ```python
    keras_mtl.callbacks.monitor_mode(model, "val_ctr_auc")   # "max"
    keras_mtl.callbacks.monitor_mode(model, "val_age_loss")  # "min"
    keras.callbacks.EarlyStopping(
        "val_ctr_auc", mode=monitor_mode(model, "val_ctr_auc"))
    ```
    """
    check_monitor(model, monitor)
    base = monitor.removeprefix("val_")
    if base == "nonfinite_steps" or base.endswith(_NOT_QUALITIES):
        raise ValueError(
            f"{monitor!r} is a training statistic (a task weight or a count "
            "of non-finite steps), not a measure of the model's quality, so "
            "it has no direction to infer. Monitor a loss or a metric "
            "(e.g. 'val_loss', 'val_<task>_auc'), or pass mode='min' or "
            "mode='max' explicitly."
        )
    direction = metric_direction(monitor)
    if direction is None:
        direction = _class_direction(_metric_object(model, base))
    if direction is None:
        raise ValueError(
            f"Cannot tell whether {monitor!r} should be minimised or "
            "maximised: neither its name nor its metric class is a known "
            "loss or metric. Pass mode='min' or mode='max' explicitly."
        )
    return direction


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _class_direction(metric: Any) -> str | None:
    """The direction of a metric object's class (or a Keras base class):
    `Precision(name="prec")` is a `precision`, so `"max"`."""
    if metric is None:
        return None
    for cls in type(metric).__mro__:
        direction = metric_direction(_snake_case(cls.__name__))
        if direction is not None:
            return direction
    return None


__all__ = ["MODES", "check_monitor", "logged_names", "monitor_mode"]
