"""`TaskWeightLogger`: per-epoch task weights and losses, to a file,
TensorBoard and the console."""

import csv
import os
from typing import Any
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl.registry import register


@register
class TaskWeightLogger(keras.callbacks.Callback):
    """Records each task's weight and loss at the end of every epoch.

    The model already logs `<task>_weight` (the mean weight over the
    epoch's steps) and `<task>_loss`; this callback gathers them into one
    trajectory, per task, that `keras_mtl.reporting.plot_task_trajectories`
    draws, and optionally:

    - appends them to a CSV file (one row per epoch);
    - writes them to TensorBoard as `task_weights/<task>` and
      `task_losses/<task>` (one chart group each), under the `train`
      folder of the run's `keras.callbacks.TensorBoard` callback when one
      is passed to the same `fit`;
    - prints them (`verbose=1`).

    Validation losses (`val_<task>_loss`) are recorded when present.

    Args:
        filename: Optional CSV path. Appended to (with a header when new).
        tensorboard: bool. Write to the TensorBoard callback's log folder
            when `fit` has one. Defaults to True.
        verbose: int. 1 prints one line per epoch. Defaults to 0.

    Attributes:
        trajectory: dict of lists, keyed like the History
            (`"epoch"`, `"<task>_weight"`, `"<task>_loss"`,
            `"val_<task>_loss"`).

    Example:

    ```python
    logger = keras_mtl.callbacks.TaskWeightLogger("weights.csv")
    model.fit(x, y, epochs=20, callbacks=[
        logger, keras.callbacks.TensorBoard("logs")])
    keras_mtl.reporting.plot_task_trajectories(logger.trajectory, "w.png")
    ```
    """

    def __init__(
        self,
        filename: str | None = None,
        tensorboard: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.filename = None if filename is None else os.fspath(filename)
        self.tensorboard = bool(tensorboard)
        self.verbose = int(verbose)
        self.trajectory: dict[str, list[float]] = {}
        self._siblings: Sequence[keras.callbacks.Callback] = ()
        self._writer: Any = None

    def set_sibling_callbacks(
        self, callbacks: Sequence[keras.callbacks.Callback]
    ) -> None:
        """Called by `MultiTaskModel.fit` with the run's callback list."""
        self._siblings = tuple(callbacks)

    def _task_names(self) -> tuple[str, ...]:
        names = getattr(self.model, "task_names", None)
        if names is None:
            raise TypeError(
                "TaskWeightLogger needs a keras_mtl MultiTaskModel (it reads "
                f"`task_names`). Received model {type(self.model).__name__}."
            )
        return tuple(names)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._task_names()
        self._writer = None
        if self.tensorboard:
            board = next((c for c in self._siblings if isinstance(
                c, keras.callbacks.TensorBoard)), None)
            if board is not None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(board.log_dir, "train"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        row: dict[str, float] = {"epoch": float(epoch)}
        for name in self._task_names():
            for key in (f"{name}_weight", f"{name}_loss",
                        f"val_{name}_loss"):
                if key in logs:
                    row[key] = float(logs[key])
        for key, value in row.items():
            self.trajectory.setdefault(key, []).append(value)
        if self.filename is not None:
            self._append_csv(row)
        if self._writer is not None:
            self._write_tensorboard(epoch, row)
        if self.verbose:
            parts = [f"{n}: w={row.get(f'{n}_weight', float('nan')):.4g} "
                     f"L={row.get(f'{n}_loss', float('nan')):.4g}"
                     for n in self._task_names()]
            print(f"Epoch {epoch + 1} task weights | " + " | ".join(parts))

    def _append_csv(self, row: dict[str, float]) -> None:
        filename = str(self.filename)
        new = not os.path.exists(filename) or os.path.getsize(filename) == 0
        with open(filename, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _write_tensorboard(self, epoch: int, row: dict[str, float]) -> None:
        with self._writer.as_default():
            for name in self._task_names():
                if f"{name}_weight" in row:
                    tf.summary.scalar(f"task_weights/{name}",
                                      row[f"{name}_weight"], step=epoch)
                if f"{name}_loss" in row:
                    tf.summary.scalar(f"task_losses/{name}",
                                      row[f"{name}_loss"], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self) -> dict[str, Any]:
        return {"filename": self.filename, "tensorboard": self.tensorboard,
                "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TaskWeightLogger":
        return cls(**config)
