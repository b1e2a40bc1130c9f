"""`suggest_groups`: TAG's selection of task groups under a budget.

Given the inter-task affinity `Z` (`Z[i, j]`: how much a step on task i
lowers task j's loss) and a budget of `k` networks, choose at most `k`
groups of tasks. Each task is served by the chosen group that helps it
most; the selection maximises the total:

```
a_G(j) = mean_{i in G, i != j} Z[i, j]     (|G| >= 2)
a_G(j) = Z[j, j]                            (G = {j}: its own step)
score  = Σ_j max_{G chosen, j in G} a_G(j)  (every task in some group)
```

A task alone is scored by its self-affinity `Z[j, j]` (how much a step on
its own loss lowers it): our reading of the paper's selection for groups
of one, which its equations leave implicit.

With `overlap=True` (the paper's setting) a task may be in several
groups: it trains in each, helping their other tasks, and is served by
the best. With `overlap=False` the groups partition the tasks.

The search is exact. With overlap: a branch-and-bound over the `2^T - 1`
candidate groups, picking up to `k` (worst case `C(2^T - 1, k)`
selections times `T`; the bound adds, per task, the best any remaining
candidate offers). Without: every set partition into at most `k`
groups (at most Bell(T): 52 at T = 5, 115,975 at T = 10). T is capped
at 10 (overlap) and 12 (partitions); beyond that, prune the tasks first.

References:
- Fifty, Amid, Zhao, Yu, Anil, Finn (2021). Efficiently Identifying Task
  Groupings for Multi-Task Networks. NeurIPS. arXiv:2109.04617
  (Section 3.3, network selection).
"""

from typing import Any
from typing import Iterator
from typing import Sequence

import numpy as np

from keras_mtl.relations.matrix import RelationMatrix
from keras_mtl.relations.plans import GroupingPlan

MAX_TASKS_OVERLAP = 10
MAX_TASKS_PARTITION = 12


def _check(affinity: Any, tasks: Sequence[str] | None,
           num_groups: Any) -> tuple[tuple[str, ...], np.ndarray]:
    if isinstance(affinity, RelationMatrix):
        names, values = affinity.tasks, affinity.values
    else:
        values = np.asarray(affinity, dtype=np.float64)
        if tasks is None:
            raise ValueError(
                "Pass `tasks=` (the task names in row order) with an "
                "affinity array, or pass a RelationMatrix."
            )
        names = tuple(tasks)
    if values.ndim != 2 or values.shape != (len(names), len(names)):
        raise ValueError(
            f"The affinity must be a [T, T] matrix over tasks "
            f"{list(names)}. Received shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        bad = [(names[i], names[j]) for i, j in
               zip(*np.nonzero(~np.isfinite(values)))]
        raise ValueError(
            f"The affinity has NaN/Inf entries (source, target) {bad} (never "
            "measured?). Measure longer or fill them before grouping."
        )
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) \
            or num_groups < 1:
        raise ValueError(
            "Argument `num_groups` must be an int >= 1 (the number of "
            f"networks). Received: num_groups={num_groups!r}."
        )
    return names, values


def group_scores(values: np.ndarray) -> dict[int, np.ndarray]:
    """`{bitmask of G: [T] array of a_G(j)}` (-inf for j outside G)."""
    num_tasks = len(values)
    scores = {}
    for mask in range(1, 2 ** num_tasks):
        members = [t for t in range(num_tasks) if mask >> t & 1]
        row = np.full(num_tasks, -np.inf)
        for j in members:
            others = [i for i in members if i != j]
            row[j] = (values[j, j] if not others
                      else float(np.mean(values[others, j])))
        scores[mask] = row
    return scores


def _set_partitions(items: list[int], limit: int) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _set_partitions(rest, limit):
        for k in range(len(partition)):
            yield partition[:k] + [[first] + partition[k]] + partition[k + 1:]
        if len(partition) < limit:
            yield [[first]] + partition


def _best_overlapping(scores: dict[int, np.ndarray], num_tasks: int,
                      limit: int) -> tuple[list[int], float]:
    masks = sorted(scores, key=lambda m: (bin(m).count("1"), m))
    rows = np.stack([scores[m] for m in masks])
    # suffix[k][j]: the best any candidate from k on offers task j.
    suffix = np.maximum.accumulate(rows[::-1], axis=0)[::-1]
    best: dict[str, Any] = {"key": (-np.inf, 0), "pick": []}

    def visit(start: int, pick: list[int], current: np.ndarray) -> None:
        if pick and np.all(np.isfinite(current)):
            key = (float(current.sum()), -len(pick))
            if key[0] > best["key"][0] + 1e-12 or (
                    abs(key[0] - best["key"][0]) <= 1e-12
                    and key[1] > best["key"][1]):
                best["key"], best["pick"] = key, list(pick)
        if len(pick) == limit or start == len(masks):
            return
        bound = np.maximum(current, suffix[start]).sum()
        if bound < best["key"][0] - 1e-12:
            return
        for k in range(start, len(masks)):
            pick.append(k)
            visit(k + 1, pick, np.maximum(current, rows[k]))
            pick.pop()
            if k + 1 < len(masks) and np.maximum(
                    current, suffix[k + 1]).sum() < best["key"][0] - 1e-12:
                return

    visit(0, [], np.full(num_tasks, -np.inf))
    return [masks[k] for k in best["pick"]], best["key"][0]


def suggest_groups(
    affinity: RelationMatrix | Any,
    num_groups: int,
    overlap: bool = True,
    tasks: Sequence[str] | None = None,
) -> GroupingPlan:
    """Chooses at most `num_groups` task groups maximising total affinity.

    Args:
        affinity: A `RelationMatrix` (e.g. `TaskAffinity.affinity()`), or
            a `[T, T]` array with `tasks`. Entry `[i, j]` is the affinity
            of task i onto task j; the diagonal scores a task alone.
        num_groups: int >= 1. The budget `k` of networks.
        overlap: bool. Whether a task may sit in several groups (TAG's
            setting). Defaults to True.
        tasks: Task names in row order (with an array only).

    Returns:
        A `GroupingPlan`; `keras_mtl.build(..., plan=plan)` builds it
        (one trunk per group; an overlapping plan via `plan.served()`).

    Example:

    ```python
    plan = keras_mtl.relations.suggest_groups(
        callback.affinity("lookahead"), num_groups=2)
    model = keras_mtl.build(inputs, tasks, trunk=(128, 64), plan=plan)
    ```
    """
    names, values = _check(affinity, tasks, num_groups)
    num_tasks = len(names)
    cap = MAX_TASKS_OVERLAP if overlap else MAX_TASKS_PARTITION
    if num_tasks > cap:
        raise ValueError(
            f"Exact group selection is capped at {cap} tasks "
            f"(overlap={overlap}); received {num_tasks}. Group a subset of "
            "the tasks, or merge near-duplicate tasks first."
        )
    scores = group_scores(values)
    if overlap:
        masks, score = _best_overlapping(scores, num_tasks, num_groups)
    else:
        best_key, masks = (-np.inf, 0), []
        for partition in _set_partitions(list(range(num_tasks)),
                                         num_groups):
            pick = [sum(1 << t for t in g) for g in partition]
            total = float(np.max([scores[m] for m in pick], axis=0).sum())
            key = (total, -len(pick))
            if key[0] > best_key[0] + 1e-12 or (
                    abs(key[0] - best_key[0]) <= 1e-12
                    and key[1] > best_key[1]):
                best_key, masks = key, pick
        score = best_key[0]
    rows = np.stack([scores[m] for m in masks])
    serving = np.argmax(rows, axis=0)
    used = sorted(set(int(k) for k in serving))  # drop groups serving none
    groups = tuple(tuple(names[t] for t in range(num_tasks)
                         if masks[k] >> t & 1) for k in used)
    served_by = {names[t]: used.index(int(serving[t]))
                 for t in range(num_tasks)}
    return GroupingPlan(names, groups, served_by, float(score))
