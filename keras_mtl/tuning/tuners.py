"""`make_tuner`: a Keras Tuner tuner whose objective is checked first."""

from typing import Any

import keras_tuner

from keras_mtl.tuning.objectives import objective as _named_objective
from keras_mtl.tuning.objectives import validate_objective


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


__all__ = ["make_tuner"]
