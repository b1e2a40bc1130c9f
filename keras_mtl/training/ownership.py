"""Which trainable variable belongs to which task, for one traced step.

Read off the model when the step is traced (so a layer frozen after
`compile` is seen), and handed to the gradient engine and the non-finite
policy as an argument.
"""

from typing import Any
from typing import NamedTuple

import numpy as np


class Ownership(NamedTuple):
    """The step's variables and who owns them.

    Attributes:
        variables: `model.trainable_variables` (the gradients' order).
        shared: the trainable variables of shared layers.
        by_task: per task name, the trainable variables only it uses.
        owner: per entry of `variables`, the owning task's index, or None
            (shared variables, learned loss weights, regularizers).
        matrix: `[T + 1, V]` float 0/1: row `t` marks task `t`'s own
            variables, the last row the variables no task owns.
    """

    variables: list
    shared: list
    by_task: dict
    owner: list
    matrix: np.ndarray

    @classmethod
    def of(cls, model: Any) -> "Ownership":
        variables = list(model.trainable_variables)
        by_task = model.task_variables
        index = {id(v): t for t, name in enumerate(model.task_names)
                 for v in by_task[name]}
        owner = [index.get(id(v)) for v in variables]
        num_tasks = len(model.task_names)
        matrix = np.zeros((num_tasks + 1, len(variables)), np.float32)
        for i, t in enumerate(owner):
            matrix[num_tasks if t is None else t, i] = 1.0
        return cls(variables, list(model.shared_variables), by_task, owner,
                   matrix)
