"""`SearchSpace`: what a multi-task search covers, as a value object.

The search is made in three separate steps, each in its own module:

1. `keras_mtl.tuning.probe.probe_space` reads the registries and builds
   models once to find which architectures, weightings and aggregators
   are constructible with the given inputs, tasks and options; it returns
   a `SearchSpace`.
2. `keras_mtl.tuning.declare.declare_hyperparameters` declares the space's
   hyperparameters on a `keras_tuner.HyperParameters`.
3. `keras_mtl.tuning.choose.read_choices` reads one trial's values back
   into `Choices`, from which `MultiTaskHyperModel` builds the model.

A `SearchSpace` holds data only (no Keras Tuner state), so the same space
declares the same hyperparameters every time.
"""

import dataclasses
from typing import Any
from typing import Callable

import keras

from keras_mtl.builders.blocks import DEFAULT_TRUNK
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tuning.ranges import NO_AGGREGATOR
from keras_mtl.tuning.ranges import constructor_params
from keras_mtl.tuning.ranges import method_class
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


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


@dataclasses.dataclass(frozen=True)
class ArchitectureSpace:
    """One searched architecture, as found by probing its builder.

    Attributes:
        name: The `keras_mtl.builders.ARCHITECTURES` id.
        builder: The builder function.
        params: The builder's argument names.
        has_depth: Whether the builder takes `sharing_depth`.
        shares_at_zero: Whether its model shares parameters at the smallest
            accepted `sharing_depth` (or at all, without one).
        min_depth: The smallest `sharing_depth` the builder accepts.
        max_depth: The largest `sharing_depth` the builder accepts.
    """

    name: str
    builder: Callable[..., MultiTaskModel]
    params: frozenset
    has_depth: bool
    shares_at_zero: bool
    min_depth: int | None = None
    max_depth: int | None = None


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The searched architectures, methods and ranges of a search.

    Built by `keras_mtl.tuning.probe.probe_space`; the arguments of the
    same names of `MultiTaskHyperModel` are documented there.

    Attributes:
        inputs: The input spec (copied for each trial).
        tasks: The validated tasks (copied for each trial).
        trunk: The trunk spec of the builders that take `trunk`.
        depth: The number of blocks of the trunk.
        architectures: The constructible architectures.
        weightings: The constructible weighting ids (and `"static"`).
        aggregators: The constructible aggregator ids, `"none"` first when
            the fast path is searched.
        depth_range: `(min, max)` of `sharing_depth`.
        widths: `"auto"`, a list of widths, or None.
        static_weights: `"simplex"` or `"per_task"`.
        static_weight_range: `(min, max)` of per-task static weights.
        option_ranges: Builder option ranges.
        method_ranges: `{method: {argument: range}}`.
        method_options: `{method: {argument: value}}` not searched.
        builder_options: `{architecture: {argument: value}}` not searched.
        learning_rate: A float, or the `(min, max)` of its search.
        fixed: `{hyperparameter_name: value}` fixed by the user.
    """

    inputs: Inputs
    tasks: tuple[Task, ...]
    trunk: TrunkSpec
    depth: int
    architectures: tuple[ArchitectureSpace, ...]
    weightings: tuple[str, ...]
    aggregators: tuple[str, ...]
    depth_range: tuple[int, int]
    widths: Any
    static_weights: str
    static_weight_range: tuple[float, float]
    option_ranges: dict[str, Any]
    method_ranges: dict[str, dict[str, Any]]
    method_options: dict[str, dict[str, Any]]
    builder_options: dict[str, dict[str, Any]]
    learning_rate: Any
    fixed: dict[str, Any]

    @property
    def architecture_names(self) -> list[str]:
        """The architecture ids, in search order."""
        return [a.name for a in self.architectures]

    def architecture(self, name: str) -> ArchitectureSpace:
        """The probed architecture `name`."""
        for arch in self.architectures:
            if arch.name == name:
                return arch
        raise ValueError(
            f"Architecture {name!r} is not in this search space "
            f"({self.architecture_names})."
        )

    def users(self, option: str) -> list[str]:
        """The architectures whose builder takes `option`."""
        return [a.name for a in self.architectures if option in a.params]

    def width_specs(self) -> list[tuple[int, list[int], int]]:
        """`(block index, width choices, default)` of each searched Dense
        block of the trunk."""
        trunk = DEFAULT_TRUNK if self.trunk is None else self.trunk
        if self.widths is None or isinstance(trunk, keras.layers.Layer):
            return []
        specs = []
        for i, spec in enumerate(trunk):
            if not isinstance(spec, int):
                continue
            if self.widths == "auto":
                values = sorted({max(1, spec // 2), spec, 2 * spec})
            else:
                values = sorted({int(w) for w in self.widths})
            default = spec if spec in values else values[0]
            specs.append((i, values, default))
        return specs

    def method_params(self, family: str, method: str) -> dict[str, Any]:
        """`{argument: range}` searched for one weighting or aggregator
        (`family` is `"weighting"` or `"aggregator"`)."""
        params = constructor_params(method_class(family, method))
        given = self.method_options.get(method, {})
        return {arg: spec for arg, spec in
                self.method_ranges.get(method, {}).items()
                if arg in params and arg not in given}

    def conditional_aggregator(self) -> bool:
        """Whether the aggregator is searched only for sharing_depth >= 1:
        when every architecture shares parameters exactly then."""
        low, high = self.depth_range
        if list(self.aggregators) == [NO_AGGREGATOR]:
            return False
        return low == 0 and high >= 1 and all(
            a.has_depth and not a.shares_at_zero and a.min_depth == 0
            for a in self.architectures)
