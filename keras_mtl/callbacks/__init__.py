"""Keras callbacks for multi-task training (one callback per file)."""

from keras_mtl.callbacks.task_schedule import TaskSchedule

__all__: list[str] = ["TaskSchedule"]
