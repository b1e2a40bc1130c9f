"""Random-number state that checkpoints must carry for an exact resume.

Keras writes every variable of a layer into `.keras` and `.weights.h5`
files except the state of its `keras.random.SeedGenerator`s (a seed
generator is not a `KerasSaveable`). A layer restored from such a file
draws its random numbers from wherever its generator happens to be: a
model's dropout masks, PCGrad's task orders or RLW's weights no longer
follow the run that wrote the file.

This module is the one place that saves and restores those states. The
model (its layers' dropout and noise generators), the seeded aggregators
and RLW all store them beside their own variables, under
`seed_state.<key>` entries:

- a layer's own generators are keyed by their index (`seed_state.0`);
- a sub-layer's are keyed by the sub-layer's name, which is stable across
  processes unlike the generators' auto-numbered names
  (`seed_state.dropout.0`, `seed_state.outer.inner.0`).

Files written before this module (aggregators and RLW used the single
key `seed_generator_state`) load as before.
"""

from typing import Any

import keras
import numpy as np

from keras_mtl._compat import keras as keras_compat

_PREFIX = "seed_state."
_FORMER_KEY = "seed_generator_state"  # Aggregators' and RLW's key before.


def seed_generators(layer: keras.layers.Layer) -> dict[str, Any]:
    """The seed generators of `layer` and of its sub-layers, by key."""
    found: dict[str, Any] = {}

    def visit(current: Any, prefix: str) -> None:
        for i, generator in enumerate(keras_compat.seed_generators(current)):
            found[f"{prefix}{i}"] = generator
        for inner in _sublayers(current):
            visit(inner, f"{prefix}{inner.name}.")

    visit(layer, "")
    return found


def _sublayers(layer: Any) -> list:
    """A model's graph layers (not its weighting or aggregator, which
    save their own states), or a layer's directly tracked layers."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return keras_compat.nested_layers(layer, recursive=False)


def save_seed_states(layer: keras.layers.Layer, store: Any) -> None:
    """Writes the states of `seed_generators(layer)` into `store`."""
    for key, generator in seed_generators(layer).items():
        store[_PREFIX + key] = np.asarray(
            keras.ops.convert_to_numpy(generator.state))


def load_seed_states(layer: keras.layers.Layer, store: Any) -> dict[str, Any]:
    """Restores the seed states found in `store` into `layer`'s generators.

    Returns:
        The other entries of `store` (the layer's own variables), for
        `load_own_variables`. Files written without seed states load as
        before.
    """
    generators = seed_generators(layer)
    rest = {}
    for key in list(store.keys()):
        if key == _FORMER_KEY:
            name = "0"
        elif key.startswith(_PREFIX):
            name = key[len(_PREFIX):]
        else:
            rest[key] = store[key]
            continue
        generator = generators.get(name)
        if generator is not None:
            generator.state.assign(np.asarray(store[key]))
    return rest


class SeedStateMixin:
    """Saves and restores a layer's seed-generator states with the layer.

    Mix in before the Keras base class (`class PCGrad(SeedStateMixin,
    GramianAggregator)`). A layer whose variables are created in `build`
    can override `_build_from_store(store)` to build itself from the saved
    shapes before the values are assigned (`.weights.h5` checkpoints are
    loaded into layers that have not run yet).
    """

    def save_own_variables(self, store: Any) -> None:
        super().save_own_variables(store)  # type: ignore[misc]
        save_seed_states(self, store)  # type: ignore[arg-type]

    def load_own_variables(self, store: Any) -> None:
        rest = load_seed_states(self, store)  # type: ignore[arg-type]
        if not getattr(self, "built", False) and rest:
            self._build_from_store(rest)
        super().load_own_variables(rest)  # type: ignore[misc]

    def _build_from_store(self, store: dict[str, Any]) -> None:
        """Creates the layer's variables from the saved values' shapes."""
