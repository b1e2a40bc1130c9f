"""Range specs and argument checks of the multi-task search space.

A range spec is what a user writes for one searched value:
`(min, max[, sampling])` gives a Keras Tuner `Int` (both ints) or `Float`,
a list gives a `Choice` and any other value a `Fixed`. The defaults below
are searched whenever the builder or method takes the argument.
"""

import inspect
from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras_tuner

from keras_mtl import aggregators as aggregators_module
from keras_mtl import weightings as weightings_module

NO_AGGREGATOR = "none"
STATIC = "static"
STATIC_MODES = ("simplex", "per_task")

DEFAULT_OPTION_RANGES: dict[str, Any] = {
    "num_experts": (2, 8),
    "num_shared_experts": (1, 4),
    "num_task_experts": (1, 4),
    "num_levels": (1, 3),
    "strength": (1e-4, 1e-1, "log"),
}
"""Builder options searched when a builder takes them: expert and level
counts (MMoE, CGC, PLE) and soft sharing's penalty strength."""

DEFAULT_METHOD_RANGES: dict[str, dict[str, Any]] = {
    "dwa": {"temperature": (0.5, 5.0)},
    "gradnorm": {"alpha": (0.5, 3.0)},
    "dtp": {"gamma": (0.5, 3.0)},
    "cagrad": {"c": (0.1, 0.9)},
    "gradvac": {"beta": (1e-3, 1e-1, "log")},
    "graddrop": {"leak": (0.0, 0.5)},
}
"""Hyperparameters of weightings and aggregators, by id and argument;
each is searched when that method is registered and its constructor
takes the argument."""


def constructor_params(function: Callable[..., Any]) -> frozenset:
    """The names `function` accepts as keyword arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(
        name for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def method_class(family: str, method: str) -> type:
    """The class of a weighting (`family="weighting"`) or aggregator id."""
    module = weightings_module if family == "weighting" \
        else aggregators_module
    return module.get_class(method)


def check_method_arguments(method: str, ranges: Mapping[str, Any]) -> None:
    """`method_ranges[method]` must name a registered method's arguments."""
    known = weightings_module.names() + aggregators_module.names()
    if method not in known:
        raise ValueError(
            f"`method_ranges` names unknown method {method!r}. Use an id of "
            f"keras_mtl.weightings or keras_mtl.aggregators: "
            f"{sorted(known)}."
        )
    family = "weighting" if method in weightings_module.names() \
        else "aggregator"
    cls = method_class(family, method)
    params = constructor_params(cls) - {"name", "kwargs"}
    unknown = sorted(set(ranges) - params)
    if unknown:
        raise ValueError(
            f"`method_ranges[{method!r}]` names unknown argument(s) "
            f"{unknown}. {cls.__name__} takes {sorted(params)}."
        )


def check_learning_rate(learning_rate: Any) -> Any:
    """A float > 0 or a `(min, max)` range with `0 < min <= max`."""
    low, high = (learning_rate if isinstance(learning_rate, tuple)
                 else (learning_rate, learning_rate))
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float))
            and 0 < low <= high):
        raise ValueError(
            "Argument `learning_rate` must be a float > 0 or a (min, max) "
            f"range with 0 < min <= max. Received: learning_rate="
            f"{learning_rate!r}, e.g. use learning_rate=(1e-4, 1e-2)."
        )
    return learning_rate


def check_widths(widths: Any) -> Any:
    """`"auto"`, None, or a non-empty list of Dense widths >= 1."""
    if widths is None or widths == "auto":
        return widths
    if (isinstance(widths, str) or not isinstance(widths, Sequence)
            or not widths or not all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1
                for w in widths)):
        raise ValueError(
            "Argument `widths` must be 'auto', None, or a non-empty list of "
            f"Dense widths >= 1. Received: widths={widths!r}, e.g. "
            "widths=[32, 64, 128]."
        )
    return widths


def check_static_weights(mode: str, weight_range: tuple[float, float]
                         ) -> tuple[str, tuple[float, float]]:
    """The static-weight mode and its `(min, max)` range, checked."""
    if mode not in STATIC_MODES:
        raise ValueError(
            f"Argument `static_weights` must be one of {STATIC_MODES}. "
            f"Received: static_weights={mode!r}."
        )
    low, high = weight_range
    if not 0 < low <= high:
        raise ValueError(
            "Argument `static_weight_range` must be (min, max) with "
            f"0 < min <= max. Received: {weight_range!r}."
        )
    return mode, (float(low), float(high))


def range_hp(hp: keras_tuner.HyperParameters, name: str, spec: Any,
             default: Any = None) -> Any:
    """Declares `name` from a range spec: (lo, hi[, sampling]) -> Int or
    Float, a list -> Choice, a scalar -> Fixed."""
    if isinstance(spec, list):
        return hp.Choice(name, spec, default=default)
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise ValueError(
                f"The range of hyperparameter {name!r} must be (min, max) or "
                f"(min, max, sampling). Received: {spec!r}."
            )
        low, high = spec[0], spec[1]
        sampling = spec[2] if len(spec) == 3 else "linear"
        if low > high:
            raise ValueError(
                f"The range of hyperparameter {name!r} must be (min, max) "
                f"with min <= max. Received: {spec!r}. Swap the bounds."
            )
        if all(isinstance(v, int) and not isinstance(v, bool)
               for v in (low, high)):
            return hp.Int(name, low, high, sampling=sampling,
                          default=default)
        return hp.Float(name, float(low), float(high), sampling=sampling,
                        default=default)
    return hp.Fixed(name, spec)
