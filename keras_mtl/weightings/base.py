"""`Weighting`: the loss-level hook of the multi-task training step.

A weighting maps the vector of task losses `L` (shape `[T]`) to task weights
`w` (shape `[T]`); the step then minimises `sum(w * L) + regularization`.
Weightings are Keras layers so that their state (learned log-variances,
loss histories, moving statistics) is made of Keras variables that `.keras`
files, `save_weights` and `BackupAndRestore` carry.
"""

from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.types import Tensor


class Weighting(keras.layers.Layer):
    """Base class of loss-weighting strategies.

    Subclasses implement `call(losses, training)` returning `[T]` weights
    and may override:

    - `build(input_shape)`: create Keras variables for `T = input_shape[0]`
      tasks. Use only the shape: on `.keras` reload Keras replays `build`
      before `bind`. Values that depend on task names (initial values
      given per task, per-task constants) belong in `bind`, after
      `super().bind(...)`;
    - `regularization(losses)`: a scalar added to the objective, for
      strategies whose weights are learned (uncertainty weighting's
      log-variance terms);
    - `on_epoch_begin(epoch, logs)`: an eager update before each epoch
      (epoch-based schedules);
    - `on_epoch_end(epoch, logs)`: an eager, epoch-level update (DWA);
    - `after_step(losses_before, losses_after)`: an update from the task
      losses of the same batch measured again after the optimizer step
      (FAMO); enabled by `requires_post_step_losses = True`;
    - `update_from_gradients(losses, gradient_norms)`: an update from the
      norms of each weighted task gradient at the last shared layer
      (GradNorm); enabled by `requires_shared_gradient_norms = True`.

    The model calls `bind(task_names)` at compile time, which builds the
    layer so that its variables exist before weights are loaded.
    """

    requires_post_step_losses: bool = False
    requires_shared_gradient_norms: bool = False

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.task_names: tuple[str, ...] = ()

    def bind(self, task_names: Sequence[str]) -> None:
        """Tells the weighting the model's task names and builds it."""
        task_names = tuple(task_names)
        if self.task_names and task_names != self.task_names:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} is already bound to "
                f"tasks {list(self.task_names)} and cannot be reused for "
                f"tasks {list(task_names)}. Create a new instance."
            )
        self.task_names = task_names
        if not self.built:
            self.build((len(task_names),))
            self.built = True

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Creates state for `input_shape[0]` tasks (none by default)."""

    def call(self, losses: Tensor, training: bool = False) -> Tensor:
        raise TypeError(
            f"{type(self).__name__} is abstract: subclasses of Weighting "
            "define call(losses, training) returning one weight per task."
        )

    def regularization(self, losses: Tensor) -> Tensor:
        """A scalar added to the training objective (0 by default)."""
        return ops.zeros((), dtype="float32")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        """Eager update before epoch `epoch` starts (none by default)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Eager epoch-level update (none by default)."""

    def after_step(self, losses_before: Tensor, losses_after: Tensor) -> None:
        """In-graph update after the optimizer step (none by default)."""

    def update_from_gradients(
        self, losses: Tensor, gradient_norms: Tensor
    ) -> None:
        """In-graph update from task gradient norms (none by default)."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def weights_by_task(self, weights: Any) -> dict[str, float]:
        """Turns a `[T]` weight vector into `{task: weight}`."""
        values = ops.convert_to_numpy(weights)
        return {name: float(v) for name, v in zip(self.task_names, values)}
