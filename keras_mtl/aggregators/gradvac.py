"""GradVac: raise pairwise gradient similarity to its running target."""

from typing import Any

import keras
from keras import ops

from keras_mtl._seed_state import SeedStateMixin
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

# Keeps sqrt(1 - target²) away from 0 when a target reaches ±1.
_TARGET_LIMIT = 1.0 - 1e-6


@register
class GradVac(SeedStateMixin, GramianAggregator):
    """Gradient Vaccine: moves each task gradient to its similarity target.

    For every ordered pair of tasks `(i, j)` GradVac keeps a target cosine
    `φ̂_ij`, an exponential moving average of the observed cosines. When a
    task gradient is less similar to another than the target, a multiple
    of the other gradient is added so that the cosine becomes exactly the
    target:

    ```
    for i in tasks:                          (j in a random order)
        for j != i:
            φ = cos(g'_i, g_j)
            if φ < φ̂_ij:
                g'_i += g_j · |g'_i| (φ̂_ij √(1-φ²) - φ √(1-φ̂_ij²))
                              / (|g_j| √(1-φ̂_ij²))
            φ̂_ij ← (1 - β) φ̂_ij + β φ
    g = Σ_i g'_i
    ```

    With `φ̂ = 0` this is PCGrad's projection; positive targets also raise
    the similarity of gradients that do not conflict. Every `g'_i` is a
    combination of the rows of `J`, so GradVac runs on the Gramian
    `J Jᵀ` (`[T, T]`) and returns the task weights of that combination.
    The paper applies the rule per layer of a Transformer; here it applies
    to the whole vector of shared parameters, like the other aggregators.

    The targets `φ̂` (`[T, T]`, starting at 0) are Keras variables created
    in `build(input_shape)` for `T = input_shape[0]` tasks: `.keras`
    files and checkpoints carry them.

    Args:
        beta: float in (0, 1]. The EMA rate of the targets. Defaults to
            0.01 (the paper's value).
        seed: Optional int. Seeds the random order of the pairs.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.GradVac(beta=0.01))
    ```

    References:
    - Wang, Tsvetkov, Firat, Cao (2021). Gradient Vaccine: Investigating and
      Improving Multi-task Optimization in Massively Multilingual Models.
      ICLR. arXiv:2010.05874.
    """

    def __init__(
        self, beta: float = 0.01, seed: int | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("name", "gradvac")
        super().__init__(**kwargs)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
                or not 0.0 < beta <= 1.0:
            raise ValueError(
                f"Argument `beta` must be a float in (0, 1]. Received: "
                f"beta={beta!r}. The paper uses beta=0.01."
            )
        self.beta = float(beta)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: Any) -> None:
        num_tasks = int(input_shape[0])
        self.targets = self.add_weight(
            shape=(num_tasks, num_tasks), initializer="zeros",
            trainable=False, name="similarity_targets")

    def _build_from_store(self, store: dict[str, Any]) -> None:
        self.build((store["0"].shape[0], None))

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        num_tasks = gramian.shape[0]
        if num_tasks is None:
            raise ValueError(
                "GradVac needs a static number of tasks, but received a "
                f"Gramian of shape {gramian.shape}."
            )
        if not self.built:
            self.build((num_tasks, None))
        dtype = gramian.dtype
        if num_tasks == 1:
            return ops.ones((1,), dtype)
        targets = ops.cast(self.targets, dtype)
        order = ops.argsort(keras.random.uniform(
            (num_tasks, num_tasks - 1), seed=self.seed_generator), axis=1)
        eye = ops.eye(num_tasks, dtype=dtype)
        diagonal = ops.maximum(ops.diagonal(gramian), ops.zeros((), dtype))
        rows, new_targets = [], []
        for i in range(num_tasks):
            coefficients = eye[i]
            row_targets = targets[i]
            for k in range(num_tasks - 1):
                j = order[i, k]
                j = j + ops.cast(j >= i, j.dtype)
                one_j = ops.one_hot(j, num_tasks, dtype=dtype)
                coefficients, row_targets = self._vaccinate(
                    gramian, diagonal, coefficients, row_targets, one_j)
            rows.append(coefficients)
            new_targets.append(row_targets)
        self.targets.assign(ops.cast(ops.stack(new_targets), "float32"))
        return ops.sum(ops.stack(rows), axis=0)

    def _vaccinate(
        self, gramian: Tensor, diagonal: Tensor, coefficients: Tensor,
        row_targets: Tensor, one_j: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """One pair `(i, j)`: `g'_i = coefficientsᵀ J` and target row `i`."""
        dtype = gramian.dtype
        zero = ops.zeros((), dtype)
        one = ops.ones((), dtype)
        with_j = ops.matmul(gramian, one_j)
        dot = ops.sum(coefficients * with_j)
        norm_i = ops.sqrt(ops.maximum(
            ops.sum(coefficients * ops.matmul(gramian, coefficients)), zero))
        norm_j = ops.sqrt(ops.sum(diagonal * one_j))
        defined = ops.logical_and(norm_i > zero, norm_j > zero)
        denominator = ops.where(defined, norm_i * norm_j, one)
        cosine = ops.clip(dot / denominator, -one, one)
        current = ops.sum(row_targets * one_j)
        target = ops.clip(current, -_TARGET_LIMIT, _TARGET_LIMIT)
        below = ops.logical_and(defined, cosine < target)
        root_cosine = ops.sqrt(ops.maximum(one - cosine * cosine, zero))
        root_target = ops.sqrt(one - target * target)
        safe_norm_j = ops.where(defined, norm_j, one)
        weight = norm_i * (target * root_cosine - cosine * root_target) / (
            safe_norm_j * root_target)
        coefficients = coefficients + ops.where(below, weight, zero) * one_j
        moved = (one - self.beta) * current + self.beta * cosine
        row_targets = ops.where(
            ops.logical_and(defined, one_j > zero), moved, row_targets)
        return coefficients, row_targets

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}
