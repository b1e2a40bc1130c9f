"""Step 3 of a search: read one trial's choices from its hyperparameters.

`read_choices` turns the values Keras Tuner drew for a trial (declared by
`keras_mtl.tuning.declare`) into `Choices`: the builder and its options,
the weighting and the aggregator with their constructor arguments, and the
learning rate. No model is built here.
"""

import math
from typing import Any

import keras_tuner

from keras_mtl.tuning.copies import trunk_copy
from keras_mtl.tuning.ranges import NO_AGGREGATOR
from keras_mtl.tuning.ranges import STATIC
from keras_mtl.tuning.space import Choices
from keras_mtl.tuning.space import SearchSpace


def hp_value(hp: keras_tuner.HyperParameters, name: str) -> Any:
    """The value of `name` in this trial, None when inactive or absent."""
    if not any(p.name == name for p in hp.space):
        return None
    return hp.values.get(name) if hp.is_active(name) else None


def read_choices(space: SearchSpace, hp: keras_tuner.HyperParameters,
                 compile_options: dict[str, Any] | None = None) -> Choices:
    """Returns the choices of the trial `hp` (declared on `space`)."""
    architecture = hp_value(hp, "architecture")
    names = space.architecture_names
    if architecture not in names:
        raise ValueError(
            f"Architecture {architecture!r} is not in this search "
            f"space: {names}. Were these hyperparameters produced by "
            "another search space?"
        )
    arch = space.architecture(architecture)
    options: dict[str, Any] = dict(
        space.builder_options.get(architecture, {}))
    if "trunk" in arch.params:
        widths: list[int | None] = [None] * space.depth
        for i, _, _ in space.width_specs():
            widths[i] = hp_value(hp, f"units_{i}")
        options["trunk"] = trunk_copy(space.trunk, widths)
    for option in space.option_ranges:
        if option in arch.params:
            options[option] = hp_value(hp, option)
    if arch.has_depth:
        # Column architectures need a block above the shared bottom:
        # clamp to the depths this builder accepts.
        depth = hp_value(hp, "sharing_depth")
        options["sharing_depth"] = min(max(depth, arch.min_depth),
                                       arch.max_depth)
    weighting, weighting_options = _method_choice(space, hp, "weighting")
    if weighting is None:
        raise ValueError(
            f"No weighting is set in these hyperparameters: "
            f"{hp.values}. Were they produced by another search space?"
        )
    aggregator, aggregator_options = _method_choice(space, hp, "aggregator")
    return Choices(
        architecture=architecture, options=options,
        weighting=weighting, weighting_options=weighting_options,
        aggregator=aggregator, aggregator_options=aggregator_options,
        learning_rate=float(hp_value(hp, "learning_rate")),
        compile_options=dict(compile_options or {}))


def _static_weights(space: SearchSpace, hp: keras_tuner.HyperParameters
                    ) -> dict[str, float]:
    names = [t.name for t in space.tasks]
    if space.static_weights == "per_task":
        return {t: float(hp_value(hp, f"weight_{t}")) for t in names}
    # -log(u) of uniform u is exponential; normalised exponentials are
    # uniform on the simplex (a flat Dirichlet).
    mass = {}
    for t in names:
        u = float(hp_value(hp, f"simplex_{t}"))
        mass[t] = -math.log(min(max(u, 1e-12), 1.0 - 1e-12))
    total = sum(mass.values())
    return {t: len(names) * m / total for t, m in mass.items()}


def _method_choice(space: SearchSpace, hp: keras_tuner.HyperParameters,
                   family: str) -> tuple[str | None, dict[str, Any]]:
    method = hp_value(hp, family)
    if method is None or method == NO_AGGREGATOR:
        return None, {}
    options = dict(space.method_options.get(method, {}))
    if method == STATIC:
        options["weights"] = _static_weights(space, hp)
        return method, options
    for arg in space.method_params(family, method):
        value = hp_value(hp, f"{method}_{arg}")
        if value is not None:
            options[arg] = value
    return method, options
