"""Multi-task summary metrics: Δm% against single-task baselines.

A multi-task model is judged against single-task baselines on every task
metric at once. Δm% (Maninis et al., 2019) averages the relative change of
each metric with respect to its baseline, signed so that the average has
one meaning whatever the metric's direction. These are host-side
summaries of evaluation results (floats in, a float out), never used inside
the training step.
"""

import math
from typing import Mapping

# Metric names (the part after `<task>_` in Keras's logs) whose larger
# values are better, and those whose smaller values are better.
HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "auc", "prc", "precision", "recall", "f1_score",
    "fbeta_score", "r2_score", "iou", "mean_iou", "one_hot_iou",
    "one_hot_mean_iou", "binary_iou", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "precision_at_recall", "recall_at_precision",
    "sensitivity_at_specificity", "specificity_at_sensitivity",
    "true_positives", "true_negatives", "cosine_similarity", "ndcg", "map",
    "mrr",
})
LOWER_IS_BETTER = frozenset({
    "loss", "mae", "mse", "rmse", "msle", "mape", "mean_absolute_error",
    "mean_squared_error", "root_mean_squared_error",
    "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
    "crossentropy", "ce", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy",
    "hinge", "squared_hinge", "categorical_hinge", "huber", "log_cosh",
    "logcosh", "kl_divergence", "kld", "poisson", "false_positives",
    "false_negatives",
})

SIGN_CONVENTIONS = ("lower_is_better", "libmtl")


def metric_direction(name: str) -> str | None:
    """Infers `"min"` or `"max"` from a Keras log name.

    Handles the per-head names of multi-task logs, where Keras Tuner's own
    inference gives up: `val_income_auc` is `"max"`, `val_age_loss` and
    `task_1_rmse` are `"min"`. The `val_` prefix is dropped, then the
    longest underscore-separated suffix found in `HIGHER_IS_BETTER` or
    `LOWER_IS_BETTER` decides (so `left_sparse_categorical_accuracy` is
    `"max"`). Keras's numbered duplicates (`auc_1`) are understood.

    Args:
        name: str. A log name such as `"val_income_auc"`.

    Returns:
        `"min"`, `"max"`, or None when no known metric name ends `name`
        (a custom metric: give its direction explicitly).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"Expected a metric log name (str). Received: {name!r}."
        )
    base = name[4:] if name.startswith("val_") else name
    parts = base.split("_")
    if len(parts) > 1 and parts[-1].isdigit():
        parts = parts[:-1]
    if parts and parts[-1] == "weight":
        return None
    for start in range(len(parts)):
        suffix = "_".join(parts[start:])
        if suffix in HIGHER_IS_BETTER:
            return "max"
        if suffix in LOWER_IS_BETTER:
            return "min"
    return None


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
    keras_mtl.metrics.delta_m(
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
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "SIGN_CONVENTIONS",
    "delta_m",
    "metric_direction",
]
