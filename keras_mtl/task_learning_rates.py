"""Per-task learning-rate multipliers (moved).

They live in `keras_mtl.training.task_learning_rates`; this module keeps
the name at its first address.
"""

from keras_mtl.training.task_learning_rates import TaskUpdateScaler

__all__ = ["TaskUpdateScaler"]
