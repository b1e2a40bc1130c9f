"""Plots of task-weight and task-loss trajectories (PNG, matplotlib Agg).

```python
history = model.fit(...)
keras_mtl.reporting.plot_task_trajectories(history, "results/weights.png")
# Several runs side by side, one row each:
keras_mtl.reporting.plot_task_trajectories(
    {"equal": h_equal, "dwa": h_dwa}, "results/compare.png")
```
"""

import os
from typing import Any
from typing import Mapping
from typing import Sequence

import numpy as np

_LOSS_SCALES = ("linear", "log")


def _as_logs(run: Any) -> dict[str, list[float]]:
    logs = getattr(run, "history", run)
    if not isinstance(logs, Mapping):
        raise TypeError(
            "Expected a keras History, a dict of lists such as "
            "History.history or TaskWeightLogger.trajectory, or a dict "
            f"{{label: history}}. Received: {type(run).__name__}."
        )
    return {k: list(v) for k, v in logs.items()}


def _is_single_run(history: Any) -> bool:
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        return True
    return all(isinstance(v, (list, tuple, np.ndarray))
               for v in logs.values())


def _task_names(logs: Mapping[str, Any]) -> list[str]:
    return [k[: -len("_weight")] for k in logs
            if k.endswith("_weight") and not k.startswith("val_")]


def plot_task_trajectories(
    history: Any,
    path: str | os.PathLike,
    tasks: Sequence[str] | None = None,
    title: str | None = None,
    loss_scale: str = "linear",
    dpi: int = 100,
) -> str:
    """Draws each task's weight and loss per epoch and saves a PNG.

    One row per run, with the task weights (`<task>_weight`) on the left
    and the training losses (`<task>_loss`, dashed `val_<task>_loss` when
    logged) on the right.

    Args:
        history: A `keras.callbacks.History` (what `fit` returns), a dict of
            lists (`History.history`, `TaskWeightLogger.trajectory`), or a
            dict `{label: history}` to compare runs.
        path: Where to write the PNG (parent folders are created).
        tasks: Optional task names to draw (default: every task with a
            `<task>_weight` entry).
        title: Optional figure title.
        loss_scale: `"linear"` (default) or `"log"` for the loss axes.
        dpi: Resolution. Defaults to 100.

    Returns:
        The path written, as a string.

    Example:

    ```python
    history = model.fit(x, y, epochs=10)
    plot_task_trajectories(history, "saved_models/weights.png")
    ```
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if loss_scale not in _LOSS_SCALES:
        raise ValueError(
            f"Argument `loss_scale` must be one of {list(_LOSS_SCALES)}. "
            f"Received: loss_scale={loss_scale!r}."
        )
    if _is_single_run(history):
        runs = {"": _as_logs(history)}
    else:
        runs = {str(k): _as_logs(v) for k, v in history.items()}
    for label, logs in runs.items():
        names = list(tasks) if tasks is not None else _task_names(logs)
        if not names:
            raise ValueError(
                f"No `<task>_weight` entries to plot in run {label!r} "
                f"(keys: {sorted(logs)}). Pass the History of a keras_mtl "
                "MultiTaskModel, or `tasks`."
            )
        missing = [n for n in names if f"{n}_weight" not in logs]
        if missing:
            raise ValueError(
                f"Run {label!r} has no `<task>_weight` log for task(s) "
                f"{missing}; it logs {sorted(logs)}. Fix `tasks`."
            )

    figure = Figure(figsize=(10, 3.2 * len(runs)), dpi=dpi,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(runs), 2, squeeze=False)
    for row, (label, logs) in enumerate(runs.items()):
        names = list(tasks) if tasks is not None else _task_names(logs)
        length = len(logs[f"{names[0]}_weight"])
        epochs = logs.get("epoch", list(range(length)))
        epochs = [int(e) + 1 for e in epochs]
        weight_ax, loss_ax = axes[row]
        for i, name in enumerate(names):
            color = f"C{i % 10}"
            weight_ax.plot(epochs, logs[f"{name}_weight"], color=color,
                           marker="o", markersize=3, label=name)
            if f"{name}_loss" in logs:
                loss_ax.plot(epochs, logs[f"{name}_loss"], color=color,
                             marker="o", markersize=3, label=name)
            if f"val_{name}_loss" in logs:
                loss_ax.plot(epochs, logs[f"val_{name}_loss"], color=color,
                             linestyle="--", label=f"val {name}")
        prefix = f"{label}: " if label else ""
        weight_ax.set_title(f"{prefix}task weights")
        loss_ax.set_title(f"{prefix}task losses")
        loss_ax.set_yscale(loss_scale)
        for ax in (weight_ax, loss_ax):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png")
    return path
