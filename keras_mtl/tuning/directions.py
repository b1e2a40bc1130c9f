"""Whether a logged metric is minimised or maximised.

Keras Tuner infers a direction only for bare Keras metric names; this
reads per-head names too (`val_income_auc` is maximised, `val_age_loss`
minimised), through `keras_mtl.reporting.metric_direction`.
"""

from keras_mtl.reporting.directions import DIRECTIONS  # noqa: F401
from keras_mtl.reporting.directions import check_direction  # noqa: F401
from keras_mtl.reporting.directions import metric_direction


def infer_direction(name: str) -> str:
    """`"min"` or `"max"` for a log name, or a clear error.

    Args:
        name: A log name (`"val_income_auc"`, `"val_age_loss"`, `"loss"`).

    Returns:
        `"min"` or `"max"`.
    """
    direction = metric_direction(name)
    if direction is None:
        raise ValueError(
            f"Cannot infer whether metric {name!r} should be minimised or "
            f"maximised. Pass the direction explicitly, e.g. "
            f"keras_mtl.tuning.objective({name!r}, direction='max')."
        )
    return direction
