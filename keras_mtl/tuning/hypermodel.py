"""`MultiTaskHyperModel`: one Keras Tuner search space for multi-task models.

The space is written against keras_mtl's registries, so it covers whatever
is registered when it is built: architectures in
`keras_mtl.builders.ARCHITECTURES`, loss weightings in
`keras_mtl.weightings.names()` and gradient aggregators in
`keras_mtl.aggregators.names()`. Hyperparameters (names as Keras Tuner
records them):

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
conditional (`hp.conditional_scope`): widths only for builders that take a
trunk, an expert count only for the architectures that have experts,
`sharing_depth` only where the builder takes it, `cagrad_c` only when the
aggregator is CAGrad, static weights only for the static weighting. When
every searched architecture shares parameters exactly when
`sharing_depth >= 1` (hard sharing), the aggregator is only searched for
`sharing_depth >= 1`.

A model that shares no parameter (hard sharing at `sharing_depth=0`) gives
a gradient method nothing to act on: it trains such a model as aggregator
"none" does, and a weighting that balances gradient norms at the last
shared layer (GradNorm) as equal weighting (its weights keep their initial
value 1). The trial keeps the hyperparameters it drew; these combinations
are equivalent rather than infeasible. (Keras Tuner 1.4.8 needs each
hyperparameter name declared once: `ensure_active_values` drops the value
of a name declared under two exclusive conditions.)
"""

import contextlib
import dataclasses
import functools
import inspect
import math
import warnings
from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras
import keras_tuner

from keras_mtl import aggregators as aggregators_module
from keras_mtl import builders as builders_module
from keras_mtl import weightings as weightings_module
from keras_mtl.builders.blocks import DEFAULT_TRUNK
from keras_mtl.builders.blocks import copy_layer
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks
from keras_mtl.tuning import objectives
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec

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


@dataclasses.dataclass
class Choices:
    """What one trial builds: the values read from the hyperparameters.

    Attributes:
        architecture: The `keras_mtl.builders.ARCHITECTURES` id.
        options: Keyword arguments of the architecture's builder.
        weighting: The weighting id.
        weighting_options: Its constructor arguments.
        aggregator: The aggregator id, or None (the fast path).
        aggregator_options: Its constructor arguments.
        learning_rate: The optimizer's learning rate.
        compile_options: Further `MultiTaskModel.compile` arguments.
    """

    architecture: str
    options: dict[str, Any]
    weighting: str
    weighting_options: dict[str, Any]
    aggregator: str | None
    aggregator_options: dict[str, Any]
    learning_rate: float
    compile_options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Architecture:
    name: str
    builder: Callable[..., MultiTaskModel]
    params: frozenset
    has_depth: bool
    shares_at_zero: bool
    min_depth: int | None = None
    max_depth: int | None = None


def _params(function: Callable[..., Any]) -> frozenset:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(
        name for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _registry(family: Any) -> dict[str, type]:
    """`{id: class}` of `keras_mtl.weightings` or `keras_mtl.aggregators`."""
    return {name: family.get_class(name) for name in family.names()}


def _check_method_arguments(method: str, ranges: Mapping[str, Any]) -> None:
    """`method_ranges[method]` must name a registered method's arguments."""
    registry = {**_registry(weightings_module), **_registry(aggregators_module)}
    if method not in registry:
        raise ValueError(
            f"`method_ranges` names unknown method {method!r}. Use an id of "
            f"keras_mtl.weightings or keras_mtl.aggregators: "
            f"{sorted(registry)}."
        )
    params = _params(registry[method]) - {"name", "kwargs"}
    unknown = sorted(set(ranges) - params)
    if unknown:
        raise ValueError(
            f"`method_ranges[{method!r}]` names unknown argument(s) "
            f"{unknown}. {registry[method].__name__} takes "
            f"{sorted(params)}."
        )


def _check_learning_rate(learning_rate: Any) -> Any:
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


def _check_widths(widths: Any) -> Any:
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


def _clone_input(tensor: keras.KerasTensor) -> keras.KerasTensor:
    history = getattr(tensor, "_keras_history", None)
    name = history[0].name if history else tensor.name
    return keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype,
                       sparse=bool(getattr(tensor, "sparse", False)),
                       name=name)


def _range_hp(hp: keras_tuner.HyperParameters, name: str, spec: Any,
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


class MultiTaskHyperModel(keras_tuner.HyperModel):
    """Keras Tuner search space over multi-task architectures and training.

    Builds and compiles a `keras_mtl.MultiTaskModel` per trial. By default
    it searches every registered architecture, weighting and aggregator
    that can be built with default arguments; restrict any of them with
    the constructor arguments, fix any hyperparameter with `fixed`, and
    extend the space by overriding `extend`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs (copied for each
            trial, so trials share no layer).
        tasks: The `keras_mtl.Task` list (copied for each trial).
        trunk: Trunk specification of the builders that take `trunk`
            (default: the builders' default, `(128, 64)`). Its number of
            blocks is the range of `sharing_depth`.
        architectures: Architecture ids to search (default: all registered
            that build with default arguments).
        weightings: Weighting ids to search (default: all registered that
            construct with default arguments, plus `"static"`).
        aggregators: Aggregator ids to search; `None` or `"none"` is the
            fast path (default: `"none"` and every registered aggregator
            that constructs with default arguments).
        sharing_depths: `(min, max)` range of `sharing_depth` (default: the
            whole trunk, `(0, depth)`).
        widths: `"auto"` searches each Dense block's width among half,
            the same and twice its width in `trunk`; a list of ints is the
            choice for every block; None keeps `trunk`'s widths.
        static_weights: How static per-task weights are searched when the
            weighting is `"static"`: `"simplex"` (a point on the simplex,
            scaled so that weights sum to the number of tasks; uniform on
            the simplex under random search) or `"per_task"` (a Float per
            task in `static_weight_range`, log scale).
        static_weight_range: `(min, max)` of per-task static weights.
        option_ranges: Ranges of builder options (`num_experts`,
            `strength`, ...), as `(min, max[, sampling])` (Int for ints,
            else Float), a list (Choice) or a value (Fixed); merged over
            `DEFAULT_OPTION_RANGES`.
        method_ranges: `{method_id: {argument: range}}` for weightings and
            aggregators, merged over `DEFAULT_METHOD_RANGES`; a range is
            `(min, max[, sampling])`, a list or a value.
        method_options: `{method_id: {argument: value}}` constructor
            arguments that are not searched (e.g. `{"inverse_size":
            {"sizes": {...}}}` makes that weighting constructible).
        builder_options: `{architecture: {argument: value}}` further
            builder arguments that are not searched.
        learning_rate: `(min, max)` of the log-scale learning-rate search,
            or a float to fix it.
        optimizer: A Keras optimizer id or class; built per trial with the
            searched learning rate.
        fixed: `{hyperparameter_name: value}` fixes any part of the space
            (e.g. `{"architecture": "hard", "aggregator": "none"}`).
            Unknown names are an error at the first build.
        compile_options: Further `MultiTaskModel.compile` arguments (for
            example `metrics`).
        objective: Optional Keras Tuner objective. When given, `fit`
            checks before training that the model logs every metric the
            objective reads, and stops the search (a Keras Tuner fatal
            error) otherwise, instead of failing each trial.
        seed: Optional int. Seeds Keras's random state before each build,
            so equal hyperparameters give identical initial weights.
        name: Optional name of the hypermodel.
        tunable: As in `keras_tuner.HyperModel`.

    Example:

    ```python
    hypermodel = keras_mtl.tuning.MultiTaskHyperModel(
        keras.Input((100,)), tasks, trunk=(64, 32),
        weightings=["equal", "uncertainty"],
        aggregators=[None, "pcgrad", "cagrad"],
        fixed={"architecture": "hard"})
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=keras_mtl.tuning.task_objective(
            "task_1", "loss"), max_trials=20)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=5)
    ```

    Extending the space:

    ```python
    class WithDropout(keras_mtl.tuning.MultiTaskHyperModel):
        def extend(self, hp, choices):
            if "dropout" in self.architecture_params(choices.architecture):
                choices.options["dropout"] = hp.Float("dropout", 0.0, 0.5)
            return choices
    ```
    """

    def __init__(
        self,
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
        optimizer: Any = "adam",
        fixed: Mapping[str, Any] | None = None,
        compile_options: Mapping[str, Any] | None = None,
        objective: Any = None,
        seed: int | None = None,
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        if isinstance(inputs, Mapping):
            self._input_specs = dict(inputs)
        else:
            self._input_specs = inputs
        self.tasks = validate_tasks(tasks)
        self.trunk = trunk
        self.fixed = dict(fixed or {})
        if "aggregator" in self.fixed and self.fixed["aggregator"] is None:
            self.fixed["aggregator"] = NO_AGGREGATOR
        if "weighting" in self.fixed:
            weightings = [self.fixed["weighting"]]
        if "aggregator" in self.fixed:
            aggregators = [self.fixed["aggregator"]]
        if static_weights not in STATIC_MODES:
            raise ValueError(
                f"Argument `static_weights` must be one of {STATIC_MODES}. "
                f"Received: static_weights={static_weights!r}."
            )
        low, high = static_weight_range
        if not 0 < low <= high:
            raise ValueError(
                "Argument `static_weight_range` must be (min, max) with "
                f"0 < min <= max. Received: {static_weight_range!r}."
            )
        self.static_weights = static_weights
        self.static_weight_range = (float(low), float(high))
        self.option_ranges = {**DEFAULT_OPTION_RANGES,
                              **dict(option_ranges or {})}
        self.method_ranges = {k: dict(v) for k, v in
                              DEFAULT_METHOD_RANGES.items()}
        for method, ranges in (method_ranges or {}).items():
            _check_method_arguments(method, ranges)
            self.method_ranges.setdefault(method, {}).update(ranges)
        self.method_options = {k: dict(v) for k, v in
                               (method_options or {}).items()}
        self.builder_options = {k: dict(v) for k, v in
                                (builder_options or {}).items()}
        self.learning_rate = _check_learning_rate(learning_rate)
        self.optimizer = optimizer
        self.compile_options = dict(compile_options or {})
        self.objective = objective
        self.seed = seed
        self._widths = _check_widths(widths)
        self._checked_fixed = False

        self._depth = len(make_blocks(trunk))
        self._archs = self._probe_architectures(architectures)
        self._weightings = self._methods(
            "weightings", _registry(weightings_module), weightings,
            always=(STATIC,))
        self._aggregators = self._methods(
            "aggregators", _registry(aggregators_module),
            None if aggregators is None else [
                a for a in aggregators if a not in (None, NO_AGGREGATOR)])
        if aggregators is None or any(
                a in (None, NO_AGGREGATOR) for a in aggregators):
            self._aggregators.insert(0, NO_AGGREGATOR)
        self._depth_range = self._check_depth_range(sharing_depths)

    # ------------------------------------------------------------------
    # What exists, read once from the registries.

    def _probe_architectures(
        self, requested: Sequence[str] | None
    ) -> list[_Architecture]:
        known = builders_module.ARCHITECTURES
        names = list(known) if requested is None else list(requested)
        if "architecture" in self.fixed:
            names = [self.fixed["architecture"]]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"Unknown architecture(s) {unknown}. Registered in "
                f"keras_mtl.builders.ARCHITECTURES: {sorted(known)}."
            )
        found = []
        for name in names:
            builder = known[name]
            params = _params(builder)
            has_depth = "sharing_depth" in params
            try:
                depths = self._valid_depths(name, params) if has_depth \
                    else (None, None, self._shares(name, params, None))
            except Exception as error:  # Builders raise many types.
                if requested is not None or "architecture" in self.fixed:
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
                    "it.", stacklevel=3)
                continue
            low, high, shares = depths
            found.append(_Architecture(name, builder, params, has_depth,
                                       shares_at_zero=shares,
                                       min_depth=low, max_depth=high))
        if not found:
            raise ValueError(
                f"No architecture can be searched among {names}. Check the "
                "inputs, tasks and `builder_options`."
            )
        return found

    def _default_options(self, params: frozenset, name: str) -> dict:
        options = {}
        for option, spec in self.option_ranges.items():
            if option in params:
                options[option] = spec[0] if isinstance(
                    spec, (tuple, list)) else spec
        if "trunk" in params:
            options["trunk"] = self._trunk_copy(None)
        options.update(self.builder_options.get(name, {}))
        return options

    def _valid_depths(self, name: str, params: frozenset
                      ) -> tuple[int, int, bool]:
        """The smallest and largest sharing_depth the builder accepts and
        whether its model shares parameters at the smallest."""
        shares, low = None, None
        error: Exception | None = None
        for depth in range(self._depth + 1):
            try:
                shares = self._shares(name, params, depth)
            except ValueError as raised:
                error = raised
                continue
            low = depth
            break
        if low is None:
            raise error if error is not None else ValueError(name)
        for high in range(self._depth, low, -1):
            try:
                self._shares(name, params, high)
            except ValueError:
                continue
            return low, high, bool(shares)
        return low, low, bool(shares)

    def _shares(self, name: str, params: frozenset,
                sharing_depth: int | None) -> bool:
        options = self._default_options(params, name)
        if sharing_depth is not None:
            options["sharing_depth"] = sharing_depth
        model = builders_module.ARCHITECTURES[name](
            self._fresh_inputs(), self._fresh_tasks(), **options)
        return bool(model.shared_variables)

    def _methods(self, family: str, registry: Mapping[str, Any],
                 requested: Sequence[str] | None,
                 always: Sequence[str] = ()) -> list[str]:
        names = list(registry) if requested is None else list(requested)
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise ValueError(
                f"Unknown {family[:-1]} id(s) {unknown}. Registered in "
                f"keras_mtl.{family}: {sorted(registry)}."
            )
        found = []
        for name in names:
            if name in always:
                found.append(name)
                continue
            try:
                registry[name](**self.method_options.get(name, {}))
            except Exception as error:  # Constructors raise many types.
                if requested is not None:
                    raise ValueError(
                        f"The {family[:-1]} {name!r} cannot be constructed "
                        f"with {self.method_options.get(name, {})}: "
                        f"{error} Give its arguments with "
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

    def _check_depth_range(
        self, sharing_depths: tuple[int, int] | None
    ) -> tuple[int, int]:
        depth = self._depth
        low, high = (0, depth) if sharing_depths is None else sharing_depths
        if "sharing_depth" in self.fixed:
            low = high = self.fixed["sharing_depth"]
        if not (isinstance(low, int) and isinstance(high, int)
                and 0 <= low <= high <= depth):
            raise ValueError(
                "The `sharing_depth` range must be ints 0 <= min <= max <= "
                f"{depth} (the trunk has {depth} block(s)). Received: "
                f"({low!r}, {high!r})."
            )
        return low, high

    # ------------------------------------------------------------------
    # Fresh copies for each trial.

    def _fresh_inputs(self) -> Inputs:
        if isinstance(self._input_specs, dict):
            return {k: _clone_input(v) for k, v in self._input_specs.items()}
        return _clone_input(self._input_specs)

    def _fresh_tasks(self) -> list[Task]:
        return [Task.from_config(t.get_config()) for t in self.tasks]

    def _trunk_copy(self, widths: Sequence[int | None] | None) -> Any:
        trunk = self.trunk
        if trunk is None:
            trunk = DEFAULT_TRUNK
        if isinstance(trunk, keras.layers.Layer):
            return copy_layer(trunk, trunk.name)
        blocks = []
        for i, spec in enumerate(trunk):
            if isinstance(spec, keras.layers.Layer):
                blocks.append(copy_layer(spec, spec.name))
            else:
                width = None if widths is None else widths[i]
                blocks.append(spec if width is None else int(width))
        return tuple(blocks) if all(isinstance(b, int) for b in blocks) \
            else blocks

    @property
    def architecture_names(self) -> list[str]:
        """The architectures in this search space."""
        return [a.name for a in self._archs]

    @property
    def weighting_names(self) -> list[str]:
        """The weightings in this search space."""
        return list(self._weightings)

    @property
    def aggregator_names(self) -> list[str]:
        """The aggregators in this search space (`"none"`: fast path)."""
        return list(self._aggregators)

    def method_hyperparameters(self, family: str, method: str
                               ) -> dict[str, Any]:
        """`{argument: range}` searched for one method.

        Args:
            family: `"weighting"` or `"aggregator"`.
            method: The method's id, e.g. `"cagrad"`.
        """
        if family not in ("weighting", "aggregator"):
            raise ValueError(
                "Argument `family` must be 'weighting' or 'aggregator'. "
                f"Received: family={family!r}."
            )
        return self._method_params(family, method)

    def architecture_params(self, architecture: str) -> frozenset:
        """The argument names of `architecture`'s builder."""
        for arch in self._archs:
            if arch.name == architecture:
                return arch.params
        raise ValueError(
            f"Architecture {architecture!r} is not in this search space "
            f"({[a.name for a in self._archs]})."
        )

    # ------------------------------------------------------------------
    # The search space: declared once (`declare_hyperparameters`), read
    # in every build (`choose`).

    def _hp(self, hp: keras_tuner.HyperParameters,
            declare: Callable[..., Any], name: str, *args: Any,
            **kwargs: Any) -> Any:
        """`declare(name, *args, **kwargs)`, or `hp.Fixed` when `name` is
        fixed."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return declare(name, *args, **kwargs)

    def _arch_scope(self, hp: keras_tuner.HyperParameters,
                    users: Sequence[str]) -> Any:
        """A scope active for `users`; no scope when they are all."""
        if set(users) >= {a.name for a in self._archs}:
            return contextlib.nullcontext()
        return hp.conditional_scope("architecture", list(users))

    def _width_specs(self) -> list[tuple[int, list[int], int]]:
        trunk = DEFAULT_TRUNK if self.trunk is None else self.trunk
        if self._widths is None or isinstance(trunk, keras.layers.Layer):
            return []
        specs = []
        for i, spec in enumerate(trunk):
            if not isinstance(spec, int):
                continue
            if self._widths == "auto":
                values = sorted({max(1, spec // 2), spec, 2 * spec})
            else:
                values = sorted({int(w) for w in self._widths})
            default = spec if spec in values else values[0]
            specs.append((i, values, default))
        return specs

    def _users(self, option: str) -> list[str]:
        return [a.name for a in self._archs if option in a.params]

    def _method_params(self, family: str, method: str) -> dict[str, Any]:
        """`{argument: range}` searched for one weighting or aggregator."""
        registry = _registry(weightings_module if family == "weighting"
                             else aggregators_module)
        params = _params(registry[method])
        given = self.method_options.get(method, {})
        return {arg: spec for arg, spec in
                self.method_ranges.get(method, {}).items()
                if arg in params and arg not in given}

    def _conditional_aggregator(self) -> bool:
        """Whether the aggregator is searched only for sharing_depth >= 1:
        when every architecture shares parameters exactly then."""
        low, high = self._depth_range
        if self._aggregators == [NO_AGGREGATOR]:
            return False
        return low == 0 and high >= 1 and all(
            a.has_depth and not a.shares_at_zero and a.min_depth == 0
            for a in self._archs)

    def _declare_methods(self, hp: keras_tuner.HyperParameters,
                         family: str, choices: list[str],
                         default: str) -> None:
        self._hp(hp, hp.Choice, family, choices, default=default)
        for method in choices:
            if method in (NO_AGGREGATOR, STATIC):
                continue
            params = self._method_params(family, method)
            if not params:
                continue
            with hp.conditional_scope(family, [method]):
                for arg, spec in params.items():
                    self._hp(hp, functools.partial(_range_hp, hp),
                             f"{method}_{arg}", spec)

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters
                                ) -> None:
        """Declares the whole search space on `hp` (Keras Tuner calls this
        once before the search; `build` calls it on an empty `hp`)."""
        names = [a.name for a in self._archs]
        self._hp(hp, hp.Choice, "architecture", names,
                 default="hard" if "hard" in names else names[0])
        users = self._users("trunk")
        if users:
            with self._arch_scope(hp, users):
                for i, values, default in self._width_specs():
                    self._hp(hp, hp.Choice, f"units_{i}", values,
                             default=default)
        for option, spec in self.option_ranges.items():
            users = self._users(option)
            if users:
                with self._arch_scope(hp, users):
                    self._hp(hp, functools.partial(_range_hp, hp),
                             option, spec)
        low, high = self._depth_range
        users = self._users("sharing_depth")
        if users:
            with self._arch_scope(hp, users):
                self._hp(hp, hp.Int, "sharing_depth", low, high,
                         default=high)
                if self._conditional_aggregator() and self._aggregators:
                    with hp.conditional_scope(
                            "sharing_depth", list(range(1, high + 1))):
                        self._declare_methods(hp, "aggregator",
                                              self._aggregators,
                                              self._aggregators[0])
        if not self._conditional_aggregator() and self._aggregators:
            self._declare_methods(hp, "aggregator", self._aggregators,
                                  self._aggregators[0])
        weightings = self._weightings
        self._declare_methods(
            hp, "weighting", weightings,
            "equal" if "equal" in weightings else weightings[0])
        if STATIC in weightings:
            low_w, high_w = self.static_weight_range
            with hp.conditional_scope("weighting", [STATIC]):
                for task in self.tasks:
                    if self.static_weights == "per_task":
                        self._hp(hp, hp.Float, f"weight_{task.name}",
                                 low_w, high_w, sampling="log",
                                 default=min(max(1.0, low_w), high_w))
                    else:
                        self._hp(hp, hp.Float, f"simplex_{task.name}",
                                 1e-6, 1.0, default=0.5)
        if isinstance(self.learning_rate, tuple):
            low_lr, high_lr = self.learning_rate
            self._hp(hp, hp.Float, "learning_rate", low_lr, high_lr,
                     sampling="log", default=min(max(1e-3, low_lr), high_lr))
        else:
            self._hp(hp, hp.Fixed, "learning_rate", float(self.learning_rate))
        self._check_fixed(hp)

    def hyperparameters(self, values: Mapping[str, Any] | None = None
                        ) -> keras_tuner.HyperParameters:
        """The search space with `values` set (defaults elsewhere).

        Use it to build one point of the space, e.g. a corner or a trial
        taken from the Pareto front: `hypermodel.build(
        hypermodel.hyperparameters({"sharing_depth": 0}))`.

        Args:
            values: `{hyperparameter_name: value}`; names must belong to
                the space (Keras Tuner's `tuner/...` entries are allowed).

        Returns:
            A `keras_tuner.HyperParameters` holding the whole space.
        """
        hp = keras_tuner.HyperParameters()
        values = dict(values or {})
        hp.values.update(values)
        self.declare_hyperparameters(hp)
        known = {p.name for p in hp.space}
        unknown = sorted(n for n in values
                         if n not in known and not n.startswith("tuner/"))
        if unknown:
            raise ValueError(
                f"Unknown hyperparameter(s) {unknown}. This search space "
                f"has: {sorted(known)}."
            )
        return hp

    @staticmethod
    def _value(hp: keras_tuner.HyperParameters, name: str) -> Any:
        """The value of `name` in this trial, None when inactive."""
        if not any(p.name == name for p in hp.space):
            return None
        return hp.values.get(name) if hp.is_active(name) else None

    def _static_weights(self, hp: keras_tuner.HyperParameters
                        ) -> dict[str, float]:
        names = [t.name for t in self.tasks]
        if self.static_weights == "per_task":
            return {t: float(self._value(hp, f"weight_{t}")) for t in names}
        # -log(u) of uniform u is exponential; normalised exponentials are
        # uniform on the simplex (a flat Dirichlet).
        mass = {}
        for t in names:
            u = float(self._value(hp, f"simplex_{t}"))
            mass[t] = -math.log(min(max(u, 1e-12), 1.0 - 1e-12))
        total = sum(mass.values())
        return {t: len(names) * m / total for t, m in mass.items()}

    def _method_choice(self, hp: keras_tuner.HyperParameters, family: str
                       ) -> tuple[str | None, dict[str, Any]]:
        method = self._value(hp, family)
        if method is None or method == NO_AGGREGATOR:
            return None, {}
        options = dict(self.method_options.get(method, {}))
        if method == STATIC:
            options["weights"] = self._static_weights(hp)
            return method, options
        for arg in self._method_params(family, method):
            value = self._value(hp, f"{method}_{arg}")
            if value is not None:
                options[arg] = value
        return method, options

    def choose(self, hp: keras_tuner.HyperParameters) -> Choices:
        """Returns this trial's choices (no model is built); declares the
        space first when `hp` does not hold it yet."""
        if not any(p.name == "architecture" for p in hp.space):
            self.declare_hyperparameters(hp)
        architecture = self._value(hp, "architecture")
        names = [a.name for a in self._archs]
        if architecture not in names:
            raise ValueError(
                f"Architecture {architecture!r} is not in this search "
                f"space: {names}. Were these hyperparameters produced by "
                "another search space?"
            )
        arch = self._archs[names.index(architecture)]
        options: dict[str, Any] = dict(
            self.builder_options.get(architecture, {}))
        if "trunk" in arch.params:
            widths: list[int | None] = [None] * self._depth
            for i, _, _ in self._width_specs():
                widths[i] = self._value(hp, f"units_{i}")
            options["trunk"] = self._trunk_copy(widths)
        for option in self.option_ranges:
            if option in arch.params:
                options[option] = self._value(hp, option)
        if arch.has_depth:
            # Column architectures need a block above the shared bottom:
            # clamp to the depths this builder accepts.
            depth = self._value(hp, "sharing_depth")
            options["sharing_depth"] = min(max(depth, arch.min_depth),
                                           arch.max_depth)
        weighting, weighting_options = self._method_choice(hp, "weighting")
        if weighting is None:
            raise ValueError(
                f"No weighting is set in these hyperparameters: "
                f"{hp.values}. Were they produced by another search space?"
            )
        aggregator, aggregator_options = self._method_choice(
            hp, "aggregator")
        choices = Choices(
            architecture=architecture, options=options,
            weighting=weighting, weighting_options=weighting_options,
            aggregator=aggregator, aggregator_options=aggregator_options,
            learning_rate=float(self._value(hp, "learning_rate")),
            compile_options=dict(self.compile_options))
        return self.extend(hp, choices)

    def extend(self, hp: keras_tuner.HyperParameters,
               choices: Choices) -> Choices:
        """Hook to extend the space: declare more hyperparameters on `hp`
        and change `choices` (builder options, compile options, ...).
        Returns the choices to build. The default returns them as is."""
        return choices

    def _check_fixed(self, hp: keras_tuner.HyperParameters) -> None:
        if self._checked_fixed:
            return
        known = {p.name for p in hp.space}
        unknown = sorted(set(self.fixed) - known)
        if unknown:
            raise ValueError(
                f"`fixed` names hyperparameter(s) {unknown} that this "
                f"search space does not have. Its hyperparameters: "
                f"{sorted(known)}."
            )
        self._checked_fixed = True

    # ------------------------------------------------------------------
    # Keras Tuner entry points.

    def build_from_choices(self, choices: Choices) -> MultiTaskModel:
        """Builds and compiles the model of `choices`."""
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        model = builders_module.build(
            self._fresh_inputs(), self._fresh_tasks(),
            architecture=choices.architecture, **choices.options)
        weighting = self._make_weighting(choices)
        aggregator = None
        shares = bool(model.shared_variables)
        if not shares and weighting.requires_shared_gradient_norms:
            # No shared layer: no gradient norms to balance, the weights
            # keep their initial value 1 (equal weighting).
            weighting = weightings_module.EqualWeighting()
        if choices.aggregator is not None and shares:
            aggregator = aggregators_module.get_class(choices.aggregator)(
                **choices.aggregator_options)
        optimizer = keras.optimizers.get(self.optimizer)
        config = optimizer.get_config()
        config["learning_rate"] = choices.learning_rate
        optimizer = optimizer.__class__.from_config(config)
        model.compile(optimizer=optimizer, weighting=weighting,
                      aggregator=aggregator, **choices.compile_options)
        return model

    def _make_weighting(self, choices: Choices) -> Any:
        cls = weightings_module.get_class(choices.weighting)
        return cls(**choices.weighting_options)

    def build(self, hp: keras_tuner.HyperParameters) -> MultiTaskModel:
        """Builds and compiles the model of `hp` (Keras Tuner's contract)."""
        return self.build_from_choices(self.choose(hp))

    def log_names(self, validation: bool = True) -> list[str]:
        """The names the model of the default hyperparameters logs in
        `fit` (`loss`, `<task>_loss`, `<task>_weight`, `<task>_<metric>`;
        with `val_` copies when `validation`)."""
        model = self.build(keras_tuner.HyperParameters())
        return _log_names(model, validation)

    def fit(self, hp: keras_tuner.HyperParameters, model: MultiTaskModel,
            *args: Any, **kwargs: Any) -> Any:
        """`model.fit`, after checking that the objective can be read."""
        if self.objective is not None:
            validation = kwargs.get("validation_data") is not None or bool(
                kwargs.get("validation_split"))
            try:
                objectives.validate_objective(
                    self.objective, _log_names(model, validation))
            except ValueError as error:
                raise keras_tuner.errors.FatalValueError(str(error)) \
                    from error
        return model.fit(*args, **kwargs)


def _log_names(model: MultiTaskModel, validation: bool) -> list[str]:
    names = [m.name for m in model.metrics]
    if validation:
        names += [f"val_{n}" for n in names]
    return names


__all__ = [
    "Choices",
    "DEFAULT_METHOD_RANGES",
    "DEFAULT_OPTION_RANGES",
    "MultiTaskHyperModel",
    "NO_AGGREGATOR",
]
