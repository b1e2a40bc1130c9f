"""Nash-MTL: the Nash bargaining solution over the task gradients."""

from typing import Any

from keras import ops

from keras_mtl.aggregators._linalg import machine_epsilon
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor

# Newton's method stops after the step whose squared Newton decrement λ²
# is at most this. The step after it would have λ⁺ ≤ (λ / (1 - λ))² ≈ 1e-10,
# so the returned weights solve `G α = 1 / α` to about 1e-10 relative; λ² is
# affine invariant (no scale enters it) and float64 reaches it even where
# the ridge makes the weights large (its rounding floor is ~eps² · |β|²).
_TOLERANCE = 1e-10


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
            Defaults to 100 (a solve typically takes 1 to 7, and about 20
            where a ridge holds the weights finite).
        epsilon: float >= 0. The relative ridge on the Gramian. Defaults
            to 1e-10 (raised to 10 times the machine epsilon of the input's
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
        eps = machine_epsilon(dtype)
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
        solution = _solve(unit, eye, self.max_iterations)
        weights = ops.where(active, solution / norms, zero)
        return ops.cast(weights, dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "update_frequency": self.update_frequency,
            "normalize": self.normalize,
            "max_iterations": self.max_iterations,
            "epsilon": self.epsilon,
        }


def _solve(matrix: Tensor, eye: Tensor, max_iterations: int,
           count: bool = False) -> Any:
    """Minimises `f(β) = ½ βᵀ M β - Σ log β` (so `M β = 1 / β`) for a
    positive definite float64 `M`, by damped Newton; `eye` is `I` of its
    size. Returns `β`, or `(β, iterations)` with `count=True`.

    `f` is self-concordant, so `1 / (1 + λ)` times the Newton step (λ the
    Newton decrement) stays positive and lowers `f` by at least
    `ω(λ) = λ - log(1 + λ)` (Nesterov & Nemirovski, 1994, Interior-Point
    Polynomial Algorithms in Convex Programming, SIAM, §2.2). The full step
    is taken instead whenever it stays positive and lowers `f` at least as
    much, which keeps that guarantee and is checked without another product
    with `M`: with the Newton step `s` and `r = s / β`,

    ```
    f(β + s) - f(β) = Σ_i (r_i - ½ r_i² - log(1 + r_i)) - ½ λ²
    ```

    because `(M + diag(β⁻²)) s = -∇f` gives `sᵀ M β = Σ r - λ²` and
    `sᵀ M s = λ² - Σ r²`. The start is first moved along its ray to the
    minimiser there, `βᵀ M β = T` (which the solution satisfies: multiply
    `M β = 1 / β` by `βᵀ`); from `1` that is the exact solution both for
    orthogonal and for collinear tasks.
    """
    # β is a column, so that the loop needs no reshapes.
    ones = ops.sum(eye, axis=1, keepdims=True)
    total = ops.sum(matrix)  # 1ᵀ M 1 > 0 for a positive definite M
    beta = ones * ops.where(
        total > 0.0, ops.sqrt(ops.sum(ones) / ops.where(
            total > 0.0, total, 1.0)), 1.0)

    def keep_going(beta: Tensor, decrement: Tensor, *count: Tensor) -> Any:
        return decrement > _TOLERANCE

    def iterate(beta: Tensor, decrement: Tensor, *count: Tensor) -> tuple:
        inverse = 1.0 / beta
        gradient = ops.matmul(matrix, beta) - inverse
        # `minus` is minus the Newton step, `ratio` minus `r` above.
        minus = ops.solve(matrix + eye * (inverse * inverse), gradient)
        decrement = ops.maximum(ops.sum(gradient * minus), 0.0)
        norm = ops.sqrt(decrement)
        ratio = minus * inverse
        # -(f(β + s) - f(β)); -inf where β + s leaves the positive orthant.
        gain = ops.sum(ratio * (1.0 + 0.5 * ratio) + ops.log(
            ops.maximum(1.0 - ratio, 0.0))) + 0.5 * decrement
        damped = 1.0 + norm
        rate = ops.where(gain >= norm - ops.log(damped), 1.0, 1.0 / damped)
        return (beta - rate * minus, decrement) + tuple(c + 1 for c in count)

    state = (beta, ops.ones((), "float64"))
    if count:
        state += (ops.zeros((), "int32"),)
    state = ops.while_loop(keep_going, iterate, state,
                           maximum_iterations=max_iterations)
    return (state[0][:, 0], state[2]) if count else state[0][:, 0]
