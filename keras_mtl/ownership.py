"""Which layers of a Functional multi-task graph are shared, and by whom.

The rule is read off the graph itself, so it holds for every architecture
and for any user-built Functional model: a layer is *task-specific* when
only one task's output depends on it, and *shared* when two or more do.
Builders may force layers into the shared set (soft-sharing columns are
tied by a penalty, not by the graph).
"""

from typing import Iterable
from typing import Mapping

from keras_mtl._compat.keras import inbound_node
from keras_mtl._compat.keras import keras_history
from keras_mtl.types import KerasTensor


def layers_feeding(tensor: KerasTensor) -> list:
    """Returns the operations (layers) that `tensor` depends on."""
    seen_nodes: set[int] = set()
    operations: dict[int, object] = {}
    stack = [tensor]
    while stack:
        current = stack.pop()
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
) -> tuple[list[str], dict[str, list[str]]]:
    """Splits the layers with weights into shared and per-task lists.

    Args:
        outputs: Task name to output tensor.
        forced_shared: Names of layers to count as shared whatever the
            graph says.

    Returns:
        `(shared_layer_names, {task: task_layer_names})`, each list in
        graph order of first appearance. Layers without weights (inputs,
        activations, concatenations) are left out.
    """
    owners: dict[str, set[str]] = {}
    order: list[str] = []
    for task, tensor in outputs.items():
        for layer in reversed(layers_feeding(tensor)):
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
