"""Dynamic task prioritization, DTP (Guo et al., 2018)."""

import math
from typing import Any
from typing import Mapping
from typing import Sequence

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings._utils import check_task_keys
from keras_mtl.weightings.base import Weighting


@register
class DTP(Weighting):
    """Prioritises the tasks that perform worst, with a focal-loss weight.

    Each task has a key performance indicator `kappa_t` in [0, 1] (a
    metric such as accuracy, higher is better), smoothed over time, and
    weight

    ```
    kappa_bar_t <- alpha kappa_t + (1 - alpha) kappa_bar_t
    w_t          = -(1 - kappa_bar_t)^gamma_t log(kappa_bar_t)
    ```

    so a task that already performs well (`kappa -> 1`) fades out and a
    struggling one gets more weight; `gamma` sharpens this (as in focal
    loss). The paper smooths per-iteration KPIs; here the KPI is each
    epoch's logged metric (its running mean over the epoch), read at the
    epoch's end and smoothed across epochs, so the weights are constant
    within an epoch. A task without a named KPI uses `exp(-L_t)` from its
    epoch loss (the geometric-mean likelihood for a cross-entropy loss).
    Before the first epoch ends every weight is 1. The smoothed KPIs and
    the weights are Keras variables. Works with `jit_compile=True` (the
    step only reads a variable).

    Args:
        kpis: Optional dict `{task: metric_name}`; the KPI is the logged
            `<task>_<metric_name>` (e.g. `{"income": "accuracy"}`).
        gamma: float >= 0 or dict `{task: float}`. The focusing exponent
            `gamma_t`. Defaults to 1.0.
        alpha: float in (0, 1]. Weight of the newest KPI in the moving
            average (1: no smoothing). Defaults to 0.9.
        validation: bool. Read the KPIs from validation logs (`val_...`).
            Defaults to False.
        normalize: bool. Rescale the weights to sum to the number of
            tasks. Defaults to False (the paper's weights).

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.DTP(
        kpis={"income": "accuracy", "marital": "accuracy"}, gamma=2.0))
    ```

    References:
    - Guo, Haque, Huang, Yeung, Fei-Fei (2018). Dynamic Task Prioritization
      for Multitask Learning. ECCV. doi:10.1007/978-3-030-01270-0_17.
    """

    def __init__(
        self,
        kpis: Mapping[str, str] | None = None,
        gamma: float | Mapping[str, float] = 1.0,
        alpha: float = 0.9,
        validation: bool = False,
        normalize: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "dtp")
        super().__init__(**kwargs)
        self.kpis = dict(kpis or {})
        for task, metric in self.kpis.items():
            if not isinstance(metric, str) or not metric:
                raise ValueError(
                    f"DTP: the KPI of task {task!r} must be a metric name "
                    f"such as 'accuracy'. Received: kpis[{task!r}]="
                    f"{metric!r}."
                )
        self.gamma: float | dict[str, float]
        if isinstance(gamma, Mapping):
            self.gamma = {k: check_positive("DTP", f"gamma[{k!r}]", v,
                                            allow_zero=True)
                          for k, v in gamma.items()}
        else:
            self.gamma = check_positive("DTP", "gamma", gamma,
                                        allow_zero=True)
        self.alpha = check_positive("DTP", "alpha", alpha)
        if self.alpha > 1:
            raise ValueError(
                f"DTP: argument `alpha` must be in (0, 1]. Received: "
                f"alpha={alpha!r}."
            )
        self.validation = bool(validation)
        self.normalize = bool(normalize)

    def bind(self, task_names: Sequence[str]) -> None:
        check_task_keys("DTP", "kpis", self.kpis, task_names)
        if isinstance(self.gamma, Mapping):
            check_task_keys("DTP", "gamma", self.gamma, task_names)
        super().bind(task_names)
        if isinstance(self.gamma, Mapping):
            self._gammas = [self.gamma.get(n, 1.0) for n in self.task_names]
        else:
            self._gammas = [self.gamma] * self.num_tasks

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.smoothed_kpis = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=False,
            name="smoothed_kpis", aggregation="mean")
        self.epochs_seen = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64",
            name="epochs_seen", aggregation="only_first_replica")
        self.current = self.add_weight(
            shape=input_shape, initializer="ones", trainable=False,
            name="current", aggregation="mean")

    def weights_from_kpis(self, kpis: Tensor) -> Tensor:
        """DTP's focal weights from (smoothed) KPIs in [0, 1]."""
        kappa = ops.clip(ops.convert_to_tensor(kpis, dtype="float32"),
                         1e-7, 1.0)
        gammas = ops.convert_to_tensor(self._gammas, dtype="float32")
        weights = -ops.power(1.0 - kappa, gammas) * ops.log(kappa)
        if self.normalize:
            total = ops.sum(weights)
            weights = ops.where(
                ops.greater(total, 0.0),
                self.num_tasks * weights / ops.where(
                    ops.greater(total, 0.0), total, 1.0),
                ops.ones_like(weights))
        return weights

    def read_kpis(self, logs: Mapping[str, Any]) -> list[float]:
        """Each task's KPI for the epoch that just ended, from `logs`."""
        prefix = "val_" if self.validation else ""
        values = []
        for name in self.task_names:
            metric = self.kpis.get(name)
            key = f"{prefix}{name}_{metric or 'loss'}"
            if key not in logs:
                raise KeyError(
                    f"DTP: task {name!r} needs `{key}` in the epoch logs, "
                    f"which hold {sorted(logs)}. "
                    + ("Pass validation_data to fit(), or validation=False."
                       if self.validation else
                       "Add the metric to compile(metrics=...) or fix "
                       "`kpis`.")
                )
            value = float(logs[key])
            if metric is None:
                value = math.exp(-value)
            elif not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"DTP: the KPI of task {name!r} (`{key}`={value}) is "
                    "outside [0, 1]. Use a higher-is-better metric in [0, "
                    "1] such as accuracy or AUC for this task."
                )
            values.append(value)
        return values

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        kpis = ops.convert_to_tensor(self.read_kpis(logs), dtype="float32")
        first = int(ops.convert_to_numpy(self.epochs_seen)) == 0
        previous = ops.convert_to_tensor(self.smoothed_kpis)
        smoothed = kpis if first else (
            self.alpha * kpis + (1.0 - self.alpha) * previous)
        self.smoothed_kpis.assign(smoothed)
        self.epochs_seen.assign_add(1)
        self.current.assign(self.weights_from_kpis(smoothed))

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.cast(ops.convert_to_tensor(self.current), losses.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kpis": self.kpis,
                "gamma": self.gamma, "alpha": self.alpha,
                "validation": self.validation, "normalize": self.normalize}
