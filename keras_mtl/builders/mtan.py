"""Multi-Task Attention Network (MTAN): task attention over a shared trunk.

```
shared trunk:   p_1 = B_1(x), ..., p_L = B_L(p_{L-1})        (all shared)
task t:         a_t,j = TaskAttention_t,j(p_j [, a_t,j-1])    at chosen blocks
                head_t(a_t,L)
```

Each task learns soft masks that pick, at every attended block, the shared
features it needs. The attended shared features are routed through one
tensor, the layer `"shared_representation"` (their concatenation, split
again per block), so gradient aggregation can run in representation mode.

Reference: Liu, Johns, Davison (2019). End-to-End Multi-Task Learning with
Attention. CVPR. arXiv:1803.10704.
"""

import math
from typing import Sequence

import keras

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.builders.blocks import merge_inputs
from keras_mtl.layers.feature_split import FeatureSplit
from keras_mtl.layers.task_attention import TaskAttention
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import refuse_inputs_from
from keras_mtl.types import Inputs
from keras_mtl.types import KerasTensor
from keras_mtl.types import TrunkSpec

REPRESENTATION = "shared_representation"


def _check_attention_blocks(attention_blocks: Sequence[int] | None,
                            depth: int) -> list[int]:
    if attention_blocks is None:
        return list(range(depth))
    chosen = list(attention_blocks)
    if not chosen or any(isinstance(i, bool) or not isinstance(i, int)
                         or not 0 <= i < depth for i in chosen) \
            or sorted(set(chosen)) != chosen or chosen[-1] != depth - 1:
        raise ValueError(
            "Argument `attention_blocks` must be increasing block indices "
            f"in [0, {depth - 1}] that end with the last block ({depth - 1}"
            f", whose attended features feed the heads). Received: "
            f"attention_blocks={attention_blocks!r}."
        )
    return chosen


def _route_through_representation(
        features: list[KerasTensor]) -> list[KerasTensor]:
    """Concatenates the attended features into the representation layer and
    splits them again."""
    if len(features) == 1:
        return [keras.layers.Identity(name=REPRESENTATION)(features[0])]
    flat = [flatten_if_needed(f, "attention", i)
            for i, f in enumerate(features)]
    merged = keras.layers.Concatenate(name=REPRESENTATION)(flat)
    sizes = [int(f.shape[-1]) for f in flat]
    parts = FeatureSplit(sizes, name="shared_features")(merged)
    return [
        keras.layers.Reshape(tuple(f.shape[1:]), name=f"unflatten_{i}")(p)
        if len(f.shape) > 2 else p
        for i, (f, p) in enumerate(zip(features, parts))]


def build_mtan(
    inputs: Inputs,
    tasks: Sequence[Task],
    trunk: TrunkSpec = None,
    attention_blocks: Sequence[int] | None = None,
    attention_units: int | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "mtan",
) -> MultiTaskModel:
    """Builds an MTAN `MultiTaskModel`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        trunk: The shared trunk: Dense widths (default `(128, 64)`), a list
            of layers (one block each) or a single layer. All of it is
            shared.
        attention_blocks: Indices of the blocks each task attends to,
            increasing and ending with the last block (default: every
            block, as in the paper).
        attention_units: Hidden width of the attention modules (default:
            the attended block's width).
        activation: Activation of Dense blocks.
        dropout: Dropout after each Dense block.
        name: Model name.

    Returns:
        A `MultiTaskModel` with attention modules `"<task>_attention_<j>"`
        and the representation layer `"shared_representation"`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks, architecture="mtan",
                            trunk=(64, 32))
    ```

    References:
    - Liu, Johns, Davison (2019). End-to-End Multi-Task Learning with
      Attention. CVPR. arXiv:1803.10704.
    """
    tasks = validate_tasks(tasks)
    refuse_inputs_from(tasks, "mtan")
    blocks = make_blocks(trunk, activation, dropout)
    if not blocks:
        raise ValueError(
            "Argument `trunk` must have at least one block for MTAN (the "
            "tasks attend to the trunk's features). Received: trunk=()."
        )
    chosen = _check_attention_blocks(attention_blocks, len(blocks))
    x = merge_inputs(inputs)
    attended = []
    for i, block in enumerate(blocks):
        x = block(x, prefix=None)
        if i in chosen:
            attended.append(x)
    for i, feature in zip(chosen, attended):
        if any(d is None for d in feature.shape[1:]) or \
                math.prod(feature.shape[1:]) == 0:
            raise ValueError(
                f"MTAN attends to trunk block {i}, whose output shape "
                f"{tuple(feature.shape)} is not fully known. Give the "
                "inputs a static shape."
            )
    parts = _route_through_representation(attended)
    outputs = {}
    for task in tasks:
        h = None
        for i, part in zip(chosen, parts):
            module = TaskAttention(attention_units,
                                   name=f"{task.name}_attention_{i}")
            h = module(part if h is None else [part, h])
        outputs[task.name] = task.build_head(
            flatten_if_needed(h, task.name, "head"))
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks,
                          representation=REPRESENTATION)
