"""`GradientConflict`: how much the tasks' gradients disagree, per epoch."""

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_mtl.aggregators.base import GramianAggregator


class GradientConflict(keras.callbacks.Callback):
    """Logs pairwise gradient cosines, conflict share, norms and weights.

    At the end of every `frequency`-th epoch the callback takes a held
    batch, computes the gradient of each weighted task loss with respect to
    the model's shared variables (the rows `g_t` of the Jacobian the
    aggregator sees), and writes into the epoch logs (so History, the
    progress bar and a `keras.callbacks.TensorBoard` placed after it):

    ```
    grad_cosine_<a>_<b>   cos(g_a, g_b) for every pair of tasks a < b
    grad_conflict_share   share of pairs with cos < 0
    <task>_grad_norm      |g_t|
    <task>_agg_weight     α_t with the update g = Σ_t α_t g_t
    ```

    The weights `α` are those of the compiled aggregator on this batch: its
    task weights for Gramian methods, the least-squares fit of its
    direction on the task gradients for the others (GradDrop), and 1 for
    the plain sum (no aggregator). They are computed on the Jacobian of the
    shared variables, also for models compiled with
    `aggregation_mode="representation"`. The aggregator's state (EMA targets,
    random generator, caches) is restored afterwards, so the diagnostic
    does not change training. The computation runs eagerly, outside the
    training step, with `training=False` (dropout off), which keeps the
    step fast; `history` keeps the matrices for
    `keras_mtl.reporting`.

    Args:
        data: The held batch: `(x, y)` or `(x, y, sample_weight)` with `y`
            a dict keyed by task name, or a `tf.data.Dataset` of such
            batches (its first batch is used). A few hundred samples are
            enough.
        frequency: int >= 1. Compute every this many epochs. Defaults to 1.
        log_dir: Optional path. Also writes the scalars to TensorBoard
            event files there (under `gradient_conflict/`).

    Attributes:
        history: A list with one dict per computed epoch: `epoch`,
            `cosine` (`[T, T]` array), `norms` (`[T]`), `weights` (`[T]`),
            `conflict_share` (float).

    Example:

    ```python
    conflict = keras_mtl.callbacks.GradientConflict((x_val[:512], {
        name: y[:512] for name, y in y_val.items()}))
    history = model.fit(x, y, epochs=10, callbacks=[conflict])
    history.history["grad_conflict_share"]
    keras_mtl.reporting.save_conflict_plots(conflict, "plots/")
    ```

    References:
    - Yu, Kumar, Gupta, Levine, Hausman, Finn (2020). Gradient Surgery for
      Multi-Task Learning. NeurIPS. arXiv:2001.06782 (conflict as a
      negative cosine between task gradients).
    """

    def __init__(
        self, data: Any, frequency: int = 1, log_dir: str | None = None
    ) -> None:
        super().__init__()
        if isinstance(frequency, bool) or not isinstance(frequency, int) \
                or frequency < 1:
            raise ValueError(
                "Argument `frequency` must be an int >= 1. Received: "
                f"frequency={frequency!r}."
            )
        self.batch = _first_batch(data)
        self.frequency = frequency
        self.log_dir = log_dir
        self.history: list[dict[str, Any]] = []
        self._writer: Any = None

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(self.model.task_names)

    def measure(self) -> dict[str, Any]:
        """Computes the diagnostics for the current model on the batch."""
        model = self.model
        x, y, sample_weight = self.batch
        y, sample_weight = model._standardize_targets(y, sample_weight)
        shared = model.shared_variables
        if not shared:
            raise ValueError(
                f"Model {model.name!r} has no shared variables, so its tasks "
                "cannot conflict (sharing_depth=0?). Remove the "
                "GradientConflict callback or share some layers."
            )
        with tf.GradientTape(persistent=True) as tape:
            outputs = model(x, training=False)
            _, losses, _, _ = model._task_losses(y, outputs, sample_weight)
            weighted = model.weighting(losses, training=False) * losses
            # Sliced inside the tape: a slice taken after it is unrecorded.
            parts = [weighted[t] for t in range(len(model.tasks))]
        rows = []
        for part in parts:
            grads = tape.gradient(part, shared)
            rows.append(np.concatenate([
                dense_gradient(g, v).ravel() for g, v in zip(grads, shared)]))
        del tape
        jacobian = np.stack(rows)
        norms = np.linalg.norm(jacobian, axis=1)
        safe = np.where(norms > 0, norms, 1.0)
        cosine = (jacobian @ jacobian.T) / np.outer(safe, safe)
        cosine = np.clip(cosine, -1.0, 1.0)
        num_tasks = len(rows)
        upper = [(a, b) for a in range(num_tasks)
                 for b in range(a + 1, num_tasks)]
        conflicts = [cosine[a, b] < 0 for a, b in upper]
        share = float(np.mean(conflicts)) if upper else 0.0
        weights = self._aggregation_weights(jacobian.astype(np.float32))
        return {"cosine": cosine, "norms": norms, "weights": weights,
                "conflict_share": share}

    def _aggregation_weights(self, jacobian: np.ndarray) -> np.ndarray:
        aggregator = getattr(self.model, "aggregator", None)
        if aggregator is None:
            return np.ones(jacobian.shape[0])
        saved = [np.array(v.numpy()) for v in aggregator.variables]
        try:
            if isinstance(aggregator, GramianAggregator):
                weights = np.asarray(aggregator.task_weights(jacobian))
            else:
                direction = np.asarray(aggregator(jacobian), np.float64)
                weights = np.linalg.lstsq(
                    jacobian.T.astype(np.float64), direction, rcond=None)[0]
        finally:
            for v, value in zip(aggregator.variables, saved):
                v.assign(value)
        return np.asarray(weights, np.float64)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.frequency:
            return
        result = self.measure()
        names = self.task_names
        values: dict[str, float] = {}
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                values[f"grad_cosine_{names[a]}_{names[b]}"] = float(
                    result["cosine"][a, b])
        values["grad_conflict_share"] = result["conflict_share"]
        for t, name in enumerate(names):
            values[f"{name}_grad_norm"] = float(result["norms"][t])
            values[f"{name}_agg_weight"] = float(result["weights"][t])
        if logs is not None:
            logs.update(values)
        self.history.append({"epoch": epoch, **result})
        if self.log_dir is not None:
            self._write_summaries(epoch, values)

    def _write_summaries(self, epoch: int, values: dict[str, float]) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                f"{self.log_dir}/gradient_conflict")
        with self._writer.as_default():
            for key, value in values.items():
                tf.summary.scalar(key, value, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def dense_gradient(gradient: Any, variable: Any) -> np.ndarray:
    """One variable's gradient as a dense float64 array of its shape.

    None (the task does not reach the variable) is zeros. An
    `tf.IndexedSlices` gradient (what `keras.layers.Embedding` and any
    gather produce: one row of values per looked-up index) is scattered
    into the table's rows, adding the rows of an index looked up several
    times in the batch.
    """
    shape = tuple(int(d) for d in variable.shape)
    if gradient is None:
        return np.zeros(shape, np.float64)
    if isinstance(gradient, tf.IndexedSlices):
        dense = np.zeros(shape, np.float64)
        values = np.asarray(gradient.values, np.float64)
        indices = np.asarray(gradient.indices).astype(np.int64)
        np.add.at(dense, indices, values.reshape(
            (len(indices),) + shape[1:]))
        return dense
    return np.asarray(gradient, np.float64).reshape(shape)


def _first_batch(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, tf.data.Dataset):
        for element in data.take(1):
            data = element
            break
        else:
            raise ValueError(
                "The dataset given to GradientConflict is empty. Pass a "
                "held batch (x, {task: y}) or a non-empty dataset."
            )
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise ValueError(
            "Argument `data` must be a held batch (x, y) or (x, y, "
            "sample_weight) with y a dict keyed by task name, or a "
            f"tf.data.Dataset of such batches. Received: {type(data)}."
        )
    x, y = data[0], data[1]
    sample_weight = data[2] if len(data) == 3 else None
    return x, y, sample_weight
