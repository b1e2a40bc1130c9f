"""Reporting: summaries and plots of multi-task results (host side).

- `delta_m` (module `delta_m`): Δm% against single-task baselines;
- `metric_direction`, `check_direction` (`directions`): whether a log name
  is minimised or maximised;
- `plot_task_trajectories` (`trajectories`): task weights and losses over
  epochs;
- `save_conflict_plots`, `plot_cosine_matrix`, `plot_weights_over_epochs`
  (`conflict_plots`): gradient conflict;
- `pareto_front`, `pareto_table` (`pareto`) and `plot_pareto`
  (`pareto_plot`): the non-dominated results over several metrics.

Nothing here runs inside a training step. Matplotlib is imported on the
first plot, not with the package.
"""

from keras_mtl.reporting.conflict_plots import plot_cosine_matrix
from keras_mtl.reporting.conflict_plots import plot_weights_over_epochs
from keras_mtl.reporting.conflict_plots import save_conflict_plots
from keras_mtl.reporting.delta_m import SIGN_CONVENTIONS
from keras_mtl.reporting.delta_m import delta_m
from keras_mtl.reporting.directions import HIGHER_IS_BETTER
from keras_mtl.reporting.directions import LOWER_IS_BETTER
from keras_mtl.reporting.directions import check_direction
from keras_mtl.reporting.directions import metric_direction
from keras_mtl.reporting.pareto import pareto_front
from keras_mtl.reporting.pareto import pareto_table
from keras_mtl.reporting.pareto_plot import plot_pareto
from keras_mtl.reporting.trajectories import plot_task_trajectories

__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "SIGN_CONVENTIONS",
    "check_direction",
    "delta_m",
    "metric_direction",
    "pareto_front",
    "pareto_table",
    "plot_cosine_matrix",
    "plot_pareto",
    "plot_task_trajectories",
    "plot_weights_over_epochs",
    "save_conflict_plots",
]
