"""Cross-stitch networks: task columns mixed by learned units.

```
inputs -> [shared bottom: trunk[:sharing_depth]]        (default: none)
       -> per task t: block_i copy -> cross-stitch unit i (all tasks) -> ...
       -> head_t
```

A cross-stitch unit follows every column block; it starts near the
identity (`self_weight=0.9`). Columns mixed by a unit feed every task, so
the graph counts them, and the units, as shared.

Reference: Misra, Shrivastava, Gupta, Hebert (2016). Cross-stitch Networks
for Multi-task Learning. CVPR. arXiv:1604.03539.
"""

from typing import Sequence

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.columns import column_bottom
from keras_mtl.layers.cross_stitch import CrossStitch
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import refuse_inputs_from
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def build_cross_stitch(
    inputs: Inputs,
    tasks: Sequence[Task],
    trunk: TrunkSpec = None,
    sharing_depth: int | None = 0,
    self_weight: float = 0.9,
    per_channel: bool = False,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "cross_stitch",
) -> MultiTaskModel:
    """Builds a cross-stitch `MultiTaskModel`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        trunk: Dense widths (default `(128, 64)`), a list of layers (one
            block each) or a single layer; copied into one column per task.
        sharing_depth: How many leading blocks are hard-shared below the
            columns (default 0; None also means 0).
        self_weight: Initial weight of a task's own column in each unit
            (1.0: independent columns at initialisation).
        per_channel: One mixing matrix per channel instead of per unit.
        activation: Activation of Dense blocks.
        dropout: Dropout after each Dense block.
        name: Model name.

    Returns:
        A `MultiTaskModel` with units `"cross_stitch_<block>"`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks,
                            architecture="cross_stitch", trunk=(64, 32))
    ```

    References:
    - Misra, Shrivastava, Gupta, Hebert (2016). Cross-stitch Networks for
      Multi-task Learning. CVPR. arXiv:1604.03539.
    """
    tasks = validate_tasks(tasks)
    refuse_inputs_from(tasks, "cross_stitch")
    x, blocks = column_bottom("cross-stitch", inputs, trunk, sharing_depth,
                              activation, dropout)
    columns = [x] * len(tasks)
    for block in blocks:
        columns = [block(h, prefix=t.name) for h, t in zip(columns, tasks)]
        if len(tasks) > 1:
            columns = CrossStitch(
                self_weight=self_weight, per_channel=per_channel,
                name=f"cross_stitch_{block.index}")(columns)
    outputs = {
        t.name: t.build_head(flatten_if_needed(h, t.name, "head"))
        for t, h in zip(tasks, columns)}
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks)
