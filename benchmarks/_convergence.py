"""Training to convergence for the result tables: validation early stopping.

A table that compares methods after a fixed, short number of epochs
compares how fast they start, not where they end. The result scripts
instead train each run until a validation quality stops improving
(`patience` epochs without a new best), up to `max_epochs`, and evaluate
the best epoch's weights on the test split.

The monitored quality is the mean of per-task validation metrics (for
example the mean of 14 validation AUCs), computed by `MeanOfLogs` into
the epoch's logs before Keras's `EarlyStopping` reads them. It is the
same quantity for every method, unlike `val_loss`, which under a learned
weighting includes the weighting's own terms.
"""

import math
import time
from collections.abc import Sequence
from typing import Any

import _results


def mean_of_logs(keys: Sequence[str], name: str) -> Any:
    """A Keras callback writing `logs[name] = mean(logs[k] for k in keys)`
    at each epoch end; a missing key is an error naming the logged ones."""
    import keras

    class MeanOfLogs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs is None:
                return
            missing = [k for k in keys if k not in logs]
            if missing:
                raise KeyError(
                    f"Cannot average {missing} into {name!r}: the model "
                    f"logs {sorted(logs)}.")
            logs[name] = sum(float(logs[k]) for k in keys) / len(keys)

    return MeanOfLogs()


def fit_to_convergence(model: Any, train: tuple, validation: tuple,
                       test: tuple, *, monitor_keys: Sequence[str],
                       mode: str, batch_size: int, max_epochs: int,
                       patience: int, eval_batch_size: int = 1024
                       ) -> dict[str, Any]:
    """Trains with validation early stopping, evaluates the best epoch.

    Args:
        model: A compiled model.
        train, validation, test: `(x, y)` pairs.
        monitor_keys: Validation log names to average (`val_..._auc`).
        mode: `"max"` or `"min"`: which way the mean improves.
        batch_size, max_epochs, patience: Training settings.

    Returns:
        `{"logs": test logs, "epochs": epochs run, "best_epoch": 1-based
        epoch whose weights were evaluated, "epoch_seconds": median epoch
        wall time (first left out when possible), "train_seconds": total}`.
    """
    import keras

    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min'. Received: {mode!r}.")
    clock = _results.EpochTimer()
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_monitored_mean", mode=mode, patience=patience,
        restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(
        *train, validation_data=validation, batch_size=batch_size,
        epochs=max_epochs, verbose=0,
        callbacks=[mean_of_logs(monitor_keys, "val_monitored_mean"),
                   stopper, clock])
    train_seconds = time.perf_counter() - start
    curve = history.history["val_monitored_mean"]
    if any(math.isnan(v) for v in curve):
        raise FloatingPointError(
            f"The validation mean of {list(monitor_keys)} was NaN at epoch "
            f"{[i + 1 for i, v in enumerate(curve) if math.isnan(v)]}.")
    best = (max if mode == "max" else min)(range(len(curve)),
                                           key=curve.__getitem__)
    logs = model.evaluate(*test, batch_size=eval_batch_size, verbose=0,
                          return_dict=True)
    return {"logs": logs, "epochs": len(curve), "best_epoch": best + 1,
            "epoch_seconds": _results.epoch_seconds(clock),
            "train_seconds": train_seconds}
