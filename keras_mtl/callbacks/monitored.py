"""Keras's monitoring callbacks with the mode inferred from the model.

`keras_mtl.callbacks.EarlyStopping`, `ReduceLROnPlateau` and
`ModelCheckpoint` are Keras's callbacks, with the same arguments, plus two
checks at the start of `fit` (before the first epoch instead of after it):

- `monitor` must be a name the model logs (`ctr_auc`, `val_age_loss`, ...);
  a typo is a ValueError listing the logged names;
- `mode="auto"` (the default) is resolved with
  `keras_mtl.monitoring.monitor_mode`, which understands per-task names
  (`val_ctr_auc` is maximised, `val_age_loss` minimised) where Keras's own
  inference raises after the first epoch.

A `val_` monitor that is still missing from the logs at the end of an epoch
(no `validation_data` given to `fit`) is an error too, where Keras only
warns and the callback then does nothing.
"""

from typing import Any

import keras

from keras_mtl.monitoring import MODES
from keras_mtl.monitoring import check_monitor
from keras_mtl.monitoring import monitor_mode


def _check_mode(mode: Any) -> str:
    if mode not in MODES + ("auto",):
        raise ValueError(
            "Argument `mode` must be 'auto', 'min' or 'max'. Received: "
            f"mode={mode!r}."
        )
    return mode


class _InferredMode:
    """Mixin: resolves `mode` and checks `monitor` when training begins."""

    monitor: str
    mode: str
    monitor_op: Any
    model: Any

    def _uses_monitor(self) -> bool:
        return True

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._uses_monitor():
            check_monitor(self.model, self.monitor)
            if self.mode == "auto" and self.monitor_op is None:
                self.mode = monitor_mode(self.model, self.monitor)
        super().on_train_begin(logs)  # type: ignore[misc]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._uses_monitor() and logs is not None \
                and self.monitor not in logs:
            hint = ("Pass validation_data (or validation_split) to fit, "
                    "or monitor a training name. "
                    if self.monitor.startswith("val_") else "")
            raise ValueError(
                f"{type(self).__name__} monitors {self.monitor!r}, which "
                f"this epoch's logs do not hold. {hint}Logged: "
                f"{sorted(logs)}."
            )
        super().on_epoch_end(epoch, logs)  # type: ignore[misc]


class EarlyStopping(_InferredMode, keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` with the mode inferred per task.

    Takes the arguments of `keras.callbacks.EarlyStopping`. With
    `mode="auto"` the direction of `monitor` comes from the model (see
    `keras_mtl.monitoring.monitor_mode`); the monitor name is checked
    against the model's logs when `fit` starts.

    Example:

    ```python
    stop = keras_mtl.callbacks.EarlyStopping(
        "val_ctr_auc", patience=3, restore_best_weights=True)  # mode "max"
    model.fit(x, y, validation_data=(x_val, y_val), callbacks=[stop])
    ```
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode=_check_mode(mode), **kwargs)


class ReduceLROnPlateau(_InferredMode, keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` with the mode inferred per task.

    Takes the arguments of `keras.callbacks.ReduceLROnPlateau`; `mode` and
    `monitor` are resolved and checked as in `EarlyStopping`.

    Example:

    ```python
    plateau = keras_mtl.callbacks.ReduceLROnPlateau(
        "val_age_loss", factor=0.5, patience=2)               # mode "min"
    ```
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode=_check_mode(mode), **kwargs)


class ModelCheckpoint(_InferredMode, keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` with the mode inferred per task.

    Takes the arguments of `keras.callbacks.ModelCheckpoint`. The monitor
    is only used (and checked) with `save_best_only=True`, as in Keras.

    Example:

    ```python
    best = keras_mtl.callbacks.ModelCheckpoint(
        "best.keras", monitor="val_ctr_auc", save_best_only=True)
    ```
    """

    def __init__(self, filepath: str, monitor: str = "val_loss",
                 mode: str = "auto", **kwargs: Any) -> None:
        super().__init__(filepath, monitor=monitor, mode=_check_mode(mode),
                         **kwargs)

    def _uses_monitor(self) -> bool:
        return bool(self.save_best_only)


__all__ = ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"]
