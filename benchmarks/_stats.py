"""Statistics of the result tables: 95% intervals and paired differences.

With 5 seeds the sample standard deviation says little by itself; a
reader needs the interval of the mean and, to compare two methods, the
interval of their difference paired by seed (both methods see the same
data split and the same initial trunk seed, so the pairing removes the
seed-to-seed variation they share). Intervals are Student-t intervals:
`mean ± t(0.975, n-1) * sd / sqrt(n)`.

A difference is called *real* when its paired 95% interval excludes 0,
and *noise* otherwise; `verdict` writes that sentence for a table.
"""

import math
import statistics
from collections.abc import Sequence
from typing import Any

# Two-sided 95% quantiles of Student's t, t(0.975, df), df = 1..30.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
         2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """t(0.975, df); the normal 1.96 beyond df = 30 (within 2% there)."""
    if df < 1:
        raise ValueError(f"Degrees of freedom must be >= 1. Received: {df}.")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """`(mean, half_width)` of the 95% t-interval of the mean.

    One value has no interval: its half width is NaN (shown as "n/a"),
    never 0, so a single run is not read as exact.
    """
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(
        len(values))
    return mean, half


def paired_difference(runs: Sequence[dict[str, Any]], metric: str,
                      method: str, baseline: str, *,
                      method_key: str = "method", pair_on: Sequence[str] = (
                          "seed",), where: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """`metric(method) - metric(baseline)` paired by `pair_on`.

    Only pairs present for both methods count (the number is returned as
    `pairs`). Returns `{"mean", "half_width", "pairs", "real"}`, where
    `real` says whether the 95% interval excludes 0.
    """
    where = where or {}
    chosen = [r for r in runs
              if all(str(r.get(k)) == str(v) for k, v in where.items())]

    def by_pair(name: str) -> dict[tuple, float]:
        return {tuple(str(r[k]) for k in pair_on): float(r[metric])
                for r in chosen if r[method_key] == name}

    ours, theirs = by_pair(method), by_pair(baseline)
    diffs = [ours[k] - theirs[k] for k in ours if k in theirs]
    mean, half = mean_ci(diffs)
    real = bool(diffs) and not math.isnan(half) and abs(mean) > half
    return {"mean": mean, "half_width": half, "pairs": len(diffs),
            "real": real}


def interval_text(mean: float, half: float, digits: int = 2) -> str:
    """`mean ± half` (or `mean ± n/a` for a single run)."""
    if math.isnan(half):
        return f"{mean:.{digits}f} ± n/a"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def verdict(differences: dict[str, dict[str, Any]], *, metric_text: str,
            baseline: str, digits: int = 2,
            higher_is_better: bool = True) -> str:
    """One plain sentence: which methods differ from `baseline` beyond
    the seed noise (paired 95% interval excluding 0), and which do not.
    """
    better, worse, noise = [], [], []
    for name, d in differences.items():
        sign = "+" if d["mean"] >= 0 else ""
        interval = interval_text(d["mean"], d["half_width"], digits)
        text = f"`{name}` ({sign}{interval})"
        if not d["real"]:
            noise.append(text)
        elif (d["mean"] > 0) == higher_is_better:
            better.append(text)
        else:
            worse.append(text)
    parts = [f"Paired by seed against `{baseline}` ({metric_text}, 95% "
             "interval of the difference):"]
    if better:
        parts.append(f"better beyond noise: {', '.join(better)};")
    if worse:
        parts.append(f"worse beyond noise: {', '.join(worse)};")
    parts.append(f"within noise: {', '.join(noise) if noise else 'none'}.")
    return " ".join(parts)


def summarize_ci(runs: Sequence[dict[str, Any]], keys: Sequence[str],
                 metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Groups runs by `keys`; per metric, `<metric>_mean`, `<metric>_sd`
    and `<metric>_ci95` (half width), plus `seeds`.

    Timings (`*_seconds`) leave out seed 0 when later seeds ran: with
    `_results.Retrainer`, seed 0's run of a method includes tracing.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in keys), []).append(run)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = dict(zip(keys, key))
        row["seeds"] = len(members)
        for metric in metrics:
            pool = members
            if metric.endswith("_seconds"):
                pool = [m for m in members if m.get("seed", 0) != 0] or pool
            values = [float(m[metric]) for m in pool]
            mean, half = mean_ci(values)
            row[f"{metric}_mean"] = mean
            row[f"{metric}_sd"] = (statistics.stdev(values)
                                   if len(values) > 1 else math.nan)
            row[f"{metric}_ci95"] = half
        rows.append(row)
    return rows


def add_delta_m(runs: Sequence[dict[str, Any]], metrics: Sequence[str], *,
                baseline: str = "single_task",
                pair_on: Sequence[str] = ("seed",)) -> None:
    """Sets each run's `delta_m`: Δm% of `metrics` against the `baseline`
    method's run with the same `pair_on` values (negative = better than
    the baseline; `keras_mtl.reporting.delta_m`, higher-is-better inferred
    from each metric's name), NaN where that baseline run is missing."""
    import keras_mtl

    base = {tuple(str(r[k]) for k in pair_on): r for r in runs
            if r["method"] == baseline}
    for run in runs:
        ref = base.get(tuple(str(run[k]) for k in pair_on))
        run["delta_m"] = (keras_mtl.reporting.delta_m(
            {k: run[k] for k in metrics}, {k: ref[k] for k in metrics})
            if ref else math.nan)
