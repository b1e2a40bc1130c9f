"""Lazy subpackages for `keras_mtl/__init__.py` (PEP 562).

The optional heavy parts (Keras Tuner in `keras_mtl.tuning`, LiteRT in
`keras_mtl.export`, tensorflow-datasets in the loaders of
`keras_mtl.data`, Matplotlib in `keras_mtl.reporting`) are imported on
first attribute access, so that `import keras_mtl` costs little more than
`import keras`. Modules that register classes with Keras serialization
are imported eagerly, so `keras.saving.load_model` finds them after a
plain `import keras_mtl`.
"""

import importlib
import warnings
from types import ModuleType
from typing import Any
from typing import Callable


def lazy_attributes(
    package: str,
    lazy: dict[str, str],
    moved: dict[str, str],
    eager: list[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Returns the `__getattr__` and `__dir__` of `package`.

    Args:
        package: The package's `__name__`.
        lazy: `{attribute: module}` imported on first access.
        moved: `{old attribute: new module}` for modules that moved; the
            access warns with a `DeprecationWarning` naming the new place.
        eager: The names already bound in the package (for `dir()`).
    """

    def __getattr__(name: str) -> ModuleType:
        if name in lazy:
            module = importlib.import_module(lazy[name])
            setattr(importlib.import_module(package), name, module)
            return module
        if name in moved:
            warnings.warn(
                f"`{package}.{name}` moved to `{moved[name]}`; use "
                f"`{moved[name]}` (the old name will be removed).",
                DeprecationWarning, stacklevel=2)
            return importlib.import_module(moved[name])
        raise AttributeError(
            f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*eager, *lazy})

    return __getattr__, __dir__
