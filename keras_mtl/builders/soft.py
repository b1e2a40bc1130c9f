"""Soft parameter sharing: per-task columns tied by an L2 penalty.

```
inputs -> [shared bottom: trunk[:sharing_depth]]        (default: none)
       -> per task t: column_t = trunk[sharing_depth:] (own weights)
       -> head_t
penalty = strength * sum_{i<j} R_ij sum_k ||W_i^(k) - W_j^(k)||^2
```

The columns live in one `keras_mtl.layers.SoftSharing` layer (named
`"soft_sharing"`), which adds the penalty to the training objective and
logs it as `soft_sharing_penalty`. The columns count as shared variables:
the penalty couples them.

References:
- Duong, Cohn, Bird, Cook (2015). Low Resource Dependency Parsing:
  Cross-lingual Parameter Sharing in a Neural Network Parser. ACL.
- Ruder (2017). An Overview of Multi-Task Learning in Deep Neural Networks.
  arXiv:1706.05098.
"""

from typing import Any
from typing import Sequence

import keras

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.columns import column_bottom
from keras_mtl.layers.soft_sharing import SoftSharing
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import refuse_inputs_from
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def build_soft(
    inputs: Inputs,
    tasks: Sequence[Task],
    trunk: TrunkSpec = None,
    sharing_depth: int | None = 0,
    strength: float = 1e-2,
    relation: Any = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "soft_sharing",
) -> MultiTaskModel:
    """Builds a soft-sharing `MultiTaskModel`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        trunk: Dense widths (default `(128, 64)`), a list of layers (one
            block each) or a single layer; copied into one column per task.
        sharing_depth: How many leading blocks are hard-shared below the
            columns (default 0; None also means 0: the columns start at the inputs).
        strength: float >= 0. Penalty strength lambda.
        relation: Optional T x T symmetric non-negative matrix in task
            order; entry (i, j) says how strongly tasks i and j are tied
            (0: untied). Default: every pair tied with weight 1.
            `"learn"` learns the task covariance with the weights (Zhang &
            Yeung 2010; see `keras_mtl.layers.SoftSharing`): then every
            column, and every head of the same shape, starts from the
            first task's initial weights, and
            `keras_mtl.relations.relation_matrix(model)` reads it.
        activation: Activation of Dense blocks.
        dropout: Dropout after each Dense block.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose History logs `soft_sharing_penalty`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks, architecture="soft",
                            trunk=(64, 32), strength=1e-2,
                            relation=[[0, 1], [1, 0]])
    ```

    References:
    - Duong, Cohn, Bird, Cook (2015). Low Resource Dependency Parsing:
      Cross-lingual Parameter Sharing in a Neural Network Parser. ACL.
    """
    tasks = validate_tasks(tasks)
    refuse_inputs_from(tasks, "soft")
    x, blocks = column_bottom("soft sharing", inputs, trunk, sharing_depth,
                              activation, dropout)
    columns = []
    for task in tasks:
        column_input = keras.Input(
            tuple(x.shape[1:]), dtype=x.dtype,
            name=f"{task.name}_column_input")
        h = column_input
        for block in blocks:
            h = block(h, prefix=task.name)
        h = flatten_if_needed(h, task.name, "head")
        columns.append(keras.Model(column_input, h,
                                   name=f"{task.name}_column"))
    layer = SoftSharing(columns, strength=strength, relation=relation,
                        name="soft_sharing")
    features = layer(x)
    outputs = {t.name: t.build_head(f) for t, f in zip(tasks, features)}
    model = MultiTaskModel(inputs, outputs, name=name, tasks=tasks)
    if layer.learns_relation:
        _same_start_heads(model)
    return model


def _same_start_heads(model: MultiTaskModel) -> None:
    """Heads of the same shapes start from the first task's weights, so
    that the learned relation compares like with like."""
    heads = [[w for layer in model.task_layers[name]
              for w in layer.trainable_weights] for name in model.task_names]
    shapes = [tuple(w.shape) for w in heads[0]]
    for weights in heads[1:]:
        if [tuple(w.shape) for w in weights] == shapes:
            for w, w0 in zip(weights, heads[0]):
                w.assign(w0)
