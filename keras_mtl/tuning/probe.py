"""Step 1 of a search: probe which methods are constructible.

`probe_space` reads `keras_mtl.builders.ARCHITECTURES`,
`keras_mtl.weightings.names()` and `keras_mtl.aggregators.names()`, builds
each architecture once (at the smallest and largest `sharing_depth` it
accepts) and constructs each method with its non-searched options. What
was asked for explicitly and does not build is an error; what was not
asked for is left out of the search (architectures with a warning).
"""

import dataclasses
import warnings
from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl import aggregators as aggregators_module
from keras_mtl import builders as builders_module
from keras_mtl import weightings as weightings_module
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tuning.copies import fresh_inputs
from keras_mtl.tuning.copies import fresh_tasks
from keras_mtl.tuning.copies import trunk_copy
from keras_mtl.tuning.ranges import DEFAULT_METHOD_RANGES
from keras_mtl.tuning.ranges import DEFAULT_OPTION_RANGES
from keras_mtl.tuning.ranges import NO_AGGREGATOR
from keras_mtl.tuning.ranges import STATIC
from keras_mtl.tuning.ranges import check_learning_rate
from keras_mtl.tuning.ranges import check_method_arguments
from keras_mtl.tuning.ranges import check_static_weights
from keras_mtl.tuning.ranges import check_widths
from keras_mtl.tuning.ranges import constructor_params
from keras_mtl.tuning.space import ArchitectureSpace
from keras_mtl.tuning.space import SearchSpace
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def probe_space(
    inputs: Inputs,
    tasks: Sequence[Task],
    *,
    trunk: TrunkSpec = None,
    architectures: Sequence[str] | None = None,
    weightings: Sequence[str] | None = None,
    aggregators: Sequence[str | None] | None = None,
    sharing_depths: tuple[int, int] | None = None,
    widths: str | Sequence[int] | None = "auto",
    static_weights: str = "simplex",
    static_weight_range: tuple[float, float] = (0.1, 10.0),
    option_ranges: Mapping[str, Any] | None = None,
    method_ranges: Mapping[str, Mapping[str, Any]] | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    builder_options: Mapping[str, Mapping[str, Any]] | None = None,
    learning_rate: float | tuple[float, float] = (1e-4, 1e-2),
    fixed: Mapping[str, Any] | None = None,
) -> SearchSpace:
    """Checks the arguments, probes the registries and returns the space.

    The arguments are those of `keras_mtl.tuning.MultiTaskHyperModel`.
    """
    if isinstance(inputs, Mapping):
        inputs = dict(inputs)
    tasks = validate_tasks(tasks)
    fixed = dict(fixed or {})
    if "aggregator" in fixed and fixed["aggregator"] is None:
        fixed["aggregator"] = NO_AGGREGATOR
    if "weighting" in fixed:
        weightings = [fixed["weighting"]]
    if "aggregator" in fixed:
        aggregators = [fixed["aggregator"]]
    static_weights, static_weight_range = check_static_weights(
        static_weights, static_weight_range)
    ranges = {k: dict(v) for k, v in DEFAULT_METHOD_RANGES.items()}
    for method, given in (method_ranges or {}).items():
        check_method_arguments(method, given)
        ranges.setdefault(method, {}).update(given)
    options = {k: dict(v) for k, v in (method_options or {}).items()}
    space = SearchSpace(
        inputs=inputs, tasks=tasks, trunk=trunk,
        depth=len(make_blocks(trunk)), architectures=(), weightings=(),
        aggregators=(), depth_range=(0, 0), widths=check_widths(widths),
        static_weights=static_weights,
        static_weight_range=static_weight_range,
        option_ranges={**DEFAULT_OPTION_RANGES, **dict(option_ranges or {})},
        method_ranges=ranges, method_options=options,
        builder_options={k: dict(v) for k, v in
                         (builder_options or {}).items()},
        learning_rate=check_learning_rate(learning_rate), fixed=fixed)
    archs = _probe_architectures(space, architectures)
    searched_weightings = _methods(
        "weightings", weightings_module.names(), options, weightings,
        always=(STATIC,))
    searched = _methods("aggregators", aggregators_module.names(), options,
                        None if aggregators is None else [
                            a for a in aggregators
                            if a not in (None, NO_AGGREGATOR)])
    if aggregators is None or any(
            a in (None, NO_AGGREGATOR) for a in aggregators):
        searched.insert(0, NO_AGGREGATOR)
    return dataclasses.replace(
        space, architectures=tuple(archs),
        weightings=tuple(searched_weightings), aggregators=tuple(searched),
        depth_range=_check_depth_range(space, sharing_depths))


def _probe_architectures(space: SearchSpace,
                         requested: Sequence[str] | None
                         ) -> list[ArchitectureSpace]:
    known = builders_module.ARCHITECTURES
    names = list(known) if requested is None else list(requested)
    explicit = requested is not None or "architecture" in space.fixed
    if "architecture" in space.fixed:
        names = [space.fixed["architecture"]]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"Unknown architecture(s) {unknown}. Registered in "
            f"keras_mtl.builders.ARCHITECTURES: {sorted(known)}."
        )
    found = []
    for name in names:
        params = constructor_params(known[name])
        if "plan" in space.builder_options.get(name, {}):
            # A sharing plan (keras_mtl.relations) fixes what each task
            # shares: there is no sharing_depth to search.
            params = params - {"sharing_depth"}
        has_depth = "sharing_depth" in params
        try:
            depths = _valid_depths(space, name, params) if has_depth \
                else (None, None, _shares(space, name, params, None))
        except Exception as error:  # Builders raise many types.
            if explicit:
                raise ValueError(
                    f"Architecture {name!r} does not build with these "
                    f"inputs and tasks and default options: {error} "
                    "Pass its required arguments with "
                    f"builder_options={{{name!r}: {{...}}}}."
                ) from error
            warnings.warn(
                f"MultiTaskHyperModel leaves architecture {name!r} out "
                f"of the search: it does not build with default "
                f"options ({error}). Pass builder_options to include "
                "it.", stacklevel=4)
            continue
        low, high, shares = depths
        found.append(ArchitectureSpace(
            name, known[name], params, has_depth, shares_at_zero=shares,
            min_depth=low, max_depth=high))
    if not found:
        raise ValueError(
            f"No architecture can be searched among {names}. Check the "
            "inputs, tasks and `builder_options`."
        )
    return found


def _default_options(space: SearchSpace, params: frozenset,
                     name: str) -> dict:
    options = {}
    for option, spec in space.option_ranges.items():
        if option in params:
            options[option] = spec[0] if isinstance(
                spec, (tuple, list)) else spec
    if "trunk" in params:
        options["trunk"] = trunk_copy(space.trunk, None)
    options.update(space.builder_options.get(name, {}))
    return options


def _valid_depths(space: SearchSpace, name: str, params: frozenset
                  ) -> tuple[int, int, bool]:
    """The smallest and largest sharing_depth the builder accepts and
    whether its model shares parameters at the smallest."""
    shares, low = None, None
    error: Exception | None = None
    for depth in range(space.depth + 1):
        try:
            shares = _shares(space, name, params, depth)
        except ValueError as raised:
            error = raised
            continue
        low = depth
        break
    if low is None:
        raise error if error is not None else ValueError(name)
    for high in range(space.depth, low, -1):
        try:
            _shares(space, name, params, high)
        except ValueError:
            continue
        return low, high, bool(shares)
    return low, low, bool(shares)


def _shares(space: SearchSpace, name: str, params: frozenset,
            sharing_depth: int | None) -> bool:
    options = _default_options(space, params, name)
    if sharing_depth is not None:
        options["sharing_depth"] = sharing_depth
    model = builders_module.ARCHITECTURES[name](
        fresh_inputs(space.inputs), fresh_tasks(space.tasks), **options)
    return bool(model.shared_variables)


def _methods(family: str, known: list[str],
             method_options: Mapping[str, Mapping[str, Any]],
             requested: Sequence[str] | None,
             always: Sequence[str] = ()) -> list[str]:
    module = weightings_module if family == "weightings" \
        else aggregators_module
    names = list(known) if requested is None else list(requested)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"Unknown {family[:-1]} id(s) {unknown}. Registered in "
            f"keras_mtl.{family}: {sorted(known)}."
        )
    found = []
    for name in names:
        if name in always:
            found.append(name)
            continue
        given = dict(method_options.get(name, {}))
        try:
            module.get_class(name)(**given)
        except Exception as error:  # Constructors raise many types.
            if requested is not None:
                raise ValueError(
                    f"The {family[:-1]} {name!r} cannot be constructed "
                    f"with {given}: {error} Give its arguments with "
                    f"method_options={{{name!r}: {{...}}}}."
                ) from error
            continue
        found.append(name)
    if not found and family == "weightings":
        raise ValueError(
            f"No weighting can be searched among {names}. Give the "
            "constructor arguments with `method_options`."
        )
    return found


def _check_depth_range(space: SearchSpace,
                       sharing_depths: tuple[int, int] | None
                       ) -> tuple[int, int]:
    depth = space.depth
    low, high = (0, depth) if sharing_depths is None else sharing_depths
    if "sharing_depth" in space.fixed:
        low = high = space.fixed["sharing_depth"]
    if not (isinstance(low, int) and isinstance(high, int)
            and 0 <= low <= high <= depth):
        raise ValueError(
            "The `sharing_depth` range must be ints 0 <= min <= max <= "
            f"{depth} (the trunk has {depth} block(s)). Received: "
            f"({low!r}, {high!r})."
        )
    return low, high
