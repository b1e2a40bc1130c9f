"""DualProj: the mean gradient projected onto the dual cone."""

from typing import Any

from keras import ops

from keras_mtl.aggregators.base import DualConeAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class DualProj(DualConeAggregator):
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
        super().__init__(method=method, **kwargs)

    def preferences(self, num_tasks: int, dtype: Any) -> Tensor:
        return ops.ones((num_tasks,), dtype) / num_tasks
