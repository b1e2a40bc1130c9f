"""Step 2 of a search: declare a `SearchSpace`'s hyperparameters.

Hyperparameter names (as Keras Tuner records them in every saved trial;
they must not change, or saved trials stop being readable):

```
architecture            Choice over the architectures
sharing_depth           Int over the trunk's depth (architectures whose
                        builder takes `sharing_depth`)
units_<i>               width of trunk block i (builders taking `trunk`)
num_experts, num_levels, strength, ...
                        ranges of builder options, only for the
                        architectures whose builder takes them
weighting               Choice over the loss weightings
weight_<task> | simplex_<task>
                        static weights (weighting "static"): a Float per
                        task, or a point on the simplex
<weighting>_<arg>       e.g. dwa_temperature, gradnorm_alpha
aggregator              Choice over "none" (one gradient of the weighted
                        sum) and the aggregators
<aggregator>_<arg>      e.g. cagrad_c, gradvac_beta
learning_rate           Float, log scale
```

Every hyperparameter that only means something for some choices is
conditional (`hp.conditional_scope`). When every searched architecture
shares parameters exactly when `sharing_depth >= 1` (hard sharing), the
aggregator is only declared for `sharing_depth >= 1`. (Keras Tuner 1.4.8
needs each name declared once: `ensure_active_values` drops the value of a
name declared under two exclusive conditions.)
"""

import contextlib
import functools
from typing import Any
from typing import Callable
from typing import Sequence

import keras_tuner

from keras_mtl.tuning.ranges import NO_AGGREGATOR
from keras_mtl.tuning.ranges import STATIC
from keras_mtl.tuning.ranges import range_hp
from keras_mtl.tuning.space import SearchSpace


def declare_hyperparameters(space: SearchSpace,
                            hp: keras_tuner.HyperParameters) -> None:
    """Declares the whole search space on `hp`, then checks that every
    name in `space.fixed` is one of its hyperparameters."""
    names = space.architecture_names
    _hp(space, hp, hp.Choice, "architecture", names,
        default="hard" if "hard" in names else names[0])
    users = space.users("trunk")
    if users:
        with _arch_scope(space, hp, users):
            for i, values, default in space.width_specs():
                _hp(space, hp, hp.Choice, f"units_{i}", values,
                    default=default)
    for option, spec in space.option_ranges.items():
        users = space.users(option)
        if users:
            with _arch_scope(space, hp, users):
                _hp(space, hp, functools.partial(range_hp, hp), option,
                    spec)
    aggregators = list(space.aggregators)
    conditional = space.conditional_aggregator()
    low, high = space.depth_range
    users = space.users("sharing_depth")
    if users:
        with _arch_scope(space, hp, users):
            _hp(space, hp, hp.Int, "sharing_depth", low, high, default=high)
            if conditional and aggregators:
                with hp.conditional_scope(
                        "sharing_depth", list(range(1, high + 1))):
                    _declare_methods(space, hp, "aggregator", aggregators,
                                     aggregators[0])
    if not conditional and aggregators:
        _declare_methods(space, hp, "aggregator", aggregators,
                         aggregators[0])
    weightings = list(space.weightings)
    _declare_methods(space, hp, "weighting", weightings,
                     "equal" if "equal" in weightings else weightings[0])
    if STATIC in weightings:
        _declare_static_weights(space, hp)
    if isinstance(space.learning_rate, tuple):
        low_lr, high_lr = space.learning_rate
        _hp(space, hp, hp.Float, "learning_rate", low_lr, high_lr,
            sampling="log", default=min(max(1e-3, low_lr), high_lr))
    else:
        _hp(space, hp, hp.Fixed, "learning_rate",
            float(space.learning_rate))
    check_fixed(space, hp)


def check_fixed(space: SearchSpace, hp: keras_tuner.HyperParameters
                ) -> None:
    """Every name in `space.fixed` must be declared on `hp`."""
    known = {p.name for p in hp.space}
    unknown = sorted(set(space.fixed) - known)
    if unknown:
        raise ValueError(
            f"`fixed` names hyperparameter(s) {unknown} that this "
            f"search space does not have. Its hyperparameters: "
            f"{sorted(known)}."
        )


def _hp(space: SearchSpace, hp: keras_tuner.HyperParameters,
        declare: Callable[..., Any], name: str, *args: Any,
        **kwargs: Any) -> Any:
    """`declare(name, *args, **kwargs)`, or `hp.Fixed` when `name` is
    fixed."""
    if name in space.fixed:
        return hp.Fixed(name, space.fixed[name])
    return declare(name, *args, **kwargs)


def _arch_scope(space: SearchSpace, hp: keras_tuner.HyperParameters,
                users: Sequence[str]) -> Any:
    """A scope active for `users`; no scope when they are all."""
    if set(users) >= set(space.architecture_names):
        return contextlib.nullcontext()
    return hp.conditional_scope("architecture", list(users))


def _declare_methods(space: SearchSpace, hp: keras_tuner.HyperParameters,
                     family: str, choices: list[str], default: str) -> None:
    _hp(space, hp, hp.Choice, family, choices, default=default)
    for method in choices:
        if method in (NO_AGGREGATOR, STATIC):
            continue
        params = space.method_params(family, method)
        if not params:
            continue
        with hp.conditional_scope(family, [method]):
            for arg, spec in params.items():
                _hp(space, hp, functools.partial(range_hp, hp),
                    f"{method}_{arg}", spec)


def _declare_static_weights(space: SearchSpace,
                            hp: keras_tuner.HyperParameters) -> None:
    low, high = space.static_weight_range
    with hp.conditional_scope("weighting", [STATIC]):
        for task in space.tasks:
            if space.static_weights == "per_task":
                _hp(space, hp, hp.Float, f"weight_{task.name}", low, high,
                    sampling="log", default=min(max(1.0, low), high))
            else:
                _hp(space, hp, hp.Float, f"simplex_{task.name}", 1e-6, 1.0,
                    default=0.5)
