"""Δm%: a multi-task model's mean relative change against baselines.

A multi-task model is judged against single-task baselines on every task
metric at once. Δm% (Maninis, Radosavovic, Kokkinos, 2019, "Attentive
Single-Tasking of Multiple Tasks", CVPR, arXiv:1904.08918) averages the
relative change of each metric with respect to its baseline, signed so
that the average has one meaning whatever the metric's direction. A
host-side summary of evaluation results (floats in, a float out), never
used inside the training step.
"""

import math
from typing import Mapping

from keras_mtl.reporting.directions import metric_direction

SIGN_CONVENTIONS = ("lower_is_better", "libmtl")


def _resolve_higher_is_better(
    names: list[str], higher_is_better: Mapping[str, bool] | None
) -> dict[str, bool]:
    resolved = {}
    given = dict(higher_is_better or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(
            f"`higher_is_better` names metric(s) {unknown} that have no "
            f"baseline. Metrics with baselines: {sorted(names)}."
        )
    for name in names:
        if name in given:
            resolved[name] = bool(given[name])
            continue
        direction = metric_direction(name)
        if direction is None:
            raise ValueError(
                f"Cannot tell whether larger values of metric {name!r} are "
                "better. Pass higher_is_better={"
                f"{name!r}: True or False" "}."
            )
        resolved[name] = direction == "max"
    return resolved


def delta_m(
    metrics: Mapping[str, float],
    baselines: Mapping[str, float],
    higher_is_better: Mapping[str, bool] | None = None,
    sign: str = "lower_is_better",
) -> float:
    """Δm%: the mean relative change of every metric against its baseline.

    ```
    Δm% = (100 / K) Σ_k (-1)^{h_k} (M_k - B_k) / |B_k|
    ```

    over the `K` metrics that have a baseline (`baselines` keys), where
    `M_k` is the multi-task model's value, `B_k` the single-task baseline's
    value and `h_k = 1` when higher values of metric `k` are better. The
    papers' metrics are positive, where `|B_k| = B_k`; the absolute value
    keeps the sign meaningful for a metric such as R² that can be negative.

    Sign conventions:

    - `"lower_is_better"` (default), as in Navon et al. (Nash-MTL) and
      Liu et al. (CAGrad): a negative Δm% means the multi-task model beats
      its single-task baselines on average; 0 means parity. Use
      `direction="min"` when tuning.
    - `"libmtl"`: the opposite sign (LibMTL reports the improvement, so
      positive is better): the formula above times -1.

    Every metric counts once (a task with two metrics counts twice), as in
    the papers above; pass one metric per task to weigh tasks equally.

    Args:
        metrics: Mapping from metric name to the model's value; must hold
            every key of `baselines` (extra keys are ignored).
        baselines: Mapping from metric name to the single-task baseline's
            value (non-zero).
        higher_is_better: Optional mapping from metric name to bool. Names
            left out are inferred with `metric_direction` (`*_auc`,
            `*_accuracy`: higher is better; `*_loss`, `*_mae`, `*_rmse`:
            lower is better); an unknown name is an error.
        sign: `"lower_is_better"` or `"libmtl"`.

    Returns:
        Δm in percent (float).

    Example:

    ```python
    keras_mtl.reporting.delta_m(
        {"val_income_auc": 0.93, "val_age_loss": 0.40},
        baselines={"val_income_auc": 0.90, "val_age_loss": 0.50})
    # (-(0.93 - 0.90) / 0.90 + (0.40 - 0.50) / 0.50) / 2 * 100 = -11.67
    ```

    References:
    - Maninis, Radosavovic, Kokkinos (2019). Attentive Single-Tasking of
      Multiple Tasks. CVPR. arXiv:1904.08918.
    - Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya (2022).
      Multi-Task Learning as a Bargaining Game. ICML. arXiv:2202.01017.
    - Liu, Liu, Jin, Stone, Liu (2021). Conflict-Averse Gradient Descent
      for Multi-task Learning. NeurIPS. arXiv:2110.14048.
    - Lin, Zhang (2023). LibMTL: A Python Library for Multi-Task Learning.
      JMLR. arXiv:2203.14338.
    """
    if sign not in SIGN_CONVENTIONS:
        raise ValueError(
            f"Argument `sign` must be one of {SIGN_CONVENTIONS}. Received: "
            f"sign={sign!r}."
        )
    if not baselines:
        raise ValueError(
            "Argument `baselines` is empty. Pass the single-task baseline "
            "value of every metric to compare, e.g. "
            "{'val_income_auc': 0.90}."
        )
    names = list(baselines)
    missing = [n for n in names if n not in metrics]
    if missing:
        raise ValueError(
            f"Metric(s) {missing} have a baseline but no value in `metrics` "
            f"(which has {sorted(metrics)}). Check the metric names (e.g. "
            "the `val_` prefix)."
        )
    directions = _resolve_higher_is_better(names, higher_is_better)
    total = 0.0
    for name in names:
        base = float(baselines[name])
        value = float(metrics[name])
        if base == 0.0 or not math.isfinite(base):
            raise ValueError(
                f"The baseline of metric {name!r} is {base}: Δm divides by "
                "the baseline, so it must be finite and non-zero. Use a "
                "normalised sum with an explicit scale for this metric."
            )
        change = (value - base) / abs(base)
        total += -change if directions[name] else change
    result = 100.0 * total / len(names)
    return -result if sign == "libmtl" else result


__all__ = [
    "SIGN_CONVENTIONS",
    "delta_m",
]
