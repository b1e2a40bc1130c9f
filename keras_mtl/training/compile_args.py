"""`compile` arguments of `MultiTaskModel`, checked and resolved.

Per-task dicts (`loss`, `metrics`, `weighted_metrics`, `loss_weights`) must
name the model's tasks; `loss_weights` is a shorthand for
`StaticWeighting`; a task without a loss (`supervised=False`) gets weight
0, and a weighting that learns from every task's loss is refused then.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl import aggregators as aggregators_module
from keras_mtl import weightings as weightings_module
from keras_mtl.tasks import Task
from keras_mtl.training.targets import check_task_keys as _check_task_keys


def resolve_compile_arguments(
    tasks: Sequence[Task], loss: Any, metrics: Any, weighted_metrics: Any,
    loss_weights: Any, weighting: Any, aggregator: Any,
) -> tuple[dict[str, Any], Any, Any]:
    """Returns `(losses by task, weighting, aggregator)` or raises an
    error naming the argument and the fix."""
    names = tuple(t.name for t in tasks)
    if isinstance(loss, (list, tuple)):
        raise TypeError(
            f"`loss` is a {type(loss).__name__} of {len(loss)}, but a "
            "multi-task model takes one loss for every task or a dict "
            f"{{task_name: loss}} (tasks: {list(names)}): a list cannot "
            "say which loss belongs to which task. Pass e.g. loss="
            + "{" + ", ".join(f"{n!r}: ..." for n in names[:2])
            + "}, or set each Task's `loss`.")
    if isinstance(loss, Mapping):
        _check_task_keys("`loss`", loss, names)
        losses = {n: loss.get(n) for n in names}
    else:
        losses = {n: loss for n in names}
    for arg, value in (("metrics", metrics),
                       ("weighted_metrics", weighted_metrics)):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise TypeError(
                f"`{arg}` must be a dict {{task_name: [metrics]}}. "
                f"Received: {type(value).__name__}. Per-task metrics "
                "default to each Task's `metrics`."
            )
        _check_task_keys(f"`{arg}`", value, names)
    if loss_weights is not None:
        if weighting is not None:
            raise ValueError(
                "Pass either `loss_weights` or `weighting`, not both. "
                "Use weighting=StaticWeighting(loss_weights) for fixed "
                "weights."
            )
        if not isinstance(loss_weights, Mapping):
            raise TypeError(
                "`loss_weights` must be a dict {task_name: float}. "
                f"Received: {loss_weights!r}."
            )
        _check_task_keys("`loss_weights`", loss_weights, names)
        weighting = weightings_module.StaticWeighting(dict(loss_weights))
    weighting = _weighting_without_loss_free_tasks(
        tasks, weightings_module.get(weighting))
    aggregator = aggregators_module.get(aggregator)
    return losses, weighting, aggregator


def _weighting_without_loss_free_tasks(
    tasks: Sequence[Task], weighting: Any
) -> Any:
    """The weighting, with weight 0 for tasks without a loss.

    Their loss is identically 0; equal and static weights just log 0 for
    them. A strategy that learns from the loss vector (uncertainty, DWA,
    GradNorm, ...) would learn from that constant 0, so it is refused."""
    free = [t.name for t in tasks if not t.supervised]
    if not free:
        return weighting
    if type(weighting) is weightings_module.EqualWeighting:
        return weightings_module.StaticWeighting({n: 0.0 for n in free})
    if type(weighting) is weightings_module.StaticWeighting:
        return weightings_module.StaticWeighting(
            {**weighting.static_weights, **{n: 0.0 for n in free}},
            default=weighting.default)
    raise ValueError(
        f"Weighting {type(weighting).__name__} learns from every task's "
        f"loss, but task(s) {free} have none (supervised=False), so it "
        "would learn from a constant 0. Use equal weights (the default) "
        "or static ones (`loss_weights=`).")
