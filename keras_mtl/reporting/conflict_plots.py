"""Plots of gradient conflict: the cosine heat map and weights over epochs.

Drawn with matplotlib's Agg canvas (no display needed, no global backend
change) from the `history` of `keras_mtl.callbacks.GradientConflict`:

```python
conflict = keras_mtl.callbacks.GradientConflict((x_val, y_val))
model.fit(x, y, epochs=10, callbacks=[conflict])
keras_mtl.reporting.save_conflict_plots(conflict, "plots/")
```
"""

import os
from typing import Any
from typing import Sequence

import numpy as np


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_cosine_matrix(
    cosine: Any, task_names: Sequence[str], path: str,
    title: str = "Task gradient cosine",
) -> str:
    """Saves a heat map of a `[T, T]` cosine matrix as a PNG.

    Negative cells (conflicting pairs) are red, positive ones blue, on a
    fixed [-1, 1] scale so that maps from different epochs compare.

    Args:
        cosine: `[T, T]` array of cosines.
        task_names: The `T` task names (axis labels).
        path: The PNG file to write.
        title: The figure title.

    Returns:
        `path`.
    """
    cosine = np.asarray(cosine, dtype=float)
    names = list(task_names)
    if cosine.ndim != 2 or cosine.shape != (len(names), len(names)):
        raise ValueError(
            f"Expected a [{len(names)}, {len(names)}] cosine matrix for "
            f"tasks {names}. Received shape {cosine.shape}."
        )
    size = 1.6 + 0.7 * len(names)
    figure = _figure(size + 1.2, size)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(cosine, cmap="RdBu", vmin=-1.0, vmax=1.0)
    axes.set_xticks(range(len(names)), labels=names, rotation=45,
                    ha="right")
    axes.set_yticks(range(len(names)), labels=names)
    for a in range(len(names)):
        for b in range(len(names)):
            color = "white" if abs(cosine[a, b]) > 0.6 else "black"
            axes.text(b, a, f"{cosine[a, b]:.2f}", ha="center", va="center",
                      fontsize=8, color=color)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="cosine")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def plot_weights_over_epochs(
    epochs: Sequence[int], weights: Any, task_names: Sequence[str],
    path: str, conflict_share: Sequence[float] | None = None,
) -> str:
    """Saves a line plot of the aggregation weights per epoch as a PNG.

    Args:
        epochs: The epoch numbers (x axis).
        weights: `[E, T]` array: one weight per task and epoch.
        task_names: The `T` task names (legend).
        path: The PNG file to write.
        conflict_share: Optional `[E]` shares of conflicting pairs, drawn
            in a second panel.

    Returns:
        `path`.
    """
    weights = np.asarray(weights, dtype=float)
    names = list(task_names)
    epochs = list(epochs)
    if weights.ndim != 2 or weights.shape != (len(epochs), len(names)):
        raise ValueError(
            f"Expected weights of shape [{len(epochs)} epochs, {len(names)} "
            f"tasks]. Received shape {weights.shape}."
        )
    panels = 1 if conflict_share is None else 2
    from matplotlib.ticker import MaxNLocator

    figure = _figure(6.0, 3.0 * panels)
    axes = figure.add_subplot(panels, 1, 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for t, name in enumerate(names):
        axes.plot(epochs, weights[:, t], marker="o", label=name)
    axes.set_xlabel("epoch")
    axes.set_ylabel("aggregation weight")
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    if conflict_share is not None:
        lower = figure.add_subplot(panels, 1, 2)
        lower.xaxis.set_major_locator(MaxNLocator(integer=True))
        lower.plot(epochs, list(conflict_share), marker="o", color="crimson")
        lower.set_ylim(-0.05, 1.05)
        lower.set_xlabel("epoch")
        lower.set_ylabel("conflicting pairs")
        lower.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def save_conflict_plots(
    callback: Any, directory: str, prefix: str = "gradient_conflict"
) -> dict[str, str]:
    """Saves the plots of a fitted `GradientConflict` callback.

    Writes `<prefix>_cosine.png` (the heat map of the last computed epoch)
    and `<prefix>_weights.png` (weights and conflict share over epochs).

    Args:
        callback: A `keras_mtl.callbacks.GradientConflict` used in `fit`.
        directory: Folder for the PNG files (created if missing).
        prefix: File name prefix.

    Returns:
        `{"cosine": path, "weights": path}`.
    """
    history = getattr(callback, "history", None)
    if not history:
        raise ValueError(
            "The GradientConflict callback has no measurements yet. Pass it "
            "to model.fit(callbacks=[...]) and train at least one epoch "
            "(with `frequency` <= epochs) before plotting."
        )
    names = callback.task_names
    os.makedirs(directory, exist_ok=True)
    last = history[-1]
    cosine_path = plot_cosine_matrix(
        last["cosine"], names,
        os.path.join(directory, f"{prefix}_cosine.png"),
        title=f"Task gradient cosine (epoch {last['epoch'] + 1})")
    weights_path = plot_weights_over_epochs(
        [h["epoch"] + 1 for h in history],
        np.stack([h["weights"] for h in history]), names,
        os.path.join(directory, f"{prefix}_weights.png"),
        conflict_share=[h["conflict_share"] for h in history])
    return {"cosine": cosine_path, "weights": weights_path}
