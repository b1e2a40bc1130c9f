"""DualProj: the mean gradient projected onto the dual cone."""

from typing import Any

from keras import ops

from keras_mtl.aggregators._solvers import dual_cone_weights
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

_METHODS = ("auto", "enumerate", "active_set")


@register
class DualProj(GramianAggregator):
    """Projects the mean gradient onto the dual cone of the task gradients.

    ```
    g = π((1/T) Σ_t g_t),    π(x) = argmin_{y : J y >= 0} ‖y - x‖
    ```

    The closest direction to the mean gradient that conflicts with no task
    (`J g >= 0`). On the Gramian, `g = vᵀ J` with
    `v = argmin_{v >= 1/T} vᵀ G v`, a small non-negative QP solved exactly
    in the step (`_solvers.dual_cone_weights`). Unlike UPGrad it projects
    once, after averaging, so a task with a large conflicting gradient can
    dominate the average before the projection.

    Args:
        method: Solver of the projection: `"auto"`, `"enumerate"` or
            `"active_set"` (see `keras_mtl.aggregators._solvers`).
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator="dualproj")
    ```

    References:
    - Quinton, Rey (2024). Jacobian Descent for Multi-Objective
      Optimization. arXiv:2406.16232.
    """

    def __init__(self, method: str = "auto", **kwargs: Any) -> None:
        kwargs.setdefault("name", "dualproj")
        super().__init__(**kwargs)
        if method not in _METHODS:
            raise ValueError(
                f"Argument `method` must be one of {list(_METHODS)}. "
                f"Received: method={method!r}.")
        self.method = method

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        num_tasks = gramian.shape[0]
        mean = ops.ones((num_tasks,), gramian.dtype) / num_tasks
        return dual_cone_weights(gramian, mean, method=self.method)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "method": self.method}
