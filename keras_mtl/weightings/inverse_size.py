"""Weights inversely proportional to each task's training-set size."""

import math
from typing import Any
from typing import Mapping
from typing import Sequence

import numpy as np
from keras import ops

from keras_mtl.registry import register
from keras_mtl.tasks import Task
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings.base import Weighting


def _count_labelled(values: Any, missing: float | None) -> int:
    array = np.asarray(values)
    rows = array.reshape(array.shape[0], -1) if array.ndim else array[None]
    labelled = np.ones(rows.shape, dtype=bool)
    if np.issubdtype(rows.dtype, np.floating):
        labelled &= np.isfinite(rows)
    if missing is not None and not math.isnan(missing):
        labelled &= rows != missing
    return int(labelled.any(axis=1).sum())


@register
class InverseSizeWeighting(Weighting):
    """Weights inversely proportional to each task's number of labels.

    When tasks are labelled on different numbers of training samples, the
    task with the most data would otherwise dominate the shared layers.
    The weights are renormalised to sum to the number of tasks `T`, so that
    equal sizes give equal weights of 1:

    ```
    w_t = T * n_t^(-p) / sum_k n_k^(-p)
    ```

    with `n_t` the number of labelled training samples of task `t` and `p`
    the `power` (1: inverse size, 0.5: inverse square root, 0: equal).
    The weights are constants: this strategy works with `jit_compile=True`.

    Args:
        sizes: dict. Maps every task name to its number of labelled
            training samples (> 0). Required; `from_labels` counts them.
        power: float >= 0. The exponent `p`. Defaults to 1.0.

    Example:

    ```python
    weighting = keras_mtl.weightings.InverseSizeWeighting(
        sizes={"income": 40_000, "marital": 2_000})
    # or, counting the labelled rows (missing labels excluded):
    weighting = keras_mtl.weightings.InverseSizeWeighting.from_labels(
        y_train, tasks)
    model.compile("adam", weighting=weighting)
    ```

    References:
    - King, Zeng (2001). Logistic Regression in Rare Events Data.
      Political Analysis 9(2). (Inverse-frequency re-weighting, here
      applied to tasks instead of classes.)
    """

    def __init__(
        self,
        sizes: Mapping[str, int] | None = None,
        power: float = 1.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "inverse_size")
        super().__init__(**kwargs)
        if not sizes:
            raise ValueError(
                "InverseSizeWeighting needs `sizes`, the number of labelled "
                "training samples of every task. Received: "
                f"sizes={sizes!r}. Pass sizes={{'task_a': 5000, ...}} or use "
                "InverseSizeWeighting.from_labels(y_train, tasks)."
            )
        for task, size in sizes.items():
            if isinstance(size, bool) or not isinstance(
                    size, (int, float, np.integer)) or not size > 0:
                raise ValueError(
                    f"InverseSizeWeighting: the size of task {task!r} must "
                    f"be a number > 0. Received: sizes[{task!r}]={size!r}. "
                    "A task without labelled samples cannot be trained; "
                    "drop it from the model."
                )
        self.sizes = {k: int(v) if float(v).is_integer() else float(v)
                      for k, v in sizes.items()}
        self.power = check_positive(
            "InverseSizeWeighting", "power", power, allow_zero=True)

    @classmethod
    def from_labels(
        cls,
        labels: Mapping[str, Any],
        tasks: Sequence[Task] | None = None,
        power: float = 1.0,
        **kwargs: Any,
    ) -> "InverseSizeWeighting":
        """Counts each task's labelled samples in `labels`.

        A sample counts when at least one of its label entries is present:
        finite and different from the task's `missing_label` sentinel
        (without `tasks`, only NaN marks a missing label).

        Args:
            labels: dict `{task: array}` of training labels.
            tasks: Optional `keras_mtl.Task` list giving each task's
                missing-label sentinel.
            power: As in the constructor.
            **kwargs: Passed to the constructor (e.g. `name`).
        """
        sentinels = {t.name: t.missing_label for t in tasks or ()}
        sizes = {name: _count_labelled(values, sentinels.get(name))
                 for name, values in labels.items()}
        return cls(sizes=sizes, power=power, **kwargs)

    def bind(self, task_names: Sequence[str]) -> None:
        unknown = sorted(set(self.sizes) - set(task_names))
        missing = [n for n in task_names if n not in self.sizes]
        if unknown or missing:
            raise ValueError(
                f"InverseSizeWeighting: `sizes` must have one entry per "
                f"model task {list(task_names)}. Unknown task(s): {unknown}; "
                f"task(s) without a size: {missing}. Fix the keys of `sizes`."
            )
        super().bind(task_names)

    def normalized_weights(self) -> list[float]:
        """The weights `w_t` in task order (after `bind`)."""
        raw = [float(self.sizes[n]) ** (-self.power) for n in self.task_names]
        total = sum(raw)
        return [len(raw) * r / total for r in raw]

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.convert_to_tensor(
            self.normalized_weights(), dtype=losses.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sizes": dict(self.sizes),
                "power": self.power}
