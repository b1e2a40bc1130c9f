"""MGDA: the min-norm point of the convex hull of the task gradients."""

from typing import Any

from keras import ops

from keras_mtl.aggregators._solvers import check_method
from keras_mtl.aggregators._solvers import min_norm_weights
from keras_mtl.aggregators._solvers import normalize_gramian
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

_NORMALIZATIONS = ("none", "l2")


@register
class MGDA(GramianAggregator):
    """Multiple-gradient descent: the min-norm convex combination.

    ```
    α = argmin_{α >= 0, Σ α = 1} ‖αᵀ J‖² = argmin αᵀ G α
    g = αᵀ J
    ```

    The min-norm point of the convex hull of the task gradients is a
    common descent direction of every task (`g · g_t >= ‖g‖²`), or zero at
    a Pareto-stationary point. The problem is solved exactly in the step:
    in closed form for two tasks,

    ```
    α_1 = clip((g_2 - g_1)·g_2 / ‖g_1 - g_2‖², 0, 1),   α_2 = 1 - α_1
    ```

    and for more tasks as a non-negative least-squares problem on the
    Gramian (`_solvers.min_norm_weights`: enumeration of the support for
    up to six tasks, the Lawson-Hanson active-set method beyond). With
    `normalization="l2"` the weights are computed on unit-norm gradients
    and then applied to the raw gradients, as in the authors' code (their
    `normalization_type="l2"` rescales the gradients for the solver only;
    the step weights the raw task losses by the solution).

    In representation mode (`compile(aggregation_mode="representation")`)
    the engine feeds this layer the gradients with respect to the shared
    representation: that is the paper's MGDA-UB, whose cost is about one
    ordinary backward pass.

    Args:
        normalization: `"none"` (the paper's definition, default) or
            `"l2"` (solve on unit-norm gradients).
        method: Solver for three or more tasks: `"auto"`, `"enumerate"` or
            `"active_set"` (see `keras_mtl.aggregators._solvers`).
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.MGDA(),
                  aggregation_mode="representation")   # MGDA-UB
    ```

    References:
    - Sener, Koltun (2018). Multi-Task Learning as Multi-Objective
      Optimization. NeurIPS. arXiv:1810.04650.
    - Désidéri (2012). Multiple-gradient descent algorithm (MGDA) for
      multiobjective optimization. Comptes Rendus Mathematique 350.
    """

    def __init__(
        self,
        normalization: str = "none",
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "mgda")
        super().__init__(**kwargs)
        if normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"Argument `normalization` must be one of "
                f"{list(_NORMALIZATIONS)}. Received: "
                f"normalization={normalization!r}.")
        self.normalization = normalization
        self.method = check_method(method)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        num_tasks = gramian.shape[0]
        if num_tasks == 1:
            return ops.ones((1,), gramian.dtype)
        diagonal = ops.diagonal(gramian)
        if self.normalization == "l2":
            positive = diagonal > 0.0
            inverse = ops.where(
                positive, ops.rsqrt(ops.where(positive, diagonal, 1.0)), 0.0)
            gramian = (gramian * inverse[:, None]) * inverse[None, :]
        if num_tasks == 2:
            gramian = normalize_gramian(gramian)
            g11, g22, g12 = gramian[0, 0], gramian[1, 1], gramian[0, 1]
            spread = g11 + g22 - 2.0 * g12  # ‖g_1 - g_2‖²
            first = ops.where(
                spread > 0.0,
                ops.clip((g22 - g12) / ops.where(spread > 0.0, spread, 1.0),
                         0.0, 1.0),
                0.5)
            alpha = ops.stack([first, 1.0 - first])
        else:
            alpha = min_norm_weights(gramian, method=self.method)
        return alpha

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "normalization": self.normalization,
                "method": self.method}
