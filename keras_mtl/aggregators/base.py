"""`Aggregator`: the gradient-level hook of the multi-task training step.

An aggregator maps the per-task Jacobian `J` (shape `[T, P]`: one row per
task, the gradient of that task's weighted loss with respect to the `P`
flattened shared parameters) to one update direction `g` (shape `[P]`).
Most methods only need the Gramian `G = J Jᵀ` (`[T, T]`): they compute task
weights `α = weights_from_gramian(G)` and return `g = αᵀ J`.
"""

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_mtl.aggregators._solvers import check_method
from keras_mtl.aggregators._solvers import dual_cone_weights
from keras_mtl.types import Tensor


class Aggregator(keras.layers.Layer):
    """Base class of gradient aggregators: `aggregator(J) -> g`.

    Callable on a plain `[T, P]` matrix in float32 or float64 (no autocast),
    so methods are testable without a model. Stateful methods create Keras
    variables in `build(input_shape)` (`input_shape[0]` is the number of
    tasks), which `.keras` files and checkpoints carry.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def __call__(self, jacobian: Tensor, *args: Any, **kwargs: Any) -> Any:
        rank = getattr(jacobian, "ndim", None)
        if rank is None and isinstance(jacobian, (list, tuple)):
            rank = np.ndim(jacobian)
        if rank is not None and rank != 2:
            shape = tuple(getattr(jacobian, "shape", np.shape(jacobian)))
            raise ValueError(
                f"{type(self).__name__} takes a Jacobian of shape [T, P] "
                f"(one row per task). Received shape {shape}. Stack the "
                "task gradients as rows, e.g. "
                "keras.ops.stack([g_task_1, g_task_2]), flattened to [P]."
            )
        return super().__call__(jacobian, *args, **kwargs)

    def call(self, jacobian: Tensor) -> Tensor:
        raise TypeError(
            f"{type(self).__name__} is abstract: subclasses of Aggregator "
            "define call(jacobian) returning one [P] direction."
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[1:])


class GramianAggregator(Aggregator):
    """An aggregator whose direction is `αᵀ J` with `α` from the Gramian.

    Subclasses implement `weights_from_gramian(G) -> α` (`[T]`).
    """

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        raise TypeError(
            f"{type(self).__name__} is abstract: subclasses of "
            "GramianAggregator define weights_from_gramian(gramian)."
        )

    def task_weights(self, jacobian: Tensor) -> Tensor:
        """The task weights `α` this method gives for `jacobian`."""
        jacobian = ops.convert_to_tensor(jacobian)
        return self.weights_from_gramian(
            ops.matmul(jacobian, ops.transpose(jacobian)))

    def call(self, jacobian: Tensor) -> Tensor:
        alpha = self.task_weights(jacobian)
        return ops.matmul(alpha[None, :], jacobian)[0]


class DualConeAggregator(GramianAggregator):
    """Weights `v = argmin_{v >= u} vᵀ G v` for preference vectors `u`:
    the projections of `uᵀ J` onto the dual cone `{g : J g >= 0}`.

    The base of UPGrad (one projection per task, `u = e_t / T`, summed)
    and DualProj (one projection of the mean, `u = 1 / T`). Subclasses
    implement `preferences(num_tasks, dtype)`, returning `[T]` (one
    projection) or `[B, T]` (projections whose weights are summed).

    Args:
        method: Solver of the projections: `"auto"`, `"enumerate"` or
            `"active_set"` (see `keras_mtl.aggregators._solvers`).
        **kwargs: Layer arguments (`name`, ...).

    References:
    - Quinton, Rey (2024). Jacobian Descent for Multi-Objective
      Optimization. arXiv:2406.16232.
    """

    def __init__(self, method: str = "auto", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method = check_method(method)

    def preferences(self, num_tasks: int, dtype: Any) -> Tensor:
        raise TypeError(
            f"{type(self).__name__} is abstract: subclasses of "
            "DualConeAggregator define preferences(num_tasks, dtype)."
        )

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        weights = dual_cone_weights(
            gramian, self.preferences(gramian.shape[0], gramian.dtype),
            method=self.method)
        if len(weights.shape) == 1:
            return weights
        return ops.sum(weights, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "method": self.method}
