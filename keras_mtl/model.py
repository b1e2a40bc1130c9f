"""`MultiTaskModel`: a Functional Keras model that trains many tasks at once.

The model is an ordinary Functional model (dict outputs keyed by task name)
with a training step that:

1. computes each task's loss as the mean over the samples that carry its
   label (`keras_mtl.losses`), exact under `tf.distribute`;
2. weights the task losses (`compile(weighting=...)`);
3. turns them into gradients, either one gradient of the weighted sum (the
   fast path) or per-task gradients of the shared variables combined by a
   gradient aggregator (`compile(aggregator=...)`, `keras_mtl.gradients`);
4. applies them and updates `<task>_loss`, `<task>_weight` and per-task
   metrics.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl import aggregators as aggregators_module
from keras_mtl import weightings as weightings_module
from keras_mtl._backend import require_tensorflow_backend
from keras_mtl.data_checks import check_fit_arguments
from keras_mtl.gradients import GradientEngine
from keras_mtl.head_checks import check_output_heads
from keras_mtl.losses import MaskedTaskLoss
from keras_mtl.multi_worker import first_batch_for_build
from keras_mtl.multi_worker import step_logs
from keras_mtl.nonfinite import NonFiniteGuard
from keras_mtl.nonfinite import readable_errors
from keras_mtl.ownership import layer_owners
from keras_mtl.ownership import layers_common_to_all
from keras_mtl.ownership import loss_reach
from keras_mtl.registry import register
from keras_mtl.resume import load_seed_states
from keras_mtl.resume import save_seed_states
from keras_mtl.task_learning_rates import TaskUpdateScaler
from keras_mtl.task_metric_objects import make_task_metrics
from keras_mtl.task_metric_objects import weighted_task_metrics
from keras_mtl.task_graph import check_task_graph
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks as _validate_tasks
from keras_mtl.types import Tensor


def _check_task_keys(what: str, keys: Any, known: Sequence[str]) -> None:
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise ValueError(
            f"{what} names unknown task(s) {unknown}. The model's tasks are "
            f"{list(known)}. Fix the keys to use these task names."
        )


class _Hidden:
    """Holds helpers that Keras must neither track nor save."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _EpochHooks(keras.callbacks.Callback):
    """Calls the weighting's and aggregator's epoch-level updates
    (`on_epoch_begin`, `on_epoch_end`)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        for part in (model.weighting, model.aggregator):
            if part is not None and hasattr(part, "on_epoch_begin"):
                part.on_epoch_begin(epoch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        model = self.model
        for part in (model.weighting, model.aggregator):
            if part is not None and hasattr(part, "on_epoch_end"):
                part.on_epoch_end(epoch, logs or {})


@register
class MultiTaskModel(keras.Model):
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
                               task_losses=None, metric_sets=None,
                               weighted_metric_sets={},
                               compile_args=None, task_mask=None)

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
        return _unique_variables(
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
            task: [v for v in _unique_variables(
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
                self._inputs_struct,
                {"outputs": self._outputs_struct,
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
            gradient_regularizer: Optional training option that adds
                terms to the step's gradients from the model and batch,
                e.g. `keras_mtl.GREAT` (gradient adversarial training). It
                has `bind(model)` and `add_to_gradients(model, gradients,
                x, y, sample_weight)`.
            on_nonfinite: What a step does when a task's outputs, loss or
                gradients hold NaN or Inf (see `keras_mtl.nonfinite`):
                `"drop_task"` (default: train the other tasks),
                `"skip_step"` or `"raise"` (a `NonFiniteError` naming the
                task). No policy writes a non-finite value into a weight;
                the logs count `nonfinite_steps` and `<task>_nonfinite`.
        """
        require_tensorflow_backend("MultiTaskModel.compile")
        names = self.task_names
        if isinstance(loss, (list, tuple)):
            raise TypeError(
                f"`loss` is a {type(loss).__name__} of {len(loss)}, but a "
                "multi-task model takes one loss for every task or a dict "
                f"{{task_name: loss}} (tasks: {list(names)}): a list cannot "
                "say which loss belongs to which task. Pass e.g. loss="
                + "{" + ", ".join(f"{n!r}: ..." for n in names[:2])
                + "}, or set each Task's `loss`.")
        if isinstance(loss, Mapping):
            _check_task_keys("`loss`", loss, names)
            losses = {n: loss.get(n) for n in names}
        else:
            losses = {n: loss for n in names}
        for arg, value in (("metrics", metrics),
                           ("weighted_metrics", weighted_metrics)):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise TypeError(
                    f"`{arg}` must be a dict {{task_name: [metrics]}}. "
                    f"Received: {type(value).__name__}. Per-task metrics "
                    "default to each Task's `metrics`."
                )
            _check_task_keys(f"`{arg}`", value, names)
        if loss_weights is not None:
            if weighting is not None:
                raise ValueError(
                    "Pass either `loss_weights` or `weighting`, not both. "
                    "Use weighting=StaticWeighting(loss_weights) for fixed "
                    "weights."
                )
            if not isinstance(loss_weights, Mapping):
                raise TypeError(
                    "`loss_weights` must be a dict {task_name: float}. "
                    f"Received: {loss_weights!r}."
                )
            _check_task_keys("`loss_weights`", loss_weights, names)
            weighting = weightings_module.StaticWeighting(dict(loss_weights))
        weighting = _weighting_without_loss_free_tasks(
            self._task_list, weightings_module.get(weighting))
        aggregator = aggregators_module.get(aggregator)
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
        hidden.metric_sets = {
            t.name: make_task_metrics(t, (metrics or {}).get(t.name))
            for t in self._task_list}
        hidden.weighted_metric_sets = {
            t.name: weighted_task_metrics(
                t, weighted_metrics[t.name], hidden.metric_sets[t.name])
            for t in self._task_list if t.name in (weighted_metrics or {})}
        hidden.loss_metrics = [
            keras.metrics.Mean(name=f"{n}_loss") for n in names]
        hidden.weight_metrics = [
            keras.metrics.Mean(name=f"{n}_weight") for n in names]
        self._replace_tracked("weighting", weighting)
        self._replace_tracked("aggregator", aggregator)
        if gradient_regularizer is not None:
            gradient_regularizer.bind(self)
        self._replace_tracked("gradient_regularizer", gradient_regularizer)
        hidden.engine = GradientEngine(self, aggregator, aggregation_mode)
        hidden.nonfinite = NonFiniteGuard(self, on_nonfinite)
        hidden.engine.row_filter = hidden.nonfinite.filter_rows
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
            self._tracker.untrack(old)
        setattr(self, attr, value)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        hidden = self.__dict__.get("_hidden")
        if hidden is None or hidden.metric_sets is None:
            return super().metrics
        found = [self._loss_tracker]
        found += hidden.loss_metrics + hidden.weight_metrics
        found += hidden.nonfinite.metrics
        for metric_list in hidden.metric_sets.values():
            found += metric_list
        for metric_list in hidden.weighted_metric_sets.values():
            found += metric_list
        # Metrics that layers own (e.g. SoftSharing's penalty), as
        # keras.Model.metrics collects them.
        seen = {id(m) for m in found}
        for layer in self._flatten_layers(include_self=False):
            for metric in layer.metrics:
                if id(metric) not in seen:
                    seen.add(id(metric))
                    found.append(metric)
        return found

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
    # Training and evaluation steps.

    def _standardize_targets(
        self, y: Any, sample_weight: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        names = self.task_names
        if y is None:
            raise ValueError(
                "No labels were given. A multi-task model trains on "
                "(x, {task: labels}); the model's tasks are "
                f"{list(names)}."
            )
        if not isinstance(y, Mapping):
            if len(names) == 1:
                y = {names[0]: y}
            else:
                raise ValueError(
                    "Labels must be a dict {task_name: labels} for a model "
                    f"with tasks {list(names)}. Received: "
                    f"{type(y).__name__}. Mark missing labels with the "
                    "task's sentinel (-1 or NaN) rather than leaving a task "
                    "out."
                )
        _check_task_keys("The labels `y`", y, names)
        # A task without a loss may go without labels (they would only
        # feed its metrics).
        y = {**{t.name: None for t in self._task_list
                if not t.supervised}, **y}
        absent = [n for n in names if n not in y]
        if absent:
            raise ValueError(
                f"The labels have no entry for task(s) {absent} (model "
                f"tasks: {list(names)}). Give every task a label array; "
                "mark samples without a label with the task's missing "
                "sentinel (-1 for class labels, NaN for regression)."
            )
        if sample_weight is None or not isinstance(sample_weight, Mapping):
            sample_weight = {n: sample_weight for n in names}
        else:
            _check_task_keys("`sample_weight`", sample_weight, names)
            sample_weight = {n: sample_weight.get(n) for n in names}
        return y, sample_weight

    def _task_losses(
        self, y: Mapping[str, Any], outputs: Mapping[str, Tensor],
        sample_weight: Mapping[str, Any],
    ) -> tuple[Tensor, Tensor, Tensor, list]:
        """Returns `(partial_losses, global_losses, counts, prepared)`.

        Summed over replicas, `partial_losses` equal the global-batch task
        losses (`global_losses`), so gradients summed by the optimizer are
        those of the global batch.
        """
        totals, counts, prepared = [], [], []
        for task_loss in self._hidden.task_losses:
            name = task_loss.task.name
            total, count, y_safe, weights = task_loss(
                y[name], outputs[name], sample_weight[name])
            totals.append(total)
            counts.append(count)
            prepared.append((y_safe, weights))
        totals = tf.stack(totals)
        counts = tf.stack(counts)
        replica = tf.distribute.get_replica_context()
        distributed = (
            tf.distribute.has_strategy() and replica is not None
            and replica.num_replicas_in_sync > 1)
        if distributed:
            counts = replica.all_reduce(tf.distribute.ReduceOp.SUM, counts)
        partial = tf.math.divide_no_nan(totals, counts)
        if distributed:
            global_losses = replica.all_reduce(
                tf.distribute.ReduceOp.SUM, partial)
        else:
            global_losses = partial
        return partial, global_losses, counts, prepared

    def _last_shared_gradient_norms(
        self, tape: tf.GradientTape, weighted: Tensor
    ) -> Tensor:
        """`[T]` norms of each weighted task loss's gradient with respect
        to the weights of the last layer that every task uses (GradNorm's
        `G_W^(i)`), over the global batch."""
        # Prefer a layer every task feeds through; soft sharing has none,
        # so its last (penalty-tied) shared layer stands in.
        names = self._common_layer_names or self._shared_layer_names
        if not names:
            raise ValueError(
                f"{type(self.weighting).__name__} needs a shared layer "
                f"(GradNorm measures gradient norms there), but model "
                f"{self.name!r} shares none (sharing_depth=0?). Use a model "
                "with a shared trunk."
            )
        last = self.get_layer(names[-1]).trainable_variables
        replica = tf.distribute.get_replica_context()
        norms = []
        num_tasks = len(self._task_list)
        for t in range(num_tasks):
            # Select task t with `output_gradients`: slicing `weighted`
            # here, outside the tape, would not be recorded (None grads).
            selector = tf.one_hot(t, num_tasks, dtype=weighted.dtype)
            grads = tape.gradient(weighted, last, output_gradients=selector)
            grads = [tf.zeros_like(v) if g is None else g
                     for g, v in zip(grads, last)]
            if tf.distribute.has_strategy() and replica is not None:
                grads = replica.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            norms.append(tf.linalg.global_norm(grads))
        return tf.stack(norms)

    def _replica_scale(self) -> float:
        replica = tf.distribute.get_replica_context()
        if tf.distribute.has_strategy() and replica is not None:
            return 1.0 / replica.num_replicas_in_sync
        return 1.0

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y, sample_weight = self._standardize_targets(y, sample_weight)
        engine: GradientEngine = self._hidden.engine
        guard: NonFiniteGuard = self._hidden.nonfinite
        wants_norms = self.weighting.requires_shared_gradient_norms
        with tf.GradientTape(persistent=engine.persistent or wants_norms
                             or guard.recomputes) as tape:
            if engine.needs_representation:
                outputs, representation = self.call_with_representation(
                    x, training=True)
            else:
                outputs, representation = self(x, training=True), None
            # NaN/Inf tasks leave the step (compile(on_nonfinite=...)).
            outputs, sample_weight = guard.screen(y, outputs, sample_weight)
            partial, losses, counts, prepared = self._task_losses(
                y, outputs, sample_weight)
            partial, losses, counts = guard.screen_losses(
                partial, losses, counts)
            weights = self.weighting(losses, training=True)
            if self._hidden.task_mask is not None:  # per-step schedule
                weights = weights * self._hidden.task_mask
            # Terms that are not task losses, split across replicas so that
            # their sum over replicas counts them once.
            extra = self._replica_scale() * (
                self.weighting.regularization(losses)
                + tf.add_n([tf.zeros(())] + [
                    tf.cast(v, tf.float32) for v in self.losses]))
            weighted = weights * partial
            objective = tf.reduce_sum(weighted) + extra
            scaled_weighted = self.optimizer.scale_loss(weighted)
            scaled_extra = self.optimizer.scale_loss(extra)
            scaled_objective = self.optimizer.scale_loss(objective)
        gradients = engine.gradients(
            tape, scaled_objective, scaled_weighted, scaled_extra,
            representation)
        gradients = guard.repair(  # without NaN/Inf tasks, if any
            tape, gradients, weights, counts, objective, extra)
        if wants_norms:
            self.weighting.update_from_gradients(losses, guard.finite(
                self._last_shared_gradient_norms(tape, weighted)))
        del tape
        if self.gradient_regularizer is not None:  # e.g. GREAT
            gradients = self.gradient_regularizer.add_to_gradients(
                self, gradients, x, y, sample_weight)

        def apply(gradients: list) -> None:
            scaler = self._hidden.update_scaler  # per-task learning rates
            before = scaler.snapshot() if scaler is not None else None
            self.optimizer.apply_gradients(
                zip(gradients, self.trainable_variables))
            if scaler is not None:
                scaler.rescale(before)

        guard.apply(gradients, apply)  # unless the policy skips the step
        if self.weighting.requires_post_step_losses:
            after = self(x, training=False)
            _, losses_after, _, _ = self._task_losses(
                y, after, sample_weight)
            self.weighting.after_step(
                losses, guard.screen_after(losses, losses_after))
        global_objective = tf.reduce_sum(weights * losses) + (
            extra / self._replica_scale())
        return self._update_metrics(
            global_objective, losses, weights, counts, outputs, prepared)

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y, sample_weight = self._standardize_targets(y, sample_weight)
        outputs = self(x, training=False)
        _, losses, counts, prepared = self._task_losses(
            y, outputs, sample_weight)
        self._hidden.nonfinite.count_evaluation(losses)
        weights = self.weighting(losses, training=False)
        objective = tf.reduce_sum(weights * losses) + tf.add_n(
            [tf.zeros(())] + [tf.cast(v, tf.float32) for v in self.losses])
        return self._update_metrics(
            objective, losses, weights, counts, outputs, prepared)

    def _update_metrics(
        self, objective: Tensor, losses: Tensor, weights: Tensor,
        counts: Tensor, outputs: Mapping[str, Tensor], prepared: list,
    ) -> dict[str, Any]:
        hidden = self._hidden
        self._loss_tracker.update_state(objective)
        for i, task in enumerate(self._task_list):
            hidden.loss_metrics[i].update_state(
                losses[i], sample_weight=counts[i])
            hidden.weight_metrics[i].update_state(weights[i])
            y_safe, entry_weights = prepared[i]
            y_pred = outputs[task.name]
            per_entry = entry_weights.shape.rank > 1
            # `metrics` count each labelled entry once; `weighted_metrics`
            # weigh it by its sample weight (Keras's rule).
            labelled = tf.cast(entry_weights > 0, entry_weights.dtype)
            for metric, weight in [
                (m, labelled) for m in hidden.metric_sets[task.name]
            ] + [(m, entry_weights) for m in
                 hidden.weighted_metric_sets.get(task.name, ())]:
                if per_entry and isinstance(
                        metric, keras.metrics.MeanMetricWrapper):
                    # These average over the last axis: give each label
                    # entry its own axis so that its mask applies.
                    metric.update_state(
                        y_safe[..., None], y_pred[..., None],
                        sample_weight=weight)
                else:
                    metric.update_state(
                        y_safe, y_pred, sample_weight=weight)
        return step_logs(self.get_metrics_result())  # multi-worker shape

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
        with readable_errors(self.name):  # on_nonfinite="raise"
            return super().fit(*args, callbacks=callbacks, **kwargs)

    def _maybe_symbolic_build(self, iterator: Any = None,
                              data_batch: Any = None) -> None:
        # Keras reduces the first batch as a whole, which fails under
        # MultiWorkerMirroredStrategy (keras_mtl.multi_worker).
        if iterator is not None and self._distribute_strategy is not None:
            data_batch = first_batch_for_build(
                self.distribute_strategy, iterator)
            iterator = None
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def evaluate(self, *args: Any, return_dict: bool = True,
                 **kwargs: Any) -> Any:
        """`keras.Model.evaluate`, returning a dict by default."""
        args, kwargs = check_fit_arguments(self._task_list, args, kwargs)
        return super().evaluate(*args, return_dict=return_dict, **kwargs)

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
            inputs=graph._inputs_struct,
            outputs=graph._outputs_struct,
            tasks=tasks,
            shared_layers=shared_layers,
            representation=representation,
            name=name,
        )


def _weighting_without_loss_free_tasks(
    tasks: Sequence[Task], weighting: Any
) -> Any:
    """The weighting, with weight 0 for tasks without a loss.

    Their loss is identically 0; equal and static weights just log 0 for
    them. A strategy that learns from the loss vector (uncertainty, DWA,
    GradNorm, ...) would learn from that constant 0, so it is refused."""
    free = [t.name for t in tasks if not t.supervised]
    if not free:
        return weighting
    if type(weighting) is weightings_module.EqualWeighting:
        return weightings_module.StaticWeighting({n: 0.0 for n in free})
    if type(weighting) is weightings_module.StaticWeighting:
        return weightings_module.StaticWeighting(
            {**weighting.static_weights, **{n: 0.0 for n in free}},
            default=weighting.default)
    raise ValueError(
        f"Weighting {type(weighting).__name__} learns from every task's "
        f"loss, but task(s) {free} have none (supervised=False), so it "
        "would learn from a constant 0. Use equal weights (the default) "
        "or static ones (`loss_weights=`).")


def _unique_variables(variables: Any) -> list[keras.Variable]:
    seen: set[int] = set()
    unique = []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            unique.append(v)
    return unique
