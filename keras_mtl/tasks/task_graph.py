"""Tasks whose heads consume other tasks' outputs (`Task(inputs_from=...)`).

ESMM (Ma, Zhao, Huang, Wang, Hu, Zhu, Gai, 2018, "Entire Space Multi-Task
Model: An Effective Approach for Estimating Post-Click Conversion Rate",
SIGIR, arXiv:1804.07931) predicts pCTCVR = pCTR x pCVR: the product task's
head takes the CTR and CVR tasks' outputs. This module orders such tasks,
builds their heads after their sources', and checks a wrapped Functional
graph against what the tasks declare.
"""

from typing import Callable
from typing import Mapping
from typing import Sequence

from keras_mtl.ownership import consumed_outputs
from keras_mtl.tasks.task import Task
from keras_mtl.types import KerasTensor


def head_order(tasks: Sequence[Task]) -> list[Task]:
    """`tasks` ordered so that every task comes after its `inputs_from`
    sources; raises on an unknown source or a cycle."""
    by_name = {t.name: t for t in tasks}
    for task in tasks:
        unknown = [s for s in task.inputs_from if s not in by_name]
        if unknown:
            raise ValueError(
                f"Task {task.name!r}: `inputs_from` names unknown task(s) "
                f"{unknown}. The tasks are {list(by_name)}.")
    order: list[Task] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done

    def visit(task: Task, path: tuple[str, ...]) -> None:
        if state.get(task.name) == 2:
            return
        if state.get(task.name) == 1:
            cycle = " -> ".join(path + (task.name,))
            raise ValueError(
                f"Tasks consume each other's outputs in a cycle ({cycle}). "
                "Remove one of the `inputs_from` links.")
        state[task.name] = 1
        for source in task.inputs_from:
            visit(by_name[source], path + (task.name,))
        state[task.name] = 2
        order.append(task)

    for task in tasks:
        visit(task, ())
    return order


def attach_heads(
    tasks: Sequence[Task], features_of: Callable[[Task], KerasTensor]
) -> dict[str, KerasTensor]:
    """Builds every task's head and returns `{task: output}`.

    A task without `inputs_from` gets `task.build_head(features_of(task))`;
    a task with `inputs_from` gets the list of its sources' outputs, and
    `features_of` is not called for it (no gate or tower is built for it).
    """
    outputs: dict[str, KerasTensor] = {}
    for task in head_order(tasks):
        if task.inputs_from:
            outputs[task.name] = task.build_head(
                [outputs[s] for s in task.inputs_from])
        else:
            outputs[task.name] = task.build_head(features_of(task))
    return {t.name: outputs[t.name] for t in tasks}


def refuse_inputs_from(tasks: Sequence[Task], architecture: str) -> None:
    """Raises for a builder that cannot build heads on other tasks'
    outputs, before it builds anything."""
    linked = [t.name for t in tasks if t.inputs_from]
    if linked:
        raise ValueError(
            f"Architecture {architecture!r} does not build heads on other "
            f"tasks' outputs, but task(s) {linked} declare `inputs_from`. "
            "Use architecture='hard' or 'mmoe', "
            "keras_mtl.builders.build_esmm, or wrap your own Functional "
            "graph in keras_mtl.MultiTaskModel.")


def check_task_graph(
    tasks: Sequence[Task], outputs: Mapping[str, KerasTensor]
) -> None:
    """Checks the graph's task-to-task links against `inputs_from`, and
    that every task without a loss feeds a task that has one."""
    head_order(tasks)
    consumed = consumed_outputs(outputs)
    for task in tasks:
        found = consumed[task.name]
        declared = set(task.inputs_from)
        if found != declared:
            raise ValueError(
                f"Task {task.name!r}: its output depends on the outputs of "
                f"task(s) {sorted(found)} but the task declares "
                f"inputs_from={tuple(sorted(declared))}. Declare "
                f"Task({task.name!r}, ..., inputs_from="
                f"{tuple(sorted(found))}) so that ownership and gradient "
                "aggregation know the link, or build the head with "
                "keras_mtl.tasks.task_graph.attach_heads (the hard, mmoe and "
                "esmm builders do).")
    sinks = {s for t in tasks if t.supervised for s in _sources(t, tasks)}
    for task in tasks:
        if not task.supervised and task.name not in sinks:
            raise ValueError(
                f"Task {task.name!r} has no loss (supervised=False) and no "
                "supervised task consumes its output, so nothing would "
                "train it. Name it in another task's `inputs_from`, or "
                "make it supervised.")
    if not any(t.supervised for t in tasks):
        raise ValueError(
            "Every task is supervised=False: nothing has a loss.")


def _sources(task: Task, tasks: Sequence[Task]) -> set[str]:
    """The tasks whose outputs reach `task`'s, directly or not."""
    by_name = {t.name: t for t in tasks}
    found: set[str] = set()
    stack = list(task.inputs_from)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(by_name[name].inputs_from)
    return found
