"""The step's labels and sample weights as dicts keyed by task name."""

from typing import Any
from typing import Mapping
from typing import Sequence


def check_task_keys(what: str, keys: Any, known: Sequence[str]) -> None:
    """Raises when `keys` name a task that is not in `known`."""
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise ValueError(
            f"{what} names unknown task(s) {unknown}. The model's tasks are "
            f"{list(known)}. Fix the keys to use these task names."
        )


def standardize_targets(
    tasks: Sequence[Any], y: Any, sample_weight: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns `(y, sample_weight)` as dicts with an entry per task.

    A bare array is accepted for a one-task model; one `sample_weight`
    array (not a dict) applies to every task; a task left out of a
    `sample_weight` dict gets None (weight 1); a task without a loss
    (`supervised=False`) may go without labels (None).
    """
    names = tuple(t.name for t in tasks)
    if y is None:
        raise ValueError(
            "No labels were given. A multi-task model trains on "
            "(x, {task: labels}); the model's tasks are "
            f"{list(names)}."
        )
    if not isinstance(y, Mapping):
        if len(names) == 1:
            y = {names[0]: y}
        else:
            raise ValueError(
                "Labels must be a dict {task_name: labels} for a model "
                f"with tasks {list(names)}. Received: "
                f"{type(y).__name__}. Mark missing labels with the "
                "task's sentinel (-1 or NaN) rather than leaving a task "
                "out."
            )
    check_task_keys("The labels `y`", y, names)
    # A task without a loss may go without labels (they would only feed
    # its metrics).
    y = {**{t.name: None for t in tasks if not t.supervised}, **y}
    absent = [n for n in names if n not in y]
    if absent:
        raise ValueError(
            f"The labels have no entry for task(s) {absent} (model "
            f"tasks: {list(names)}). Give every task a label array; "
            "mark samples without a label with the task's missing "
            "sentinel (-1 for class labels, NaN for regression)."
        )
    if sample_weight is None or not isinstance(sample_weight, Mapping):
        sample_weight = {n: sample_weight for n in names}
    else:
        check_task_keys("`sample_weight`", sample_weight, names)
        sample_weight = {n: sample_weight.get(n) for n in names}
    return dict(y), sample_weight
