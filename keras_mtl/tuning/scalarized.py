"""Objectives that fold many task metrics into one number.

Keras Tuner's own multi-objective is the unnormalised signed sum of the
metrics, in which a loss in the hundreds swamps an AUC. Both objectives
here put the metrics on one scale first: `DeltaMObjective` relative to
single-task baselines, `NormalizedSumObjective` relative to given scales.
"""

import math
from typing import Any
from typing import Mapping

import keras_tuner

from keras_mtl.registry import register
from keras_mtl.reporting.delta_m import delta_m
from keras_mtl.tuning.directions import check_direction
from keras_mtl.tuning.directions import infer_direction


@register
class DeltaMObjective(keras_tuner.Objective):
    """Δm% of a trial's metrics against single-task baselines.

    ```
    Δm% = (100 / K) Σ_k (-1)^{h_k} (M_k - B_k) / |B_k|
    ```

    With `sign="lower_is_better"` (the default, the convention of the
    Nash-MTL and CAGrad papers) negative values beat the baselines and the
    direction is `"min"`; with `sign="libmtl"` the sign is flipped and the
    direction is `"max"`. Being relative to each baseline, Δm% is
    scale-free: an AUC and a loss in the hundreds count alike.

    Args:
        baselines: Mapping from log name (`"val_income_auc"`) to the
            single-task baseline's value, e.g. from `train_baselines`.
        higher_is_better: Optional mapping from log name to bool; names
            left out are inferred from the name.
        sign: `"lower_is_better"` or `"libmtl"`.
        name: The objective's name in the trial metrics (default
            `"delta_m"`).

    Example:

    ```python
    baselines = keras_mtl.tuning.train_baselines(
        hypermodel, x, y, validation_data=(x_val, y_val), epochs=5,
        metrics=["val_task_1_mae", "val_task_2_mae"])
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=keras_mtl.tuning.DeltaMObjective(baselines),
        max_trials=20)
    ```

    References:
    - Maninis, Radosavovic, Kokkinos (2019). Attentive Single-Tasking of
      Multiple Tasks. CVPR. arXiv:1904.08918.
    - Navon et al. (2022). Multi-Task Learning as a Bargaining Game. ICML.
      arXiv:2202.01017.
    """

    def __init__(self, baselines: Mapping[str, float],
                 higher_is_better: Mapping[str, bool] | None = None,
                 sign: str = "lower_is_better", name: str = "delta_m"
                 ) -> None:
        baselines = {k: float(v) for k, v in dict(baselines).items()}
        # Checks names, directions and baselines once, up front.
        delta_m(baselines, baselines, higher_is_better, sign)
        super().__init__(
            name=name, direction="min" if sign == "lower_is_better"
            else "max")
        self.baselines = baselines
        self.higher_is_better = dict(higher_is_better or {})
        self.sign = sign

    @property
    def metric_names(self) -> list[str]:
        """The log names this objective reads."""
        return list(self.baselines)

    def get_config(self) -> dict[str, Any]:
        return {"baselines": dict(self.baselines),
                "higher_is_better": dict(self.higher_is_better),
                "sign": self.sign, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DeltaMObjective":
        return cls(**config)

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        return all(n in logs for n in self.baselines)

    def get_value(self, logs: Mapping[str, Any]) -> float:
        if self.name in logs and not self.has_value(logs):
            return float(logs[self.name])
        return delta_m(logs, self.baselines, self.higher_is_better,
                       self.sign)

    def __str__(self) -> str:
        return (f'DeltaMObjective(name="{self.name}", direction='
                f'"{self.direction}", sign="{self.sign}", '
                f"metrics={self.metric_names})")


@register
class NormalizedSumObjective(keras_tuner.Objective):
    """A signed sum of metrics, each divided by its own scale.

    ```
    value = Σ_k w_k s_k M_k / |c_k|,   s_k = +1 (min) or -1 (max)
    ```

    minimised. Dividing by a scale `c_k` of each metric (its typical value:
    a reference model's value, a baseline, a range) makes the terms
    comparable, which Keras Tuner's own multi-objective (the raw signed
    sum) does not. With `c_k` the single-task baselines and equal weights
    it ranks trials exactly as Δm% does (it differs by an affine map).

    Args:
        scales: Mapping from log name to a non-zero scale.
        directions: Optional mapping from log name to `"min"`/`"max"`;
            inferred from the names when left out.
        weights: Optional mapping from log name to a non-negative weight
            (default 1 each).
        name: The objective's name (default `"normalized_sum"`).
    """

    def __init__(self, scales: Mapping[str, float],
                 directions: Mapping[str, str] | None = None,
                 weights: Mapping[str, float] | None = None,
                 name: str = "normalized_sum") -> None:
        super().__init__(name=name, direction="min")
        if not scales:
            raise ValueError(
                "Argument `scales` is empty. Give each metric's scale, "
                "e.g. {'val_income_auc': 0.9, 'val_age_loss': 120.0}."
            )
        directions = dict(directions or {})
        weights = dict(weights or {})
        for extra, what in ((directions, "directions"),
                            (weights, "weights")):
            unknown = sorted(set(extra) - set(scales))
            if unknown:
                raise ValueError(
                    f"`{what}` names metric(s) {unknown} without a scale. "
                    f"Metrics with scales: {sorted(scales)}."
                )
        self.scales, self.directions, self.weights = {}, {}, {}
        for metric, scale in scales.items():
            scale = float(scale)
            if scale == 0.0 or not math.isfinite(scale):
                raise ValueError(
                    f"The scale of metric {metric!r} is {scale}. Give a "
                    "finite, non-zero typical magnitude."
                )
            weight = float(weights.get(metric, 1.0))
            if not weight >= 0 or not math.isfinite(weight):
                raise ValueError(
                    f"The weight of metric {metric!r} must be finite and "
                    ">= 0. "
                    f"Received: {weight}."
                )
            direction = directions.get(metric) or infer_direction(metric)
            self.scales[metric] = scale
            self.directions[metric] = check_direction(direction, metric)
            self.weights[metric] = weight

    @property
    def metric_names(self) -> list[str]:
        """The log names this objective reads."""
        return list(self.scales)

    def get_config(self) -> dict[str, Any]:
        return {"scales": dict(self.scales),
                "directions": dict(self.directions),
                "weights": dict(self.weights), "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]
                    ) -> "NormalizedSumObjective":
        return cls(**config)

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        return all(n in logs for n in self.scales)

    def get_value(self, logs: Mapping[str, Any]) -> float:
        if self.name in logs and not self.has_value(logs):
            return float(logs[self.name])
        total = 0.0
        for metric, scale in self.scales.items():
            sign = 1.0 if self.directions[metric] == "min" else -1.0
            total += self.weights[metric] * sign * float(logs[metric]) \
                / abs(scale)
        return total

    def __str__(self) -> str:
        return (f'NormalizedSumObjective(name="{self.name}", '
                f"scales={self.scales})")
