"""`TaskSchedule`: which tasks train on each step."""

import contextlib
from typing import Any

import keras
import numpy as np

from keras_mtl.registry import register

STRATEGIES = ("all", "random", "round_robin", "loss_progress")


@register
class TaskSchedule(keras.callbacks.Callback):
    """Trains only the scheduled tasks on each step; logs which they were.

    Before each training step the callback picks the active tasks and
    writes a `[T]` mask (1 active, 0 not) that `MultiTaskModel` multiplies
    into the task weights (`MultiTaskModel.set_task_mask`), so an inactive
    task contributes no gradient on that step. Its loss is still computed
    and logged, which is what the loss-progress strategy feeds on.
    Evaluation always covers every task.

    ```
    all            every task, every step
    random         k tasks drawn uniformly without replacement
    round_robin    tasks (s*k + i) mod T, i < k, on step s
    loss_progress  k tasks drawn without replacement with
                   p_t = softmax(r_t / temperature),
                   r_t = L_t(now) / L_t(first step)
    ```

    The loss-progress strategy favours the tasks whose loss has fallen the
    least relative to where it started, the training-rate signal of
    GradNorm and DWA used here to choose tasks rather than to weight them.
    `L_t(now)` is the task's `<task>_loss` in the batch logs (Keras's
    running mean over the current epoch) and the first step trains every
    task to record `L_t(first step)`.

    With `rescale=True` the active tasks get `T / k` instead of 1, so that
    the expected objective over random subsets equals the full one.
    With `steps_per_execution > 1` one mask covers each execution.

    Logs: `<task>_active`, the share of the epoch's steps on which the task
    trained, goes to the epoch logs (History, progress bar, TensorBoard);
    `active` holds the per-step record (`[steps, T]` booleans).

    Args:
        strategy: One of `"all"`, `"random"`, `"round_robin"`,
            `"loss_progress"`.
        k: int. Tasks per step (capped at the number of tasks). Default 1.
        temperature: float > 0. Softmax temperature of `loss_progress`.
        rescale: bool. Scale active tasks by `T / k`.
        seed: Optional int for the random strategies.

    Example:

    ```python
    schedule = keras_mtl.callbacks.TaskSchedule("loss_progress", k=2,
                                                seed=0)
    model.fit(x, y, epochs=5, callbacks=[schedule])
    history.history["income_active"]   # share of steps training income
    ```

    References:
    - Chen, Badrinarayanan, Lee, Rabinovich (2018). GradNorm: Gradient
      Normalization for Adaptive Loss Balancing in Deep Multitask
      Networks. ICML. arXiv:1711.02257. (Relative inverse training rate.)
    - Liu, Johns, Davison (2019). End-to-End Multi-Task Learning with
      Attention. CVPR. arXiv:1803.10704. (Dynamic Weight Average.)
    """

    def __init__(
        self,
        strategy: str = "all",
        k: int = 1,
        temperature: float = 0.5,
        rescale: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(
                f"Argument `strategy` must be one of {STRATEGIES}. "
                f"Received: strategy={strategy!r}.")
        if not isinstance(k, int) or k < 1:
            raise ValueError(
                f"Argument `k` must be a positive int. Received: k={k!r}.")
        if not temperature > 0:
            raise ValueError(
                "Argument `temperature` must be > 0. Received: "
                f"temperature={temperature}.")
        self.strategy = strategy
        self.k = k
        self.temperature = float(temperature)
        self.rescale = bool(rescale)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._mask: keras.Variable | None = None
        self._step = 0
        self._start_losses: np.ndarray | None = None
        self._losses: np.ndarray | None = None
        self._active: list[np.ndarray] = []
        self._epoch_start = 0

    # ------------------------------------------------------------------

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(self.model.task_names)

    @property
    def active(self) -> np.ndarray:
        """`[steps, T]` booleans: which tasks trained on each step."""
        if not self._active:
            return np.zeros((0, len(self.task_names)), bool)
        return np.stack(self._active)

    def probabilities(self) -> np.ndarray:
        """The loss-progress strategy's current `[T]` task probabilities."""
        num_tasks = len(self.task_names)
        if self._start_losses is None or self._losses is None:
            return np.full(num_tasks, 1.0 / num_tasks)
        start = np.where(self._start_losses > 0, self._start_losses, 1.0)
        ratio = np.where(self._start_losses > 0, self._losses / start, 1.0)
        logits = ratio / self.temperature
        logits = logits - logits.max()
        p = np.exp(logits)
        return p / p.sum()

    def next_mask(self) -> np.ndarray:
        """The `[T]` mask of the coming step (advances the schedule)."""
        num_tasks = len(self.task_names)
        k = min(self.k, num_tasks)
        active = np.zeros(num_tasks, bool)
        if self.strategy == "all" or k == num_tasks:
            active[:] = True
        elif self.strategy == "random":
            active[self._rng.choice(num_tasks, size=k, replace=False)] = True
        elif self.strategy == "round_robin":
            active[(self._step * k + np.arange(k)) % num_tasks] = True
        elif self._start_losses is None:
            active[:] = True  # loss_progress: record the starting losses
        else:
            # Gumbel top-k: k draws without replacement from p.
            keys = np.log(self.probabilities()) + self._rng.gumbel(
                size=num_tasks)
            active[np.argsort(-keys)[:k]] = True
        self._step += 1
        scale = num_tasks / active.sum() if self.rescale else 1.0
        return active * np.float32(scale)

    # ------------------------------------------------------------------
    # Keras hooks.

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        if not hasattr(model, "set_task_mask"):
            raise TypeError(
                "TaskSchedule needs a keras_mtl.MultiTaskModel (it masks "
                f"task weights). Received a {type(model).__name__}.")
        num_tasks = len(self.task_names)
        strategy = getattr(model, "distribute_strategy", None)
        scope = (strategy.scope() if strategy is not None
                 else contextlib.nullcontext())
        with scope:
            self._mask = keras.Variable(
                np.ones(num_tasks, "float32"), trainable=False,
                name="task_mask")
        model.set_task_mask(self._mask)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.model.set_task_mask(None)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = len(self._active)

    def on_train_batch_begin(self, batch: int,
                             logs: dict | None = None) -> None:
        mask = self.next_mask()
        if self._mask is not None:
            self._mask.assign(mask)
        self._active.append(mask > 0)

    def on_train_batch_end(self, batch: int,
                           logs: dict | None = None) -> None:
        if self.strategy != "loss_progress" or not logs:
            return
        keys = [f"{n}_loss" for n in self.task_names]
        if any(logs.get(k) is None for k in keys):
            return
        losses = np.array([float(logs[k]) for k in keys])
        self._losses = losses
        if self._start_losses is None:
            self._start_losses = losses

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        steps = self.active[self._epoch_start:]
        if len(steps):
            for name, share in zip(self.task_names, steps.mean(axis=0)):
                logs[f"{name}_active"] = float(share)

    def get_config(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "k": self.k,
            "temperature": self.temperature,
            "rescale": self.rescale,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TaskSchedule":
        return cls(**config)

