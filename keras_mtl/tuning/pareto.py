"""After the search: the Pareto front of trials, a table, a plot, and the
best model rebuilt and retrained.

A scalar objective picks one trial; with several tasks the honest summary
is the set of trials that no other trial beats on every task at once (the
non-dominated set). `pareto_front` computes it exactly on any list of
results; `trial_results` reads them from a tuner; `pareto_table` and
`plot_pareto` show them (those three live in `keras_mtl.reporting` and
are re-exported here); `retrain_best` rebuilds the model of the best
trial (or of any trial on the front) and trains it again, ready for
`keras_mtl.export` or `model.save`.
"""

from typing import Any
from typing import Sequence

import keras_tuner

from keras_mtl._compat.keras_tuner import local_oracle
from keras_mtl.reporting.pareto import pareto_front
from keras_mtl.reporting.pareto import pareto_table
from keras_mtl.reporting.pareto_plot import plot_pareto

_HIDDEN_PREFIX = "tuner/"


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
    trials = local_oracle(oracle).trials
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
