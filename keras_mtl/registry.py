"""Registration of keras_mtl objects with Keras serialization.

Every public class that a user can pass to `keras_mtl.build`, `compile` or
that ends up inside a `.keras` file is registered under the `keras_mtl`
package, so that `keras.saving.load_model` finds it in safe mode without
custom objects.
"""

from typing import Any
from typing import Callable

import keras

PACKAGE = "keras_mtl"


def register(cls: type) -> type:
    """Registers `cls` as `keras_mtl>ClassName` for Keras serialization."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def class_from_registry(
    name: Any, registry: dict[str, Callable[..., Any]], family: str
) -> type:
    """Returns the class registered under the snake_case id `name`.

    Shared by `keras_mtl.weightings.get_class` and
    `keras_mtl.aggregators.get_class`.

    Args:
        name: A snake_case id such as `"pcgrad"` (case-insensitive).
        registry: Maps snake_case ids to classes.
        family: Plural family name for error messages (`"aggregators"`).

    Returns:
        The class, not an instance.
    """
    if not isinstance(name, str) or name.lower() not in registry:
        raise ValueError(
            f"Unknown {family[:-1]} id {name!r}. Known {family}: "
            f"{sorted(registry)}. Pass one of these ids (see "
            f"`keras_mtl.{family}.names()`)."
        )
    return registry[name.lower()]


def get_from_registry(
    identifier: Any,
    registry: dict[str, Callable[..., Any]],
    base: type,
    family: str,
) -> Any:
    """Resolves a string id, config dict or instance into an instance.

    Shared by the Keras-style `get()` of `keras_mtl.weightings` and
    `keras_mtl.aggregators`.

    Args:
        identifier: A snake_case id (`"pcgrad"`), a config dict as written
            by `keras.saving.serialize_keras_object`, or an instance of
            `base` (returned as is).
        registry: Maps snake_case ids to classes.
        base: The base class instances must derive from.
        family: Plural family name for error messages (`"aggregators"`).

    Returns:
        An instance of `base`.
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in registry:
            raise ValueError(
                f"Unknown {family[:-1]} {identifier!r}. Known {family}: "
                f"{sorted(registry)}. Pass one of these ids or an instance "
                f"from `keras_mtl.{family}`."
            )
        return registry[key]()
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        if isinstance(obj, base):
            return obj
    raise TypeError(
        f"Could not interpret {family[:-1]} identifier: {identifier!r}. "
        f"Pass a string id ({sorted(registry)}) or an instance of "
        f"`{base.__module__}.{base.__name__}`."
    )
