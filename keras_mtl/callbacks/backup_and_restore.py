"""`BackupAndRestore`: Keras's fault-tolerance callback, exact mid-epoch,
with atomic and verified checkpoints."""

import os
from typing import Any

import numpy as np

from keras_mtl._compat import keras as keras_compat
from keras_mtl.callbacks._checkpoint_files import CheckpointError
from keras_mtl.callbacks._checkpoint_files import delete_backup
from keras_mtl.callbacks._checkpoint_files import read_checkpoint
from keras_mtl.callbacks._checkpoint_files import remove_leftovers
from keras_mtl.callbacks._checkpoint_files import write_checkpoint
from keras_mtl.registry import register

_WEIGHTS = "model.weights.h5"
_PROGRESS = "progress.npz"  # The resumed epoch's running metric values.

__all__ = ["BackupAndRestore", "CheckpointError"]


@register
class BackupAndRestore(keras_compat.BackupAndRestoreHooks):
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
      first resumed epoch resumes from there too (Keras's records epoch 0);
    - writes each checkpoint atomically: every file goes into a fresh
      folder, is flushed to disk and listed with its size and SHA-256 in a
      manifest, and a pointer file is swapped to the new folder last. A
      process killed at any moment of a save resumes from the previous
      checkpoint or the new one, never from a mix of both (Keras's
      callback writes the weights before the epoch number: a kill between
      the two trains batches twice);
    - verifies every file against the manifest before restoring: a
      missing, truncated or altered file raises a `CheckpointError` that
      names the file and says to delete the backup folder to start over
      (with `double_checkpoint=True` it warns and resumes from the
      previous checkpoint when that one is intact).

    The resumed run equals the uninterrupted one when the data arrive in
    the same order in each epoch (`shuffle=False`, or a dataset whose
    order is fixed per epoch) and the ops are deterministic
    (`tf.config.experimental.enable_op_determinism()`).

    Under a multi-worker strategy only the chief writes and deletes the
    backup (its `strategy.extended.should_checkpoint`); every worker
    restores from it, so `backup_dir` must be a folder that all workers
    see.

    Args:
        backup_dir: Where the checkpoint lives (deleted after training by
            default). Not to be shared with another run or callback.
        save_freq: `"epoch"` or a number of steps between backups.
        double_checkpoint: Keep the previous checkpoint too; a damaged
            latest one then warns and resumes from the previous one.
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
            self.count_batch(batch)
            return
        self._mid_epoch = True
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._mid_epoch = False
        self._skipped = 0
        super().on_epoch_end(epoch, logs)

    def _writes(self) -> bool:
        """False on the workers of a multi-worker run other than the chief:
        one process writes and cleans the backup folder."""
        strategy = getattr(self.model, "distribute_strategy", None)
        return bool(getattr(getattr(strategy, "extended", None),
                            "should_checkpoint", True))

    def save_backup(self) -> None:
        if not self._writes():
            return
        steps = self.last_batch_seen + 1 if self._mid_epoch else 0
        metrics = [np.asarray(v.numpy()) for m in self.model.metrics
                   for v in m.variables] if steps else []

        def write_files(folder: str) -> None:
            self.model.save_weights(os.path.join(folder, _WEIGHTS))
            with open(os.path.join(folder, _PROGRESS), "wb") as f:
                np.savez(f, **{f"metric_{i}": value
                               for i, value in enumerate(metrics)})

        write_checkpoint(
            self.backup_dir, write_files,
            {"epoch": self.current_epoch, "batch": self.last_batch_seen,
             "steps": steps}, keep_previous=self.double_checkpoint)

    # ------------------------------------------------------------------
    # Restoring.

    def on_train_begin(self, logs: dict | None = None) -> None:
        stale = getattr(self.model.train_function, "__self__", None)
        if isinstance(stale, BackupAndRestore):  # fit interrupted mid-skip
            self.model.train_function = stale._train_function
            stale._train_function = None
        # Keras's own loader (super().on_train_begin) knows no manifest.
        self._skip, self._skipped, self._metric_values = 0, 0, None
        writes = self._writes()
        found = read_checkpoint(self.backup_dir, finish_deletion=writes)
        if found is not None:
            self._restore(*found)
        if writes and os.path.isdir(self.backup_dir):
            # What interrupted saves left (the pointer never named it).
            remove_leftovers(self.backup_dir)
        self.current_epoch = keras_compat.initial_epoch(self.model)

    def _restore(self, folder: str, manifest: dict[str, Any]) -> None:
        """Loads a verified checkpoint into the model and this callback."""
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, the model must be "
                "built before `fit()`: call it on a batch of data first.")
        if self.model.optimizer is not None and \
                not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(folder, _WEIGHTS))
        with np.load(os.path.join(folder, _PROGRESS)) as progress:
            count = len(progress.files)
            values = [progress[f"metric_{i}"] for i in range(count)]
        keras_compat.set_initial_epoch(self.model, int(manifest["epoch"]))
        self._skip, self._metric_values = int(manifest["steps"]), values

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.current_epoch = epoch
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
        if self.delete_checkpoint and self._writes():
            delete_backup(self.backup_dir)
