"""Hyperparameter search for multi-task models with Keras Tuner.

- `MultiTaskHyperModel`: one search space over sharing depth,
  architecture, widths, expert counts, loss weighting (with static task
  weights), gradient aggregator (with its hyperparameters) and learning
  rate, written against keras_mtl's registries. It is thin: the
  `SearchSpace` value object is probed (`probe`), declared (`declare`)
  and read back per trial (`choose`); the hypermodel builds and fits.
- Objectives: per-task metrics with explicit or inferred directions,
  `DeltaMObjective` (Δm% against single-task baselines) and
  `NormalizedSumObjective`; `train_baselines`; `validate_objective`;
  `make_tuner`.
- After the search: `pareto_front`, `trial_results`, `pareto_table`,
  `plot_pareto`, `retrain_best`.
- `distributed`: Keras Tuner's chief/worker mode with liveness checks and a
  launcher.
"""

from keras_mtl.tuning import distributed
from keras_mtl.tuning.space import Choices
from keras_mtl.tuning.hypermodel import MultiTaskHyperModel
from keras_mtl.tuning.baselines import train_baselines
from keras_mtl.tuning.directions import infer_direction
from keras_mtl.tuning.objectives import objective
from keras_mtl.tuning.objectives import objective_metric_names
from keras_mtl.tuning.objectives import task_objective
from keras_mtl.tuning.objectives import validate_objective
from keras_mtl.tuning.scalarized import DeltaMObjective
from keras_mtl.tuning.scalarized import NormalizedSumObjective
from keras_mtl.tuning.space import SearchSpace
from keras_mtl.tuning.tuners import make_tuner
from keras_mtl.tuning.pareto import pareto_front
from keras_mtl.tuning.pareto import pareto_table
from keras_mtl.tuning.pareto import plot_pareto
from keras_mtl.tuning.pareto import retrain_best
from keras_mtl.tuning.pareto import trial_results

__all__ = [
    "Choices",
    "DeltaMObjective",
    "MultiTaskHyperModel",
    "NormalizedSumObjective",
    "SearchSpace",
    "distributed",
    "infer_direction",
    "make_tuner",
    "objective",
    "objective_metric_names",
    "pareto_front",
    "pareto_table",
    "plot_pareto",
    "retrain_best",
    "task_objective",
    "train_baselines",
    "trial_results",
    "validate_objective",
]
