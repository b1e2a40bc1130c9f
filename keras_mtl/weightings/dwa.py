"""Dynamic Weight Average (Liu, Johns, Davison, 2019)."""

from typing import Any

from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor
from keras_mtl.weightings._utils import check_positive
from keras_mtl.weightings.base import Weighting


@register
class DWA(Weighting):
    """Dynamic Weight Average: weights from each task's rate of descent.

    At the start of epoch `t` (counting from 1), with `L_k(t)` the mean
    training loss of task `k` over epoch `t` (the logged `<task>_loss`):

    ```
    r_k(t-1) = L_k(t-1) / L_k(t-2)
    w_k(t)   = K exp(r_k(t-1) / T) / sum_i exp(r_i(t-1) / T)
    w_k(1) = w_k(2) = 1
    ```

    with `K` the number of tasks and `T` the temperature: a task whose loss
    falls slowly gets more weight; a large `T` gives equal weights. The
    weights are constant within an epoch and change at epoch ends through
    the model's epoch hook; the last two epochs' losses and the weights
    are Keras variables, so a resumed run continues the same trajectory.
    Works with `jit_compile=True` (the step only reads a variable).

    Args:
        temperature: float > 0. The temperature `T`. Defaults to 2.0 (the
            paper's value).

    Example:

    ```python
    model.compile("adam", weighting="dwa")
    model.compile("adam", weighting=keras_mtl.weightings.DWA(temperature=1))
    ```

    References:
    - Liu, Johns, Davison (2019). End-to-End Multi-Task Learning with
      Attention. CVPR. arXiv:1803.10704.
    """

    def __init__(self, temperature: float = 2.0, **kwargs: Any) -> None:
        kwargs.setdefault("name", "dwa")
        super().__init__(**kwargs)
        self.temperature = check_positive("DWA", "temperature", temperature)

    def build(self, input_shape: tuple[int, ...]) -> None:
        num_tasks = input_shape[0]
        self.loss_history = self.add_weight(
            shape=(2, num_tasks), initializer="zeros", trainable=False,
            name="loss_history", aggregation="mean")
        self.epochs_seen = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64",
            name="epochs_seen", aggregation="only_first_replica")
        self.current = self.add_weight(
            shape=(num_tasks,), initializer="ones", trainable=False,
            name="current", aggregation="mean")

    def weights_from_losses(self, last: Tensor, before: Tensor) -> Tensor:
        """DWA's weights from the losses of epochs `t-1` and `t-2`."""
        last = ops.convert_to_tensor(last, dtype="float32")
        before = ops.convert_to_tensor(before, dtype="float32")
        # A task unlabelled in an epoch (loss 0) keeps a neutral ratio.
        ratio = ops.where(ops.greater(before, 0.0),
                          last / ops.where(ops.greater(before, 0.0),
                                           before, 1.0), 1.0)
        return self.num_tasks * ops.softmax(ratio / self.temperature)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        keys = [f"{name}_loss" for name in self.task_names]
        absent = [k for k in keys if k not in logs]
        if absent:
            raise KeyError(
                f"DWA reads the epoch's task losses from the logs, but "
                f"{absent} are missing (logs: {sorted(logs)}). Train a "
                "keras_mtl MultiTaskModel, which logs `<task>_loss`."
            )
        last = ops.convert_to_tensor(
            [float(logs[k]) for k in keys], dtype="float32")
        previous = self.loss_history[0]
        self.loss_history.assign(ops.stack([last, previous]))
        self.epochs_seen.assign_add(1)
        if int(ops.convert_to_numpy(self.epochs_seen)) >= 2:
            self.current.assign(self.weights_from_losses(last, previous))

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        return ops.cast(ops.convert_to_tensor(self.current), losses.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}
