"""Per-task metric objects, named `<task>_<metric>` as in Keras's logs."""

from typing import Any

import keras

from keras_mtl.tasks.task import Task


def _by_name(task: Task, key: str) -> keras.metrics.Metric | None:
    kind = task.kind
    if key in ("accuracy", "acc"):
        if kind == "multiclass":
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy") \
                if task.sparse_labels else keras.metrics.CategoricalAccuracy(
                    name="accuracy")
        if kind in ("binary", "multilabel"):  # a logit > 0 is class 1
            return keras.metrics.BinaryAccuracy(
                name="accuracy", threshold=0.0 if task.from_logits else 0.5)
        return None
    if key == "auc":
        if kind == "multilabel":
            return keras.metrics.AUC(
                name="auc", multi_label=True, num_labels=task.num_labels,
                from_logits=task.from_logits)
        return keras.metrics.AUC(name="auc", from_logits=task.from_logits)
    return {
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
        "mse": lambda: keras.metrics.MeanSquaredError(name="mse"),
        "rmse": lambda: keras.metrics.RootMeanSquaredError(name="rmse"),
    }.get(key, lambda: None)()


def _one(task: Task, spec: Any) -> keras.metrics.Metric:
    if isinstance(spec, str):
        metric = _by_name(task, spec.lower())
        if metric is not None:
            return metric
        try:
            resolved = keras.metrics.get(spec)
        except ValueError as error:
            raise ValueError(
                f"Task {task.name!r}: unknown metric {spec!r}. Use a Keras "
                "metric id (e.g. 'accuracy', 'auc', 'mae', 'rmse') or a "
                "`keras.metrics.Metric` instance."
            ) from error
        if isinstance(resolved, keras.metrics.Metric):
            return resolved
        return keras.metrics.MeanMetricWrapper(resolved, name=spec)
    if isinstance(spec, keras.metrics.Metric):
        # A fresh copy, so that one user object never carries two tasks'
        # state.
        return spec.__class__.from_config(spec.get_config())
    if callable(spec):
        return keras.metrics.MeanMetricWrapper(
            spec, name=getattr(spec, "__name__", "metric"))
    raise ValueError(
        f"Task {task.name!r}: could not interpret metric {spec!r}. Pass a "
        "string id, a `keras.metrics.Metric` instance or a function "
        "`fn(y_true, y_pred)`."
    )


def make_task_metrics(task: Task, specs: Any = None) -> list[Any]:
    """Builds fresh metric objects for `task`, each named `<task>_<name>`.

    Args:
        task: The task.
        specs: Metric specs overriding `task.metrics` (None keeps them).

    Returns:
        A list of `keras.metrics.Metric`, renamed with the task prefix.
    """
    specs = task.metrics if specs is None else specs
    if isinstance(specs, (str, keras.metrics.Metric)) or callable(specs):
        specs = [specs]
    metrics = []
    for spec in specs:
        metric = _one(task, spec)
        config = metric.get_config()
        config["name"] = f"{task.name}_{metric.name}"
        metrics.append(metric.__class__.from_config(config))
    names = [m.name for m in metrics]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Task {task.name!r}: two metrics share the log name(s) "
            f"{duplicates}. Give each metric instance a distinct `name`."
        )
    return metrics


def weighted_task_metrics(
    task: Task, specs: Any, unweighted: list[Any]
) -> list[Any]:
    """`compile(weighted_metrics=...)`'s metrics of `task`, named
    `<task>_<name>`, or `<task>_weighted_<name>` when an unweighted metric
    has that name (Keras's rule)."""
    taken = {m.name for m in unweighted}
    metrics = []
    for metric in make_task_metrics(task, specs):
        if metric.name in taken:
            config = metric.get_config()
            config["name"] = metric.name.replace(
                f"{task.name}_", f"{task.name}_weighted_", 1)
            metric = metric.__class__.from_config(config)
        taken.add(metric.name)
        metrics.append(metric)
    return metrics
