"""A tree of branches: per trunk block, which tasks share it.

```
partitions[l]  a partition of the tasks for block l; each group calls one
               copy of the block (all tasks: the shared layer "trunk_l";
               one task: "<task>_trunk_l"; a group: "group_<a>_<b>_trunk_l")
               and each refines partitions[l - 1] (branches never merge)
```

`keras_mtl.build(..., sharing_depth={task: depth})` and
`keras_mtl.build(..., plan=plan)` (a `keras_mtl.relations` plan) build
such trees; an int `sharing_depth` is the tree that shares the first
blocks by all tasks and none after.

References:
- Vandenhende, Georgoulis, De Brabandere, Van Gool (2020). Branched
  Multi-Task Networks: Deciding What Layers To Share. BMVC.
  arXiv:1904.02920.
"""

from typing import Any
from typing import Sequence

import keras

from keras_mtl.builders.blocks import Block
from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.types import KerasTensor

Partition = tuple[tuple[str, ...], ...]


def check_partitions(partitions: Sequence[Sequence[Sequence[str]]],
                     task_names: Sequence[str], num_blocks: int
                     ) -> list[Partition]:
    """Validates per-block partitions (cover, disjoint, refining)."""
    names = list(task_names)
    if len(partitions) != num_blocks:
        raise ValueError(
            f"The plan has {len(partitions)} block partition(s) but the "
            f"trunk has {num_blocks} block(s). Give one partition per "
            "block (or a trunk with as many blocks as the plan)."
        )
    result: list[Partition] = []
    previous: Partition | None = None
    for level, partition in enumerate(partitions):
        groups = tuple(tuple(g) for g in partition)
        flat = [t for g in groups for t in g]
        if sorted(flat) != sorted(names) or len(set(flat)) != len(flat) \
                or any(not g for g in groups):
            raise ValueError(
                f"Block {level} of the plan must split the model's tasks "
                f"{names} into non-empty groups, each task exactly once. "
                f"Received: {[list(g) for g in groups]}."
            )
        if previous is not None:
            for group in groups:
                if not any(set(group) <= set(p) for p in previous):
                    raise ValueError(
                        f"Block {level} of the plan shares {list(group)}, "
                        f"which do not share block {level - 1} "
                        f"({[list(p) for p in previous]}): a branch cannot "
                        "merge again. Each block's groups must lie inside "
                        "the groups of the block below."
                    )
        # Canonical order: groups by the first task's position.
        groups = tuple(sorted(
            (tuple(sorted(g, key=names.index)) for g in groups),
            key=lambda g: names.index(g[0])))
        result.append(groups)
        previous = groups
    return result


def depths_to_partitions(sharing_depth: dict[str, Any],
                         task_names: Sequence[str],
                         num_blocks: int) -> list[Partition]:
    """`{task: depth}` to partitions: block l is shared by the tasks whose
    depth exceeds l; every other task has its own copy of block l."""
    names = list(task_names)
    unknown = sorted(set(sharing_depth) - set(names))
    missing = [n for n in names if n not in sharing_depth]
    if unknown or missing:
        raise ValueError(
            f"Argument `sharing_depth` as a dict needs one depth per task "
            f"{names}. Unknown: {unknown}; missing: {missing}."
        )
    for name in names:
        depth = sharing_depth[name]
        if isinstance(depth, bool) or not isinstance(depth, int) \
                or not 0 <= depth <= num_blocks:
            raise ValueError(
                f"Task {name!r}: `sharing_depth` must be an int in [0, "
                f"{num_blocks}] for a trunk of {num_blocks} block(s). "
                f"Received: {depth!r}."
            )
    partitions = []
    for level in range(num_blocks):
        shared = tuple(n for n in names if sharing_depth[n] > level)
        alone = [(n,) for n in names if sharing_depth[n] <= level]
        partitions.append(((shared,) if shared else ()) + tuple(alone))
    return check_partitions(partitions, names, num_blocks)


def group_prefix(group: Sequence[str], num_tasks: int) -> str | None:
    """The layer-name prefix of a group's copy of a block."""
    if len(group) == num_tasks:
        return None
    if len(group) == 1:
        return group[0]
    return "group_" + "_".join(group)


def apply_tree(x: KerasTensor, task_names: Sequence[str],
               blocks: Sequence[Block], partitions: Sequence[Partition],
               representation: str) -> tuple[dict[str, KerasTensor],
                                             str | None]:
    """Runs `x` through the tree; returns each task's features and the
    name of the shared-representation layer (None when block 0 is not
    shared by every task)."""
    names = list(task_names)
    depth = 0
    for partition in partitions:
        if len(partition) != 1:
            break
        depth += 1
    current = {n: x for n in names}
    for level, (block, partition) in enumerate(zip(blocks, partitions)):
        following = {}
        for group in partition:
            out = block(current[group[0]],
                        prefix=group_prefix(group, len(names)))
            following.update((n, out) for n in group)
        current = following
        if depth and level == depth - 1:
            h = current[names[0]]
            if depth == len(blocks):
                h = flatten_if_needed(h, None, "representation")
            h = keras.layers.Identity(name=representation)(h)
            current = {n: h for n in names}
    return current, (representation if depth else None)
