"""PCGrad: projecting conflicting gradients (gradient surgery)."""

from typing import Any

import keras
from keras import ops

from keras_mtl._seed_state import SeedStateMixin
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class PCGrad(SeedStateMixin, GramianAggregator):
    """Projects each task gradient off the task gradients it conflicts with.

    Algorithm 1 of the paper, at every step:

    ```
    for each task i:
        g_i' = g_i
        for each task j != i, in a random order:
            if g_i' · g_j < 0:
                g_i' = g_i' - (g_i' · g_j / ‖g_j‖²) g_j
    g = Σ_i g_i'
    ```

    Every `g_i'` is a combination of the original gradients, so the layer
    tracks the `[T, T]` coefficient matrix on the Gramian instead of the
    `[T, P]` gradients and returns the task weights `α` with `g = αᵀ J`.
    The order is a fresh random permutation per task and per step, drawn
    from a tracked `keras.random.SeedGenerator`, whose state `.keras` files
    and checkpoints carry (the TF1 reference code draws its permutation
    once, while building the graph, so it never changes). For two tasks
    the order does not matter:

    ```
    g = g_1 + g_2 - (g_1·g_2) (g_1/‖g_1‖² + g_2/‖g_2‖²)   if g_1·g_2 < 0
    ```

    Args:
        seed: Optional int. Seeds the random task orders.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.PCGrad(seed=0))
    ```

    References:
    - Yu, Kumar, Gupta, Levine, Hausman, Finn (2020). Gradient Surgery for
      Multi-Task Learning. NeurIPS. arXiv:2001.06782.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "pcgrad")
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        dtype = gramian.dtype
        num_tasks = gramian.shape[0]
        # Row i: a random order of the tasks that task i is projected on.
        keys = keras.random.uniform(
            (num_tasks, num_tasks), seed=self.seed_generator)
        order = ops.argsort(keys, axis=-1)
        squared_norms = ops.diagonal(gramian)
        coefficients = ops.eye(num_tasks, dtype=dtype)  # g_i' = C_i J
        own = ops.arange(num_tasks)
        for position in range(num_tasks):
            other = order[:, position]  # [T]: task j for every row i
            dots = ops.take_along_axis(
                ops.matmul(coefficients, gramian), other[:, None], axis=1
            )[:, 0]  # g_i' · g_j
            norms = ops.take(squared_norms, other)
            # A gradient whose squared norm underflows to 0 (e.g. entries
            # near 1e-25 in float32) is negligible: nothing to project off.
            conflict = ops.logical_and(
                ops.logical_and(dots < 0.0, other != own), norms > 0.0)
            step = ops.where(
                conflict, dots / ops.where(conflict, norms, 1.0), 0.0)
            coefficients = coefficients - step[:, None] * ops.one_hot(
                other, num_tasks, dtype=dtype)
        return ops.sum(coefficients, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
