"""`BackupAndRestore`: Keras's fault-tolerance callback, exact mid-epoch."""

import json
import os
import warnings
from typing import Any

import keras
import numpy as np

from keras_mtl.registry import register

_STATE_FILE = "keras_mtl_state.npz"


@register
class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Backs up training state and resumes exactly where training stopped.

    A drop-in for `keras.callbacks.BackupAndRestore`. The checkpoint holds
    what Keras's holds (model, optimizer, weighting and aggregator
    variables, and, through `MultiTaskModel`, the dropout seed states) and
    adds what a resume in the middle of an epoch needs. Keras 3's callback
    restores the weights of step `k` of epoch `e` and then trains epoch
    `e` again from its first batch: the first `k` batches are seen twice,
    the optimizer's step count runs ahead, and the epoch's logged means
    (which epoch-level weightings such as DWA read) cover only part of the
    epoch. This callback:

    - skips the `k` batches already trained when the resumed epoch starts
      (they are read from the data and dropped, not trained on);
    - restores the epoch's running metrics, so that the epoch's logs, and
      everything computed from them at its end, equal the uninterrupted
      run's;
    - records the epoch it is in, so that a second interruption during the
      first resumed epoch resumes from there too (Keras's records epoch 0).

    The resumed run equals the uninterrupted one when the data arrive in
    the same order in each epoch (`shuffle=False`, or a dataset whose
    order is fixed per epoch) and the ops are deterministic
    (`tf.config.experimental.enable_op_determinism()`).

    Args:
        backup_dir: Where the checkpoint lives (deleted after training by
            default).
        save_freq: `"epoch"` or a number of steps between backups.
        double_checkpoint: Keep the previous backup as a fallback.
        delete_checkpoint: Delete the checkpoint when training ends.

    Example:

    ```python
    backup = keras_mtl.callbacks.BackupAndRestore("/tmp/backup",
                                                  save_freq=100)
    model.fit(dataset, epochs=10, callbacks=[backup])  # rerun after a crash
    ```
    """

    def __init__(
        self,
        backup_dir: str,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__(backup_dir, save_freq=save_freq,
                         double_checkpoint=double_checkpoint,
                         delete_checkpoint=delete_checkpoint)
        self._state_path = os.path.join(backup_dir, _STATE_FILE)
        self._mid_epoch = False
        self._skip = 0  # batches of the resumed epoch still to skip
        self._skipped = 0  # how many the resumed epoch started with
        self._metric_values: list | None = None
        self._train_function: Any = None

    def get_config(self) -> dict[str, Any]:
        return {"backup_dir": self.backup_dir, "save_freq": self.save_freq,
                "double_checkpoint": self.double_checkpoint,
                "delete_checkpoint": self.delete_checkpoint}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BackupAndRestore":
        return cls(**config)

    # ------------------------------------------------------------------
    # Saving.

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch < self._skipped:
            # A skipped batch: keep Keras's counters, save nothing.
            self._should_save_on_batch(batch)
            return
        self._mid_epoch = True
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._mid_epoch = False
        self._skipped = 0
        super().on_epoch_end(epoch, logs)

    def _save_model(self) -> None:
        super()._save_model()
        steps = self._last_batch_seen + 1 if self._mid_epoch else 0
        metrics = [np.asarray(v.numpy()) for m in self.model.metrics
                   for v in m.variables] if steps else []
        arrays: dict[str, Any] = {
            f"metric_{i}": value for i, value in enumerate(metrics)}
        with open(self._state_path, "wb") as f:
            np.savez(f, epoch=self._current_epoch,
                     batch=self._last_batch_seen, steps=steps, **arrays)

    # ------------------------------------------------------------------
    # Restoring.

    def on_train_begin(self, logs: dict | None = None) -> None:
        stale = getattr(self.model.train_function, "__self__", None)
        if isinstance(stale, BackupAndRestore):  # fit interrupted mid-skip
            self.model.train_function = stale._train_function
            stale._train_function = None
        super().on_train_begin(logs)
        self._skip, self._skipped, self._metric_values = 0, 0, None
        self._current_epoch = self.model._initial_epoch or 0
        if not (os.path.exists(self._state_path)
                and os.path.exists(self._training_metadata_path)):
            return
        with open(self._training_metadata_path) as f:
            metadata = json.load(f)
        with np.load(self._state_path) as state:
            saved = (int(state["epoch"]), int(state["batch"]))
            steps = int(state["steps"])
            count = len([k for k in state.files if k.startswith("metric_")])
            values = [state[f"metric_{i}"] for i in range(count)]
        if saved != (metadata["epoch"], metadata["batch"]):
            warnings.warn(
                f"{self._state_path} does not match the weights' metadata "
                f"({saved} vs {metadata}): the backup was interrupted while "
                "being written. Resuming at the start of epoch "
                f"{metadata['epoch']}, as keras.callbacks.BackupAndRestore "
                "does.", stacklevel=2)
            return
        self._skip, self._metric_values = steps, values

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch
        if self._skip <= 0:
            return
        variables = [v for m in self.model.metrics for v in m.variables]
        if len(variables) != len(self._metric_values or []):
            raise ValueError(
                f"The backup in {self.backup_dir!r} holds "
                f"{len(self._metric_values or [])} metric values but the "
                f"model has {len(variables)} metric variables: it was "
                "written by a model compiled differently. Compile the "
                "model as when the backup was made, or delete the backup "
                "directory to start over.")
        for variable, value in zip(variables, self._metric_values or []):
            variable.assign(value)
        self._skipped = self._skip
        self._train_function = self.model.train_function
        self.model.train_function = self._skip_batches

    def _skip_batches(self, iterator: Any) -> Any:
        """Stands in for `train_function` while the resumed epoch passes
        the batches trained before the interruption."""
        if self._skip <= 0:
            return self._train_function(iterator)
        steps = min(self._skip, self.model.steps_per_execution)
        for _ in range(steps):
            next(iterator)
        self._skip -= steps
        if self._skip <= 0:
            self.model.train_function = self._train_function
            self._train_function = None
        return self.model.get_metrics_result()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._train_function is not None:
            self.model.train_function = self._train_function
            self._train_function = None
        super().on_train_end(logs)
