"""`suggest_branches`: where tasks should branch, from layer similarity.

Following Vandenhende et al. (2020): tasks whose single-task networks
compute similar representations at a layer can share that layer. With
`D_l = 1 - S_l` the task dissimilarity at block l (`S_l` from
`layer_similarity`), a tree (one partition of the tasks per block, each
refining the one below) costs

```
cost = Σ_l Σ_{group G at block l} max_{i, j in G} D_l[i, j]
```

(0 for a task alone). Among trees holding at most `budget` block
instances (`Σ_l |partition_l|`: `L` when all blocks are shared by all
tasks, `T L` for separate networks), the cheapest is returned, ties going
to the tree with fewer blocks (more sharing). The search is exact:
dynamic programming over the set partitions of the tasks, block by block
(states Bell(T) x budget; T is capped at 7, Bell(7) = 877).

References:
- Vandenhende, Georgoulis, De Brabandere, Van Gool (2020). Branched
  Multi-Task Networks: Deciding What Layers To Share. BMVC.
  arXiv:1904.02920.
"""

from typing import Sequence

import numpy as np

from keras_mtl.relations.grouping import _set_partitions
from keras_mtl.relations.matrix import RelationMatrix
from keras_mtl.relations.plans import BranchPlan

MAX_TASKS = 7


def _refines(fine: tuple, coarse: tuple) -> bool:
    return all(any(set(g) <= set(c) for c in coarse) for g in fine)


def suggest_branches(
    similarities: Sequence[RelationMatrix], budget: int,
) -> BranchPlan:
    """The cheapest tree of branches within a budget of blocks.

    Args:
        similarities: One `RelationMatrix` of representation similarity
            (1 = identical) per trunk block, from the input up, e.g.
            `layer_similarity(models, x)`.
        budget: int. The most block instances the tree may hold, from `L`
            (everything shared) to `T L` (separate networks).

    Returns:
        A `BranchPlan`; `keras_mtl.build(..., plan=plan)` builds it, and
        `plan.sharing_depth()` gives each task's depth.

    Example:

    ```python
    sims = keras_mtl.relations.layer_similarity(single_task_models, x)
    plan = keras_mtl.relations.suggest_branches(sims, budget=5)
    model = keras_mtl.build(inputs, tasks, trunk=(64, 64, 32), plan=plan)
    ```
    """
    if not similarities:
        raise ValueError("Argument `similarities` is empty: pass one "
                         "matrix per trunk block.")
    names = similarities[0].tasks
    for level, matrix in enumerate(similarities):
        if matrix.tasks != names:
            raise ValueError(
                f"Similarity of block {level} is over tasks "
                f"{list(matrix.tasks)}, block 0 over {list(names)}: use the "
                "same tasks in the same order."
            )
        if not np.all(np.isfinite(matrix.values)):
            raise ValueError(f"Similarity of block {level} has NaN/Inf.")
    num_tasks, num_blocks = len(names), len(similarities)
    if num_tasks > MAX_TASKS:
        raise ValueError(
            f"Exact branching is capped at {MAX_TASKS} tasks; received "
            f"{num_tasks}. Group tasks first (suggest_groups)."
        )
    if isinstance(budget, bool) or not isinstance(budget, int) \
            or not num_blocks <= budget:
        raise ValueError(
            f"Argument `budget` must be an int >= {num_blocks} (the number "
            f"of blocks: everything shared); {num_tasks * num_blocks} "
            f"allows separate networks. Received: budget={budget!r}."
        )
    partitions = [tuple(tuple(g) for g in p) for p in
                  _set_partitions(list(range(num_tasks)), num_tasks)]
    dissimilarity = [1.0 - m.values for m in similarities]

    def block_cost(level: int, partition: tuple) -> float:
        d = dissimilarity[level]
        return float(sum(d[np.ix_(g, g)].max() for g in partition
                         if len(g) > 1))

    # best[(partition, blocks used)] = (cost, trail of partitions)
    best: dict = {}
    for p in partitions:
        if len(p) <= budget:
            best[(p, len(p))] = (block_cost(0, p), (p,))
    for level in range(1, num_blocks):
        following: dict = {}
        for (coarse, used), (cost, trail) in best.items():
            for p in partitions:
                total = used + len(p)
                if total > budget or not _refines(p, coarse):
                    continue
                candidate = (cost + block_cost(level, p), trail + (p,))
                key = (p, total)
                if key not in following or candidate[0] < following[key][0]:
                    following[key] = candidate
        best = following
    (_, used), (cost, trail) = min(
        best.items(), key=lambda item: (round(item[1][0], 9), item[0][1]))
    named = tuple(tuple(tuple(names[t] for t in g) for g in p)
                  for p in trail)
    plan = BranchPlan(tuple(names), named, cost)
    # Canonical group order (as the builder reads it).
    from keras_mtl.builders.tree import check_partitions
    return BranchPlan(plan.tasks, tuple(check_partitions(
        plan.partitions, names, num_blocks)), cost)
