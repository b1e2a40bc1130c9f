"""Whether a logged metric is better when larger or when smaller.

Keras logs multi-task metrics by the output key (`val_income_auc`,
`val_age_loss`); Keras Tuner's own inference gives up on such names.
`metric_direction` reads the task-prefixed names; `check_direction`
validates an explicit direction. Host-side helpers, never used in the
training step.
"""

DIRECTIONS = ("min", "max")

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


def check_direction(direction: str, name: str) -> str:
    """Returns `direction` when it is `"min"` or `"max"`, else raises an
    error naming the metric `name`."""
    if direction not in DIRECTIONS:
        raise ValueError(
            f"The direction of metric {name!r} must be 'min' or 'max'. "
            f"Received: direction={direction!r}."
        )
    return direction
