"""After the search: the Pareto front of trials, a table, a plot, and the
best model rebuilt and retrained.

A scalar objective picks one trial; with several tasks the honest summary
is the set of trials that no other trial beats on every task at once (the
non-dominated set). `pareto_front` computes it exactly on any list of
results; `trial_results` reads them from a tuner; `pareto_table` and
`plot_pareto` show them; `retrain_best` rebuilds the model of the best
trial (or of any trial on the front) and trains it again, ready for
`keras_mtl.export` or `model.save`.
"""

import math
import os
from typing import Any
from typing import Mapping
from typing import Sequence

import keras_tuner

from keras_mtl.tuning.directions import check_direction

_HIDDEN_PREFIX = "tuner/"


def _signed_rows(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str]) -> list[list[float]]:
    if not directions:
        raise ValueError(
            "Argument `directions` is empty. Give each metric's direction, "
            "e.g. {'val_task_1_loss': 'min', 'val_task_2_auc': 'max'}."
        )
    signs = {m: 1.0 if check_direction(d, m) == "min" else -1.0
             for m, d in directions.items()}
    rows = []
    for i, result in enumerate(results):
        row = []
        for metric, sign in signs.items():
            if metric not in result:
                raise ValueError(
                    f"Result {i} has no value for metric {metric!r} (it "
                    f"has {sorted(result)}). Drop incomplete results or "
                    "fix the metric name."
                )
            value = float(result[metric])
            if math.isnan(value):
                raise ValueError(
                    f"Result {i} has NaN for metric {metric!r}; a NaN "
                    "cannot be ranked. Drop that result."
                )
            row.append(sign * value)
        rows.append(row)
    return rows


def pareto_front(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str]) -> list[int]:
    """Indices of the non-dominated results, in input order.

    Result `a` dominates `b` when `a` is at least as good as `b` on every
    metric of `directions` and strictly better on one. Equal results do
    not dominate each other, so duplicates on the front are all kept.

    Args:
        results: A sequence of mappings from metric name to value (other
            keys are ignored), e.g. the rows of `trial_results`.
        directions: `{metric: "min" | "max"}`, the metrics that span the
            front.

    Returns:
        The sorted list of indices of the results on the Pareto front.

    Example:

    ```python
    keras_mtl.tuning.pareto_front(
        [{"a": 1, "b": 3}, {"a": 2, "b": 2}, {"a": 2, "b": 4}],
        directions={"a": "min", "b": "min"})
    # [0, 1]
    ```
    """
    rows = _signed_rows(results, directions)
    front = []
    for i, row in enumerate(rows):
        dominated = False
        for j, other in enumerate(rows):
            if j == i:
                continue
            if all(o <= r for o, r in zip(other, row, strict=True)) and any(
                    o < r for o, r in zip(other, row, strict=True)):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def _metric_value(trial: Any, name: str) -> float | None:
    if not trial.metrics.exists(name):
        return None
    history = trial.metrics.get_history(name)
    if not history:
        return None
    chosen = [obs for obs in history if obs.step == trial.best_step]
    observation = chosen[-1] if chosen else history[-1]
    values = list(observation.value)
    return float(sum(values) / len(values))


def trial_results(tuner: Any, metrics: Sequence[str] | None = None,
                  ) -> list[dict[str, Any]]:
    """One row per completed trial: its metrics and hyperparameters.

    Each metric is read at the trial's best step (the epoch Keras Tuner
    scored), averaged over executions. Trials that lack a requested
    metric (failed ones) are left out.

    Args:
        tuner: A Keras Tuner tuner (or its oracle).
        metrics: Log names to read (default: every metric recorded).

    Returns:
        A list of dicts with keys `trial_id`, `score`, `hyperparameters`
        (the active values) and one key per metric, in trial order.
    """
    oracle = getattr(tuner, "oracle", tuner)
    trials = getattr(oracle, "_oracle", oracle).trials
    rows = []
    for trial_id in sorted(trials):
        trial = trials[trial_id]
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            continue
        names = list(metrics) if metrics is not None else sorted(
            trial.metrics.metrics)
        values = {n: _metric_value(trial, n) for n in names}
        if any(v is None for v in values.values()):
            continue
        hyperparameters = {
            k: v for k, v in trial.hyperparameters.values.items()
            if not k.startswith(_HIDDEN_PREFIX)}
        rows.append({"trial_id": trial.trial_id, "score": trial.score,
                     "hyperparameters": hyperparameters, **values})
    return rows


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pareto_table(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str],
                 front: Sequence[int] | None = None,
                 hyperparameters: Sequence[str] | None = None) -> str:
    """A plain-text table of the Pareto front, best first metric first.

    Args:
        results: The rows (e.g. from `trial_results`).
        directions: `{metric: "min" | "max"}`.
        front: Indices to show (default: `pareto_front(results,
            directions)`).
        hyperparameters: Hyperparameter names to show (default: every
            active one of the rows shown).

    Returns:
        The table as a string (one header line, one line per result).
    """
    if front is None:
        front = pareto_front(results, directions)
    metrics = list(directions)
    sign = 1.0 if directions[metrics[0]] == "min" else -1.0
    order = sorted(front, key=lambda i: sign * float(
        results[i][metrics[0]]))
    if hyperparameters is None:
        names: list[str] = []
        for i in order:
            for name in results[i].get("hyperparameters", {}):
                if name not in names:
                    names.append(name)
        hyperparameters = names
    header = ["#", "trial"] + [
        f"{m} ({directions[m]})" for m in metrics] + list(hyperparameters)
    lines = []
    for i in order:
        row = results[i]
        hps = row.get("hyperparameters", {})
        lines.append([str(i), str(row.get("trial_id", "-"))] + [
            _format(float(row[m])) for m in metrics] + [
            _format(hps[h]) if h in hps else "-" for h in hyperparameters])
    widths = [max(len(header[c]), *(len(line[c]) for line in lines))
              if lines else len(header[c]) for c in range(len(header))]
    text = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    text += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
             for line in lines]
    return "\n".join(text)


def plot_pareto(results: Sequence[Mapping[str, Any]],
                directions: Mapping[str, str],
                path: str | os.PathLike,
                title: str | None = None) -> str:
    """Plots every result and its Pareto front to a PNG file.

    One panel per pair of metrics (one panel for two metrics); all
    results in grey, the front (computed over all metrics) in red, joined
    in the first panel's order. Uses Matplotlib's Agg canvas directly, so
    it changes no global backend.

    Args:
        results: The rows (e.g. from `trial_results`).
        directions: `{metric: "min" | "max"}` (at least two metrics).
        path: The PNG file to write.
        title: Optional figure title.

    Returns:
        The path written, as a string.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = list(directions)
    if len(metrics) < 2:
        raise ValueError(
            "plot_pareto needs at least two metrics in `directions`. "
            f"Received: {metrics}."
        )
    front = pareto_front(results, directions)
    pairs = [(a, b) for i, a in enumerate(metrics) for b in metrics[i + 1:]]
    figure = Figure(figsize=(4.5 * len(pairs), 4.0))
    FigureCanvasAgg(figure)
    for k, (a, b) in enumerate(pairs):
        axes = figure.add_subplot(1, len(pairs), k + 1)
        xs = [float(r[a]) for r in results]
        ys = [float(r[b]) for r in results]
        axes.scatter(xs, ys, color="0.6", s=18, label="trials")
        points = sorted((xs[i], ys[i]) for i in front)
        axes.scatter([p[0] for p in points], [p[1] for p in points],
                     color="tab:red", s=30, label="Pareto front")
        if len(pairs) == 1:
            axes.plot([p[0] for p in points], [p[1] for p in points],
                      color="tab:red", linewidth=1)
        axes.set_xlabel(f"{a} ({directions[a]})")
        axes.set_ylabel(f"{b} ({directions[b]})")
        axes.grid(alpha=0.3)
        if k == 0:
            axes.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path


def retrain_best(tuner: Any, *fit_args: Any,
                 hyperparameters: Any = None, **fit_kwargs: Any) -> Any:
    """Rebuilds the best trial's model (or a chosen one) and trains it.

    Args:
        tuner: The tuner that ran the search.
        *fit_args: Arguments of `model.fit` (e.g. `x, y`).
        hyperparameters: None (the best trial by the tuner's objective), a
            `keras_tuner.HyperParameters`, or a dict of values such as the
            `hyperparameters` of a `trial_results` row on the front.
        **fit_kwargs: Keyword arguments of `model.fit` (`epochs`, ...).

    Returns:
        The trained `MultiTaskModel` (its `history` attribute holds the
        training history), ready for `keras_mtl.export` or `model.save`.
    """
    if hyperparameters is None:
        best = tuner.get_best_hyperparameters(1)
        if not best:
            raise ValueError(
                "The tuner has no completed trial to retrain. Run "
                "`search()` first (and check that trials did not fail)."
            )
        hp = best[0]
    elif isinstance(hyperparameters, keras_tuner.HyperParameters):
        hp = hyperparameters
    elif hasattr(tuner.hypermodel, "hyperparameters"):
        hp = tuner.hypermodel.hyperparameters(hyperparameters)
    else:
        hp = tuner.oracle.get_space()
        hp.values.update(dict(hyperparameters))
    model = tuner.hypermodel.build(hp)
    tuner.hypermodel.fit(hp, model, *fit_args, **fit_kwargs)
    return model


__all__ = [
    "pareto_front",
    "pareto_table",
    "plot_pareto",
    "retrain_best",
    "trial_results",
]
