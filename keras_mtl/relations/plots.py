"""Pictures of task relations: one call, one PNG each.

Drawn on matplotlib's Agg canvas (no display, no global backend change);
matplotlib is imported only when a picture is drawn.

- `plot_affinity(matrix, path)`: a heat map in a clustering order.
- `plot_relation(model_or_matrix, path)`: the (learned) relation matrix.
- `plot_branches(plan, path)`: the tree of branches of a plan.
"""

import os
from typing import Any

import numpy as np

from keras_mtl.relations.matrix import RelationMatrix


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    return path


def _heat_map(matrix: RelationMatrix, path: str | os.PathLike, title: str,
              xlabel: str, ylabel: str) -> str:
    values = matrix.values
    size = max(3.5, 0.7 * len(matrix.tasks) + 2.0)
    figure = _figure(size + 1.0, size)
    axes = figure.add_subplot(1, 1, 1)
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    image = axes.imshow(np.ma.masked_invalid(values), cmap="RdBu_r",
                        vmin=-limit or -1.0, vmax=limit or 1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = range(len(matrix.tasks))
    axes.set_xticks(list(ticks), matrix.tasks, rotation=45, ha="right")
    axes.set_yticks(list(ticks), matrix.tasks)
    if len(matrix.tasks) <= 12:
        for i in ticks:
            for j in ticks:
                text = "n/a" if not np.isfinite(values[i, j]) \
                    else f"{values[i, j]:.2g}"
                axes.text(j, i, text, ha="center", va="center", fontsize=8)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    return _save(figure, path)


def plot_affinity(matrix: RelationMatrix, path: str | os.PathLike,
                  cluster: bool = True) -> str:
    """Heat map of an affinity matrix, rows/columns in clustering order.

    Args:
        matrix: A `RelationMatrix` (e.g. `TaskAffinity.affinity()`).
        path: Where to write the PNG (folders are created).
        cluster: bool. Order tasks by average-linkage clustering of the
            symmetrised matrix (`RelationMatrix.cluster_order`), so that
            related tasks sit together. Defaults to True.

    Returns:
        The path written.
    """
    if cluster:
        matrix = matrix.reordered(matrix.cluster_order())
    return _heat_map(matrix, path, f"Task affinity ({matrix.measure})",
                     "target task j", "source task i")


def plot_relation(model_or_matrix: Any, path: str | os.PathLike) -> str:
    """Heat map of a soft-sharing model's relation matrix (or any
    `RelationMatrix`): `keras_mtl.relations.relation_matrix(model)`."""
    if isinstance(model_or_matrix, RelationMatrix):
        matrix = model_or_matrix
    else:
        from keras_mtl.relations.learned import relation_matrix

        matrix = relation_matrix(model_or_matrix)
    return _heat_map(matrix, path, f"Task relation ({matrix.measure})",
                     "task", "task")


def plot_branches(plan: Any, path: str | os.PathLike) -> str:
    """The tree of branches of a plan: blocks left to right, one node per
    group of tasks sharing a block, leaves labelled with the tasks.

    Args:
        plan: A `BranchPlan`, or a `GroupingPlan` with `num_blocks`
            given through `plan.block_partitions` (drawn with 2 blocks).
        path: Where to write the PNG.

    Returns:
        The path written.
    """
    if hasattr(plan, "partitions"):
        partitions = plan.partitions
    else:  # a grouping: every block split into the groups
        partitions = plan.block_partitions(plan.tasks, 2)
    # Rows in the tree's leaf order, so that branches do not cross.
    tasks = sorted(plan.tasks, key=lambda t: tuple(
        next(k for k, g in enumerate(p) if t in g) for p in partitions))
    row = {t: k for k, t in enumerate(tasks)}
    figure = _figure(1.6 * len(partitions) + 3.0, 0.6 * len(tasks) + 1.5)
    axes = figure.add_subplot(1, 1, 1)
    previous: dict[str, tuple[float, float]] = {
        t: (-1.0, float(np.mean([row[u] for u in tasks]))) for t in tasks}
    axes.plot(-1.0, previous[tasks[0]][1], "ks", markersize=7)
    for level, partition in enumerate(partitions):
        current = {}
        for group in partition:
            y = float(np.mean([row[t] for t in group]))
            px, py = previous[group[0]]
            axes.plot([px, level], [py, y], "-", color="0.4")
            axes.plot(level, y, "o", color="C0" if len(group) > 1 else "C1",
                      markersize=6 + 2 * len(group))
            current.update((t, (float(level), y)) for t in group)
        previous = current
    head = float(len(partitions))
    for task in tasks:  # one head per task
        x, y = previous[task]
        axes.plot([x, head], [y, row[task]], "-", color="0.4")
        axes.plot(head, row[task], "k^", markersize=6)
        axes.text(head + 0.15, row[task], task, va="center", fontsize=9)
    axes.set_xticks(list(range(-1, len(partitions) + 1)),
                    ["input"] + [f"block {k}" for k in
                                 range(len(partitions))] + ["heads"])
    axes.set_xlim(-1.4, head + 1.2)
    axes.set_yticks([])
    axes.set_ylim(len(tasks) - 0.5, -0.5)
    axes.set_title("Suggested branches (blue: shared, orange: one task)")
    return _save(figure, path)
