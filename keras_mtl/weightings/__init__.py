"""Loss weighting strategies: `compile(weighting=...)`.

Each strategy maps the `[T]` task losses to `[T]` task weights inside the
compiled training step. `get()` resolves snake_case ids, configs and
instances, as `keras.optimizers.get` does.
"""

from typing import Any

from keras_mtl.registry import get_from_registry
from keras_mtl.weightings.base import Weighting
from keras_mtl.weightings.static import EqualWeighting
from keras_mtl.weightings.static import StaticWeighting

_REGISTRY: dict[str, Any] = {
    "equal": EqualWeighting,
    "static": StaticWeighting,
}


def get(identifier: Any) -> Weighting:
    """Returns a `Weighting` from an id (`"dwa"`), a config or an instance.

    `None` gives `EqualWeighting()`.
    """
    if identifier is None:
        return EqualWeighting()
    return get_from_registry(identifier, _REGISTRY, Weighting, "weightings")


__all__ = [
    "EqualWeighting",
    "StaticWeighting",
    "Weighting",
    "get",
]
