"""Customized Gate Control (CGC) and Progressive Layered Extraction (PLE).

One extraction level has shared experts and, per task, task-specific
experts. Task k's gate mixes its own experts with the shared ones; below
the last level a shared gate mixes all experts into the next level's
shared input:

```
level l, task k:  f_k   = sum over [E_k ; E_s] of g_k(x_k) * experts(.)
level l, shared:  f_s   = sum over [E_1 ; ... ; E_T ; E_s] of g_s(x_s) * ...
                  (not at the last level)
next level:       x_k <- f_k,  x_s <- f_s;   level 0: x_k = x_s = input
towers:           trunk[sharing_depth:] per task on the last f_k, then heads
```

CGC is PLE with one level (`num_levels=1`). Shared experts and all gates
count as shared; task experts of the last level are task-specific.

Reference: Tang, Liu, Zhao, Gong (2020). Progressive Layered Extraction
(PLE): A Novel Multi-Task Learning (MTL) Model for Personalized
Recommendations. RecSys.
"""

from typing import Sequence

import keras

from keras_mtl.builders.mmoe import check_count
from keras_mtl.builders.mmoe import shared_bottom
from keras_mtl.builders.mmoe import task_tower
from keras_mtl.layers.experts import Experts
from keras_mtl.layers.gates import ExpertMixture
from keras_mtl.layers.gates import Gate
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import refuse_inputs_from
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def build_ple(
    inputs: Inputs,
    tasks: Sequence[Task],
    num_levels: int = 2,
    num_shared_experts: int = 1,
    num_task_experts: int = 1,
    expert_units: int | Sequence[int] = (64,),
    trunk: TrunkSpec = (),
    sharing_depth: int | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "ple",
) -> MultiTaskModel:
    """Builds a PLE `MultiTaskModel` (CGC when `num_levels=1`).

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        num_levels: int >= 1. Number of extraction levels.
        num_shared_experts: int >= 1. Shared experts per level.
        num_task_experts: int >= 1. Experts per task and level.
        expert_units: Widths of each expert's Dense layers (the last is the
            expert output width). Defaults to `(64,)`.
        trunk: Dense widths or layers around the extraction levels (default
            `()`): the first `sharing_depth` blocks are a shared bottom,
            the rest are copied per task as towers.
        sharing_depth: How many leading trunk blocks form the shared bottom
            (default: all).
        activation: Activation of Dense blocks and experts.
        dropout: Dropout after Dense blocks and expert layers.
        name: Model name.

    Returns:
        A `MultiTaskModel` with layers `"level_<l>_shared_experts"`,
        `"level_<l>_<task>_experts"`, `"level_<l>_<task>_gate"` and
        `"level_<l>_shared_gate"`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks, architecture="ple",
                            num_levels=2, num_shared_experts=2,
                            num_task_experts=2, expert_units=16)
    ```

    References:
    - Tang, Liu, Zhao, Gong (2020). Progressive Layered Extraction (PLE):
      A Novel Multi-Task Learning (MTL) Model for Personalized
      Recommendations. RecSys.
    """
    tasks = validate_tasks(tasks)
    refuse_inputs_from(tasks, "ple")
    check_count("num_levels", num_levels)
    check_count("num_shared_experts", num_shared_experts)
    check_count("num_task_experts", num_task_experts)
    _, x, towers = shared_bottom(
        inputs, trunk, sharing_depth, activation, dropout)
    names = [t.name for t in tasks]
    task_x = {n: x for n in names}
    shared_x = x
    gates = []

    def experts(count: int, layer_name: str) -> Experts:
        return Experts(count, expert_units, activation=activation,
                       dropout=dropout, name=layer_name)

    for level in range(num_levels):
        prefix = f"level_{level}"
        shared = experts(num_shared_experts, f"{prefix}_shared_experts")(
            shared_x)
        own = {n: experts(num_task_experts, f"{prefix}_{n}_experts")(
            task_x[n]) for n in names}
        next_x = {}
        for n in names:
            gate = Gate(num_task_experts + num_shared_experts,
                        name=f"{prefix}_{n}_gate")
            gates.append(gate.name)
            pool = keras.layers.Concatenate(axis=1, name=f"{prefix}_{n}_pool")(
                [own[n], shared])
            next_x[n] = ExpertMixture(name=f"{prefix}_{n}_mixture")(
                [pool, gate(task_x[n])])
        if level < num_levels - 1:
            gate = Gate(len(names) * num_task_experts + num_shared_experts,
                        name=f"{prefix}_shared_gate")
            gates.append(gate.name)
            pool = keras.layers.Concatenate(
                axis=1, name=f"{prefix}_shared_pool")(
                    [own[n] for n in names] + [shared])
            shared_x = ExpertMixture(name=f"{prefix}_shared_mixture")(
                [pool, gate(shared_x)])
        task_x = next_x
    outputs = {t.name: task_tower(task_x[t.name], t, towers) for t in tasks}
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks,
                          shared_layers=gates)


def build_cgc(
    inputs: Inputs,
    tasks: Sequence[Task],
    num_shared_experts: int = 1,
    num_task_experts: int = 1,
    expert_units: int | Sequence[int] = (64,),
    trunk: TrunkSpec = (),
    sharing_depth: int | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "cgc",
) -> MultiTaskModel:
    """Builds a CGC `MultiTaskModel`: PLE with one extraction level.

    Args: as `build_ple`, without `num_levels`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks, architecture="cgc",
                            num_shared_experts=2, num_task_experts=1)
    ```

    References:
    - Tang, Liu, Zhao, Gong (2020). Progressive Layered Extraction (PLE):
      A Novel Multi-Task Learning (MTL) Model for Personalized
      Recommendations. RecSys.
    """
    return build_ple(
        inputs, tasks, num_levels=1, num_shared_experts=num_shared_experts,
        num_task_experts=num_task_experts, expert_units=expert_units,
        trunk=trunk, sharing_depth=sharing_depth, activation=activation,
        dropout=dropout, name=name)
