"""Hard parameter sharing with a `sharing_depth` knob.

The trunk is a sequence of blocks. The first `sharing_depth` blocks are
shared by all tasks; the remaining blocks are copied per task (same
configuration, own weights), followed by each task's head:

```
sharing_depth = 0           independent per-task networks (single-task
                            baselines inside one model)
0 < sharing_depth < depth   shared bottom, per-task upper blocks
sharing_depth = depth       classic shared-bottom (the default)
```

`sharing_depth={task: depth}` gives each task its own depth (block l is
shared by the tasks whose depth exceeds l), and `plan=` takes a
`keras_mtl.relations` plan (task groups or a tree of branches; see
`keras_mtl.builders.tree`).

Reference: Caruana (1997). Multitask Learning. Machine Learning 28(1).
"""

from typing import Any
from typing import Sequence

import keras

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.builders.blocks import merge_inputs
from keras_mtl.builders.tree import apply_tree
from keras_mtl.builders.tree import depths_to_partitions
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import attach_heads
from keras_mtl.tasks.task_graph import refuse_inputs_from
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec

REPRESENTATION = "shared_representation"


def check_sharing_depth(sharing_depth: Any, depth: int) -> int:
    """Validates `sharing_depth` against a trunk of `depth` blocks."""
    if sharing_depth is None:
        return depth
    if isinstance(sharing_depth, bool) or not isinstance(sharing_depth, int) \
            or not 0 <= sharing_depth <= depth:
        raise ValueError(
            f"Argument `sharing_depth` must be an int in [0, {depth}] for a "
            f"trunk of {depth} block(s) (0: no sharing, {depth}: all blocks "
            f"shared). Received: sharing_depth={sharing_depth!r}."
        )
    return sharing_depth


def build_hard(
    inputs: Inputs,
    tasks: Sequence[Task],
    trunk: TrunkSpec = None,
    sharing_depth: int | dict[str, int] | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "hard_sharing",
    plan: Any = None,
) -> MultiTaskModel:
    """Builds a hard-sharing `MultiTaskModel`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs (flattened and
            concatenated before the trunk).
        tasks: The `keras_mtl.Task` list.
        trunk: Dense widths (default `(128, 64)`), a list of layers (one
            block each), or a single Keras layer or model.
        sharing_depth: How many leading blocks are shared (default: all),
            or a dict `{task: depth}` with one depth per task (block l is
            shared by the tasks whose depth exceeds l).
        activation: Activation of Dense blocks.
        dropout: Dropout after each Dense block.
        name: Model name.
        plan: Optional sharing plan from `keras_mtl.relations`
            (`suggest_groups`: one trunk per group; `suggest_branches`: a
            tree of branches); anything with a
            `block_partitions(task_names, num_blocks)` method. Excludes
            `sharing_depth`.

    Returns:
        A `MultiTaskModel` whose shared representation (when
        `sharing_depth >= 1`) is the output of layer
        `"shared_representation"`.

    Example:

    ```python
    model = keras_mtl.builders.build_hard(
        keras.Input((40,)), tasks, trunk=(256, 128, 64), sharing_depth=2)
    ```
    """
    tasks = validate_tasks(tasks)
    blocks = make_blocks(trunk, activation, dropout)
    if plan is not None or isinstance(sharing_depth, dict):
        return _build_tree(inputs, tasks, blocks, sharing_depth, plan, name)
    depth = check_sharing_depth(sharing_depth, len(blocks))
    x = merge_inputs(inputs)
    for block in blocks[:depth]:
        x = block(x, prefix=None)
    representation = None
    if depth > 0:
        if depth == len(blocks):
            x = flatten_if_needed(x, None, "representation")
        x = keras.layers.Identity(name=REPRESENTATION)(x)
        representation = REPRESENTATION

    def features_of(task: Task) -> Any:
        h = x
        for block in blocks[depth:]:
            h = block(h, prefix=task.name)
        return flatten_if_needed(h, task.name, "head")

    # Tasks with `inputs_from` take their sources' outputs instead.
    outputs = attach_heads(tasks, features_of)
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks,
                          representation=representation)


def _build_tree(inputs: Inputs, tasks: Sequence[Task], blocks: list,
                sharing_depth: Any, plan: Any, name: str) -> MultiTaskModel:
    names = [t.name for t in tasks]
    refuse_inputs_from(tasks, "hard with a plan or per-task sharing_depth")
    if plan is not None:
        if sharing_depth is not None:
            raise ValueError(
                "Pass either `plan` or `sharing_depth`, not both: the plan "
                f"decides what each task shares. Received: sharing_depth="
                f"{sharing_depth!r}."
            )
        if not callable(getattr(plan, "block_partitions", None)):
            raise TypeError(
                "Argument `plan` must be a keras_mtl.relations plan (from "
                "suggest_groups or suggest_branches). Received: "
                f"{type(plan).__name__}."
            )
        partitions = plan.block_partitions(names, len(blocks))
    else:
        partitions = depths_to_partitions(sharing_depth, names, len(blocks))
    features, representation = apply_tree(
        merge_inputs(inputs), names, blocks, partitions, REPRESENTATION)
    outputs = {}
    for task in tasks:
        h = flatten_if_needed(features[task.name], task.name, "head")
        outputs[task.name] = task.build_head(h)
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks,
                          representation=representation)
