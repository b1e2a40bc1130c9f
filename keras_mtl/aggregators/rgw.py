"""RGW: random gradient weighting."""

from typing import Any

import keras
from keras import ops

from keras_mtl._seed_state import SeedStateMixin
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

_DISTRIBUTIONS = ("normal", "uniform", "dirichlet")


@register
class RGW(SeedStateMixin, GramianAggregator):
    """Random Gradient Weighting: fresh random task weights at every step.

    The task gradients are summed with weights drawn anew at every step and
    normalised to sum to 1:

    ```
    normal:     α = softmax(z),       z_i ~ N(0, 1)    (the paper's default)
    uniform:    α = u / Σ u,          u_i ~ U(0, 1)
    dirichlet:  α ~ Dirichlet(1, ..., 1) = e / Σ e,  e_i = -log U(0, 1)
    g = αᵀ J
    ```

    The paper shows that such random weights reach performance comparable
    to many elaborate methods, and uses them as a litmus test: a method
    worth its cost should beat RGW. The weights do not depend on the
    gradients, so the layer skips the Gramian. Draws come from a tracked
    `keras.random.SeedGenerator`, whose state `.keras` files and
    checkpoints carry.

    Args:
        distribution: str. One of `"normal"`, `"uniform"`, `"dirichlet"`.
            Defaults to `"normal"`.
        seed: Optional int. Seeds the draws.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.RGW(seed=0))
    ```

    References:
    - Lin, Ye, Xu, Shi, Zhang (2022). Reasonable Effectiveness of Random
      Weighting: A Litmus Test for Multi-Task Learning. TMLR.
      arXiv:2111.10603.
    """

    def __init__(
        self,
        distribution: str = "normal",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "rgw")
        super().__init__(**kwargs)
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                "Argument `distribution` must be one of "
                f"{list(_DISTRIBUTIONS)}. Received: "
                f"distribution={distribution!r}."
            )
        self.distribution = distribution
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def random_weights(self, num_tasks: int, dtype: Any = "float32") -> Tensor:
        """Draws one `[num_tasks]` weight vector (non-negative, sum 1)."""
        if num_tasks == 1:
            return ops.ones((1,), dtype)
        if self.distribution == "normal":
            draws = keras.random.normal(
                (num_tasks,), dtype=dtype, seed=self.seed_generator)
            return ops.softmax(draws)
        draws = keras.random.uniform(
            (num_tasks,), dtype=dtype, seed=self.seed_generator)
        if self.distribution == "dirichlet":
            tiny = ops.cast(1e-30, dtype)
            draws = -ops.log(ops.maximum(draws, tiny))
        return draws / ops.sum(draws)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        return self.random_weights(gramian.shape[0], gramian.dtype)

    def task_weights(self, jacobian: Tensor) -> Tensor:
        jacobian = ops.convert_to_tensor(jacobian)
        return self.random_weights(jacobian.shape[0], jacobian.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "distribution": self.distribution,
            "seed": self.seed,
        }
