"""What a training step does when one task produces NaN or Inf.

A multi-task step shares its trunk between tasks: one task's non-finite
output, loss or gradient, left alone, reaches the shared variables and
poisons every task. `compile(on_nonfinite=...)` picks a policy:

- `"drop_task"` (default): a task whose outputs, loss, Jacobian row or own
  variables' gradients are not finite leaves the step. Its outputs are
  replaced by zeros and its sample weights by 0 *before* its loss is
  computed, so that it is handled like a task with no label in the batch
  (loss 0, no gradient): a `tf.where` on the loss alone would not do, as
  back-propagating a zero cotangent through a NaN or Inf activation gives
  `0 * inf = NaN`. With an aggregator, non-finite rows of the per-task
  Jacobian are zeroed before aggregation. Its own variables keep their
  values, and the other tasks train. A non-finite gradient that no single
  task explains (a NaN in the shared trunk, an operation with an infinite
  derivative on the fast path) skips the whole step;
- `"skip_step"`: any non-finite task skips the optimizer update of the
  step (no variable, optimizer slot or iteration counter changes);
- `"raise"`: as `"skip_step"`, then raises `NonFiniteError` naming the
  task(s) (in graph mode an assertion in the step; `fit` turns it into
  this error). Under XLA (`jit_compile=True`) assertions are dropped, so
  the step is only skipped.

Under every policy the weighting sees a dropped task's loss as 0 (as for an
unlabelled batch), so learned or statistical weighting state stays finite,
and the logs report what happened: `nonfinite_steps` (steps with any
non-finite value) and `<task>_nonfinite` (steps where that task was
non-finite), summed over the epoch; `val_...` counts the validation
batches whose task loss is not finite.

Every decision is taken on values all-reduced over replicas, so under
`tf.distribute` every replica drops the same tasks and skips the same
steps. With a `LossScaleOptimizer` (mixed precision), non-finite gradients
are the loss-scale's business: the optimizer skips those steps and lowers
its scale, so the policy screens only outputs and losses.
"""

import contextlib
import re
from typing import Any
from typing import Callable
from typing import Iterator
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl.types import Tensor

POLICIES = ("drop_task", "skip_step", "raise")

# Marks the step's assertion so that `fit` can tell it from other errors.
_MARKER = "keras_mtl.on_nonfinite"
_SHARED = "<shared variables>"


class NonFiniteError(FloatingPointError):
    """A task produced a non-finite value under `on_nonfinite="raise"`."""


def check_policy(policy: Any) -> str:
    """Returns `policy` if it is one of `POLICIES`, else raises."""
    if policy not in POLICIES:
        raise ValueError(
            f"Argument `on_nonfinite` must be one of {list(POLICIES)}. "
            f"Received: on_nonfinite={policy!r}. Use 'drop_task' (the "
            "default) to train the other tasks on such steps, 'skip_step' "
            "to skip the update, or 'raise' to stop with the task's name."
        )
    return policy


def _replica() -> Any:
    """The replica context when running in sync on 2+ replicas, else None."""
    replica = tf.distribute.get_replica_context()
    if (tf.distribute.has_strategy() and replica is not None
            and replica.num_replicas_in_sync > 1):
        return replica
    return None


def _any_replica(flags: Tensor) -> Tensor:
    """`flags` (bool) OR-ed over replicas, identical on every replica."""
    replica = _replica()
    if replica is None:
        return flags
    counts = replica.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(flags, tf.float32))
    return counts > 0.0


def _loss_scaled(model: Any) -> bool:
    return isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def _dense(gradient: Any, like: Any) -> Tensor:
    if gradient is None:
        return tf.zeros_like(like)
    return tf.convert_to_tensor(gradient)


def _all_finite(values: Sequence[Any]) -> Tensor:
    checks = [tf.reduce_all(tf.math.is_finite(v)) for v in values
              if v is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


class NonFiniteGuard:
    """Applies a `compile(on_nonfinite=...)` policy inside the step.

    The model's step calls, in order: `screen` (after the forward
    pass, inside the tape), `screen_losses` (after the task losses),
    `filter_rows` (from the gradient engine, on the stacked per-task
    gradients before aggregation), `apply` (instead of calling the
    optimizer directly) and `screen_after` (for post-step weightings). The
    task flags of the step being traced live on the guard between those
    calls.

    Args:
        model: The `MultiTaskModel`.
        policy: One of `POLICIES`.
    """

    def __init__(self, model: Any, policy: str = "drop_task") -> None:
        self.model = model
        self.policy = check_policy(policy)
        self.task_names = tuple(model.task_names)
        self.step_count = keras.metrics.Sum(name="nonfinite_steps")
        self.task_counts = [
            keras.metrics.Sum(name=f"{n}_nonfinite") for n in self.task_names]
        self._ok: Tensor | None = None
        self._totals: list = []

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.step_count] + self.task_counts

    # ------------------------------------------------------------------
    # Inside the tape.

    def screen(
        self, y: dict[str, Any], outputs: dict[str, Tensor],
        sample_weight: dict[str, Any],
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Takes non-finite tasks out of the step before their loss.

        A task whose outputs, or whose loss on this replica's batch, hold a
        NaN or Inf on any replica gets zeros as outputs (the `tf.where`
        passes no gradient to the real ones) and sample weight 0, so that
        the step computes the loss of an unlabelled batch for it: finite,
        0, and without a gradient path through the faulty values. The
        loss is evaluated once more for this check (elementwise work,
        small next to the forward pass).
        """
        flags, self._totals = [], []
        for task_loss in self.model._hidden.task_losses:
            name = task_loss.task.name
            total = task_loss(y[name], outputs[name], sample_weight[name])[0]
            self._totals.append(total)  # task-local, for `recompute`
            flags.append(tf.logical_and(
                tf.reduce_all(tf.math.is_finite(outputs[name])),
                tf.math.is_finite(total)))
        ok = tf.logical_not(_any_replica(tf.logical_not(tf.stack(flags))))
        ok = tf.stop_gradient(ok)
        self._ok = ok
        screened, weights = {}, {}
        for t, name in enumerate(self.task_names):
            output = outputs[name]
            screened[name] = tf.where(ok[t], output, tf.zeros_like(output))
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
        """Zeroes the losses (and label counts) of non-finite tasks.

        `losses` are the global task losses (equal on every replica), so
        the flags need no all-reduce.
        """
        ok = tf.logical_and(self._ok, tf.math.is_finite(losses))
        self._ok = ok
        zeros = tf.zeros_like(losses)
        return (tf.where(ok, partial, zeros), tf.where(ok, losses, zeros),
                tf.where(ok, counts, tf.zeros_like(counts)))

    # ------------------------------------------------------------------
    # Gradients.

    def filter_rows(self, stacks: list) -> list:
        """Zeroes the rows of non-finite tasks in `[T, n]` gradient stacks.

        Called by the gradient engine before aggregation, so that a task
        whose gradient overflowed does not turn the aggregated direction
        into NaN. Under a `LossScaleOptimizer` the rows pass unchanged:
        an overflow must reach the optimizer, which lowers its scale.
        """
        if _loss_scaled(self.model):
            return stacks
        finite = tf.reduce_all(tf.stack([
            tf.reduce_all(tf.math.is_finite(s), axis=1) for s in stacks]),
            axis=0)
        ok = tf.logical_not(_any_replica(tf.logical_not(finite)))
        if self._ok is not None:
            ok = tf.logical_and(self._ok, ok)
        self._ok = ok
        return [tf.where(ok[:, None], s, tf.zeros_like(s)) for s in stacks]

    @property
    def recomputes(self) -> bool:
        """Whether `recompute` may take a second gradient from the tape
        (which must then be persistent)."""
        return (self.policy == "drop_task"
                and self.model._hidden.engine.aggregator is None)

    def recompute(
        self, tape: tf.GradientTape, gradients: list, weights: Tensor,
        counts: Tensor, objective: Tensor, extra: Tensor,
    ) -> list:
        """Fast path: the gradient without the non-finite tasks.

        One backward pass of the weighted sum still visits a dropped
        task's layers with a zero cotangent, and `0 * inf = NaN` where a
        layer's derivative is infinite (an Inf activation) reaches the
        shared trunk. On such steps only, the gradient is rebuilt from
        each task's own loss (`T` backward passes that each visit one
        task's layers), keeping the tasks whose outputs, loss and gradient
        are finite, with the task weights taken as constants. Other steps
        cost one finiteness check.
        """
        if not self.recomputes or _loss_scaled(self.model):
            return gradients
        model = self.model
        variables = model.trainable_variables
        present = [i for i, g in enumerate(gradients) if g is not None]
        bad = _any_replica(tf.logical_not(
            _all_finite([gradients[i] for i in present])))
        owned = {id(v) for v in model.shared_variables}
        for own in model.task_variables.values():
            owned.update(id(v) for v in own)
        ok = self._ok

        def without_bad_tasks() -> tuple[list, Tensor]:
            mine = [v for v in variables if id(v) in owned]
            rest = [v for v in variables if id(v) not in owned]
            total = [_dense(g, v) for g, v in zip(
                tape.gradient(extra, mine), mine)]
            kept = []
            for t, task_total in enumerate(self._totals):
                scale = tf.math.divide_no_nan(weights[t], counts[t])
                grads = [None if g is None else scale * tf.convert_to_tensor(
                    g) for g in tape.gradient(task_total, mine)]
                keep = tf.logical_and(ok[t], counts[t] > 0)
                keep = tf.logical_and(keep, _all_finite(grads))
                kept.append(tf.logical_or(keep, counts[t] <= 0))
                for i, g in enumerate(grads):
                    if g is not None:
                        total[i] += tf.where(keep, g, tf.zeros_like(g))
            by_id = {id(v): g for v, g in zip(mine, total)}
            if rest:  # learned weighting parameters
                by_id.update((id(v), _dense(g, v)) for v, g in zip(
                    rest, tape.gradient(objective, rest)))
            return [by_id[id(variables[i])] for i in present], tf.stack(kept)

        recomputed, kept = tf.cond(bad, without_bad_tasks, lambda: (
            [gradients[i] for i in present], tf.ones_like(ok)))
        self._ok = tf.logical_and(ok, kept)  # made global in `apply`
        gradients = list(gradients)
        for i, g in zip(present, recomputed):
            gradients[i] = g
        return gradients

    def apply(
        self, gradients: list, apply_fn: Callable[[list], None]
    ) -> None:
        """Runs `apply_fn(gradients)` if the policy allows the step.

        Zeroes the gradients of the task-specific variables of dropped
        tasks first, updates the counts, and raises under `"raise"`.
        """
        model = self.model
        ok = self._ok if self._ok is not None else tf.ones(
            [len(self.task_names)], tf.bool)
        variables = model.trainable_variables
        index = {id(v): i for i, v in enumerate(variables)}
        owned = [[index[id(v)] for v in model.task_variables[n]
                  if id(v) in index] for n in self.task_names]
        gradients = list(gradients)
        num_tasks = len(self.task_names)
        own_bad = tf.zeros([num_tasks], tf.bool)
        other_bad = tf.constant(False)
        if not _loss_scaled(model):  # else the optimizer handles overflow
            own_bad = tf.stack([
                tf.logical_not(_all_finite([gradients[i] for i in own]))
                for own in owned])
            mine = {i for own in owned for i in own}
            other_bad = tf.logical_not(_all_finite(
                [g for i, g in enumerate(gradients) if i not in mine]))
        # One all-reduce makes every decision below equal on all replicas.
        flags = _any_replica(tf.concat(
            [tf.logical_not(ok), own_bad, [other_bad]], axis=0))
        ok = tf.logical_not(tf.logical_or(
            flags[:num_tasks], flags[num_tasks:2 * num_tasks]))
        other_bad = flags[-1]
        for t, own in enumerate(owned):
            for i in own:
                if gradients[i] is not None:
                    gradients[i] = tf.where(
                        ok[t], gradients[i], tf.zeros_like(gradients[i]))
        all_ok = tf.logical_and(tf.reduce_all(ok), tf.logical_not(other_bad))
        if self.policy == "drop_task":
            allowed = tf.logical_and(
                tf.reduce_any(ok), tf.logical_not(other_bad))
        else:
            allowed = all_ok
        self._count(ok, all_ok)
        if self.policy == "raise":
            names = tf.constant(list(self.task_names) + [_SHARED])
            bad = tf.concat(
                [tf.logical_not(ok), [tf.logical_and(
                    other_bad, tf.reduce_all(ok))]], axis=0)
            step = tf.convert_to_tensor(model.optimizer.iterations)
            tf.debugging.Assert(all_ok, [tf.strings.join([
                _MARKER, "{", tf.strings.reduce_join(
                    tf.boolean_mask(names, bad), separator=","),
                "}{", tf.strings.as_string(step), "}"])])
        _apply_if(allowed, gradients, apply_fn)
        self._ok = None

    def screen_after(self, losses: Tensor, losses_after: Tensor) -> Tensor:
        """Post-step losses for `Weighting.after_step`: a dropped or
        non-finite task reports no change."""
        ok = tf.math.is_finite(losses_after)
        return tf.where(ok, losses_after, losses)

    @staticmethod
    def finite(values: Tensor) -> Tensor:
        """`values` with non-finite entries replaced by 0."""
        return tf.where(tf.math.is_finite(values), values,
                        tf.zeros_like(values))

    def count_evaluation(self, losses: Tensor) -> None:
        """Counts validation batches whose task losses are not finite."""
        self._count(tf.math.is_finite(losses),
                    tf.reduce_all(tf.math.is_finite(losses)))

    def _count(self, ok: Tensor, all_ok: Tensor) -> None:
        # Metric variables sum over replicas when read: count 1/N each.
        replica = _replica()
        share = 1.0 / replica.num_replicas_in_sync if replica else 1.0
        self.step_count.update_state(
            share * tf.cast(tf.logical_not(all_ok), tf.float32))
        for t, metric in enumerate(self.task_counts):
            metric.update_state(
                share * tf.cast(tf.logical_not(ok[t]), tf.float32))


def _apply_if(allowed: Tensor, gradients: list,
              apply_fn: Callable[[list], None]) -> None:
    """`apply_fn(gradients)` under `tf.cond(allowed, ...)`.

    The optimizer's `apply_gradients` calls `merge_call` under most
    strategies, which a `tf.cond` in a replica context cannot hold: as
    Keras's `LossScaleOptimizer` does, the condition then runs in the
    cross-replica context (`allowed` is equal on every replica).
    """
    present = [i for i, g in enumerate(gradients) if g is not None]

    def run(*values: Tensor) -> None:
        full = [None] * len(gradients)
        for i, value in zip(present, values):
            full[i] = value
        apply_fn(full)

    values = [gradients[i] for i in present]
    if (not tf.distribute.has_strategy()
            or tf.__internal__.distribute.strategy_supports_no_merge_call()):
        tf.cond(allowed, lambda: run(*values), lambda: None)
        return

    def cross_replica(distribution: Any, allowed: Any, *values: Any) -> None:
        first = distribution.experimental_local_results(allowed)[0]
        tf.cond(first, lambda: distribution.extended.call_for_each_replica(
            run, args=values), lambda: None)

    tf.distribute.get_replica_context().merge_call(
        cross_replica, args=(allowed, *values))


@contextlib.contextmanager
def readable_errors(model_name: str) -> Iterator[None]:
    """Turns the step's `on_nonfinite="raise"` assertion into a
    `NonFiniteError` that names the task(s)."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        message = str(error.message)
        if _MARKER not in message:
            raise
        found = re.search(
            re.escape(_MARKER) + r"\{([^}]*)\}\{(\d+)\}", message)
        tasks = found.group(1).split(",") if found else ["<unknown>"]
        step = found.group(2) if found else "?"
        culprits = [t for t in tasks if t != _SHARED]
        what = (f"task(s) {culprits}" if culprits else
                "the shared variables (a non-finite gradient no single "
                "task's outputs, loss or gradient explains)")
        raise NonFiniteError(
            f"Model {model_name!r}: {what} produced a non-finite output, "
            f"loss or gradient at optimizer step {step} "
            "(compile(on_nonfinite='raise')); the step was not applied. "
            "Check that task's inputs, labels and loss, or compile with "
            "on_nonfinite='drop_task' to train the other tasks on such "
            "steps."
        ) from None
