"""`RelationMatrix`: a task-by-task matrix labelled with task names."""

import dataclasses
import math
from typing import Any
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class RelationMatrix:
    """A `[T, T]` matrix of task relations with its task names.

    Entry `values[i, j]` relates task `tasks[i]` (the row, the source) to
    task `tasks[j]` (the column, the target); for the lookahead affinity it
    is `Z_{i->j}`, how much a step on task i's loss lowers task j's loss.

    Attributes:
        tasks: Task names, in row/column order.
        values: float64 array of shape `[T, T]` (NaN where never measured).
        measure: What the entries are (`"lookahead"`, `"cosine"`,
            `"learned_covariance"`, `"cka"`, ...).
        counts: Optional int array `[T, T]`: how many measurements each
            entry averages.

    Example:

    ```python
    affinity = callback.affinity("lookahead")
    affinity["left", "right"]      # Z_{left->right}
    affinity.to_dict()["left"]     # {"left": ..., "right": ...}
    ```
    """

    tasks: tuple[str, ...]
    values: np.ndarray
    measure: str
    counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        values = np.asarray(self.values, dtype=np.float64)
        if values.shape != (len(tasks), len(tasks)):
            raise ValueError(
                f"A relation matrix over {len(tasks)} task(s) {list(tasks)} "
                f"needs values of shape ({len(tasks)}, {len(tasks)}). "
                f"Received shape {values.shape}."
            )
        if len(set(tasks)) != len(tasks):
            raise ValueError(
                f"Task names of a relation matrix must be unique. Received: "
                f"{list(tasks)}."
            )
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "values", values)

    @classmethod
    def from_array(cls, tasks: Sequence[str], values: Any,
                   measure: str = "affinity") -> "RelationMatrix":
        """A matrix from task names and nested lists or an array."""
        return cls(tuple(tasks), np.asarray(values, dtype=np.float64),
                   measure)

    def index(self, task: str) -> int:
        """The row/column of `task` (raises naming the known tasks)."""
        try:
            return self.tasks.index(task)
        except ValueError:
            raise KeyError(
                f"Unknown task {task!r}; this {self.measure} matrix has "
                f"tasks {list(self.tasks)}."
            ) from None

    def __getitem__(self, pair: tuple[str, str]) -> float:
        source, target = pair
        return float(self.values[self.index(source), self.index(target)])

    def to_dict(self) -> dict[str, dict[str, float]]:
        """`{source: {target: value}}` (NaN kept as `float("nan")`)."""
        return {a: {b: float(self.values[i, j])
                    for j, b in enumerate(self.tasks)}
                for i, a in enumerate(self.tasks)}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as None)."""
        def clean(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)
        return {"measure": self.measure, "tasks": list(self.tasks),
                "values": [[clean(v) for v in row] for row in self.values]}

    def symmetric(self) -> "RelationMatrix":
        """`(Z + Zᵀ) / 2`: the mutual affinity of each pair."""
        return RelationMatrix(self.tasks, (self.values + self.values.T) / 2,
                              f"{self.measure}_symmetric")

    def cluster_order(self) -> list[str]:
        """Task names in an order that keeps related tasks adjacent.

        Average-linkage hierarchical clustering on the distance
        `max(S) - S` of the symmetrised matrix `S` (NaN taken as the
        smallest value); the leaves' order is returned. One or two tasks
        keep their order.
        """
        num_tasks = len(self.tasks)
        if num_tasks <= 2:
            return list(self.tasks)
        from scipy.cluster import hierarchy
        from scipy.spatial.distance import squareform

        sym = (self.values + self.values.T) / 2
        finite = sym[np.isfinite(sym)]
        floor = float(finite.min()) if finite.size else 0.0
        sym = np.where(np.isfinite(sym), sym, floor)
        distance = sym.max() - sym
        np.fill_diagonal(distance, 0.0)
        linkage = hierarchy.linkage(squareform(distance, checks=False),
                                    method="average")
        leaves = hierarchy.leaves_list(
            hierarchy.optimal_leaf_ordering(
                linkage, squareform(distance, checks=False)))
        return [self.tasks[i] for i in leaves]

    def reordered(self, order: Sequence[str]) -> "RelationMatrix":
        """The same matrix with rows and columns in `order`."""
        idx = [self.index(t) for t in order]
        if sorted(idx) != list(range(len(self.tasks))):
            raise ValueError(
                f"Argument `order` must list every task once. Received "
                f"{list(order)} for tasks {list(self.tasks)}."
            )
        counts = None if self.counts is None else \
            self.counts[np.ix_(idx, idx)]
        return RelationMatrix(tuple(order), self.values[np.ix_(idx, idx)],
                              self.measure, counts)
