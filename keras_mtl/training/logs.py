"""Stage 7 of the step: what the logs say, and what they mean.

- `loss`: the training objective `sum_t w_t L_t + regularization +
  model.losses`, in training and in evaluation alike (`val_loss` is the
  same quantity on validation data, so Keras's default monitor compares
  like with like);
- `<task>_loss` and the task's metrics: over the samples that carry the
  task's label. A task with no label in the data read so far logs NaN
  (no value), never a perfect-looking 0.0;
- training only: `<task>_weight` (the weighting's output), and under a
  non-finite policy `nonfinite_steps` (steps with any fault) and
  `<task>_nonfinite` (steps on which the task was faulty), summed over the
  epoch. Evaluation logs leave them out (no `val_<task>_weight`).

The counts are stored in variables averaged over replicas: every replica
counts the same all-reduced decision, so per-batch logs (read on one
replica) and epoch logs (read across replicas) both say 1 for one step.
"""

from typing import Any
from typing import Mapping
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl.types import Tensor


class StepCount(keras.metrics.Metric):
    """Counts steps; equal on every replica, averaged when read across
    them (a `Sum` would read N under N replicas, or 1/N per batch)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype="float32",
            aggregation="mean", name="count")

    def update_state(self, flag: Tensor) -> None:
        add_to(self.count, tf.cast(flag, "float32"))

    def result(self) -> Tensor:
        return tf.convert_to_tensor(self.count)


def add_to(variable: Any, value: Tensor) -> None:
    """`variable += value` as one `AssignAddVariableOp`. (`keras.Variable.
    assign_add` reads, adds and assigns: three ops, and the returned
    value is read again; these run for every task on every step.)"""
    target = variable.value if isinstance(variable, keras.Variable) \
        else variable
    target.assign_add(value, read_value=False)


def accumulate(mean: keras.metrics.Mean, value: Tensor,
               weight: Tensor | None = None) -> None:
    """`mean.update_state(value, sample_weight=weight)` for one scalar:
    the same sums (`total += weight * value`, `count += weight`) in at
    most three ops instead of the dozen of the general, broadcasting
    update, which runs for every task on every step."""
    value = tf.cast(value, mean.total.dtype)
    if weight is None:
        add_to(mean.total, value)
        add_to(mean.count, tf.ones((), mean.count.dtype))
        return
    weight = tf.cast(weight, mean.count.dtype)
    add_to(mean.total, value * weight)
    add_to(mean.count, weight)


class TaskWeightLog(keras.metrics.Mean):
    """`<task>_weight`: the epoch mean of the task's weight. A weight that
    is a constant of the traced step (`EqualWeighting`, or
    `StaticWeighting` without a task schedule) is logged as that constant,
    with no per-step update: the mean of a constant is the constant."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.constant: float | None = None

    def result(self) -> Tensor:
        if self.constant is not None:
            return tf.constant(self.constant, self.dtype)
        return super().result()


class StepLogs:
    """The step's metric objects and their results.

    Args:
        task_names: The model's task names.
        metric_sets: `{task: [keras.metrics.Metric]}` (`compile(metrics=)`:
            each labelled entry counts once, as in Keras).
        weighted_sets: `{task: [keras.metrics.Metric]}`
            (`compile(weighted_metrics=)`: entries weighed by their sample
            weight).
        counts: Whether to keep non-finite counts (a policy is set).
        without_loss: Tasks without a loss (`supervised=False`): their
            label count stays 0, so their metrics are never set to NaN.
    """

    def __init__(self, task_names: Sequence[str],
                 metric_sets: Mapping[str, list],
                 weighted_sets: Mapping[str, list], counts: bool,
                 without_loss: Sequence[str] = ()) -> None:
        self.task_names = tuple(task_names)
        self.without_loss = set(without_loss)
        self.metric_sets = dict(metric_sets)
        self.weighted_sets = dict(weighted_sets)
        self.task_loss = [keras.metrics.Mean(name=f"{n}_loss")
                          for n in self.task_names]
        self.task_weight = [TaskWeightLog(name=f"{n}_weight")
                            for n in self.task_names]
        self.step_faults = [StepCount("nonfinite_steps")] if counts else []
        self.task_faults = [StepCount(f"{n}_nonfinite")
                            for n in self.task_names] if counts else []

    @property
    def metrics(self) -> list:
        found = list(self.task_loss) + list(self.task_weight)
        found += self.step_faults + self.task_faults
        for metric_list in self.metric_sets.values():
            found += metric_list
        for metric_list in self.weighted_sets.values():
            found += metric_list
        return found

    def training_only(self) -> set[int]:
        return {id(m) for m in self.task_weight + self.step_faults
                + self.task_faults}

    def update(
        self, losses: Tensor, counts: Tensor, outputs: Mapping[str, Tensor],
        prepared: Sequence[tuple], weights: Tensor | None = None,
        faulty: Tensor | None = None, clean: Tensor | None = None,
    ) -> None:
        """Updates the task metrics; in training also the weights and,
        with a policy, the counts (`faulty` `[T]`, `clean` scalar)."""
        num_tasks = len(self.task_names)
        losses = tf.unstack(losses, num=num_tasks)
        counts = tf.unstack(counts, num=num_tasks)
        constant = None if weights is None else tf.get_static_value(weights)
        varying = None if weights is None or constant is not None else (
            tf.unstack(weights, num=num_tasks))
        for i, name in enumerate(self.task_names):
            accumulate(self.task_loss[i], losses[i], counts[i])
            if constant is not None:
                self.task_weight[i].constant = float(constant[i])
            elif varying is not None:
                self.task_weight[i].constant = None
                accumulate(self.task_weight[i], varying[i])
            y_safe, entry_weights, flags = prepared[i]
            y_pred = outputs[name]
            per_entry = entry_weights.shape.rank > 1
            # `metrics` count each labelled entry once; `weighted_metrics`
            # weigh it by its sample weight (Keras's rule).
            labelled = entry_weights if flags else tf.cast(
                entry_weights > 0, entry_weights.dtype)
            for metric, weight in [
                (m, labelled) for m in self.metric_sets[name]
            ] + [(m, entry_weights)
                 for m in self.weighted_sets.get(name, ())]:
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
        if clean is not None and self.step_faults:
            # One cast and one unstack for the T + 1 counters.
            flags = tf.unstack(tf.cast(tf.concat([
                tf.logical_not(clean)[None], faulty], 0), tf.float32),
                num=num_tasks + 1)
            for metric, flag in zip(self.step_faults + self.task_faults,
                                    flags):
                add_to(metric.count, flag)

    def result(self, metrics: Sequence[Any], training: bool) -> dict:
        """`{name: value}` of `metrics` (the model's, in order), with NaN
        for a task without labelled data, and without the training-only
        entries unless `training`."""
        skip = set() if training else self.training_only()
        unlabelled = {}
        for i, name in enumerate(self.task_names):
            if name in self.without_loss:
                continue
            seen = tf.convert_to_tensor(self.task_loss[i].count) > 0.0
            for metric in [self.task_loss[i]] + self.metric_sets[name] + \
                    self.weighted_sets.get(name, []):
                unlabelled[id(metric)] = seen
        logs = {}
        for metric in metrics:
            if id(metric) in skip:
                continue
            value = metric.result()
            seen = unlabelled.get(id(metric))
            if seen is not None:
                value = keras.tree.map_structure(
                    lambda v, s=seen: tf.where(
                        s, v, tf.cast(float("nan"), v.dtype)), value)
            if isinstance(value, dict):
                logs.update(value)
            else:
                logs[metric.name] = value
        return logs
