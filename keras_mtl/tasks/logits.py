"""Heads that emit logits: the loss variant that takes them.

A binary head without a sigmoid trains silently into garbage under
`binary_crossentropy` (which expects probabilities). `Task(...,
from_logits=True)` declares logits; this module turns the task's loss into
its `from_logits=True` variant and refuses a loss instance that expects
probabilities.
"""

from typing import Any

import keras

# Keras losses that take `from_logits=True`, by their function.
_LOGIT_LOSSES = {
    keras.losses.binary_crossentropy: keras.losses.BinaryCrossentropy,
    keras.losses.binary_focal_crossentropy:
        keras.losses.BinaryFocalCrossentropy,
    keras.losses.sparse_categorical_crossentropy:
        keras.losses.SparseCategoricalCrossentropy,
    keras.losses.categorical_crossentropy:
        keras.losses.CategoricalCrossentropy,
    keras.losses.categorical_focal_crossentropy:
        keras.losses.CategoricalFocalCrossentropy,
}


def logit_loss(name: str, loss: Any, from_logits: bool) -> Any:
    """`loss`, as its `from_logits=True` variant when the head emits
    logits; raises when a given loss instance expects probabilities."""
    if not from_logits:
        return loss
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if fn in _LOGIT_LOSSES:
        return _LOGIT_LOSSES[fn](from_logits=True)
    if isinstance(fn, keras.losses.Loss):
        flag = getattr(fn, "from_logits", None)
        if flag is None:
            flag = fn.get_config().get("from_logits")
        if flag is False:
            raise ValueError(
                f"Task {name!r}: from_logits=True but loss {fn.name!r} "
                "expects probabilities. Pass the loss with "
                "from_logits=True, or leave `loss` to the default.")
    return loss
