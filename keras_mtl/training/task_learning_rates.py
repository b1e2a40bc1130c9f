"""Per-task learning-rate multipliers for task-specific variables.

`compile(task_learning_rates={"age": 3.0, "income": 0.5})` lets a task whose
gradients are small or noisy learn faster or slower without a second
optimizer. The multiplier scales the *update* of the task's own variables
(its head and task columns, `model.task_variables[task]`), not their
gradient:

```
before = v                        (read just before apply_gradients)
optimizer.apply_gradients(...)    (v <- before + delta)
v <- before + m_task * delta      (the post-apply step)
```

Scaling the gradient would be a no-op for Adam-type optimizers, which
divide by the gradient's running scale; scaling the update is exactly what
a per-variable learning rate does for SGD, momentum and Adam alike (the
optimizer's moments are left untouched, so they stay those of the true
gradients). A multiplier of 0 freezes the task's own variables; shared
variables always get the plain update. Under `tf.distribute` the rescaled
values are written through the strategy in cross-replica context, as the
optimizer writes its own updates. It adds one copy of the task variables
per step (heads are small).
"""

from typing import Any
from typing import Mapping

import keras
import tensorflow as tf

from keras_mtl.training.replicas import assign_all
from keras_mtl.types import Tensor


def _check(multipliers: Any, task_names: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(multipliers, Mapping):
        raise TypeError(
            "`task_learning_rates` must be a dict {task_name: multiplier}. "
            f"Received: {multipliers!r}."
        )
    unknown = sorted(set(multipliers) - set(task_names))
    if unknown:
        raise ValueError(
            f"`task_learning_rates` names unknown task(s) {unknown}. The "
            f"model's tasks are {list(task_names)}. Fix the keys."
        )
    checked = {}
    for task, value in multipliers.items():
        if isinstance(value, bool) or not isinstance(
                value, (int, float)) or not value >= 0:
            raise ValueError(
                f"The learning-rate multiplier of task {task!r} must be a "
                f"float >= 0. Received: task_learning_rates[{task!r}]="
                f"{value!r}."
            )
        checked[task] = float(value)
    return checked


class TaskUpdateScaler:
    """Rescales the optimizer's update of each task's own variables.

    Args:
        model: A `MultiTaskModel`.
        multipliers: dict `{task: float >= 0}`; tasks left out keep 1.
    """

    def __init__(self, model: Any, multipliers: Mapping[str, float]) -> None:
        self.multipliers = _check(multipliers, tuple(model.task_names))
        owned = model.task_variables
        self.variables: list[keras.Variable] = []
        self.factors: list[float] = []
        for task, factor in self.multipliers.items():
            if factor == 1.0:
                continue
            if not owned[task]:
                raise ValueError(
                    f"task_learning_rates[{task!r}]={factor} would change "
                    f"nothing: no variable is reached by task {task!r}'s "
                    "loss alone (its tower is shared with a task that "
                    "consumes its output, or it has no loss). Remove it, or "
                    "scale the consuming task instead.")
            for variable in owned[task]:
                self.variables.append(variable)
                self.factors.append(factor)

    def snapshot(self) -> list[Tensor]:
        """Reads the variables' values before `apply_gradients`."""
        return [tf.identity(tf.convert_to_tensor(v)) for v in self.variables]

    def rescale(self, before: list[Tensor]) -> None:
        """Sets each variable to `before + factor * (after - before)`."""
        if not self.variables:
            return
        values = [
            b + tf.cast(f, b.dtype) * (tf.convert_to_tensor(v) - b)
            for v, f, b in zip(self.variables, self.factors, before)]
        assign_all(self.variables, values)
