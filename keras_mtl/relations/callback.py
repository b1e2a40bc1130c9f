"""`TaskAffinity`: inter-task affinity measured during ordinary `fit`."""

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_mtl.relations.affinity import check_model
from keras_mtl.relations.affinity import measure_affinity
from keras_mtl.relations.matrix import RelationMatrix

MEASURES = ("lookahead", "cosine")


class TaskAffinity(keras.callbacks.Callback):
    """Measures TAG lookahead affinity and gradient cosine while training.

    Every `every_n_steps`-th training step (the first included), inside
    the compiled training function (graph mode, on the step's own batch,
    before the step's update), the callback measures on the shared
    parameters `θ_s` (see `keras_mtl.relations.affinity`):

    ```
    Z_{i->j} = 1 - L_j(θ_s - η ∇_{θ_s} L_i, θ_j) / L_j(θ_s, θ_j)
    C_{ij}   = cos(∇_{θ_s} L_i, ∇_{θ_s} L_j)
    ```

    with `η` the optimizer's learning rate. Both are averaged over the
    measured steps (an entry undefined on a batch, e.g. `L_j = 0` or a
    zero gradient, is left out of its average). At each epoch end the
    epoch's averages go into the logs, so History, the progress bar and
    a `keras.callbacks.TensorBoard` placed after this callback receive:

    ```
    affinity/<i>_to_<j>      Z_{i->j} for every ordered pair i != j
    affinity/cosine_<i>_<j>  C_{ij} for every pair i < j
    ```

    `affinity("lookahead")` and `affinity("cosine")` return the averages
    over all of training as labelled `RelationMatrix` values.

    Cost: on a measured step, `T + 1` extra forward passes (one at `θ`,
    one per task's lookahead) and `T` extra backward passes through the
    shared layers, on top of the step itself; other steps pay one integer
    comparison. Taking a forward pass as a third of a training step and a
    backward pass as at most two thirds, that is at most `(3T + 1) / 3`
    steps per measurement, `(3T + 1) / (3 n)` of a step on average with
    `every_n_steps=n` (T = 3, n = 10: at most about 1.33x plain `fit`);
    `python benchmarks/bench_affinity.py` measures it.

    The callback wraps `model.train_step` for the duration of `fit` and
    restores it at the end (after a fit stopped by an exception, call
    `keras_mtl.relations.restore_train_step(model)`). It runs on one
    device: under a `tf.distribute` strategy with several replicas it
    raises.

    Args:
        every_n_steps: int >= 1. Measure every this many training steps.
            Defaults to 10.
        learning_rate: Optional float > 0, the lookahead step `η`.
            Defaults to None: the optimizer's current learning rate (the
            paper's choice).
        log: bool. Whether to write the epoch averages into the logs.
            Defaults to True.

    Example:

    ```python
    affinity = keras_mtl.relations.TaskAffinity(every_n_steps=10)
    model.fit(x, y, epochs=5, callbacks=[affinity])
    matrix = affinity.affinity("lookahead")
    plan = keras_mtl.relations.suggest_groups(matrix, num_groups=2)
    ```

    References:
    - Fifty, Amid, Zhao, Yu, Anil, Finn (2021). Efficiently Identifying
      Task Groupings for Multi-Task Networks. NeurIPS. arXiv:2109.04617.
    """

    def __init__(self, every_n_steps: int = 10,
                 learning_rate: float | None = None,
                 log: bool = True) -> None:
        super().__init__()
        if isinstance(every_n_steps, bool) or not isinstance(
                every_n_steps, int) or every_n_steps < 1:
            raise ValueError(
                "Argument `every_n_steps` must be an int >= 1. Received: "
                f"every_n_steps={every_n_steps!r}."
            )
        if learning_rate is not None and (
                isinstance(learning_rate, bool)
                or not isinstance(learning_rate, (int, float))
                or not np.isfinite(learning_rate) or learning_rate <= 0):
            raise ValueError(
                "Argument `learning_rate` must be a finite float > 0 or "
                f"None. Received: learning_rate={learning_rate!r}."
            )
        self.every_n_steps = every_n_steps
        self.learning_rate = learning_rate
        self.log = bool(log)
        self._tasks: tuple[str, ...] = ()
        self._state: dict[str, tf.Variable] = {}
        self._wrapped = False

    # ------------------------------------------------------------------
    # Results.

    @property
    def measured_steps(self) -> int:
        """How many steps were measured so far."""
        if not self._state:
            return 0
        return int(self._state["measured"].numpy())

    def affinity(self, measure: str = "lookahead") -> RelationMatrix:
        """The average over training of `measure` (`"lookahead"` or
        `"cosine"`), as a labelled `[T, T]` matrix."""
        if measure not in MEASURES:
            raise ValueError(
                f"Argument `measure` must be one of {MEASURES}. Received: "
                f"measure={measure!r}."
            )
        if not self._state or self.measured_steps == 0:
            raise ValueError(
                "TaskAffinity has measured nothing yet: pass it to "
                "`model.fit(..., callbacks=[...])` first (it measures on "
                f"steps 0, {self.every_n_steps}, "
                f"{2 * self.every_n_steps}, ...)."
            )
        k = MEASURES.index(measure)
        sums = self._state["sums"].numpy()[k].astype(np.float64)
        counts = self._state["counts"].numpy()[k].astype(np.int64)
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return RelationMatrix(self._tasks, values, measure, counts)

    # ------------------------------------------------------------------
    # Keras hooks.

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        check_model(model, "TaskAffinity")
        if model.distribute_strategy.num_replicas_in_sync > 1:
            raise ValueError(
                "TaskAffinity measures on one device; model "
                f"{model.name!r} trains under a strategy with "
                f"{model.distribute_strategy.num_replicas_in_sync} "
                "replicas. Measure affinity in a single-device run."
            )
        tasks = tuple(model.task_names)
        if self._state and tasks != self._tasks:
            raise ValueError(
                f"This TaskAffinity callback measured tasks "
                f"{list(self._tasks)} and is now used with tasks "
                f"{list(tasks)}. Use a new callback per model."
            )
        if not self._state:
            self._tasks = tasks
            self._check_log_names()
            shape = (2, len(tasks), len(tasks))
            self._state = {
                name: tf.Variable(tf.zeros(shape, dtype), trainable=False)
                for name, dtype in (
                    ("sums", tf.float64), ("counts", tf.int64),
                    ("epoch_sums", tf.float64), ("epoch_counts", tf.int64))}
            self._state["step"] = tf.Variable(
                tf.zeros((), tf.int64), trainable=False)
            self._state["measured"] = tf.Variable(
                tf.zeros((), tf.int64), trainable=False)
        self._wrap(model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for name in ("epoch_sums", "epoch_counts"):
            self._state[name].assign(tf.zeros_like(self._state[name]))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.log or logs is None:
            return
        sums = self._state["epoch_sums"].numpy()
        counts = self._state["epoch_counts"].numpy()
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        names = self._tasks
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i != j:
                    logs[f"affinity/{a}_to_{b}"] = float(means[0, i, j])
                if i < j:
                    logs[f"affinity/cosine_{a}_{b}"] = float(means[1, i, j])

    def on_train_end(self, logs: dict | None = None) -> None:
        self._unwrap(self.model)

    # ------------------------------------------------------------------
    # The wrapped training step.

    def _check_log_names(self) -> None:
        names = self._tasks
        keys = [f"{a}_to_{b}" for a in names for b in names if a != b]
        keys += [f"cosine_{a}_{b}" for i, a in enumerate(names)
                 for b in names[i + 1:]]
        if self.log and len(set(keys)) != len(keys):
            raise ValueError(
                f"Task names {list(names)} give clashing log names "
                "affinity/<i>_to_<j> (a task name containing '_to_' or "
                "starting with 'cosine_'). Rename the tasks or pass "
                "log=False and read `affinity()` instead."
            )

    def set_sibling_callbacks(self, callbacks: list) -> None:
        """Called by `MultiTaskModel.fit` with the fit's callback list."""
        others = [c for c in callbacks
                  if isinstance(c, TaskAffinity) and c is not self]
        if others:
            raise ValueError(
                "Pass one TaskAffinity callback per fit (it measures both "
                f"measures); this fit has {len(others) + 1}."
            )

    def _wrap(self, model: Any) -> None:
        restore_train_step(model)  # a wrapper left by an interrupted fit
        original = type(model).train_step.__get__(model)
        state = self._state
        every = tf.constant(self.every_n_steps, tf.int64)

        def measure(data: Any) -> None:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            lookahead, l_valid, cosine, c_valid = measure_affinity(
                model, x, y, sample_weight, self.learning_rate)
            values = tf.cast(tf.stack([lookahead, cosine]), tf.float64)
            valid = tf.stack([l_valid, c_valid])
            values = tf.where(valid, values, tf.zeros_like(values))
            counts = tf.cast(valid, tf.int64)
            for prefix in ("", "epoch_"):
                state[f"{prefix}sums"].assign_add(values)
                state[f"{prefix}counts"].assign_add(counts)
            state["measured"].assign_add(1)

        def train_step(data: Any) -> Any:
            due = tf.equal(state["step"] % every, 0)

            def run() -> tf.Tensor:
                measure(data)
                return tf.constant(True)

            tf.cond(due, run, lambda: tf.constant(False))
            state["step"].assign_add(1)
            return original(data)

        train_step.task_affinity = self  # type: ignore[attr-defined]
        model.train_step = train_step
        self._wrapped = True
        model.make_train_function(force=True)

    def _unwrap(self, model: Any) -> None:
        if self._wrapped:
            restore_train_step(model)
            self._wrapped = False


def restore_train_step(model: Any) -> bool:
    """Removes a `TaskAffinity` wrapper from `model`'s training step.

    `fit` does this when it ends; a fit stopped by an exception leaves the
    wrapper in place (Keras calls no callback then), so the model would
    keep measuring in its next plain `fit`. Call this after such a fit
    (the next fit with a `TaskAffinity` callback also does it). Returns
    whether a wrapper was removed.
    """
    step = vars(model).get("train_step")
    if step is None or not hasattr(step, "task_affinity"):
        return False
    del model.train_step
    model.train_function = None  # the next fit compiles the plain step
    return True
