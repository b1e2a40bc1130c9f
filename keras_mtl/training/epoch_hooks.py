"""Epoch-level updates of the weighting and the aggregator.

`MultiTaskModel.fit` adds this callback: it calls `on_epoch_begin` and
`on_epoch_end` of the compiled weighting and aggregator (DWA's loss
history, schedules). Step-level updates happen inside the step.
"""

import keras


class EpochHooks(keras.callbacks.Callback):
    """Calls the weighting's and aggregator's epoch-level updates
    (`on_epoch_begin`, `on_epoch_end`)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        for part in (model.weighting, model.aggregator):
            if part is not None and hasattr(part, "on_epoch_begin"):
                part.on_epoch_begin(epoch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        for part in (model.weighting, model.aggregator):
            if part is not None and hasattr(part, "on_epoch_end"):
                part.on_epoch_end(epoch, logs or {})
