"""Saving the state of an aggregator's `keras.random.SeedGenerator`.

Keras does not write a `SeedGenerator`'s state into `.keras` or
`.weights.h5` files (it is not a `KerasSaveable`), so a seeded method would
replay its random draws from the start after a reload or a resumed run.
Layers that mix this class in store the state beside their own variables.
"""

from typing import Any

import numpy as np

_KEY = "seed_generator_state"


class SeedStateMixin:
    """Saves and restores `self.seed_generator`'s state with the layer.

    Mix in before the Keras layer base class. A layer whose variables are
    created in `build` can override `_build_from_store(store)` to build
    itself from the saved shapes before the values are assigned.
    """

    seed_generator: Any

    def save_own_variables(self, store: Any) -> None:
        super().save_own_variables(store)  # type: ignore[misc]
        store[_KEY] = np.asarray(self.seed_generator.state.numpy())

    def load_own_variables(self, store: Any) -> None:
        keys = list(store.keys())
        if _KEY in keys:
            self.seed_generator.state.assign(np.asarray(store[_KEY]))
        rest = {key: store[key] for key in keys if key != _KEY}
        if not getattr(self, "built", False) and rest:
            self._build_from_store(rest)
        super().load_own_variables(rest)  # type: ignore[misc]

    def _build_from_store(self, store: dict[str, Any]) -> None:
        """Creates the layer's variables from the saved values' shapes."""
