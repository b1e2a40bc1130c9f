"""Nash-MTL: the Nash bargaining solution over the task gradients."""

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

# Newton's method stops once the squared Newton decrement (the predicted
# decrease of the objective, in float64) falls below this.
_TOLERANCE = 1e-20


@register
class NashMTL(GramianAggregator):
    """Nash-MTL: weights the task gradients by the bargaining solution.

    The update `g = αᵀ J` is the Nash bargaining solution of the tasks: it
    maximises `Σ_i log(g_iᵀ g)` in the ball, which the paper shows is
    reached at the weights `α > 0` solving

    ```
    G α = 1 / α            (elementwise; G = J Jᵀ, the Gramian)
    ```

    so that every task's directional derivative is `g_iᵀ g = 1 / α_i`:
    tasks with small gradients get large weights. The solution is the
    unique minimiser of the strictly convex `½ αᵀ G α - Σ_i log α_i`,
    which this layer finds in TensorFlow with damped Newton iterations (a
    `while_loop` of `[T, T]` solves in float64), in place of the paper's
    sequence of convex programs in cvxpy. The step stays in graph mode.

    With `normalize=True` (the reference implementation's behaviour) the
    Gramian is first divided by its Frobenius norm, so that the update
    keeps the scale of the task gradients; with `normalize=False` the
    weights solve `G α = 1 / α` for the Gramian as given and the update
    always has norm `sqrt(T)`. Tasks whose gradient is zero take no part in
    the bargaining and get weight 0. Where the gradients are linearly
    dependent with a non-negative null combination (exactly opposite
    gradients, for instance) no solution exists; a small ridge
    `epsilon · diag(G)` on the Gramian keeps the weights finite, and
    the update then shrinks towards 0. Gradient clipping (the paper's
    `max_norm`) belongs to the optimizer: use `clipnorm=`.

    With `update_frequency=k` the weights are solved every `k`-th call and
    reused in between, as in the paper's faster variant. The cached
    weights and the call counter are Keras variables created in
    `build(input_shape)`, which `.keras` files and checkpoints carry.

    Args:
        update_frequency: int >= 1. Solve every this many steps. Defaults
            to 1.
        normalize: bool. Divide the Gramian by its Frobenius norm before
            solving. Defaults to True.
        max_iterations: int >= 1. The most Newton iterations per solve.
            Defaults to 100 (a solve typically takes 5 to 20).
        epsilon: float >= 0. The relative ridge on the Gramian. Defaults
            to 1e-8 (raised to 10 times the machine epsilon of the input's
            dtype).
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile(
        keras.optimizers.Adam(1e-3, clipnorm=1.0),
        aggregator=keras_mtl.aggregators.NashMTL(update_frequency=5))
    ```

    References:
    - Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya (2022).
      Multi-Task Learning as a Bargaining Game. ICML. arXiv:2202.01017.
    """

    def __init__(
        self,
        update_frequency: int = 1,
        normalize: bool = True,
        max_iterations: int = 100,
        epsilon: float = 1e-10,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "nash_mtl")
        super().__init__(**kwargs)
        for arg, value in (("update_frequency", update_frequency),
                           ("max_iterations", max_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(
                    f"Argument `{arg}` must be an int >= 1. Received: "
                    f"{arg}={value!r}."
                )
        if isinstance(epsilon, bool) or not isinstance(
                epsilon, (int, float)) or epsilon < 0:
            raise ValueError(
                f"Argument `epsilon` must be a float >= 0. Received: "
                f"epsilon={epsilon!r}."
            )
        self.update_frequency = update_frequency
        self.normalize = bool(normalize)
        self.max_iterations = max_iterations
        self.epsilon = float(epsilon)

    def build(self, input_shape: Any) -> None:
        num_tasks = int(input_shape[0])
        self.cached_weights = self.add_weight(
            shape=(num_tasks,), initializer="zeros", trainable=False,
            name="cached_weights")
        self.calls = self.add_weight(
            shape=(), initializer="zeros", dtype="int64", trainable=False,
            name="calls")

    def load_own_variables(self, store: Any) -> None:
        if not self.built and len(store.keys()) == 2:
            self.build((store["0"].shape[0], None))
        super().load_own_variables(store)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = ops.convert_to_tensor(gramian)
        if not self.built:
            self.build((gramian.shape[0], None))
        dtype = gramian.dtype
        if self.update_frequency == 1:
            weights = self.bargaining_weights(gramian)
        else:
            due = ops.equal(self.calls % self.update_frequency, 0)
            weights = ops.cond(
                due,
                lambda: self.bargaining_weights(gramian),
                lambda: ops.cast(self.cached_weights, dtype))
        self.cached_weights.assign(ops.cast(weights, "float32"))
        self.calls.assign_add(ops.ones((), "int64"))
        return weights

    def bargaining_weights(self, gramian: Tensor) -> Tensor:
        """Solves the bargaining condition for `gramian` (no caching)."""
        gramian = ops.convert_to_tensor(gramian)
        dtype = gramian.dtype
        matrix = ops.cast(gramian, "float64")
        matrix = 0.5 * (matrix + ops.transpose(matrix))
        zero = ops.zeros((), "float64")
        if self.normalize:
            norm = ops.sqrt(ops.sum(matrix * matrix))
            matrix = matrix / ops.where(norm > zero, norm, ops.ones_like(norm))
        diagonal = ops.maximum(ops.diagonal(matrix), zero)
        num_tasks = ops.shape(matrix)[0]
        eps = _machine_epsilon(dtype)
        active = diagonal > ops.max(diagonal) * eps * eps
        norms = ops.sqrt(ops.where(active, diagonal, ops.ones_like(diagonal)))
        pair = ops.logical_and(active[:, None], active[None, :])
        eye = ops.eye(num_tasks, dtype="float64")
        ridge = max(self.epsilon, 10.0 * eps)
        # With α = β / |g|, G α = 1 / α becomes C β = 1 / β for the unit
        # diagonal C = D⁻¹ G D⁻¹, where the ridge is relative to each task.
        # Inactive tasks are decoupled (identity rows) and zeroed below.
        unit = matrix / (norms[:, None] * norms[None, :])
        unit = ops.where(pair, unit, eye) + ridge * eye
        start = ops.ones_like(diagonal) * (1.0 + ridge) ** -0.5
        solution = self._newton(unit, start)
        weights = ops.where(active, solution / norms, zero)
        return ops.cast(weights, dtype)

    def _newton(self, matrix: Tensor, start: Tensor) -> Tensor:
        """Minimises `½ βᵀ M β - Σ log β` (so `M β = 1 / β`)."""

        def keep_going(beta: Tensor, decrement: Tensor) -> Tensor:
            return decrement > _TOLERANCE

        def iterate(beta: Tensor, decrement: Tensor) -> tuple:
            gradient = ops.matmul(matrix, beta) - 1.0 / beta
            hessian = matrix + ops.diag(1.0 / (beta * beta))
            step = -ops.solve(hessian, gradient[:, None])[:, 0]
            decrement = ops.maximum(-ops.sum(gradient * step), 0.0)
            size = ops.sqrt(decrement)
            # Damped steps stay inside the Dikin ellipsoid (β > 0); full
            # steps once the iterate is in the quadratic region.
            rate = ops.where(size > 0.25, 1.0 / (1.0 + size), 1.0)
            return beta + rate * step, decrement

        first = ops.ones((), "float64")
        beta, _ = ops.while_loop(
            keep_going, iterate, (start, first),
            maximum_iterations=self.max_iterations)
        return beta

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "update_frequency": self.update_frequency,
            "normalize": self.normalize,
            "max_iterations": self.max_iterations,
            "epsilon": self.epsilon,
        }


def _machine_epsilon(dtype: Any) -> float:
    return float(np.finfo(keras.backend.standardize_dtype(dtype)).eps)
