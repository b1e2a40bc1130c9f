"""Homoscedastic uncertainty weighting (Kendall, Gal, Cipolla, 2018)."""

from typing import Any
from typing import Mapping
from typing import Sequence

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_task_keys
from keras_mtl.weightings._utils import present
from keras_mtl.weightings.base import Weighting

_FORMS = ("regression", "classification")


@register
class UncertaintyWeighting(Weighting):
    """Learns each task's homoscedastic noise and weights by its precision.

    Each task `t` has a learned log-variance `s_t = log sigma_t^2`
    (trainable, updated by the model's optimizer with the network). The
    objective is the paper's negative log-likelihood, in its regression
    (Gaussian, eq. 7) or classification (scaled softmax, eq. 10) form:

    ```
    regression:      1 / (2 sigma_t^2) L_t + log sigma_t
                   = 0.5 exp(-s_t) L_t + 0.5 s_t
    classification:  1 / sigma_t^2 L_t + log sigma_t
                   = exp(-s_t) L_t + 0.5 s_t
    ```

    so `w_t = 0.5 exp(-s_t)` (regression) or `exp(-s_t)` (classification),
    and `regularization = sum_t 0.5 s_t` (over the tasks labelled in the
    batch). At the optimum of the regression
    form `sigma_t^2` equals the task's mean squared error, which is how the
    method learns the relative noise of the tasks. `sigmas()` returns the
    learned `sigma_t`. Works with `jit_compile=True`.

    Args:
        forms: `"regression"` (default), `"classification"`, or a dict
            `{task: form}` (tasks left out are regression).
        initial_log_variance: float or dict `{task: float}`. Initial
            `s_t`. Defaults to 0.0 (`sigma_t = 1`).

    Example:

    ```python
    model.compile("adam", weighting=keras_mtl.weightings.UncertaintyWeighting(
        forms={"income": "classification", "age": "regression"}))
    model.fit(...)
    print(model.weighting.sigmas())
    ```

    References:
    - Kendall, Gal, Cipolla (2018). Multi-Task Learning Using Uncertainty
      to Weigh Losses for Scene Geometry and Semantics. CVPR.
      arXiv:1705.07115.
    """

    def __init__(
        self,
        forms: str | Mapping[str, str] = "regression",
        initial_log_variance: float | Mapping[str, float] = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "uncertainty")
        super().__init__(**kwargs)
        form_values = forms.values() if isinstance(forms, Mapping) else [forms]
        for form in form_values:
            if form not in _FORMS:
                raise ValueError(
                    "UncertaintyWeighting: each form must be one of "
                    f"{list(_FORMS)}. Received: forms={forms!r}."
                )
        self.forms = dict(forms) if isinstance(forms, Mapping) else forms
        init = initial_log_variance
        init_values = init.values() if isinstance(init, Mapping) else [init]
        for value in init_values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    "UncertaintyWeighting: argument `initial_log_variance` "
                    "must be a float or a dict {task: float}. Received: "
                    f"initial_log_variance={init!r}."
                )
        self.initial_log_variance = (
            {k: float(v) for k, v in init.items()}
            if isinstance(init, Mapping) else float(init))

    def _per_task(self, value: Any, fallback: Any) -> list:
        if isinstance(value, Mapping):
            return [value.get(n, fallback) for n in self.task_names]
        return [value] * self.num_tasks

    def bind(self, task_names: Sequence[str]) -> None:
        for argument in ("forms", "initial_log_variance"):
            value = getattr(self, argument)
            if isinstance(value, Mapping):
                check_task_keys("UncertaintyWeighting", argument, value,
                                task_names)
        first = not self.task_names
        super().bind(task_names)
        self._factors = [1.0 if f == "classification" else 0.5
                         for f in self._per_task(self.forms, "regression")]
        if first:  # Keras may have built the layer before (on reload).
            self.log_variance.assign(
                self._per_task(self.initial_log_variance, 0.0))

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.log_variance = self.add_weight(
            shape=input_shape, initializer="zeros", trainable=True,
            name="log_variance")

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        factors = ops.convert_to_tensor(self._factors, dtype=losses.dtype)
        s = ops.cast(self.log_variance, losses.dtype)
        return factors * ops.exp(-s)

    def regularization(self, losses: Tensor) -> Tensor:
        # A task without labels in the batch (loss 0) adds no term, so that
        # its log-variance does not drift down on batches that skip it.
        s = ops.cast(self.log_variance, "float32")
        return 0.5 * ops.sum(present(losses) * s)

    def sigmas(self) -> dict[str, float]:
        """The learned noise scales `sigma_t = exp(s_t / 2)`, by task."""
        return self.weights_by_task(ops.exp(0.5 * self.log_variance))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "forms": self.forms,
                "initial_log_variance": self.initial_log_variance}
