"""Smooth Tchebycheff scalarisation, STCH (Lin et al., 2024)."""

from typing import Any
from typing import Mapping
from typing import Sequence

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings._utils import check_task_keys
from keras_mtl.weightings._utils import present
from keras_mtl.weightings._utils import remember_first_losses
from keras_mtl.weightings.base import Weighting

_NORMALIZE = ("initial", "none")


@register
class STCH(Weighting):
    """Minimises a smoothed maximum of the (normalised) task losses.

    The Tchebycheff scalarisation `max_i lambda_i f_i` trains the task that
    is worst off, so that no task is left behind; its smooth version is

    ```
    g_mu = mu log sum_i exp(lambda_i f_i / mu),   f_i = L_i / n_i
    w_i  = dg_mu/dL_i = softmax(lambda f / mu)_i lambda_i / n_i
    ```

    with preferences `lambda` on the simplex, smoothing `mu > 0`
    (`mu -> 0`: the maximum; large `mu`: close to the preference-weighted
    mean) and normalisers `n_i`, each task's first training loss
    (`normalize="initial"`, so that tasks of different loss scales
    compete on their relative progress) or 1 (`"none"`). The ideal point
    is 0 (losses are non-negative). The weights, held constant in the
    backward pass, give exactly the gradient of `g_mu`; the logged `loss`
    is `sum_i w_i L_i`, its first-order equivalent. Tasks without labels in
    the batch (loss 0) are left out. The normalisers are Keras variables.
    Works with `jit_compile=True`.

    Args:
        mu: float > 0. The smoothing `mu`. Defaults to 0.1.
        preferences: Optional dict `{task: float > 0}`, normalised to sum
            to 1 (tasks left out get 1 before normalising). Default: equal.
        normalize: `"initial"` (default) or `"none"`.

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.STCH(mu=0.05))
    ```

    References:
    - Lin, Zhang, Yang, Liu, Wang, Zhang (2024). Smooth Tchebycheff
      Scalarization for Multi-Objective Optimization. ICML.
      arXiv:2402.19078.
    """

    def __init__(
        self,
        mu: float = 0.1,
        preferences: Mapping[str, float] | None = None,
        normalize: str = "initial",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "stch")
        super().__init__(**kwargs)
        self.mu = check_positive("STCH", "mu", mu)
        preferences = dict(preferences or {})
        for task, value in preferences.items():
            check_positive("STCH", f"preferences[{task!r}]", value)
        self.preferences = {k: float(v) for k, v in preferences.items()}
        if normalize not in _NORMALIZE:
            raise ValueError(
                f"STCH: argument `normalize` must be one of "
                f"{list(_NORMALIZE)}. Received: normalize={normalize!r}."
            )
        self.normalize = normalize

    def bind(self, task_names: Sequence[str]) -> None:
        check_task_keys("STCH", "preferences", self.preferences, task_names)
        super().bind(task_names)
        raw = [self.preferences.get(n, 1.0) for n in self.task_names]
        self._lambda = [r / sum(raw) for r in raw]

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.normalizers = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=False,
            name="normalizers", aggregation="mean")

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        losses = ops.stop_gradient(ops.cast(losses, "float32"))
        mask = present(losses)
        if self.normalize == "initial":
            if training:
                stored = remember_first_losses(self.normalizers, losses)
            else:
                stored = ops.convert_to_tensor(self.normalizers)
            scale = ops.where(ops.greater(stored, 0.0), stored, 1.0)
        else:
            scale = ops.ones_like(losses)
        preference = ops.convert_to_tensor(self._lambda, dtype="float32")
        logits = preference * (losses / scale) / self.mu
        logits = ops.where(ops.greater(mask, 0.0), logits, -1e30)
        share = mask * ops.softmax(logits)
        return share * preference / scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mu": self.mu,
                "preferences": self.preferences,
                "normalize": self.normalize}
