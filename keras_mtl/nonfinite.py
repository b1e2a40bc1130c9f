"""What a training step does when one task produces NaN or Inf.

A multi-task step shares its trunk between tasks: one task's non-finite
output, loss or gradient, left alone, reaches the shared variables and
poisons every task. `compile(on_nonfinite=...)` picks a policy:

- `"drop_task"` (default): a task whose outputs, loss or gradients are not
  finite leaves the step and the other tasks train. Its outputs are
  replaced by zeros and its sample weights by 0 *before* its loss is
  computed, so it is handled like a task with no label in the batch (loss
  0, no gradient): a `tf.where` on the loss alone would not do, as
  back-propagating a zero cotangent through a NaN or Inf activation gives
  `0 * inf = NaN`. With an aggregator, non-finite rows of the per-task
  Jacobian are zeroed before aggregation. On the fast path, a step whose
  gradient is still not finite (a layer with an infinite derivative, an
  overflowing task gradient) is rebuilt from each task's own loss,
  keeping the finite tasks. A variable whose gradient stays non-finite
  gets a zero gradient. Steps without NaN or Inf pay finiteness checks
  only (no conditional optimizer update);
- `"skip_step"`: any non-finite task skips the optimizer update of the
  step (no variable, optimizer slot or iteration counter changes);
- `"raise"`: as `"skip_step"`, then raises `NonFiniteError` naming the
  task(s) (an assertion in the step, turned into this error by `fit`).
  Under XLA (`jit_compile=True`) assertions are dropped: the step is only
  skipped;
- `None`: no checks (plain Keras behaviour: NaN reaches the weights).

The weighting sees a dropped task's loss as 0 (as for an unlabelled
batch), so learned or statistical weighting state stays finite, and the
logs report what happened: `nonfinite_steps` (steps with any non-finite
value) and `<task>_nonfinite` (steps where that task was not finite),
summed over the epoch; `val_...` counts validation batches whose task
loss is not finite.

Decisions are taken on flags all-reduced over replicas, so under
`tf.distribute` every replica drops the same tasks and skips the same
steps. With a `LossScaleOptimizer` (mixed precision) non-finite gradients
are the loss scale's business (the optimizer skips those steps and lowers
its scale), so the policy then screens outputs and losses only.
"""

from typing import Any
from typing import Callable

import keras
import tensorflow as tf

from keras_mtl._nonfinite_gradients import GradientRepair
from keras_mtl._nonfinite_gradients import all_finite
from keras_mtl._nonfinite_gradients import any_replica
from keras_mtl._nonfinite_gradients import loss_scaled
from keras_mtl._nonfinite_gradients import replica_context
from keras_mtl._nonfinite_gradients import zero_unless
from keras_mtl._step_control import NonFiniteError
from keras_mtl._step_control import apply_if
from keras_mtl._step_control import assert_tasks_finite
from keras_mtl._step_control import readable_errors
from keras_mtl.types import Tensor

__all__ = ["POLICIES", "NonFiniteError", "NonFiniteGuard", "check_policy",
           "readable_errors"]

POLICIES = ("drop_task", "skip_step", "raise", None)

def check_policy(policy: Any) -> str | None:
    """Returns `policy` if it is one of `POLICIES`, else raises."""
    if policy not in POLICIES:
        raise ValueError(
            f"Argument `on_nonfinite` must be one of {list(POLICIES)}. "
            f"Received: on_nonfinite={policy!r}. Use 'drop_task' (the "
            "default) to train the other tasks on such steps, 'skip_step' "
            "to skip the update, or 'raise' to stop with the task's name."
        )
    return policy


class NonFiniteGuard(GradientRepair):
    """Applies a `compile(on_nonfinite=...)` policy inside the step.

    The model's step calls, in order: `screen` (after the forward pass,
    inside the tape), `screen_losses` (after the task losses),
    `filter_rows` (from the gradient engine, before aggregation),
    `repair` (on the gradients), `apply` (instead of calling the
    optimizer) and `screen_after` (for post-step weightings). The task
    flags of the step being traced live on the guard between those calls.

    Args:
        model: The `MultiTaskModel`.
        policy: One of `POLICIES`.
    """

    def __init__(self, model: Any, policy: str | None = "drop_task") -> None:
        self.model = model
        self.policy = check_policy(policy)
        self.task_names = tuple(model.task_names)
        self.step_count = keras.metrics.Sum(name="nonfinite_steps")
        self.task_counts = [
            keras.metrics.Sum(name=f"{n}_nonfinite") for n in self.task_names]
        self._ok: Tensor | None = None
        self._bad: Tensor | None = None
        self._totals: list = []

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.step_count] + self.task_counts if self.active else []

    # ------------------------------------------------------------------
    # Inside the tape.

    def screen(
        self, y: dict[str, Any], outputs: dict[str, Tensor],
        sample_weight: dict[str, Any],
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Takes tasks with non-finite outputs or loss out of the step.

        Such a task (on any replica) gets zeros as outputs (the `tf.where`
        passes no gradient to the real ones) and sample weight 0, so the
        step computes the loss of an unlabelled batch for it: 0, without a
        gradient path through the faulty values. Each task's loss is
        evaluated once more for this check (elementwise work, small next
        to the forward pass); that task-local value also serves `repair`.
        """
        if not self.active:
            return outputs, sample_weight
        flags, self._totals = [], []
        for task_loss in self.model._hidden.task_losses:
            name = task_loss.task.name
            total = task_loss(y[name], outputs[name], sample_weight[name])[0]
            self._totals.append(total)
            flags.append(tf.logical_and(
                tf.reduce_all(tf.math.is_finite(outputs[name])),
                tf.math.is_finite(total)))
        ok = tf.logical_not(any_replica(tf.logical_not(tf.stack(flags))))
        self._ok = ok = tf.stop_gradient(ok)
        screened, weights = {}, {}
        for t, name in enumerate(self.task_names):
            output = outputs[name]
            screened[name] = zero_unless(ok[t], output)
            keep = tf.cast(ok[t], tf.float32)
            weight = sample_weight.get(name)
            if weight is None:
                weights[name] = tf.fill(tf.shape(output)[:1], keep)
            else:
                weight = tf.convert_to_tensor(weight)
                weights[name] = weight * tf.cast(keep, weight.dtype)
        return screened, weights

    def screen_losses(
        self, partial: Tensor, losses: Tensor, counts: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Zeroes the losses (and label counts) of non-finite tasks; the
        global `losses` are equal on every replica."""
        if not self.active:
            return partial, losses, counts
        self._ok = ok = tf.logical_and(self._ok, tf.math.is_finite(losses))
        return (zero_unless(ok, partial), zero_unless(ok, losses),
                zero_unless(ok, counts))

    def apply(
        self, gradients: list, apply_fn: Callable[[list], None]
    ) -> None:
        """Runs `apply_fn(gradients)` as the policy says and counts."""
        if not self.active:
            apply_fn(gradients)
            return
        model = self.model
        num_tasks = len(self.task_names)
        if self.policy == "drop_task":
            ok = tf.logical_not(any_replica(tf.logical_not(self._ok)))
            bad = self._bad if self._bad is not None else tf.constant(False)
            self._count(ok, tf.logical_and(
                tf.reduce_all(ok), tf.logical_not(bad)))
            if getattr(model, "gradient_regularizer", None) is not None:
                # Its terms were added after `repair`: zero what is not
                # finite on any replica.
                finite = any_replica(tf.stack([tf.logical_not(all_finite(
                    [g])) for g in gradients if g is not None]))
                finite = iter(tf.unstack(tf.logical_not(finite)))
                gradients = [None if g is None else zero_unless(
                    next(finite), tf.convert_to_tensor(g))
                    for g in gradients]
            apply_fn(gradients)
            self._ok = self._bad = None
            return
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}
        owned = [[index[id(v)] for v in model.task_variables[n]
                  if id(v) in index] for n in self.task_names]
        own_bad = tf.zeros([num_tasks], tf.bool)
        other_bad = tf.constant(False)
        if not loss_scaled(model):  # else the optimizer handles overflow
            own_bad = tf.stack([
                tf.logical_not(all_finite([gradients[i] for i in own]))
                for own in owned])
            mine = {i for own in owned for i in own}
            other_bad = tf.logical_not(all_finite(
                [g for i, g in enumerate(gradients) if i not in mine]))
        # One all-reduce makes the decision equal on all replicas.
        flags = any_replica(tf.concat(
            [tf.logical_not(self._ok), own_bad, [other_bad]], axis=0))
        ok = tf.logical_not(tf.logical_or(
            flags[:num_tasks], flags[num_tasks:2 * num_tasks]))
        other_bad = flags[-1]
        all_ok = tf.logical_and(tf.reduce_all(ok), tf.logical_not(other_bad))
        self._count(ok, all_ok)
        if self.policy == "raise":
            assert_tasks_finite(self.task_names, ok, other_bad,
                                model.optimizer.iterations)
        apply_if(all_ok, gradients, apply_fn)
        self._ok = None

    # ------------------------------------------------------------------
    # Weighting inputs and counts.

    def screen_after(self, losses: Tensor, losses_after: Tensor) -> Tensor:
        """Post-step losses for `Weighting.after_step`: a non-finite task
        reports no change."""
        if not self.active:
            return losses_after
        return tf.where(tf.math.is_finite(losses_after), losses_after,
                        losses)

    def finite(self, values: Tensor) -> Tensor:
        """`values` with non-finite entries replaced by 0."""
        if not self.active:
            return values
        return zero_unless(tf.math.is_finite(values), values)

    def count_evaluation(self, losses: Tensor) -> None:
        """Counts validation batches whose task losses are not finite."""
        if self.active:
            finite = tf.math.is_finite(losses)
            self._count(finite, tf.reduce_all(finite))

    def _count(self, ok: Tensor, all_ok: Tensor) -> None:
        # Metric variables sum over replicas when read: count 1/N each.
        replica = replica_context()
        share = 1.0 / replica.num_replicas_in_sync if replica else 1.0
        self.step_count.update_state(
            share * tf.cast(tf.logical_not(all_ok), tf.float32))
        for t, metric in enumerate(self.task_counts):
            metric.update_state(
                share * tf.cast(tf.logical_not(ok[t]), tf.float32))
