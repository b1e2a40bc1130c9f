"""`plot_pareto`: results and their Pareto front as a PNG (matplotlib Agg,
imported on first use)."""

import os
from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl.reporting.pareto import pareto_front


def plot_pareto(results: Sequence[Mapping[str, Any]],
                directions: Mapping[str, str],
                path: str | os.PathLike,
                title: str | None = None) -> str:
    """Plots every result and its Pareto front to a PNG file.

    One panel per pair of metrics (one panel for two metrics); all
    results in grey, the front (computed over all metrics) in red, joined
    in the first panel's order. Uses Matplotlib's Agg canvas directly, so
    it changes no global backend.

    Args:
        results: The rows (e.g. from `trial_results`).
        directions: `{metric: "min" | "max"}` (at least two metrics).
        path: The PNG file to write.
        title: Optional figure title.

    Returns:
        The path written, as a string.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = list(directions)
    if len(metrics) < 2:
        raise ValueError(
            "plot_pareto needs at least two metrics in `directions`. "
            f"Received: {metrics}."
        )
    front = pareto_front(results, directions)
    pairs = [(a, b) for i, a in enumerate(metrics) for b in metrics[i + 1:]]
    figure = Figure(figsize=(4.5 * len(pairs), 4.0))
    FigureCanvasAgg(figure)
    for k, (a, b) in enumerate(pairs):
        axes = figure.add_subplot(1, len(pairs), k + 1)
        xs = [float(r[a]) for r in results]
        ys = [float(r[b]) for r in results]
        axes.scatter(xs, ys, color="0.6", s=18, label="trials")
        points = sorted((xs[i], ys[i]) for i in front)
        axes.scatter([p[0] for p in points], [p[1] for p in points],
                     color="tab:red", s=30, label="Pareto front")
        if len(pairs) == 1:
            axes.plot([p[0] for p in points], [p[1] for p in points],
                      color="tab:red", linewidth=1)
        axes.set_xlabel(f"{a} ({directions[a]})")
        axes.set_ylabel(f"{b} ({directions[b]})")
        axes.grid(alpha=0.3)
        if k == 0:
            axes.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
