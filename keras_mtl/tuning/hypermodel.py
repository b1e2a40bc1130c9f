"""`MultiTaskHyperModel`: one Keras Tuner search space for multi-task models.

The space is written against keras_mtl's registries, so it covers whatever
is registered when it is built: architectures in
`keras_mtl.builders.ARCHITECTURES`, loss weightings in
`keras_mtl.weightings.names()` and gradient aggregators in
`keras_mtl.aggregators.names()`.

The hypermodel is thin: it probes the space once
(`keras_mtl.tuning.probe`), declares its hyperparameters
(`keras_mtl.tuning.declare`, where their names are listed), reads each
trial's choices (`keras_mtl.tuning.choose`), and builds and fits.

A model that shares no parameter (hard sharing at `sharing_depth=0`) gives
a gradient method nothing to act on: it trains such a model as aggregator
"none" does, and a weighting that balances gradient norms at the last
shared layer (GradNorm) as equal weighting (its weights keep their initial
value 1). The trial keeps the hyperparameters it drew; these combinations
are equivalent rather than infeasible.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

import keras
import keras_tuner

from keras_mtl import builders as builders_module
from keras_mtl import weightings as weightings_module
from keras_mtl.aggregators import get_class as aggregator_class
from keras_mtl.model import MultiTaskModel
from keras_mtl.monitoring import logged_names
from keras_mtl.tasks import Task
from keras_mtl.tuning import objectives
from keras_mtl.tuning.choose import read_choices
from keras_mtl.tuning.copies import fresh_inputs
from keras_mtl.tuning.copies import fresh_tasks
from keras_mtl.tuning.declare import declare_hyperparameters
from keras_mtl.tuning.probe import probe_space
from keras_mtl.tuning.ranges import DEFAULT_METHOD_RANGES
from keras_mtl.tuning.ranges import DEFAULT_OPTION_RANGES
from keras_mtl.tuning.ranges import NO_AGGREGATOR
from keras_mtl.tuning.space import Choices
from keras_mtl.tuning.space import SearchSpace
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


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
        plan: Optional sharing plan from `keras_mtl.relations`
            (`suggest_groups`, `suggest_branches`): hard-sharing trials
            build its tree (`keras_mtl.build(..., plan=plan)`) instead of
            searching `sharing_depth`; widths, weighting, aggregator and
            learning rate are still searched. Without `architectures`, the
            search is restricted to `"hard"`. Same as
            `builder_options={"hard": {"plan": plan}}`.
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
        plan: Any = None,
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
        if plan is not None:
            if not callable(getattr(plan, "block_partitions", None)):
                raise TypeError(
                    "Argument `plan` must be a keras_mtl.relations plan "
                    "(from suggest_groups or suggest_branches). Received: "
                    f"{type(plan).__name__}."
                )
            fixed_architecture = (fixed or {}).get("architecture")
            if ("hard" not in (architectures or ["hard"])
                    or fixed_architecture not in (None, "hard")):
                raise ValueError(
                    "Argument `plan` builds hard-sharing trees, but the "
                    "search has no 'hard' architecture (architectures="
                    f"{architectures!r}, fixed architecture="
                    f"{fixed_architecture!r}). Add 'hard' or drop `plan`.")
            if sharing_depths is not None or "sharing_depth" in (
                    fixed or {}):
                raise ValueError(
                    "Argument `plan` sets every task's sharing depth; do "
                    "not also pass `sharing_depths` or "
                    "fixed['sharing_depth'].")
            builder_options = dict(builder_options or {})
            builder_options["hard"] = {
                **builder_options.get("hard", {}), "plan": plan}
            if architectures is None and "architecture" not in (
                    fixed or {}):
                architectures = ["hard"]
        self.space: SearchSpace = probe_space(
            inputs, tasks, trunk=trunk, architectures=architectures,
            weightings=weightings, aggregators=aggregators,
            sharing_depths=sharing_depths, widths=widths,
            static_weights=static_weights,
            static_weight_range=static_weight_range,
            option_ranges=option_ranges, method_ranges=method_ranges,
            method_options=method_options, builder_options=builder_options,
            learning_rate=learning_rate, fixed=fixed)
        self.optimizer = optimizer
        self.compile_options = dict(compile_options or {})
        self.objective = objective
        self.seed = seed

    # ------------------------------------------------------------------
    # The probed space (read-only views of `self.space`).

    tasks = property(lambda self: self.space.tasks,
                     doc="The validated tasks.")
    trunk = property(lambda self: self.space.trunk, doc="The trunk spec.")
    fixed = property(lambda self: self.space.fixed,
                     doc="`{hyperparameter_name: value}` fixed values.")
    static_weights = property(lambda self: self.space.static_weights,
                              doc="How static weights are searched.")
    static_weight_range = property(
        lambda self: self.space.static_weight_range,
        doc="`(min, max)` of per-task static weights.")
    option_ranges = property(lambda self: self.space.option_ranges,
                             doc="Builder option ranges.")
    method_ranges = property(lambda self: self.space.method_ranges,
                             doc="`{method: {argument: range}}`.")
    method_options = property(lambda self: self.space.method_options,
                              doc="`{method: {argument: value}}`.")
    builder_options = property(lambda self: self.space.builder_options,
                               doc="`{architecture: {argument: value}}`.")
    learning_rate = property(lambda self: self.space.learning_rate,
                             doc="The learning rate or its range.")

    @property
    def architecture_names(self) -> list[str]:
        """The architectures in this search space."""
        return self.space.architecture_names

    @property
    def weighting_names(self) -> list[str]:
        """The weightings in this search space."""
        return list(self.space.weightings)

    @property
    def aggregator_names(self) -> list[str]:
        """The aggregators in this search space (`"none"`: fast path)."""
        return list(self.space.aggregators)

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
        return self.space.method_params(family, method)

    def architecture_params(self, architecture: str) -> frozenset:
        """The argument names of `architecture`'s builder."""
        return self.space.architecture(architecture).params

    # ------------------------------------------------------------------
    # Declaring the space and reading a trial's choices.

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters
                                ) -> None:
        """Declares the whole search space on `hp` (Keras Tuner calls this
        once before the search; `build` calls it on an empty `hp`)."""
        declare_hyperparameters(self.space, hp)

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

    def choose(self, hp: keras_tuner.HyperParameters) -> Choices:
        """Returns this trial's choices (no model is built); declares the
        space first when `hp` does not hold it yet."""
        if not any(p.name == "architecture" for p in hp.space):
            self.declare_hyperparameters(hp)
        choices = read_choices(self.space, hp, self.compile_options)
        return self.extend(hp, choices)

    def extend(self, hp: keras_tuner.HyperParameters,
               choices: Choices) -> Choices:
        """Hook to extend the space: declare more hyperparameters on `hp`
        and change `choices` (builder options, compile options, ...).
        Returns the choices to build. The default returns them as is."""
        return choices

    # ------------------------------------------------------------------
    # Keras Tuner entry points: build and fit.

    def build_from_choices(self, choices: Choices) -> MultiTaskModel:
        """Builds and compiles the model of `choices`."""
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        model = builders_module.build(
            fresh_inputs(self.space.inputs), fresh_tasks(self.space.tasks),
            architecture=choices.architecture, **choices.options)
        weighting = weightings_module.get_class(choices.weighting)(
            **choices.weighting_options)
        aggregator = None
        shares = bool(model.shared_variables)
        if not shares and weighting.requires_shared_gradient_norms:
            # No shared layer: no gradient norms to balance, the weights
            # keep their initial value 1 (equal weighting).
            weighting = weightings_module.EqualWeighting()
        if choices.aggregator is not None and shares:
            aggregator = aggregator_class(choices.aggregator)(
                **choices.aggregator_options)
        optimizer = keras.optimizers.get(self.optimizer)
        config = optimizer.get_config()
        config["learning_rate"] = choices.learning_rate
        optimizer = optimizer.__class__.from_config(config)
        model.compile(optimizer=optimizer, weighting=weighting,
                      aggregator=aggregator, **choices.compile_options)
        return model

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
    # The names the monitoring callbacks check against, too.
    return logged_names(model, validation)


__all__ = [
    "Choices",
    "DEFAULT_METHOD_RANGES",
    "DEFAULT_OPTION_RANGES",
    "MultiTaskHyperModel",
    "NO_AGGREGATOR",
    "SearchSpace",
]
