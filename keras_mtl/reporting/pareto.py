"""The Pareto front of many results over several metrics, and its table.

A scalar objective picks one result; with several tasks the honest
summary is the set of results that no other result beats on every task at
once (the non-dominated set). `pareto_front` computes it exactly on any
list of results (tuning trials, benchmark runs); `pareto_table` prints it.
"""

import math
from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl.reporting.directions import check_direction


def _signed_rows(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str]) -> list[list[float]]:
    if not directions:
        raise ValueError(
            "Argument `directions` is empty. Give each metric's direction, "
            "e.g. {'val_task_1_loss': 'min', 'val_task_2_auc': 'max'}."
        )
    signs = {m: 1.0 if check_direction(d, m) == "min" else -1.0
             for m, d in directions.items()}
    rows = []
    for i, result in enumerate(results):
        row = []
        for metric, sign in signs.items():
            if metric not in result:
                raise ValueError(
                    f"Result {i} has no value for metric {metric!r} (it "
                    f"has {sorted(result)}). Drop incomplete results or "
                    "fix the metric name."
                )
            value = float(result[metric])
            if math.isnan(value):
                raise ValueError(
                    f"Result {i} has NaN for metric {metric!r}; a NaN "
                    "cannot be ranked. Drop that result."
                )
            row.append(sign * value)
        rows.append(row)
    return rows


def pareto_front(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str]) -> list[int]:
    """Indices of the non-dominated results, in input order.

    Result `a` dominates `b` when `a` is at least as good as `b` on every
    metric of `directions` and strictly better on one. Equal results do
    not dominate each other, so duplicates on the front are all kept.

    Args:
        results: A sequence of mappings from metric name to value (other
            keys are ignored), e.g. the rows of `trial_results`.
        directions: `{metric: "min" | "max"}`, the metrics that span the
            front.

    Returns:
        The sorted list of indices of the results on the Pareto front.

    Example:

    ```python
    keras_mtl.tuning.pareto_front(
        [{"a": 1, "b": 3}, {"a": 2, "b": 2}, {"a": 2, "b": 4}],
        directions={"a": "min", "b": "min"})
    # [0, 1]
    ```
    """
    rows = _signed_rows(results, directions)
    front = []
    for i, row in enumerate(rows):
        dominated = False
        for j, other in enumerate(rows):
            if j == i:
                continue
            if all(o <= r for o, r in zip(other, row, strict=True)) and any(
                    o < r for o, r in zip(other, row, strict=True)):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pareto_table(results: Sequence[Mapping[str, Any]],
                 directions: Mapping[str, str],
                 front: Sequence[int] | None = None,
                 hyperparameters: Sequence[str] | None = None) -> str:
    """A plain-text table of the Pareto front, best first metric first.

    Args:
        results: The rows (e.g. from `trial_results`).
        directions: `{metric: "min" | "max"}`.
        front: Indices to show (default: `pareto_front(results,
            directions)`).
        hyperparameters: Hyperparameter names to show (default: every
            active one of the rows shown).

    Returns:
        The table as a string (one header line, one line per result).
    """
    if front is None:
        front = pareto_front(results, directions)
    metrics = list(directions)
    sign = 1.0 if directions[metrics[0]] == "min" else -1.0
    order = sorted(front, key=lambda i: sign * float(
        results[i][metrics[0]]))
    if hyperparameters is None:
        names: list[str] = []
        for i in order:
            for name in results[i].get("hyperparameters", {}):
                if name not in names:
                    names.append(name)
        hyperparameters = names
    header = ["#", "trial"] + [
        f"{m} ({directions[m]})" for m in metrics] + list(hyperparameters)
    lines = []
    for i in order:
        row = results[i]
        hps = row.get("hyperparameters", {})
        lines.append([str(i), str(row.get("trial_id", "-"))] + [
            _format(float(row[m])) for m in metrics] + [
            _format(hps[h]) if h in hps else "-" for h in hyperparameters])
    widths = [max(len(header[c]), *(len(line[c]) for line in lines))
              if lines else len(header[c]) for c in range(len(header))]
    text = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    text += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
             for line in lines]
    return "\n".join(text)
