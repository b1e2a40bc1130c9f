"""Tuning objectives for multi-task models.

Keras Tuner infers a direction only for bare Keras metric names and its
multi-objective is the unnormalised signed sum of the metrics, in which a
loss in the hundreds swamps an AUC. This module gives:

- `objective(name, direction=None)` and `task_objective(task, metric)`:
  one logged metric with an explicit or inferred direction, understanding
  per-head names such as `val_income_auc` (max) or `val_age_loss` (min);
- `DeltaMObjective`: Δm% against single-task baselines
  (`keras_mtl.metrics.delta_m`), lower is better by default;
- `NormalizedSumObjective`: a signed sum of metrics, each divided by an
  explicit scale;
- `train_baselines`: trains the single-task baselines once (independent
  per-task networks inside one model, or separate models), optionally
  cached in a JSON file;
- `validate_objective`: checks the names an objective reads against the
  model's logs before the search, since a wrong name otherwise fails each
  trial with a KeyError while `search()` carries on.

All objectives are `keras_tuner.Objective` instances and work with
RandomSearch, BayesianOptimization and Hyperband.
"""

import difflib
import json
import os
from typing import Any
from typing import Iterable
from typing import Mapping
from typing import Sequence

import keras
import keras_tuner

from keras_mtl import builders as builders_module
from keras_mtl.metrics import delta_m
from keras_mtl.metrics import metric_direction
from keras_mtl.registry import register

DIRECTIONS = ("min", "max")


def infer_direction(name: str) -> str:
    """`"min"` or `"max"` for a log name, or a clear error.

    Args:
        name: A log name (`"val_income_auc"`, `"val_age_loss"`, `"loss"`).

    Returns:
        `"min"` or `"max"`.
    """
    direction = metric_direction(name)
    if direction is None:
        raise ValueError(
            f"Cannot infer whether metric {name!r} should be minimised or "
            f"maximised. Pass the direction explicitly, e.g. "
            f"keras_mtl.tuning.objective({name!r}, direction='max')."
        )
    return direction


def _check_direction(direction: str, name: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(
            f"The direction of metric {name!r} must be 'min' or 'max'. "
            f"Received: direction={direction!r}."
        )
    return direction


def objective(name: str, direction: str | None = None
              ) -> keras_tuner.Objective:
    """A `keras_tuner.Objective` on one logged metric.

    Args:
        name: The log name, e.g. `"val_income_auc"`.
        direction: `"min"` or `"max"`; inferred from the name when None
            (see `keras_mtl.metrics.metric_direction`).

    Returns:
        A `keras_tuner.Objective`.
    """
    if direction is None:
        direction = infer_direction(name)
    return keras_tuner.Objective(name, _check_direction(direction, name))


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


@register
class DeltaMObjective(keras_tuner.Objective):
    """Δm% of a trial's metrics against single-task baselines.

    ```
    Δm% = (100 / K) Σ_k (-1)^{h_k} (M_k - B_k) / |B_k|
    ```

    With `sign="lower_is_better"` (the default, the convention of the
    Nash-MTL and CAGrad papers) negative values beat the baselines and the
    direction is `"min"`; with `sign="libmtl"` the sign is flipped and the
    direction is `"max"`. Being relative to each baseline, Δm% is
    scale-free: an AUC and a loss in the hundreds count alike.

    Args:
        baselines: Mapping from log name (`"val_income_auc"`) to the
            single-task baseline's value, e.g. from `train_baselines`.
        higher_is_better: Optional mapping from log name to bool; names
            left out are inferred from the name.
        sign: `"lower_is_better"` or `"libmtl"`.
        name: The objective's name in the trial metrics (default
            `"delta_m"`).

    Example:

    ```python
    baselines = keras_mtl.tuning.train_baselines(
        hypermodel, x, y, validation_data=(x_val, y_val), epochs=5,
        metrics=["val_task_1_mae", "val_task_2_mae"])
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=keras_mtl.tuning.DeltaMObjective(baselines),
        max_trials=20)
    ```

    References:
    - Maninis, Radosavovic, Kokkinos (2019). Attentive Single-Tasking of
      Multiple Tasks. CVPR. arXiv:1904.08918.
    - Navon et al. (2022). Multi-Task Learning as a Bargaining Game. ICML.
      arXiv:2202.01017.
    """

    def __init__(self, baselines: Mapping[str, float],
                 higher_is_better: Mapping[str, bool] | None = None,
                 sign: str = "lower_is_better", name: str = "delta_m"
                 ) -> None:
        baselines = {k: float(v) for k, v in dict(baselines).items()}
        # Checks names, directions and baselines once, up front.
        delta_m(baselines, baselines, higher_is_better, sign)
        super().__init__(
            name=name, direction="min" if sign == "lower_is_better"
            else "max")
        self.baselines = baselines
        self.higher_is_better = dict(higher_is_better or {})
        self.sign = sign

    @property
    def metric_names(self) -> list[str]:
        """The log names this objective reads."""
        return list(self.baselines)

    def get_config(self) -> dict[str, Any]:
        return {"baselines": dict(self.baselines),
                "higher_is_better": dict(self.higher_is_better),
                "sign": self.sign, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DeltaMObjective":
        return cls(**config)

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        return all(n in logs for n in self.baselines)

    def get_value(self, logs: Mapping[str, Any]) -> float:
        if self.name in logs and not self.has_value(logs):
            return float(logs[self.name])
        return delta_m(logs, self.baselines, self.higher_is_better,
                       self.sign)

    def __str__(self) -> str:
        return (f'DeltaMObjective(name="{self.name}", direction='
                f'"{self.direction}", sign="{self.sign}", '
                f"metrics={self.metric_names})")


@register
class NormalizedSumObjective(keras_tuner.Objective):
    """A signed sum of metrics, each divided by its own scale.

    ```
    value = Σ_k w_k s_k M_k / |c_k|,   s_k = +1 (min) or -1 (max)
    ```

    minimised. Dividing by a scale `c_k` of each metric (its typical value:
    a reference model's value, a baseline, a range) makes the terms
    comparable, which Keras Tuner's own multi-objective (the raw signed
    sum) does not. With `c_k` the single-task baselines and equal weights
    it ranks trials exactly as Δm% does (it differs by an affine map).

    Args:
        scales: Mapping from log name to a non-zero scale.
        directions: Optional mapping from log name to `"min"`/`"max"`;
            inferred from the names when left out.
        weights: Optional mapping from log name to a non-negative weight
            (default 1 each).
        name: The objective's name (default `"normalized_sum"`).
    """

    def __init__(self, scales: Mapping[str, float],
                 directions: Mapping[str, str] | None = None,
                 weights: Mapping[str, float] | None = None,
                 name: str = "normalized_sum") -> None:
        super().__init__(name=name, direction="min")
        if not scales:
            raise ValueError(
                "Argument `scales` is empty. Give each metric's scale, "
                "e.g. {'val_income_auc': 0.9, 'val_age_loss': 120.0}."
            )
        directions = dict(directions or {})
        weights = dict(weights or {})
        for extra, what in ((directions, "directions"),
                            (weights, "weights")):
            unknown = sorted(set(extra) - set(scales))
            if unknown:
                raise ValueError(
                    f"`{what}` names metric(s) {unknown} without a scale. "
                    f"Metrics with scales: {sorted(scales)}."
                )
        self.scales, self.directions, self.weights = {}, {}, {}
        for metric, scale in scales.items():
            scale = float(scale)
            if scale == 0.0:
                raise ValueError(
                    f"The scale of metric {metric!r} is 0. Give a non-zero "
                    "typical magnitude."
                )
            weight = float(weights.get(metric, 1.0))
            if weight < 0:
                raise ValueError(
                    f"The weight of metric {metric!r} must be >= 0. "
                    f"Received: {weight}."
                )
            direction = directions.get(metric) or infer_direction(metric)
            self.scales[metric] = scale
            self.directions[metric] = _check_direction(direction, metric)
            self.weights[metric] = weight

    @property
    def metric_names(self) -> list[str]:
        """The log names this objective reads."""
        return list(self.scales)

    def get_config(self) -> dict[str, Any]:
        return {"scales": dict(self.scales),
                "directions": dict(self.directions),
                "weights": dict(self.weights), "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]
                    ) -> "NormalizedSumObjective":
        return cls(**config)

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        return all(n in logs for n in self.scales)

    def get_value(self, logs: Mapping[str, Any]) -> float:
        if self.name in logs and not self.has_value(logs):
            return float(logs[self.name])
        total = 0.0
        for metric, scale in self.scales.items():
            sign = 1.0 if self.directions[metric] == "min" else -1.0
            total += self.weights[metric] * sign * float(logs[metric]) \
                / abs(scale)
        return total

    def __str__(self) -> str:
        return (f'NormalizedSumObjective(name="{self.name}", '
                f"scales={self.scales})")


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


def _best(history: Mapping[str, list], name: str) -> float:
    values = [float(v) for v in history[name]]
    direction = metric_direction(name)
    if direction == "max":
        return max(values)
    if direction == "min":
        return min(values)
    return values[-1]


def _select_task(data: Any, task: str) -> Any:
    """Keeps one task's labels in (x, y[, sample_weight]) or a dataset."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        def pick(*element: Any) -> Any:
            x, y = element[0], element[1]
            rest = tuple(
                {task: e[task]} if isinstance(e, Mapping) else e
                for e in element[2:])
            return (x, {task: y[task]}) + rest
        return data.map(pick)
    data = tuple(data)
    return (data[0], {task: data[1][task]}) + tuple(
        {task: e[task]} if isinstance(e, Mapping) else e for e in data[2:])


def train_baselines(
    hypermodel: Any,
    x: Any,
    y: Any = None,
    *,
    validation_data: Any,
    metrics: Sequence[str] | None = None,
    mode: str = "independent",
    epochs: int = 1,
    batch_size: int | None = None,
    learning_rate: float = 1e-3,
    path: str | os.PathLike | None = None,
    seed: int | None = None,
    verbose: int = 0,
) -> dict[str, float]:
    """Trains the single-task baselines once and returns their metrics.

    The baseline of each task uses the hypermodel's trunk:

    - `mode="independent"`: one hard-sharing model with `sharing_depth=0`,
      i.e. an independent network per task inside one model. No parameter
      is shared and every parameter has its own Adam statistics, so each
      task's network trains as it would alone; one `fit` serves all.
    - `mode="separate"`: one single-task model per task.

    Each metric's value is its best over the epochs (by its direction;
    the last value for a metric of unknown direction), so the baselines
    are as strong as training allows.

    Args:
        hypermodel: A `MultiTaskHyperModel` (its inputs, tasks, trunk).
        x, y: Training data as for `model.fit` (y a dict by task name).
        validation_data: `(x_val, y_val)` or a dataset; the baselines are
            validation metrics.
        metrics: Log names to return (default: every `val_<task>_<metric>`
            and `val_<task>_loss`).
        mode: `"independent"` or `"separate"`.
        epochs, batch_size, verbose: As in `model.fit`.
        learning_rate: Adam learning rate.
        path: Optional JSON file. When it exists and holds the requested
            metrics for this mode, they are read from it and nothing is
            trained; otherwise the results are written there.
        seed: Optional int seeding the initial weights.

    The baselines are compiled with the hypermodel's `compile_options`
    (so they log the same metrics as the trials) and Adam.

    Returns:
        `{log_name: baseline_value}`, e.g. `{"val_task_1_mae": 0.61}`.
    """
    if mode not in ("independent", "separate"):
        raise ValueError(
            "Argument `mode` must be 'independent' or 'separate'. "
            f"Received: mode={mode!r}."
        )
    if validation_data is None:
        raise ValueError(
            "train_baselines needs `validation_data`: the baselines are "
            "validation metrics, compared with the trials' val_ metrics."
        )
    if path is not None and os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        values = stored.get("baselines", {})
        wanted = list(metrics) if metrics is not None else list(values)
        if stored.get("mode") == mode and wanted and all(
                n in values for n in wanted):
            return {n: float(values[n]) for n in wanted}
    if seed is not None:
        keras.utils.set_random_seed(seed)
    trunk = hypermodel._trunk_copy(None)
    # The trials' compile options (metrics, run_eagerly, ...), so that the
    # baselines log the same names.
    options = dict(getattr(hypermodel, "compile_options", {}))
    history: dict[str, list] = {}
    if mode == "independent":
        model = builders_module.build(
            hypermodel._fresh_inputs(), hypermodel._fresh_tasks(), "hard",
            trunk=trunk, sharing_depth=0, name="independent_baselines")
        model.compile(keras.optimizers.Adam(learning_rate), **options)
        history.update(model.fit(
            x, y, validation_data=validation_data, epochs=epochs,
            batch_size=batch_size, verbose=verbose).history)
    else:
        import tensorflow as tf

        for task in hypermodel._fresh_tasks():
            model = builders_module.build(
                hypermodel._fresh_inputs(), [task], "hard",
                trunk=hypermodel._trunk_copy(None),
                name=f"{task.name}_baseline")
            model.compile(keras.optimizers.Adam(learning_rate), **options)
            if isinstance(x, tf.data.Dataset):
                train = (_select_task(x, task.name),)
            else:
                train = _select_task((x, y), task.name)
            fit_history = model.fit(
                *train, validation_data=_select_task(
                    validation_data, task.name),
                epochs=epochs, batch_size=batch_size, verbose=verbose)
            history.update({k: v for k, v in fit_history.history.items()
                            if k.startswith(f"val_{task.name}_")})
    if metrics is None:
        metrics = [k for k in history if k.startswith("val_")
                   and k != "val_loss" and not k.endswith("_weight")]
    missing = [n for n in metrics if n not in history]
    if missing:
        raise ValueError(
            f"The baselines do not log metric(s) {missing}. Logged: "
            f"{sorted(history)}."
        )
    result = {n: _best(history, n) for n in metrics}
    if path is not None:
        with open(path, "w") as f:
            json.dump({"mode": mode, "baselines": result}, f, indent=2)
    return result


def make_tuner(
    kind: str,
    hypermodel: Any,
    objective: Any,
    *,
    validation: bool = True,
    **kwargs: Any,
) -> keras_tuner.Tuner:
    """Validates the objective, then builds a Keras Tuner tuner.

    Checks the objective's metric names against what the hypermodel's
    models log (so a misspelt name fails here, not as one KeyError per
    trial), turns plain names into objectives with an inferred direction,
    and hands the objective to the hypermodel so that every trial checks
    it again before training.

    Args:
        kind: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`.
        hypermodel: A `MultiTaskHyperModel`.
        objective: A log name, a `keras_tuner.Objective` (incl.
            `DeltaMObjective`, `NormalizedSumObjective`) or a list.
        validation: Whether `search()` will get validation data (the
            `val_` names are then available).
        **kwargs: The tuner's arguments (`max_trials`, `max_epochs`,
            `directory`, `project_name`, `overwrite`, `seed`, ...).

    Returns:
        A `keras_tuner.RandomSearch`, `BayesianOptimization`,
        `Hyperband` or `GridSearch`.
    """
    tuners = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
        "hyperband": keras_tuner.Hyperband,
        "grid": keras_tuner.GridSearch,
    }
    if kind not in tuners:
        raise ValueError(
            f"Argument `kind` must be one of {sorted(tuners)}. Received: "
            f"kind={kind!r}."
        )
    validate_objective(objective, hypermodel.log_names(validation))
    if isinstance(objective, str):
        objective = _named_objective(objective)
    elif isinstance(objective, (list, tuple)):
        objective = [_named_objective(o) if isinstance(o, str) else o
                     for o in objective]
    hypermodel.objective = objective
    return tuners[kind](hypermodel, objective=objective, **kwargs)


__all__ = [
    "DeltaMObjective",
    "NormalizedSumObjective",
    "infer_direction",
    "make_tuner",
    "objective",
    "objective_metric_names",
    "task_objective",
    "train_baselines",
    "validate_objective",
]
