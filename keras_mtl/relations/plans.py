"""Sharing plans: values the hard-sharing builder turns into a model.

A plan says, for every trunk block, which tasks share it. Both plans
below answer `block_partitions(task_names, num_blocks)`: one partition of
the tasks per block, each refining the one below it (a tree of
branches), which `keras_mtl.build(..., plan=plan)` builds.
"""

import dataclasses
from typing import Sequence

from keras_mtl.builders.tree import Partition
from keras_mtl.builders.tree import check_partitions


@dataclasses.dataclass(frozen=True)
class GroupingPlan:
    """Task groups, one network (trunk) per group (TAG's selection).

    Attributes:
        tasks: All task names.
        groups: The chosen groups. With overlap a task may sit in several
            groups (it trains there to help the others) but is served by
            one of them.
        served_by: `{task: index into groups}`: the group whose affinity
            onto the task is highest.
        score: The total affinity of the selection (see `suggest_groups`).
    """

    tasks: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    served_by: dict[str, int]
    score: float

    @property
    def overlapping(self) -> bool:
        """Whether some task is in more than one group."""
        flat = [t for g in self.groups for t in g]
        return len(flat) != len(set(flat))

    def served(self) -> "GroupingPlan":
        """The partition keeping each task in its serving group only."""
        kept = [tuple(t for t in self.tasks if self.served_by[t] == k)
                for k in range(len(self.groups))]
        groups = tuple(g for g in kept if g)
        index = {t: k for k, g in enumerate(groups) for t in g}
        return GroupingPlan(self.tasks, groups, index, self.score)

    def block_partitions(self, task_names: Sequence[str],
                         num_blocks: int) -> list[Partition]:
        """Every block partitioned into the groups (all blocks shared
        within a group, nothing across groups)."""
        if self.overlapping:
            raise ValueError(
                f"This grouping plan puts a task in several groups "
                f"({[list(g) for g in self.groups]}); one model gives each "
                "task one head. Build it with `plan=plan.served()` (each "
                "task only in the group serving it), or train one network "
                "per group as TAG does, or suggest groups with "
                "overlap=False."
            )
        if sorted(task_names) != sorted(self.tasks):
            raise ValueError(
                f"The plan groups tasks {list(self.tasks)} but the model "
                f"has tasks {list(task_names)}."
            )
        return check_partitions([self.groups] * num_blocks, task_names,
                                num_blocks)


@dataclasses.dataclass(frozen=True)
class BranchPlan:
    """A tree of branches: which tasks share each trunk block.

    Attributes:
        tasks: All task names.
        partitions: One partition of the tasks per block, from the input
            up; each refines the one below.
        cost: The tree's summed task dissimilarity (see
            `suggest_branches`).
    """

    tasks: tuple[str, ...]
    partitions: tuple[Partition, ...]
    cost: float

    @property
    def num_blocks(self) -> int:
        """Block instances the tree holds (sum of groups over blocks)."""
        return sum(len(p) for p in self.partitions)

    def sharing_depth(self) -> dict[str, int]:
        """Per task, how many leading blocks it shares with another task."""
        depth = {}
        for task in self.tasks:
            depth[task] = 0
            for partition in self.partitions:
                group = next(g for g in partition if task in g)
                if len(group) < 2:
                    break
                depth[task] += 1
        return depth

    def block_partitions(self, task_names: Sequence[str],
                         num_blocks: int) -> list[Partition]:
        if sorted(task_names) != sorted(self.tasks):
            raise ValueError(
                f"The plan covers tasks {list(self.tasks)} but the model "
                f"has tasks {list(task_names)}."
            )
        return check_partitions(self.partitions, task_names, num_blocks)
