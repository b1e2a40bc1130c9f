"""CAGrad: conflict-averse gradient descent."""

from typing import Any

from keras import ops

from keras_mtl._compat import tensorflow as tensorflow_compat
from keras_mtl.aggregators._cagrad_dual import enumerate_dual
from keras_mtl.aggregators._cagrad_dual import frank_wolfe_dual
from keras_mtl.aggregators._cagrad_dual import polish_dual
from keras_mtl.aggregators._cagrad_homotopy import homotopy_dual
from keras_mtl.aggregators._linalg import machine_epsilon as epsilon
from keras_mtl.aggregators._solvers import ENUMERATION_MAX_TASKS
from keras_mtl.aggregators._solvers import normalize_gramian
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


def path_iterations(num_tasks: int) -> int:
    """Cap on the homotopy's iterations: about three support changes per
    task (random Gramians need about one per task of the final support)."""
    return 3 * num_tasks + 10


def solve_dual(gramian: Tensor, linear: Tensor, radius: Tensor,
               max_iterations: int) -> tuple[Tensor, Tensor]:
    """`(w, balanced)`: the minimiser of `aᵀw + s ‖Jᵀw‖` over the simplex,
    and whether its minimum is at `Jᵀw = 0` (then CAGrad moves along
    `g_0`).

    Up to `ENUMERATION_MAX_TASKS` tasks by enumeration, beyond by the
    homotopy of `_cagrad_homotopy`. Where the homotopy's answer fails its
    duality-gap certificate, Frank-Wolfe (`max_iterations`) and the exact
    KKT points on the supports it suggests take over: this needs the
    path to be cut at `path_iterations(T)` (cycling on ties) or rounding
    to break it (Gramians so ill-conditioned that the masked systems lose
    all precision); no random or degenerate Gramian of the tests does.
    Non-finite inputs give NaN weights without running either.
    """
    num_tasks = gramian.shape[0]
    if num_tasks <= ENUMERATION_MAX_TASKS:
        return enumerate_dual(gramian, linear, radius), ops.convert_to_tensor(
            False)
    w, balanced, certified, _ = homotopy_dual(
        gramian, linear, radius, path_iterations(num_tasks))
    settled = ops.logical_or(certified, ops.logical_not(
        ops.all(ops.isfinite(w))))

    def safeguard() -> Tensor:
        return polish_dual(gramian, linear, radius, frank_wolfe_dual(
            gramian, linear, radius, max_iterations))

    # The safeguard (a Frank-Wolfe loop) almost never runs: as a function
    # call, its ops cost nothing on the steps that skip it.
    w = tensorflow_compat.cond_as_call(settled, lambda: w, safeguard)
    return w, ops.logical_and(balanced, certified)


@register
class CAGrad(GramianAggregator):
    """Conflict-averse gradient: the best worst-case improvement near g_0.

    The update maximises the smallest task improvement within a ball
    around the average gradient `g_0 = (1/T) Σ_t g_t`:

    ```
    max_d min_t g_tᵀ d    subject to  ‖d - g_0‖ <= c ‖g_0‖
    ```

    Its dual over the simplex, with `g_w = Σ_t w_t g_t` and `s = c ‖g_0‖`,

    ```
    w = argmin_{w >= 0, Σ w = 1} g_wᵀ g_0 + s ‖g_w‖
    d = g_0 + (s / ‖g_w‖) g_w
    ```

    is solved on the Gramian in the step: exactly by support enumeration
    for up to six tasks (on each support the KKT conditions reduce to a
    quadratic equation), and beyond by following the piecewise-linear
    path of its KKT points (a homotopy, one support change per `while_loop`
    iteration: about the size of the final support, see
    `_cagrad_homotopy.py`), certified by the duality gap, with
    Frank-Wolfe as a safeguard where the certificate fails. Where
    `‖g_w‖` vanishes (the tasks' gradients are in equilibrium) the
    direction is `g_0`, as in the authors' code. `c = 0` gives the mean
    gradient; large `c` approaches MGDA. As in the authors' code the
    result is divided by `1 + c²` (`rescale=1`, their default), by
    `1 + c` (`rescale=2`) or left as is (`rescale=0`).

    Args:
        c: float >= 0. Radius of the ball relative to `‖g_0‖`. Defaults
            to 0.5 (the paper's choice for NYUv2 and CityScapes).
        rescale: 0, 1 or 2, as above. Defaults to 1.
        max_iterations: int >= 1. Iterations of the Frank-Wolfe
            safeguard (more than six tasks, only where the homotopy's
            certificate fails). Defaults to 500.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.CAGrad(c=0.4))
    ```

    References:
    - Liu, Liu, Jin, Stone, Liu (2021). Conflict-Averse Gradient Descent
      for Multi-task Learning. NeurIPS. arXiv:2110.14048.
    """

    def __init__(
        self,
        c: float = 0.5,
        rescale: int = 1,
        max_iterations: int = 500,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "cagrad")
        super().__init__(**kwargs)
        if not c >= 0:
            raise ValueError(
                f"Argument `c` must be >= 0. Received: c={c!r}.")
        if rescale not in (0, 1, 2):
            raise ValueError(
                "Argument `rescale` must be 0, 1 or 2 (no rescaling, "
                f"divide by 1 + c², divide by 1 + c). Received: "
                f"rescale={rescale!r}.")
        if int(max_iterations) < 1:
            raise ValueError(
                "Argument `max_iterations` must be >= 1. Received: "
                f"max_iterations={max_iterations!r}.")
        self.c = float(c)
        self.rescale = int(rescale)
        self.max_iterations = int(max_iterations)

    def weights_from_gramian(self, gramian: Tensor) -> Tensor:
        gramian = normalize_gramian(gramian)
        dtype = gramian.dtype
        num_tasks = gramian.shape[0]
        mean = ops.ones((num_tasks,), dtype) / num_tasks
        linear = ops.matmul(gramian, mean[:, None])[:, 0]  # g_t · g_0
        radius = self.c * ops.sqrt(ops.maximum(ops.sum(linear * mean), 0.0))
        w, balanced = solve_dual(gramian, linear, radius,
                                 self.max_iterations)
        norm_sq = ops.sum(ops.matmul(gramian, w[:, None])[:, 0] * w)
        usable = ops.logical_and(
            norm_sq > 10.0 * num_tasks * epsilon(dtype),
            ops.logical_not(balanced))
        # Not usable (balanced, or a non-finite Gramian: NaN w): the
        # mean, and non-finite rows of J then give a non-finite direction.
        scale = radius / ops.sqrt(ops.where(usable, norm_sq, 1.0))
        alpha = mean + ops.where(usable, scale * w, 0.0)
        if self.rescale == 1:
            alpha = alpha / (1.0 + self.c ** 2)
        elif self.rescale == 2:
            alpha = alpha / (1.0 + self.c)
        return alpha

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "c": self.c,
                "rescale": self.rescale,
                "max_iterations": self.max_iterations}
