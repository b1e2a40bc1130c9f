"""Multi-gate Mixture-of-Experts (MMoE).

```
inputs -> [shared bottom: trunk[:sharing_depth]]
       -> experts E_1..E_n (shared)                 h_e = E_e(x)
       -> per task k: gate g_k = softmax(W_k x_g)  f_k = sum_e g_k,e h_e
       -> per task k: tower trunk[sharing_depth:] -> head_k
```

`x_g` is the gate input: by default the tensor the experts see; it can be
the (merged) model inputs or one named input. Experts and gates count as
shared variables (each gate only feeds its task, but it routes the shared
experts, so gradient aggregation treats it with them).

Reference: Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task
Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts.
KDD.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl.builders.blocks import Block
from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.builders.blocks import merge_inputs
from keras_mtl.builders.hard import check_sharing_depth
from keras_mtl.layers.experts import Experts
from keras_mtl.layers.gates import ExpertMixture
from keras_mtl.layers.gates import Gate
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tasks.task_graph import attach_heads
from keras_mtl.types import Inputs
from keras_mtl.types import KerasTensor
from keras_mtl.types import TrunkSpec


def check_count(argument: str, value: Any, minimum: int = 1) -> int:
    """Validates an int argument such as `num_experts` (>= `minimum`)."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or value < minimum:
        raise ValueError(
            f"Argument `{argument}` must be an int >= {minimum}. Received: "
            f"{argument}={value!r}."
        )
    return value


def shared_bottom(
    inputs: Inputs, trunk: TrunkSpec, sharing_depth: int | None,
    activation: str, dropout: float,
) -> tuple[KerasTensor, KerasTensor, list[Block]]:
    """Merges the inputs and applies the shared bottom of an expert model.

    `trunk` defaults to `()` (no bottom, no towers); its first
    `sharing_depth` blocks (default: all) form the shared bottom below the
    experts, the others are copied per task as towers.

    Returns:
        `(merged_inputs, bottom_output_flattened, tower_blocks)`.
    """
    blocks = make_blocks(() if trunk is None else trunk, activation, dropout)
    depth = check_sharing_depth(sharing_depth, len(blocks))
    merged = merge_inputs(inputs)
    x = merged
    for block in blocks[:depth]:
        x = block(x, prefix=None)
    return merged, flatten_if_needed(x, None, "experts"), blocks[depth:]


def task_tower(features: KerasTensor, task: Task,
               blocks: Sequence[Block]) -> KerasTensor:
    """A task's tower blocks (copied per task) and head."""
    h = features
    for block in blocks:
        h = block(h, prefix=task.name)
    return task.build_head(flatten_if_needed(h, task.name, "head"))


def _gate_input(gate_input: str | None, inputs: Inputs,
                merged: KerasTensor, experts_input: KerasTensor
                ) -> KerasTensor:
    if gate_input is None:
        return experts_input
    if gate_input == "inputs":
        return flatten_if_needed(merged, None, "gate_input")
    if isinstance(inputs, Mapping) and gate_input in inputs:
        return flatten_if_needed(inputs[gate_input], None, "gate_input")
    names = sorted(inputs) if isinstance(inputs, Mapping) else []
    raise ValueError(
        "Argument `gate_input` must be None (the experts' input), "
        f"'inputs' (the merged model inputs) or the name of a model input "
        f"{names}. Received: gate_input={gate_input!r}."
    )


def build_mmoe(
    inputs: Inputs,
    tasks: Sequence[Task],
    num_experts: int = 4,
    expert_units: int | Sequence[int] = (64,),
    trunk: TrunkSpec = (),
    sharing_depth: int | None = None,
    gate_input: str | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "mmoe",
) -> MultiTaskModel:
    """Builds an MMoE `MultiTaskModel`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        num_experts: int >= 1. Number of shared experts.
        expert_units: Widths of each expert's Dense layers (the last is the
            expert output width). Defaults to `(64,)`.
        trunk: Dense widths or layers around the experts (default `()`).
            The first `sharing_depth` blocks are a shared bottom below the
            experts; the rest are copied per task as towers above the
            gates.
        sharing_depth: How many leading trunk blocks form the shared bottom
            (default: all).
        gate_input: What the gates see: None (the experts' input, the
            default), `"inputs"` (the merged model inputs, below the shared
            bottom) or the name of one model input (e.g. user context).
        activation: Activation of Dense blocks and experts.
        dropout: Dropout after Dense blocks and expert layers.
        name: Model name.

    Returns:
        A `MultiTaskModel` with layers `"experts"`, `"<task>_gate"` and
        `"<task>_mixture"`; experts and gates are shared. It has no single
        shared representation (use the Jacobian mode of aggregators).

    Example:

    ```python
    model = keras_mtl.build(keras.Input((100,)), tasks, architecture="mmoe",
                            num_experts=8, expert_units=16)
    ```

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    """
    tasks = validate_tasks(tasks)
    check_count("num_experts", num_experts)
    merged, x, towers = shared_bottom(
        inputs, trunk, sharing_depth, activation, dropout)
    gate_x = _gate_input(gate_input, inputs, merged, x)
    experts = Experts(num_experts, expert_units, activation=activation,
                      dropout=dropout, name="experts")(x)
    gates = []

    def features_of(task: Task) -> KerasTensor:
        gate = Gate(num_experts, name=f"{task.name}_gate")
        gates.append(gate.name)
        mixed = ExpertMixture(name=f"{task.name}_mixture")(
            [experts, gate(gate_x)])
        h = mixed
        for block in towers:
            h = block(h, prefix=task.name)
        return flatten_if_needed(h, task.name, "head")

    # Tasks with `inputs_from` (ESMM-style) take their sources' outputs
    # and get no gate.
    outputs = attach_heads(tasks, features_of)
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks,
                          shared_layers=gates)


__all__ = ["build_mmoe"]
