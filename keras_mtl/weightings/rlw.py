"""Random loss weighting, RLW (Lin, Ye, Zhang, Tsang, 2022)."""

from typing import Any

import keras
from keras import ops

from keras_mtl._seed_state import SeedStateMixin
from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings.base import Weighting

_DISTRIBUTIONS = ("normal", "uniform", "dirichlet", "bernoulli")


@register
class RLW(SeedStateMixin, Weighting):
    """Random loss weights, drawn afresh at every training step.

    The paper draws `lambda~` from a distribution `p` and normalises it
    with a softmax (its default: the standard normal). Dirichlet draws lie
    on the simplex already and Bernoulli draws are normalised by their sum
    here (a softmax would leave them nearly equal):

    ```
    normal:    lambda = softmax(z),      z ~ N(0, I_T)   (the default)
    uniform:   lambda = softmax(z),      z ~ U(0, 1)^T
    dirichlet: lambda ~ Dir(1, ..., 1)                   (gamma(1) / sum)
    bernoulli: lambda = b / sum(b),      b ~ Bernoulli(0.5)^T, b != 0
    w = scale * lambda
    ```

    The paper's weights sum to 1 (`scale=1`); `scale=T` puts them on the
    scale of equal weighting. Evaluation (`training=False`) uses the
    expected weight `scale / T`. The draws come from a tracked
    `keras.random.SeedGenerator`, so a resumed run continues the same
    random sequence. Works with `jit_compile=True`.

    Args:
        distribution: One of `"normal"` (default), `"uniform"`,
            `"dirichlet"`, `"bernoulli"`.
        scale: float > 0. Sum of the weights. Defaults to 1.0.
        seed: Optional int seeding the draws.

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.RLW(seed=0))
    ```

    References:
    - Lin, Ye, Zhang, Tsang (2022). Reasonable Effectiveness of Random
      Weighting: A Litmus Test for Multi-Task Learning. TMLR.
      arXiv:2111.10603.
    """

    def __init__(
        self,
        distribution: str = "normal",
        scale: float = 1.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "rlw")
        super().__init__(**kwargs)
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"RLW: argument `distribution` must be one of "
                f"{list(_DISTRIBUTIONS)}. Received: "
                f"distribution={distribution!r}."
            )
        if isinstance(scale, bool) or not isinstance(
                scale, (int, float)) or not scale > 0:
            raise ValueError(
                f"RLW: argument `scale` must be a float > 0. Received: "
                f"scale={scale!r}."
            )
        self.distribution = distribution
        self.scale = float(scale)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def sample(self) -> Tensor:
        """One draw of `lambda` (`[T]`, sums to 1)."""
        shape = (self.num_tasks,)
        seed = self.seed_generator
        if self.distribution == "normal":
            return ops.softmax(keras.random.normal(shape, seed=seed))
        if self.distribution == "uniform":
            return ops.softmax(keras.random.uniform(shape, seed=seed))
        if self.distribution == "dirichlet":
            draws = keras.random.gamma(shape, alpha=1.0, seed=seed)
            return draws / ops.sum(draws)
        bits = ops.cast(
            ops.less(keras.random.uniform(shape, seed=seed), 0.5), "float32")
        # An all-zero draw is redrawn as "every task" (equal weights).
        bits = ops.where(ops.greater(ops.sum(bits), 0.0), bits,
                         ops.ones_like(bits))
        return bits / ops.sum(bits)

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        if training:
            return ops.cast(self.scale * self.sample(), losses.dtype)
        return ops.full_like(losses, self.scale / self.num_tasks)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "distribution": self.distribution,
                "scale": self.scale, "seed": self.seed}
