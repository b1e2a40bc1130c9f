"""Tasks: what each task is, its head, its labels and its metrics.

- `task`: `Task` (name, kind, head, loss, metrics, missing-label rule)
  and the validation of task lists.
- `heads`: the default head a task's kind builds.
- `head_checks`: a wrapped Functional graph's heads checked against
  their tasks (width, activation).
- `logits`: losses and metrics on logits (`Task(from_logits=True)`).
- `label_rules`: label shapes and missing-label rules.
- `task_graph`: heads that consume other tasks' outputs (`inputs_from`,
  ESMM).
- `class_weights`: per-task `class_weight` as sample weights.
- `task_metric_objects`: the metric objects each task logs.
"""

from keras_mtl.tasks.task import KINDS
from keras_mtl.tasks.task import TASK_NAME_PATTERN
from keras_mtl.tasks.task import Task
from keras_mtl.tasks.task import validate_task_name
from keras_mtl.tasks.task import validate_tasks

__all__ = [
    "KINDS",
    "TASK_NAME_PATTERN",
    "Task",
    "validate_task_name",
    "validate_tasks",
]
