"""Equal and static task weights."""

from typing import Any
from typing import Mapping

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings.base import Weighting


@register
class EqualWeighting(Weighting):
    """Every task weighs 1: the objective is the plain sum of task losses.

    ```
    w_t = 1
    ```

    This is what `compile()` uses when neither `weighting` nor
    `loss_weights` is given.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "equal")
        super().__init__(**kwargs)

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.ones_like(losses)


@register
class StaticWeighting(Weighting):
    """Fixed per-task weights, given by task name.

    ```
    w_t = weights[t]   (tasks left out of `weights` get `default`)
    ```

    Args:
        weights: dict. Maps task names to non-negative floats.
        default: float. Weight of tasks not named in `weights`. Defaults
            to 1.0.

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.StaticWeighting(
        {"income": 1.0, "marital": 0.5}))
    ```
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        default: float = 1.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "static")
        super().__init__(**kwargs)
        weights = dict(weights or {})
        for task, value in weights.items():
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"Static weight of task {task!r} must be a float >= 0. "
                    f"Received: weights[{task!r}]={value!r}."
                )
        if default < 0:
            raise ValueError(
                f"Argument `default` must be >= 0. Received: default={default}."
            )
        self.static_weights = {k: float(v) for k, v in weights.items()}
        self.default = float(default)

    def bind(self, task_names: Any) -> None:
        unknown = sorted(set(self.static_weights) - set(task_names))
        if unknown:
            raise ValueError(
                f"StaticWeighting names unknown task(s) {unknown}. The model's "
                f"tasks are {list(task_names)}. Fix the keys of `weights`."
            )
        super().bind(task_names)

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        values = [self.static_weights.get(n, self.default)
                  for n in self.task_names]
        return ops.convert_to_tensor(values, dtype=losses.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weights": self.static_weights,
                "default": self.default}
