"""Random-number state that checkpoints must carry for an exact resume.

Keras writes every variable of a model into `.keras` and `.weights.h5`
files except the state of its `keras.random.SeedGenerator`s (a seed
generator is not a `KerasSaveable`). A model with dropout (or noise, or
random augmentation) that is restored from a checkpoint therefore draws
its masks from where the generator happened to be, and a resumed run no
longer follows the uninterrupted one. `MultiTaskModel` stores the state
of each seed generator of its layers beside its own variables with these
helpers, keyed by layer name (stable across processes, unlike the
generators' own auto-numbered names). Weightings and aggregators store
their generators themselves.
"""

from typing import Any

import keras
import numpy as np

_PREFIX = "seed_state."


def seed_generators(model: keras.Model) -> dict[str, Any]:
    """The seed generators of `model`'s layers, keyed by layer name.

    Nested models and layers contribute `outer.inner.index` keys.
    """
    found: dict[str, Any] = {}

    def visit(layer: Any, prefix: str) -> None:
        for i, generator in enumerate(
                getattr(layer, "_seed_generators", None) or []):
            found[f"{prefix}{layer.name}.{i}"] = generator
        for inner in layer._flatten_layers(include_self=False,
                                           recursive=False):
            visit(inner, f"{prefix}{layer.name}.")

    for layer in model.layers:
        visit(layer, "")
    return found


def save_seed_states(model: keras.Model, store: Any) -> None:
    """Writes the states of `seed_generators(model)` into `store`."""
    for key, generator in seed_generators(model).items():
        store[_PREFIX + key] = np.asarray(generator.state.numpy())


def load_seed_states(model: keras.Model, store: Any) -> dict[str, Any]:
    """Restores the seed states found in `store`; returns the other
    entries (the model's own variables) for `load_own_variables`.

    Files written before these states were saved load as before.
    """
    generators = seed_generators(model)
    rest = {}
    for key in list(store.keys()):
        if not key.startswith(_PREFIX):
            rest[key] = store[key]
            continue
        generator = generators.get(key[len(_PREFIX):])
        if generator is not None:
            generator.state.assign(np.asarray(store[key]))
    return rest
