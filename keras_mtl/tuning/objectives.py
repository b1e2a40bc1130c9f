"""Tuning objectives for multi-task models.

Keras Tuner infers a direction only for bare Keras metric names and its
multi-objective is the unnormalised signed sum of the metrics, in which a
loss in the hundreds swamps an AUC. This module gives:

- `objective(name, direction=None)` and `task_objective(task, metric)`:
  one logged metric with an explicit or inferred direction, understanding
  per-head names such as `val_income_auc` (max) or `val_age_loss` (min);
- `DeltaMObjective` and `NormalizedSumObjective` (defined in
  `keras_mtl.tuning.scalarized`): Δm% against single-task baselines, and a
  signed sum of metrics each divided by an explicit scale;
- `train_baselines` (in `keras_mtl.tuning.baselines`): trains the
  single-task baselines once, optionally cached in a JSON file;
- `validate_objective`: checks the names an objective reads against the
  model's logs before the search, since a wrong name otherwise fails each
  trial with a KeyError while `search()` carries on.

All objectives are `keras_tuner.Objective` instances and work with
RandomSearch, BayesianOptimization and Hyperband.
"""

import difflib
from typing import Any
from typing import Iterable

import keras_tuner

from keras_mtl.tuning.directions import DIRECTIONS  # noqa: F401
from keras_mtl.tuning.directions import check_direction
from keras_mtl.tuning.directions import infer_direction
from keras_mtl.tuning.scalarized import DeltaMObjective
from keras_mtl.tuning.scalarized import NormalizedSumObjective

def objective(name: str, direction: str | None = None
              ) -> keras_tuner.Objective:
    """A `keras_tuner.Objective` on one logged metric.

    Args:
        name: The log name, e.g. `"val_income_auc"`.
        direction: `"min"` or `"max"`; inferred from the name when None
            (see `keras_mtl.reporting.metric_direction`).

    Returns:
        A `keras_tuner.Objective`.
    """
    if direction is None:
        direction = infer_direction(name)
    return keras_tuner.Objective(name, check_direction(direction, name))


_named_objective = objective


def task_objective(task: Any, metric: str = "loss",
                   direction: str | None = None,
                   validation: bool = True) -> keras_tuner.Objective:
    """The objective on one task's metric, named as Keras logs it.

    Args:
        task: A `keras_mtl.Task` or a task name.
        metric: The metric's short name (`"loss"`, `"auc"`, `"mae"`).
        direction: `"min"` or `"max"`; inferred when None.
        validation: Whether to read the validation value (`val_` prefix).

    Returns:
        `keras_tuner.Objective(f"val_{task}_{metric}", direction)`.

    Example:

    ```python
    keras_mtl.tuning.task_objective("income", "auc")
    # Objective(name="val_income_auc", direction="max")
    ```
    """
    task_name = getattr(task, "name", task)
    name = f"{task_name}_{metric}"
    if validation:
        name = f"val_{name}"
    return objective(name, direction)


def objective_metric_names(obj: Any) -> list[str]:
    """The log names an objective (or a list of them) reads."""
    if obj is None:
        return []
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [n for o in obj for n in objective_metric_names(o)]
    if hasattr(obj, "metric_names"):
        return list(obj.metric_names)
    if isinstance(obj, keras_tuner.Objective) and hasattr(
            obj, "name_to_direction"):
        return list(obj.name_to_direction)
    if isinstance(obj, keras_tuner.Objective):
        return [obj.name]
    raise TypeError(
        "Expected an objective: a log name, a `keras_tuner.Objective` or a "
        f"list of them. Received: {obj!r}."
    )


def validate_objective(obj: Any, available: Iterable[str]) -> None:
    """Raises a clear ValueError when `obj` reads a name not logged.

    Args:
        obj: A log name, a `keras_tuner.Objective` (incl. the ones of this
            module) or a list of them.
        available: The names the model logs (see
            `MultiTaskHyperModel.log_names`).
    """
    available = list(available)
    missing = [n for n in objective_metric_names(obj) if n not in available]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, available, n=3)
        if close:
            hints.append(f"{name!r}: did you mean {close}?")
    no_validation = any(n.startswith("val_") for n in missing) and not any(
        n.startswith("val_") for n in available)
    raise ValueError(
        f"The objective reads metric(s) {missing} that the model does not "
        f"log; every trial would fail with a KeyError. "
        + (" ".join(hints) + " " if hints else "")
        + ("The model logs no validation metrics: pass validation_data "
           "to search(). " if no_validation else "")
        + f"Logged names: {sorted(available)}."
    )


def __getattr__(name: str) -> Any:
    # `train_baselines` and `make_tuner` moved to their own modules; they
    # stay importable from here (PEP 562, no import cycle).
    if name == "train_baselines":
        from keras_mtl.tuning.baselines import train_baselines

        return train_baselines
    if name == "make_tuner":
        from keras_mtl.tuning.tuners import make_tuner

        return make_tuner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DeltaMObjective",
    "NormalizedSumObjective",
    "infer_direction",
    "objective",
    "objective_metric_names",
    "task_objective",
    "validate_objective",
]
