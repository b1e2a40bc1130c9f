"""Curriculum schedules for `ScheduledWeighting`: tasks join over time.

A schedule maps the epoch (or step) `t`, counted from 0, to `{task:
weight}`. These two cover the usual curricula and serialize with the
model; `ScheduledWeighting.main_task_first(...)` and
`ScheduledWeighting.step_by_step(...)` are the one-line constructors.
Both are written with `keras.ops`, so they also run inside the compiled
step when the weighting's `unit` is `"step"`.
"""

from typing import Any
from typing import Sequence

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive


def _ramp(t: Any, start: float, length: float) -> Tensor:
    """0 before `start`, then linear to 1 over `length` units (a step when
    `length` is 0): `clip((t - start + 1) / length, 0, 1)`."""
    t = ops.cast(t, "float32")
    if length == 0:
        return ops.cast(ops.greater_equal(t, start), "float32")
    return ops.clip((t - start + 1.0) / length, 0.0, 1.0)


def _check_int(owner: str, argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{owner}: argument `{argument}` must be an int >= 0. "
            f"Received: {argument}={value!r}."
        )
    return value


class CurriculumSchedule:
    """Base of the curriculum schedules: knows the model's task names.

    `ScheduledWeighting.bind` passes the task names, so that a schedule can
    speak of "every other task" without listing them.
    """

    task_names: tuple[str, ...] = ()

    def bind(self, task_names: Sequence[str]) -> None:
        self.task_names = tuple(task_names)

    def __call__(self, t: Any) -> dict[str, Any]:
        return self.weights_at(t)

    def weights_at(self, t: Any) -> dict[str, Any]:
        raise TypeError(
            f"{type(self).__name__} is abstract: curriculum schedules "
            "define weights_at(t) returning {task: weight}."
        )

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CurriculumSchedule":
        return cls(**config)


@register
class MainTaskFirst(CurriculumSchedule):
    """The main task alone first, then the auxiliary tasks ramp up.

    The "pre-train on the main task, then add the auxiliary tasks"
    curriculum. With `t` the epoch (or step) counted from 0:

    ```
    w_main(t) = main_weight
    w_aux(t)  = auxiliary_weight * clip((t - warmup + 1) / ramp, 0, 1)
                (ramp = 0: auxiliary_weight from t = warmup on)
    ```

    Args:
        main: str. The main task's name.
        auxiliary: Optional list of auxiliary task names (default: every
            other task of the model).
        warmup: int >= 0. Epochs (or steps) with the main task alone.
        ramp: int >= 0. Epochs (or steps) over which the auxiliary weights
            grow linearly to `auxiliary_weight`.
        auxiliary_weight: float >= 0. The auxiliary tasks' final weight.
        main_weight: float >= 0. The main task's weight.
    """

    def __init__(
        self,
        main: str,
        auxiliary: Sequence[str] | None = None,
        warmup: int = 5,
        ramp: int = 5,
        auxiliary_weight: float = 1.0,
        main_weight: float = 1.0,
    ) -> None:
        owner = "MainTaskFirst"
        if not isinstance(main, str) or not main:
            raise ValueError(
                f"{owner}: argument `main` must be a task name. Received: "
                f"main={main!r}."
            )
        self.main = main
        self.auxiliary = None if auxiliary is None else list(auxiliary)
        if self.auxiliary is not None and main in self.auxiliary:
            raise ValueError(
                f"{owner}: the main task {main!r} is also listed in "
                f"`auxiliary`={self.auxiliary}. Remove it from `auxiliary`."
            )
        self.warmup = _check_int(owner, "warmup", warmup)
        self.ramp = _check_int(owner, "ramp", ramp)
        self.auxiliary_weight = check_positive(
            owner, "auxiliary_weight", auxiliary_weight, allow_zero=True)
        self.main_weight = check_positive(
            owner, "main_weight", main_weight, allow_zero=True)

    def bind(self, task_names: Sequence[str]) -> None:
        named = [self.main] + list(self.auxiliary or [])
        unknown = [n for n in named if n not in task_names]
        if unknown:
            raise ValueError(
                f"MainTaskFirst names unknown task(s) {unknown}. The "
                f"model's tasks are {list(task_names)}. Fix `main` or "
                "`auxiliary`."
            )
        super().bind(task_names)

    def weights_at(self, t: Any) -> dict[str, Any]:
        auxiliary = self.auxiliary
        if auxiliary is None:
            auxiliary = [n for n in self.task_names if n != self.main]
        aux = self.auxiliary_weight * _ramp(t, self.warmup, self.ramp)
        weights = {self.main: self.main_weight}
        weights.update({name: aux for name in auxiliary})
        return weights

    def get_config(self) -> dict[str, Any]:
        return {"main": self.main, "auxiliary": self.auxiliary,
                "warmup": self.warmup, "ramp": self.ramp,
                "auxiliary_weight": self.auxiliary_weight,
                "main_weight": self.main_weight}


@register
class StepByStep(CurriculumSchedule):
    """Tasks join one stage at a time ("step-by-step" curriculum).

    Stage `k` (0-based) starts at `t = k * stage_length`; the tasks of
    stages `0..k` are on, each reaching weight 1 over `ramp` epochs (or
    steps) after its stage starts:

    ```
    w_task(t) = clip((t - k_task * stage_length + 1) / ramp, 0, 1)
                (ramp = 0: 1 from the stage's start on)
    ```

    Args:
        order: list. The stages in order; each stage is a task name or a
            list of task names that join together. Every model task must
            appear exactly once.
        stage_length: int >= 1. Epochs (or steps) per stage.
        ramp: int >= 0. Epochs (or steps) over which a joining task's
            weight grows to 1.
    """

    def __init__(
        self,
        order: Sequence[Any],
        stage_length: int = 5,
        ramp: int = 0,
    ) -> None:
        owner = "StepByStep"
        stages = [[s] if isinstance(s, str) else list(s) for s in order]
        if not stages or any(not stage for stage in stages):
            raise ValueError(
                f"{owner}: argument `order` must be a non-empty list of task "
                "names or lists of task names, with no empty stage. "
                f"Received: order={order!r}."
            )
        flat = [n for stage in stages for n in stage]
        repeated = sorted({n for n in flat if flat.count(n) > 1})
        if repeated:
            raise ValueError(
                f"{owner}: task(s) {repeated} appear in more than one stage "
                f"of `order`={order!r}. List each task once."
            )
        self.order = stages
        self.stage_length = _check_int(owner, "stage_length", stage_length)
        if self.stage_length < 1:
            raise ValueError(
                f"{owner}: argument `stage_length` must be >= 1. Received: "
                f"stage_length={stage_length!r}."
            )
        self.ramp = _check_int(owner, "ramp", ramp)

    def bind(self, task_names: Sequence[str]) -> None:
        flat = [n for stage in self.order for n in stage]
        unknown = sorted(set(flat) - set(task_names))
        absent = [n for n in task_names if n not in flat]
        if unknown or absent:
            raise ValueError(
                f"StepByStep: `order` must list every model task "
                f"{list(task_names)} once. Unknown task(s): {unknown}; "
                f"task(s) not listed: {absent}. Fix `order`."
            )
        super().bind(task_names)

    def weights_at(self, t: Any) -> dict[str, Any]:
        weights = {}
        for k, stage in enumerate(self.order):
            value = _ramp(t, k * self.stage_length, self.ramp)
            weights.update({name: value for name in stage})
        return weights

    def get_config(self) -> dict[str, Any]:
        return {"order": [list(s) for s in self.order],
                "stage_length": self.stage_length, "ramp": self.ramp}
