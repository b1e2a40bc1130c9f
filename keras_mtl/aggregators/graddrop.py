"""GradDrop: keep one sign per coordinate, drawn by its sign purity."""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl._seed_state import SeedStateMixin
from keras_mtl.aggregators.base import Aggregator
from keras_mtl.registry import register
from keras_mtl.types import Tensor


@register
class GradDrop(SeedStateMixin, Aggregator):
    """Gradient Sign Dropout: drops the gradient components of one sign.

    At every coordinate the tasks' gradients may disagree in sign. GradDrop
    measures how much they agree (the positive sign purity `P`), draws one
    sign with probability `P` for positive, and keeps only the components
    of that sign:

    ```
    P = ½ (1 + Σ_i g_i / Σ_i |g_i|)             per coordinate, in [0, 1]
    U ~ Uniform(0, 1)                            per coordinate
    M_i = [P > U] [g_i > 0] + [P < U] [g_i < 0]
    g = Σ_i (ℓ_i + (1 - ℓ_i) M_i) g_i             ℓ: the leak per task
    ```

    Where all tasks agree (`P` is 0 or 1) nothing is dropped; with
    `leak=1` a task's gradient always passes in full. A coordinate where
    every gradient is 0 gives `P = ½` and stays 0.

    The paper applies GradDrop to the gradients at the activations of a
    layer (the shared representation), before they flow back into the
    shared trunk, not to the parameter gradients. GradDrop therefore
    defaults to the gradient engine's representation mode
    (`default_mode = "representation"`), where `J` holds the per-task
    gradients of the shared representation (`[T, B·D]`, one coordinate per
    sample and feature) and the kept signs flow back through the trunk.
    Models without one shared representation (MMoE, PLE, cross-stitch)
    need `compile(..., aggregation_mode="jacobian")`, which applies the
    same rule to the parameter gradients, a coordinate-wise variant. It is
    not a Gramian method: the whole `[T, P]` matrix is needed.

    Args:
        leak: float in [0, 1], or one float per task. The share of each
            task's gradient that bypasses the dropout. Defaults to 0.
        seed: Optional int. Seeds the per-coordinate draws.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model.compile("adam", aggregator=keras_mtl.aggregators.GradDrop(seed=1))
    ```

    References:
    - Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov (2020). Just
      Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign
      Dropout. NeurIPS. arXiv:2010.06808.
    """

    default_mode = "representation"

    def __init__(
        self,
        leak: float | Sequence[float] = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "graddrop")
        super().__init__(**kwargs)
        values = list(leak) if isinstance(leak, (list, tuple)) else [leak]
        for value in values:
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(
                    "Argument `leak` must be a float in [0, 1] or a list "
                    f"of such floats, one per task. Received: leak={leak!r}."
                )
        if isinstance(leak, (list, tuple)):
            if not leak:
                raise ValueError(
                    "Argument `leak` must not be an empty list. Pass a "
                    "float, or one float per task."
                )
            self.leak: float | list[float] = [float(v) for v in leak]
        else:
            self.leak = float(leak)  # type: ignore[arg-type]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _leak_vector(self, num_tasks: int, dtype: Any) -> Tensor:
        if isinstance(self.leak, list):
            if len(self.leak) != num_tasks:
                raise ValueError(
                    f"GradDrop got {len(self.leak)} leak values "
                    f"({self.leak}) for {num_tasks} tasks. Pass one leak "
                    "per task, in the order of the model's tasks, or a "
                    "single float."
                )
            return ops.convert_to_tensor(self.leak, dtype=dtype)
        return ops.full((num_tasks,), self.leak, dtype=dtype)

    def sign_purity(self, jacobian: Tensor) -> Tensor:
        """The positive sign purity `P` (`[P]`) of the columns of `J`."""
        jacobian = ops.convert_to_tensor(jacobian)
        total = ops.sum(jacobian, axis=0)
        magnitude = ops.sum(ops.abs(jacobian), axis=0)
        return 0.5 * (1.0 + ops.divide_no_nan(total, magnitude))

    def call(self, jacobian: Tensor) -> Tensor:
        jacobian = ops.convert_to_tensor(jacobian)
        num_tasks = jacobian.shape[0]
        if num_tasks is None:
            raise ValueError(
                "GradDrop needs a static number of tasks, but received a "
                f"Jacobian of shape {jacobian.shape}."
            )
        purity = self.sign_purity(jacobian)
        draws = keras.random.uniform(
            ops.shape(purity), dtype=jacobian.dtype, seed=self.seed_generator)
        zero = ops.zeros((), jacobian.dtype)
        positive = (purity > draws)[None, :]
        negative = (purity < draws)[None, :]
        kept = ops.logical_or(
            ops.logical_and(positive, jacobian > zero),
            ops.logical_and(negative, jacobian < zero))
        dropped = ops.where(kept, jacobian, ops.zeros_like(jacobian))
        leak = self._leak_vector(num_tasks, jacobian.dtype)[:, None]
        return ops.sum(leak * jacobian + (1.0 - leak) * dropped, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "leak": self.leak, "seed": self.seed}
