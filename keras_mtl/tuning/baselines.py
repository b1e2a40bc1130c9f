"""Single-task baselines for Δm%: `train_baselines`.

Δm% (`keras_mtl.reporting.delta_m`, Maninis, Radosavovic, Kokkinos, 2019,
"Attentive Single-Tasking of Multiple Tasks", CVPR, arXiv:1904.08918)
compares each task's metric with a single-task baseline's. This module
trains those baselines once, with the hypermodel's inputs, tasks and
trunk, and caches them in an optional JSON file.
"""

import json
import os
from typing import Any
from typing import Mapping
from typing import Sequence

import keras

from keras_mtl import builders as builders_module
from keras_mtl.reporting.directions import metric_direction
from keras_mtl.tuning.copies import fresh_inputs
from keras_mtl.tuning.copies import fresh_tasks
from keras_mtl.tuning.copies import trunk_copy


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
    space = hypermodel.space
    trunk = trunk_copy(space.trunk, None)
    # The trials' compile options (metrics, run_eagerly, ...), so that the
    # baselines log the same names.
    options = dict(getattr(hypermodel, "compile_options", {}))
    history: dict[str, list] = {}
    if mode == "independent":
        model = builders_module.build(
            fresh_inputs(space.inputs), fresh_tasks(space.tasks), "hard",
            trunk=trunk, sharing_depth=0, name="independent_baselines")
        model.compile(keras.optimizers.Adam(learning_rate), **options)
        history.update(model.fit(
            x, y, validation_data=validation_data, epochs=epochs,
            batch_size=batch_size, verbose=verbose).history)
    else:
        import tensorflow as tf

        for task in fresh_tasks(space.tasks):
            model = builders_module.build(
                fresh_inputs(space.inputs), [task], "hard",
                trunk=trunk_copy(space.trunk, None),
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


__all__ = ["train_baselines"]
