"""Keras callbacks for multi-task training (one callback per file)."""

from keras_mtl.callbacks.backup_and_restore import BackupAndRestore
from keras_mtl.callbacks.expert_utilisation import ExpertUtilisation
from keras_mtl.callbacks.gradient_conflict import GradientConflict
from keras_mtl.callbacks.task_schedule import TaskSchedule
from keras_mtl.callbacks.task_weights import TaskWeightLogger

__all__: list[str] = ["BackupAndRestore", "ExpertUtilisation",
                      "GradientConflict", "TaskSchedule",
                      "TaskWeightLogger"]
