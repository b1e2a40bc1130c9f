"""Which layers of a Functional multi-task graph are shared, and by whom.

The rule is read off the graph itself, so it holds for every architecture
and for any user-built Functional model: a layer is *task-specific* when
only one task's output depends on it, and *shared* when two or more do.
Builders may force layers into the shared set (soft-sharing columns are
tied by a penalty, not by the graph).

A task may consume other tasks' outputs (`Task(inputs_from=...)`, ESMM's
pCTCVR = pCTR x pCVR; Ma et al., 2018, SIGIR, arXiv:1804.07931). Two
questions then get different answers:

- *Which task does a layer belong to?* (`layer_owners`): each task's walk
  stops at the other tasks' output tensors, so the CTR tower belongs to
  `ctr` and the product task owns only what lies between its sources'
  outputs and its own.
- *Which task losses reach a layer?* (`loss_reach`): every supervised
  task's walk goes through the outputs it consumes, so the CTR tower is
  reached by the losses of `ctr` and `ctcvr`. Gradient aggregation treats
  a variable that two or more losses reach as shared: giving the CTR
  tower only `ctr`'s gradient would drop `ctcvr`'s.
"""

from typing import Iterable
from typing import Mapping

from keras_mtl._compat.keras import inbound_node
from keras_mtl._compat.keras import keras_history
from keras_mtl.types import KerasTensor


def layers_feeding(
    tensor: KerasTensor, stop_at: Iterable[KerasTensor] = ()
) -> list:
    """Returns the operations (layers) that `tensor` depends on, without
    descending into the tensors of `stop_at` (other tasks' outputs)."""
    stops = {id(t) for t in stop_at if t is not tensor}
    seen_nodes: set[int] = set()
    operations: dict[int, object] = {}
    stack = [tensor]
    while stack:
        current = stack.pop()
        if id(current) in stops:
            continue
        operation, node_index, _ = keras_history(current)
        node = inbound_node(operation, node_index)
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        operations[id(operation)] = operation
        stack.extend(node.input_tensors)
    return list(operations.values())


def layer_owners(
    outputs: Mapping[str, KerasTensor],
    forced_shared: Iterable[str] = (),
    through_outputs: bool = False,
) -> tuple[list[str], dict[str, list[str]]]:
    """Splits the layers with weights into shared and per-task lists.

    Args:
        outputs: Task name to output tensor.
        forced_shared: Names of layers to count as shared whatever the
            graph says.
        through_outputs: Whether a task's walk goes on through the other
            tasks' outputs it consumes (`loss_reach`); by default it stops
            there, so a consumed tower stays its own task's.

    Returns:
        `(shared_layer_names, {task: task_layer_names})`, each list in
        graph order of first appearance. Layers without weights (inputs,
        activations, concatenations) are left out.
    """
    owners: dict[str, set[str]] = {}
    order: list[str] = []
    for task, tensor in outputs.items():
        walk = layers_feeding(
            tensor, stop_at=() if through_outputs else outputs.values())
        for layer in reversed(walk):
            if not getattr(layer, "weights", None):
                continue
            if layer.name not in owners:
                owners[layer.name] = set()
                order.append(layer.name)
            owners[layer.name].add(task)
    forced = set(forced_shared)
    shared = [n for n in order if len(owners[n]) > 1 or n in forced]
    per_task: dict[str, list[str]] = {task: [] for task in outputs}
    for name in order:
        if name not in shared:
            (task,) = owners[name]
            per_task[task].append(name)
    return shared, per_task


def layers_common_to_all(outputs: Mapping[str, KerasTensor]) -> list[str]:
    """Names of the layers with weights that every task's output depends
    on (the trunk of hard sharing, MMoE's experts; not MMoE's per-task
    gates)."""
    common: list[str] | None = None
    for tensor in outputs.values():
        names = [layer.name for layer in reversed(layers_feeding(tensor))
                 if getattr(layer, "weights", None)]
        common = names if common is None else [
            n for n in common if n in set(names)]
    return common or []


def consumed_outputs(
    outputs: Mapping[str, KerasTensor]
) -> dict[str, set[str]]:
    """Per task, the other tasks whose output tensors its output depends
    on directly (not through a third task's output)."""
    by_id = {id(t): name for name, t in outputs.items()}
    consumed: dict[str, set[str]] = {}
    for name, tensor in outputs.items():
        found: set[str] = set()
        seen: set[int] = set()
        stack = [tensor]
        while stack:
            current = stack.pop()
            if current is not tensor and id(current) in by_id:
                found.add(by_id[id(current)])
                continue
            operation, node_index, _ = keras_history(current)
            node = inbound_node(operation, node_index)
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.input_tensors)
        consumed[name] = found
    return consumed


def loss_reach(
    outputs: Mapping[str, KerasTensor],
    supervised: Iterable[str],
    forced_shared: Iterable[str] = (),
) -> tuple[list[str], dict[str, list[str]]]:
    """Splits the layers with weights by the task losses that reach them.

    Returns `(shared, {task: names})`: `shared` holds the layers that two
    or more supervised tasks' losses reach (or `forced_shared`), each
    task's list the layers only its loss reaches (empty for a task with
    no loss). Without tasks that consume other tasks' outputs this equals
    `layer_owners`.
    """
    keep = set(supervised)
    reached = {n: t for n, t in outputs.items() if n in keep}
    shared, per_task = layer_owners(
        reached, forced_shared, through_outputs=True)
    return shared, {n: per_task.get(n, []) for n in outputs}
