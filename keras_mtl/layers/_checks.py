"""Argument and input-shape checks that several layers share."""

from typing import Any
from typing import Sequence

import keras


def check_positive_int(name: str, value: Any, optional: bool = False) -> Any:
    """Returns `value` when it is an int >= 1 (or None with `optional`);
    otherwise raises a `ValueError` naming argument `name`."""
    if optional and value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive int or None" if optional else "a positive int"
        raise ValueError(
            f"Argument `{name}` must be {allowed}. Received: "
            f"{name}={value!r}."
        )
    return value


def check_flat_input(layer: keras.layers.Layer,
                     input_shape: Sequence[int | None]) -> int:
    """Returns the number of features of a `(batch, features)` input
    shape; raises a `ValueError` naming `layer` for any other shape."""
    if len(input_shape) != 2 or input_shape[-1] is None:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects inputs "
            "of shape (batch, features) with a known number of features. "
            f"Received: input_shape={tuple(input_shape)}. Flatten feature "
            "maps first."
        )
    return int(input_shape[-1])
