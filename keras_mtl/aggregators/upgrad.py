"""UPGrad: unconflicting projection of gradients."""

from typing import Any

from keras import ops

from keras_mtl.aggregators.base import DualConeAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class UPGrad(DualConeAggregator):
    """Averages the task gradients projected onto the dual cone of all.

    ```
    g = (1/T) Σ_t π(g_t),    π(x) = argmin_{y : J y >= 0} ‖y - x‖
    ```

    Each task gradient is projected onto the dual cone of the rows of `J`
    (the directions that conflict with no task), so the result conflicts
    with no task (`J g >= 0`); gradients that conflict with nobody pass
    unchanged, so without conflict UPGrad is the mean gradient. On the
    Gramian, `π(g_t) = v_tᵀ J` with `v_t = argmin_{v >= e_t} vᵀ G v`
    (Proposition 1 of the paper), a small non-negative QP solved exactly
    in the step (`_solvers.dual_cone_weights`); the task weights are
    `α = (1/T) Σ_t v_t`. The aggregator is non-conflicting, linear under
    scaling and weighted, as the paper proves.

    Args:
        method: Solver of the projections: `"auto"`, `"enumerate"` or
            `"active_set"` (see `keras_mtl.aggregators._solvers`).
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.UPGrad())
    ```

    References:
    - Quinton, Rey (2024). Jacobian Descent for Multi-Objective
      Optimization. arXiv:2406.16232.
    """

    def __init__(self, method: str = "auto", **kwargs: Any) -> None:
        kwargs.setdefault("name", "upgrad")
        super().__init__(method=method, **kwargs)

    def preferences(self, num_tasks: int, dtype: Any) -> Tensor:
        return ops.eye(num_tasks, dtype=dtype) / num_tasks
