"""Task weights that follow a schedule or that a callback sets."""

import math
from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras
from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings._utils import check_task_keys
from keras_mtl.weightings.base import Weighting
from keras_mtl.weightings.curriculum import CurriculumSchedule
from keras_mtl.weightings.curriculum import MainTaskFirst
from keras_mtl.weightings.curriculum import StepByStep

_UNITS = ("epoch", "step")


@register
class ScheduledWeighting(Weighting):
    """Task weights that change during training, held in a Keras variable.

    The weights live in a non-trainable variable, so they work inside the
    compiled `fit` (the old trick of assigning to a backend variable that
    Keras 3 rejects is not needed) and `.keras` files and
    `BackupAndRestore` carry their current value. They change in one of
    three ways:

    ```
    unit="epoch":  w(t) = schedule(epoch)   set before each epoch (eager)
    unit="step":   w(t) = schedule(step)    inside the compiled step; the
                                            schedule must use keras.ops
    schedule=None: w    = set_task_weights({...}) from any callback
    ```

    Tasks that the schedule's dict leaves out get `default`.

    Epoch schedules may be any Python function; step schedules run in the
    graph (and under `jit_compile=True`) so they must be written with
    `keras.ops`. To save a model whose schedule is your own function,
    register the function with
    `keras.saving.register_keras_serializable()` (a lambda only loads with
    `safe_mode=False`). The curriculum presets `main_task_first` and
    `step_by_step` serialize as they are.

    Args:
        schedule: Optional callable `t -> {task: weight}`.
        initial: Optional dict `{task: weight}` used before the schedule
            first runs (default: `schedule(0)`, or `default` for every task
            without a schedule).
        unit: `"epoch"` (default) or `"step"`: what `t` counts, from 0.
        default: float >= 0. Weight of tasks a dict leaves out. Defaults to
            1.0.

    Example:

    ```python
    def schedule(epoch):
        return {"income": 1.0, "age": min(1.0, epoch / 10)}

    model.compile("adam", weighting=keras_mtl.weightings.ScheduledWeighting(
        schedule))

    # Or from a callback, e.g. on a validation plateau:
    weighting = keras_mtl.weightings.ScheduledWeighting(
        initial={"age": 0.1})
    ...
    weighting.set_task_weights({"age": 0.5})
    ```

    References:
    - Bengio, Louradour, Collobert, Weston (2009). Curriculum Learning.
      ICML.
    - Keras issues keras-team/keras#2595, #6446, #12817 and #20294: loss
      weights that change during training.
    """

    def __init__(
        self,
        schedule: Callable[[Any], Mapping[str, Any]] | None = None,
        initial: Mapping[str, float] | None = None,
        unit: str = "epoch",
        default: float = 1.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "scheduled")
        super().__init__(**kwargs)
        if schedule is not None and not callable(schedule):
            raise TypeError(
                "ScheduledWeighting: argument `schedule` must be a callable "
                "t -> {task: weight}, or None. Received: "
                f"schedule={schedule!r}."
            )
        if unit not in _UNITS:
            raise ValueError(
                f"ScheduledWeighting: argument `unit` must be one of "
                f"{list(_UNITS)}. Received: unit={unit!r}."
            )
        if unit == "step" and schedule is None:
            raise ValueError(
                "ScheduledWeighting: unit='step' needs a `schedule` to "
                "evaluate at every step. Received: schedule=None."
            )
        self.schedule = schedule
        self.unit = unit
        self.default = check_positive(
            "ScheduledWeighting", "default", default, allow_zero=True)
        self.initial = None if initial is None else self._checked(
            initial, "initial")

    # One-line curricula ------------------------------------------------

    @classmethod
    def main_task_first(
        cls,
        main: str,
        auxiliary: Sequence[str] | None = None,
        warmup: int = 5,
        ramp: int = 5,
        auxiliary_weight: float = 1.0,
        unit: str = "epoch",
        **kwargs: Any,
    ) -> "ScheduledWeighting":
        """Trains `main` alone for `warmup` epochs, then ramps the others up.

        See `keras_mtl.weightings.MainTaskFirst`.

        Example:

        ```python
        weighting = ScheduledWeighting.main_task_first(
            "income", warmup=3, ramp=4)
        ```
        """
        return cls(MainTaskFirst(main, auxiliary, warmup, ramp,
                                 auxiliary_weight), unit=unit, **kwargs)

    @classmethod
    def step_by_step(
        cls,
        order: Sequence[Any],
        stage_length: int = 5,
        ramp: int = 0,
        unit: str = "epoch",
        **kwargs: Any,
    ) -> "ScheduledWeighting":
        """Adds tasks (or groups of tasks) one stage at a time.

        See `keras_mtl.weightings.StepByStep`.

        Example:

        ```python
        weighting = ScheduledWeighting.step_by_step(
            ["income", "marital", "age"], stage_length=3)
        ```
        """
        return cls(StepByStep(order, stage_length, ramp), unit=unit,
                   **kwargs)

    # State -------------------------------------------------------------

    def _checked(self, values: Mapping[str, Any], what: str,
                 ) -> dict[str, float]:
        if not isinstance(values, Mapping):
            raise TypeError(
                f"ScheduledWeighting: {what} must be a dict {{task: "
                f"weight}}. Received: {values!r}."
            )
        if self.task_names:
            check_task_keys("ScheduledWeighting", what, values,
                            self.task_names)
        checked = {}
        for task, value in values.items():
            value = float(ops.convert_to_numpy(value))
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"ScheduledWeighting: the weight of task {task!r} from "
                    f"{what} must be a finite float >= 0. Received: "
                    f"{value!r}."
                )
            checked[task] = value
        return checked

    def bind(self, task_names: Sequence[str]) -> None:
        if isinstance(self.schedule, CurriculumSchedule):
            self.schedule.bind(task_names)
        if self.initial is not None:
            check_task_keys("ScheduledWeighting", "initial", self.initial,
                            task_names)
        first = not self.task_names
        super().bind(task_names)
        if first:  # Keras may have built the layer before (on reload).
            if self.initial is not None:
                start = self.initial
            elif self.schedule is not None and self.unit == "epoch":
                start = self._checked(self.schedule(0), "schedule(0)")
            else:
                start = {}
            self.current.assign(self._vector(start))

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.current = self.add_weight(
            shape=input_shape, initializer="ones", trainable=False,
            name="current", aggregation="mean")
        self.step = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64",
            name="step", aggregation="only_first_replica")

    def _vector(self, values: Mapping[str, Any]) -> list[float]:
        return [values.get(n, self.default) for n in self.task_names]

    def set_task_weights(self, values: Mapping[str, float]) -> None:
        """Sets some tasks' weights from eager code such as a callback.

        The new weights hold until the next change (with an epoch schedule,
        until the next epoch begins).
        """
        values = self._checked(values, "set_task_weights")
        current = dict(zip(self.task_names,
                           ops.convert_to_numpy(self.current).tolist()))
        current.update(values)
        self.current.assign([current[n] for n in self.task_names])

    def get_task_weights(self) -> dict[str, float]:
        """The weights now in force, `{task: weight}`."""
        return self.weights_by_task(self.current)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.schedule is not None and self.unit == "epoch":
            values = self._checked(self.schedule(epoch),
                                   f"schedule({epoch})")
            self.current.assign(self._vector(values))

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        if self.unit == "step" and training and self.schedule is not None:
            t = ops.cast(ops.convert_to_tensor(self.step), "float32")
            values = self.schedule(t)
            check_task_keys("ScheduledWeighting", "schedule(step)", values,
                            self.task_names)
            weights = ops.stack([
                ops.cast(ops.convert_to_tensor(v), losses.dtype)
                for v in self._vector(values)])
            self.current.assign(weights)
            self.step.assign_add(1)
            return weights
        return ops.cast(ops.convert_to_tensor(self.current), losses.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "initial": self.initial,
            "unit": self.unit,
            "default": self.default,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ScheduledWeighting":
        config = dict(config)
        if config.get("schedule") is not None:
            config["schedule"] = keras.saving.deserialize_keras_object(
                config["schedule"])
        return cls(**config)
