"""Keras callbacks for multi-task training (one callback per file)."""

from keras_mtl.callbacks.backup_and_restore import BackupAndRestore
from keras_mtl.callbacks.backup_and_restore import CheckpointError
from keras_mtl.callbacks.expert_utilisation import ExpertUtilisation
from keras_mtl.callbacks.gradient_conflict import GradientConflict
from keras_mtl.callbacks.monitored import EarlyStopping
from keras_mtl.callbacks.monitored import ModelCheckpoint
from keras_mtl.callbacks.monitored import ReduceLROnPlateau
from keras_mtl.callbacks.task_schedule import TaskSchedule
from keras_mtl.callbacks.task_weights import TaskWeightLogger
from keras_mtl.monitoring import monitor_mode

__all__: list[str] = ["BackupAndRestore", "CheckpointError",
                      "EarlyStopping", "ExpertUtilisation",
                      "GradientConflict", "ModelCheckpoint",
                      "ReduceLROnPlateau", "TaskSchedule",
                      "TaskWeightLogger", "monitor_mode"]
