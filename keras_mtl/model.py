"""`MultiTaskModel`: a Functional Keras model that trains many tasks at once.

The model is an ordinary Functional model (dict outputs keyed by task name).
This module keeps the graph (which layers and variables are shared, which
belong to a task), `compile` and the configuration; the training and
evaluation steps live in `keras_mtl.training.step`, where one batch reads
top to bottom from the forward pass to `apply_gradients`.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl._backend import require_tensorflow_backend
from keras_mtl._compat import keras as keras_compat
from keras_mtl.data_checks import check_fit_arguments
from keras_mtl.losses import MaskedTaskLoss
from keras_mtl.ownership import layer_owners
from keras_mtl.ownership import layers_common_to_all
from keras_mtl.ownership import loss_reach
from keras_mtl.registry import register
from keras_mtl.resume import load_seed_states
from keras_mtl.resume import save_seed_states
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks as _validate_tasks
from keras_mtl.tasks.head_checks import check_output_heads
from keras_mtl.tasks.task_graph import check_task_graph
from keras_mtl.tasks.task_metric_objects import make_task_metrics
from keras_mtl.tasks.task_metric_objects import weighted_task_metrics
from keras_mtl.training import step as training_step
from keras_mtl.training.compile_args import resolve_compile_arguments
from keras_mtl.training.engine import GradientEngine
from keras_mtl.training.epoch_hooks import EpochHooks as _EpochHooks
from keras_mtl.training.errors import readable_errors
from keras_mtl.training.logs import StepLogs
from keras_mtl.training.multi_worker import first_batch_for_build
from keras_mtl.training.multi_worker import step_logs
from keras_mtl.training.nonfinite import check_policy
from keras_mtl.training.targets import standardize_targets
from keras_mtl.training.task_learning_rates import TaskUpdateScaler
from keras_mtl.training.task_losses import compute_task_losses
from keras_mtl.training.transaction import unique_variables
from keras_mtl.types import Tensor


class _Hidden:
    """Holds helpers that Keras must neither track nor save."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


@register
class MultiTaskModel(keras_compat.SymbolicBuildHook):
    """A Functional model with one named output per task.

    Build it with `keras_mtl.build(...)` or from any Functional graph whose
    outputs are a dict keyed by task name:

    ```python
    inputs = keras.Input((8,), name="features")
    z = keras.layers.Dense(32, activation="relu")(inputs)
    outputs = {"a": keras.layers.Dense(1, activation="sigmoid", name="a")(z),
               "b": keras.layers.Dense(1, name="b")(z)}
    model = keras_mtl.MultiTaskModel(
        inputs, outputs,
        tasks=[keras_mtl.Task("a", "binary"),
               keras_mtl.Task("b", "regression")])
    model.compile("adam")
    model.fit(x, {"a": y_a, "b": y_b}, epochs=3)
    ```

    Which layers are shared is read off the graph (a layer that feeds two
    or more task outputs is shared); `shared_variables` and
    `task_variables` expose the split that gradient aggregation uses.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        outputs: A dict mapping each task name to its output tensor.
        tasks: The `keras_mtl.Task` list, in the order used for task
            vectors (losses, weights, Jacobian rows).
        shared_layers: Names of layers to count as shared in addition to
            those the graph shares (used by soft-sharing builders).
        representation: Name of the layer whose output is the single
            shared representation feeding every task, or None.
        name: Model name.

    The constructor keeps the Functional signature `(inputs, outputs,
    name)` with the multi-task arguments keyword-only, so that Keras
    serializes the whole graph.
    """

    def __init__(
        self,
        inputs: Any,
        outputs: Mapping[str, Any],
        name: str | None = None,
        *,
        tasks: Sequence[Task],
        shared_layers: Sequence[str] = (),
        representation: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_tensorflow_backend("keras_mtl.MultiTaskModel")
        tasks = _validate_tasks(tasks)
        names = [t.name for t in tasks]
        if not isinstance(outputs, Mapping):
            raise TypeError(
                "`outputs` must be a dict mapping task names to output "
                f"tensors. Received: {type(outputs).__name__}. Use "
                "outputs={'task_name': tensor, ...}."
            )
        if set(outputs) != set(names):
            raise ValueError(
                f"The output keys {sorted(outputs)} do not match the task "
                f"names {names}. Give one output per task, keyed by its name."
            )
        outputs = {n: outputs[n] for n in names}
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._task_list = tasks
        self._forced_shared = tuple(shared_layers)
        check_task_graph(tasks, outputs)  # Task(inputs_from=...) links
        check_output_heads(tasks, outputs)  # widths and activations
        shared, per_task = layer_owners(outputs, self._forced_shared)
        self._shared_layer_names = tuple(shared)
        # What gradient aggregation treats as shared: variables that two
        # or more task losses reach (differs from ownership when a task
        # consumes another's output, keras_mtl.ownership).
        reach_shared, reach_own = loss_reach(
            outputs, [t.name for t in tasks if t.supervised],
            self._forced_shared)
        self._loss_shared_layer_names = tuple(reach_shared)
        self._loss_task_layer_names = {
            k: tuple(v) for k, v in reach_own.items()}
        graph_order = [layer.name for layer in self.layers]
        self._common_layer_names = tuple(sorted(
            layers_common_to_all(outputs), key=graph_order.index))
        self._task_layer_names = {k: tuple(v) for k, v in per_task.items()}
        if representation is not None:
            self.get_layer(representation)  # raises if unknown
        self._representation_name = representation
        self._hidden = _Hidden(representation_model=None, engine=None,
                               task_losses=None, logs=None, policy=None,
                               compile_args=None, task_mask=None,
                               update_scaler=None)

    # ------------------------------------------------------------------
    # What the model knows about its tasks.

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks, in the order of task vectors."""
        return self._task_list

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self._task_list)

    @property
    def shared_layers(self) -> list[keras.layers.Layer]:
        """Layers whose weights two or more tasks use."""
        return [self.get_layer(n) for n in self._shared_layer_names]

    @property
    def task_layers(self) -> dict[str, list[keras.layers.Layer]]:
        """Per task, the layers that belong to it: those only its output
        depends on, not counting the towers of tasks whose outputs it
        consumes (`inputs_from`)."""
        return {t: [self.get_layer(n) for n in names]
                for t, names in self._task_layer_names.items()}

    @property
    def shared_variables(self) -> list[keras.Variable]:
        """Trainable variables that two or more task losses reach: the
        shared layers' variables, and, when a task consumes other tasks'
        outputs (`inputs_from`), the towers of those tasks too (ESMM's
        CTR tower gets the gradients of both the CTR and CTCVR losses).
        Gradient aggregation combines the task gradients of these."""
        return unique_variables(
            v for n in self._loss_shared_layer_names
            for v in self.get_layer(n).trainable_variables)

    @property
    def task_variables(self) -> dict[str, list[keras.Variable]]:
        """Per task, the trainable variables only that task's loss
        reaches (they get its gradient alone; empty for a task without a
        loss). Equal to the variables of `task_layers` unless a task
        consumes other tasks' outputs."""
        shared = {id(v) for v in self.shared_variables}
        return {
            task: [v for v in unique_variables(
                v for n in names
                for v in self.get_layer(n).trainable_variables)
                if id(v) not in shared]
            for task, names in self._loss_task_layer_names.items()
        }

    @property
    def supervised_task_indices(self) -> list[int]:
        """Positions (in task vectors) of the tasks that have a loss."""
        return [i for i, t in enumerate(self._task_list) if t.supervised]

    @property
    def representation_layer(self) -> keras.layers.Layer | None:
        """The layer whose output is the shared representation, if any."""
        if self._representation_name is None:
            return None
        return self.get_layer(self._representation_name)

    def call_with_representation(
        self, inputs: Any, training: bool = False
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Runs the model and also returns the shared representation."""
        layer = self.representation_layer
        if layer is None:
            raise ValueError(
                f"Model {self.name!r} has no single shared representation "
                "(architectures such as MMoE, PLE or cross-stitch, or "
                "sharing_depth=0, feed tasks from several tensors). Use the "
                "Jacobian mode of gradient aggregation instead."
            )
        hidden = self._hidden
        if hidden.representation_model is None:
            hidden.representation_model = keras.Model(
                self.input, {"outputs": self.output,
                             "representation": layer.output})
        result = hidden.representation_model(inputs, training=training)
        return result["outputs"], result["representation"]

    def set_task_mask(self, mask: keras.Variable | None) -> None:
        """Multiplies a `[T]` mask into the task weights of training steps.

        1 trains a task on a step, 0 leaves it out (its loss is still
        computed and logged; its `<task>_weight` logs as 0); None removes
        the mask. Per-step task schedules
        (`keras_mtl.callbacks.TaskSchedule`) assign the variable between
        steps. Evaluation is never masked.
        """
        self._hidden.task_mask = mask
        if self.train_function is not None:  # retrace with the new mask
            self.make_train_function(force=True)

    # ------------------------------------------------------------------
    # Compile.

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Mapping[str, Any] | None = None,
        weighted_metrics: Mapping[str, Any] | None = None,
        loss_weights: Mapping[str, float] | None = None,
        weighting: Any = None,
        aggregator: Any = None,
        aggregation_mode: str | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
        task_learning_rates: Mapping[str, float] | None = None,
        gradient_regularizer: Any = None,
        on_nonfinite: str = "drop_task",
    ) -> None:
        """Configures the model for multi-task training.

        Args:
            optimizer: A Keras optimizer or its string id.
            loss: None (every task's default loss), one loss for every
                task, or a dict `{task: loss}` overriding some tasks.
            metrics: None (task defaults) or a dict `{task: [metrics]}`
                overriding some tasks. As in Keras, `metrics` ignore
                `sample_weight` (and `class_weight`); they count every
                labelled entry once (missing labels, and samples whose
                weight is 0, are left out).
            weighted_metrics: A dict `{task: [metrics]}` of metrics that
                weigh each labelled entry by its sample weight. Logged as
                `<task>_<name>`, or `<task>_weighted_<name>` when `metrics`
                already has that name.
            loss_weights: Fixed weights `{task: float}`; a shorthand for
                `weighting=StaticWeighting(loss_weights)`.
            weighting: A `keras_mtl.weightings` strategy or its id
                (default: equal weights).
            aggregator: A `keras_mtl.aggregators` method or its id, applied
                to the per-task gradients of the shared variables (default
                None: one gradient of the weighted sum, the fast path).
            aggregation_mode: What the aggregator combines (see
                `keras_mtl.gradients`): `"jacobian"` (the per-task
                gradients of all shared variables) or `"representation"`
                (the per-task gradients of the shared representation,
                then one backward pass through the trunk: MGDA-UB, about
                the cost of plain `fit`; needs a model with one shared
                representation). None: the aggregator's `default_mode`,
                else `"jacobian"`.
            run_eagerly, steps_per_execution, jit_compile,
            auto_scale_loss: As in `keras.Model.compile`.
            task_learning_rates: Optional `{task: multiplier >= 0}`
                scaling the optimizer's update of each task's own
                variables (`task_variables`); right for Adam too, see
                `keras_mtl.task_learning_rates`.
            gradient_regularizer: Optional
                `keras_mtl.training.GradientRegularizer` that adds terms to
                the step's gradients, e.g. `keras_mtl.GREAT` (gradient
                adversarial training).
            on_nonfinite: What a step does when a task's loss or gradients
                hold NaN or Inf, or overflow (see
                `keras_mtl.training.nonfinite`): `"drop_task"` (default:
                train the other tasks), `"skip_step"` or `"raise"` (a
                `NonFiniteError` naming the task); None turns the checks
                off. A skipped step changes no variable, and no policy
                leaves a non-finite value in a variable; the logs count
                `nonfinite_steps` and `<task>_nonfinite`.
        """
        require_tensorflow_backend("MultiTaskModel.compile")
        names = self.task_names
        losses, weighting, aggregator = resolve_compile_arguments(
            self._task_list, loss, metrics, weighted_metrics, loss_weights,
            weighting, aggregator)
        weighting.bind(names)
        if aggregator is not None and not aggregator.built:
            # Stateful aggregators (GradVac, Nash-MTL) get their variables
            # now, before weights load and outside the (distributed) step;
            # they see the rows of the tasks that have a loss.
            aggregator.build((len(self.supervised_task_indices), None))

        hidden = self._hidden
        hidden.task_losses = [  # a MaskedTaskLoss given is used as is
            losses[t.name] if isinstance(losses[t.name], MaskedTaskLoss)
            else MaskedTaskLoss(t, losses[t.name]) for t in self._task_list]
        hidden.policy = check_policy(on_nonfinite)
        metric_sets = {t.name: make_task_metrics(
            t, (metrics or {}).get(t.name)) for t in self._task_list}
        hidden.logs = StepLogs(names, metric_sets, {
            t.name: weighted_task_metrics(
                t, weighted_metrics[t.name], metric_sets[t.name])
            for t in self._task_list if t.name in (weighted_metrics or {})},
            counts=hidden.policy is not None, without_loss=[
                t.name for t in self._task_list if not t.supervised])
        self._replace_tracked("weighting", weighting)
        self._replace_tracked("aggregator", aggregator)
        if gradient_regularizer is not None:
            gradient_regularizer.bind(self)
        self._replace_tracked("gradient_regularizer", gradient_regularizer)
        hidden.engine = GradientEngine(
            aggregator, aggregation_mode, self._representation_name,
            self.name, rows=self.supervised_task_indices)
        if weighting.requires_shared_gradient_norms:
            self.gradient_norm_variables()  # raises if there are none
        hidden.update_scaler = None if task_learning_rates is None else (
            TaskUpdateScaler(self, task_learning_rates))
        super().compile(
            optimizer=optimizer,
            run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
            auto_scale_loss=auto_scale_loss,
        )
        hidden.compile_args = {
            "optimizer": self.optimizer,
            "loss": loss,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "weighting": weighting,
            "aggregator": aggregator,
            "aggregation_mode": aggregation_mode,
            "run_eagerly": run_eagerly,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
            "auto_scale_loss": auto_scale_loss,
            "task_learning_rates": task_learning_rates,
            "gradient_regularizer": gradient_regularizer,
            "on_nonfinite": on_nonfinite,
        }

    def _replace_tracked(self, attr: str, value: Any) -> None:
        old = self.__dict__.get(attr)
        if old is not None and old is not value:
            keras_compat.untrack(self, old)
        setattr(self, attr, value)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        hidden = self.__dict__.get("_hidden")
        if hidden is None or hidden.logs is None:
            return super().metrics
        found = [keras_compat.loss_tracker(self)] + hidden.logs.metrics
        # Metrics that layers own (e.g. SoftSharing's penalty), as
        # keras.Model.metrics collects them.
        seen = {id(m) for m in found}
        for layer in keras_compat.nested_layers(self):
            for metric in layer.metrics:
                if id(metric) not in seen:
                    seen.add(id(metric))
                    found.append(metric)
        return found

    def get_metrics_result(self) -> dict[str, Any]:
        """The training logs (`keras_mtl.training.logs`): NaN for a task
        without labelled data so far."""
        hidden = self.__dict__.get("_hidden")
        if hidden is None or hidden.logs is None:
            return super().get_metrics_result()
        logs = hidden.logs.result(self.metrics, training=True)
        if not tf.executing_eagerly():
            return logs
        return {k: _python(v) for k, v in logs.items()}

    @property
    def training_only_log_names(self) -> list[str]:
        """Log names of training only (`<task>_weight`, the non-finite
        counts): evaluation and `val_` logs leave them out."""
        logs = self._hidden.logs
        return [] if logs is None else [
            m.name for m in logs.metrics if id(m) in logs.training_only()]

    @property
    def task_loss_functions(self) -> list[MaskedTaskLoss]:
        """The compiled masked loss of each task, in task order."""
        return list(self._hidden.task_losses or [])

    def gradient_norm_variables(self) -> list[keras.Variable]:
        """The trainable variables of the last layer that every task uses
        and that has trainable weights, where GradNorm measures the task
        gradient norms (soft sharing has no layer every task uses: its
        last shared layer stands in)."""
        for names in (self._common_layer_names, self._shared_layer_names):
            for name in reversed(names):
                variables = self.get_layer(name).trainable_variables
                if variables:
                    return list(variables)
        raise ValueError(
            f"{type(self.weighting).__name__} measures task gradient norms "
            f"at the last shared layer with trainable weights, but model "
            f"{self.name!r} has none (sharing_depth=0, or every shared "
            "layer frozen). Use a model with a trainable shared trunk, or "
            "another weighting."
        )

    def get_compile_config(self) -> dict[str, Any]:
        args = self._hidden.compile_args
        if args is None:
            return {}
        return keras.saving.serialize_keras_object(args)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------
    # Training and evaluation steps (keras_mtl.training.step).

    # AutoGraph is off for the steps (and so for all they call): their
    # Python control flow is over static values only and tensor branches
    # are explicit `tf.cond`s (`run_if`, `cond_gradients`), so converting
    # them changed no op, yet transpiling the ~55 functions of the training
    # step took ~85% of its trace (28 of 32 s at T=5 on the LeNet
    # workload). A tensor used as a Python bool now raises at trace time.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data: Any) -> dict[str, Any]:
        return step_logs(training_step.train_step(self, data))

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data: Any) -> dict[str, Any]:
        return step_logs(training_step.test_step(self, data))

    def _standardize_targets(
        self, y: Any, sample_weight: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return standardize_targets(self._task_list, y, sample_weight)

    def _task_losses(
        self, y: Mapping[str, Any], outputs: Mapping[str, Tensor],
        sample_weight: Mapping[str, Any],
    ) -> tuple[Tensor, Tensor, Tensor, list]:
        """`(partial_losses [T], global_losses [T], counts [T],
        prepared)` of a batch (`keras_mtl.training.task_losses`)."""
        task = compute_task_losses(
            self._hidden.task_losses, y, outputs, sample_weight)
        return (tf.stack(task.partial), task.losses, task.counts,
                task.prepared)

    # ------------------------------------------------------------------
    # Keras entry points with multi-task defaults.

    def fit(self, *args: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        """`keras.Model.fit`, plus the strategies' epoch-level updates."""
        args, kwargs = check_fit_arguments(
            self._task_list, args, kwargs, warn_missing=True)
        callbacks = list(callbacks or [])
        if not any(isinstance(c, _EpochHooks) for c in callbacks):
            callbacks = [_EpochHooks()] + callbacks
        for callback in callbacks:  # e.g. TaskWeightLogger finds TensorBoard
            if hasattr(callback, "set_sibling_callbacks"):
                callback.set_sibling_callbacks(callbacks)
        self._build_optimizer_before_tracing()
        with readable_errors(self.name):  # on_nonfinite="raise"
            return super().fit(*args, callbacks=callbacks, **kwargs)

    def _build_optimizer_before_tracing(self) -> None:
        """Creates the optimizer's slots eagerly. Created inside the first
        trace of the step (Keras's default), they make `tf.function` trace
        the whole step a second time, which doubles the start-up of a
        many-task model (about 20 s of a 14-task step's 40 s)."""
        optimizer = getattr(self, "optimizer", None)
        if self.built and optimizer is not None and not optimizer.built:
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def symbolic_build_batch(self, epoch_iterator: Any) -> Any:
        # Keras reduces the first batch as a whole, which fails under
        # MultiWorkerMirroredStrategy (keras_mtl.multi_worker).
        return first_batch_for_build(self.distribute_strategy, epoch_iterator)

    def evaluate(self, *args: Any, return_dict: bool = True,
                 **kwargs: Any) -> Any:
        """`keras.Model.evaluate`, returning a dict by default."""
        args, kwargs = check_fit_arguments(self._task_list, args, kwargs)
        with readable_errors(self.name):  # negative sample weights
            return super().evaluate(*args, return_dict=return_dict,
                                    **kwargs)

    # ------------------------------------------------------------------
    # Serialization.

    def save_own_variables(self, store: Any) -> None:
        # Keras leaves seed generators (dropout masks) out of checkpoints;
        # an exact resume needs them (keras_mtl.resume).
        super().save_own_variables(store)
        save_seed_states(self, store)

    def load_own_variables(self, store: Any) -> None:
        super().load_own_variables(load_seed_states(self, store))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["tasks"] = [
            keras.saving.serialize_keras_object(t) for t in self._task_list]
        config["shared_layers"] = list(self._forced_shared)
        config["representation"] = self._representation_name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any],
                    custom_objects: Any = None) -> "MultiTaskModel":
        config = dict(config)
        tasks = [keras.saving.deserialize_keras_object(t)
                 for t in config.pop("tasks")]
        shared_layers = config.pop("shared_layers", ())
        representation = config.pop("representation", None)
        name = config.get("name")  # Model.from_config pops it from config.
        graph = keras.Model.from_config(config, custom_objects=custom_objects)
        return cls(
            inputs=graph.input,
            outputs=graph.output,
            tasks=tasks,
            shared_layers=shared_layers,
            representation=representation,
            name=name,
        )


def _python(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
