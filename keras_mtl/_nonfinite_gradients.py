"""The gradient side of `keras_mtl.nonfinite`'s `"drop_task"` policy.

Which tasks' gradients are finite, on every replica; zeroing non-finite
rows of the per-task Jacobian before aggregation; and rebuilding a fast-
path gradient from each task's own loss when one backward pass of the
weighted sum is poisoned by a dropped task (see `GradientRepair.repair`).
"""

from typing import Any
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl.types import Tensor


def replica_context() -> Any:
    """The replica context when running in sync on 2+ replicas, else None."""
    replica = tf.distribute.get_replica_context()
    if (tf.distribute.has_strategy() and replica is not None
            and replica.num_replicas_in_sync > 1):
        return replica
    return None


def any_replica(flags: Tensor) -> Tensor:
    """`flags` (bool) OR-ed over replicas, identical on every replica."""
    replica = replica_context()
    if replica is None:
        return flags
    counts = replica.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(flags, tf.float32))
    return counts > 0.0


def all_finite(values: Sequence[Any]) -> Tensor:
    checks = [tf.reduce_all(tf.math.is_finite(
        v.values if isinstance(v, tf.IndexedSlices) else v))
        for v in values if v is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def probably_finite(values: Sequence[Any]) -> Tensor:
    """False when some entry of `values` is NaN or Inf: one float32 sum
    per tensor, cheaper than `all_finite`. A gradient whose sum overflows
    float32 counts as non-finite too."""
    sums = [tf.reduce_sum(tf.cast(
        v.values if isinstance(v, tf.IndexedSlices) else v, tf.float32))
        for v in values if v is not None]
    if not sums:
        return tf.constant(True)
    return tf.reduce_all(tf.math.is_finite(tf.stack(sums)))


def _dense(gradient: Any, like: Any) -> Tensor:
    if gradient is None:
        return tf.zeros_like(like)
    return tf.convert_to_tensor(gradient)


def zero_unless(keep: Tensor, value: Tensor) -> Tensor:
    return tf.where(keep, value, tf.zeros_like(value))


def _zero_task(keep: Tensor, gradient: Any) -> Any:
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(zero_unless(keep, gradient.values),
                                gradient.indices, gradient.dense_shape)
    return zero_unless(keep, tf.convert_to_tensor(gradient))


def loss_scaled(model: Any) -> bool:
    return isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


class GradientRepair:
    """Gradient methods of `NonFiniteGuard` (a mixin: it reads the guard's
    `model`, `policy`, `task_names`, `recomputes` and the step's task
    flags `_ok` and task-local losses `_totals`)."""

    model: Any
    policy: Any
    task_names: tuple[str, ...]
    _ok: Any
    _bad: Any
    _totals: list

    @property
    def active(self) -> bool:
        return self.policy is not None

    @property
    def recomputes(self) -> bool:
        """Whether `repair` may take more gradients from the tape (which
        must then be persistent)."""
        return (self.policy == "drop_task"
                and self.model._hidden.engine.aggregator is None)

    def filter_rows(self, stacks: list) -> list:
        """Zeroes the rows of non-finite tasks in `[T, n]` gradient stacks
        (called by the gradient engine before aggregation)."""
        if not self.active or loss_scaled(self.model):
            return stacks
        finite = tf.reduce_all(tf.stack([
            tf.reduce_all(tf.math.is_finite(s), axis=1) for s in stacks]),
            axis=0)
        ok = tf.logical_not(any_replica(tf.logical_not(finite)))
        self._ok = ok = tf.logical_and(self._ok, ok)
        return [tf.where(ok[:, None], s, tf.zeros_like(s)) for s in stacks]

    def repair(
        self, tape: tf.GradientTape, gradients: list, weights: Tensor,
        counts: Tensor, objective: Tensor, extra: Tensor,
    ) -> list:
        """`"drop_task"`: the step's gradients without non-finite parts.

        The task variables of a task whose own gradient is not finite get
        zeros (on every replica). The rest runs only on steps whose
        gradient is not finite (a `tf.cond`): one backward pass of the
        weighted sum visits a dropped task's layers with a zero cotangent,
        and where a derivative is infinite `0 * inf = NaN` reaches the
        shared trunk, so on the fast path the gradient is rebuilt from
        each task's own loss (`T` backward passes that each visit one
        task's layers, task weights as constants), keeping the tasks whose
        shared gradient is finite. A variable still not finite gets zeros.
        """
        model = self.model
        if self.policy != "drop_task":
            return gradients
        variables = model.trainable_variables
        owner = {id(v): t for t, n in enumerate(self.task_names)
                 for v in model.task_variables[n]}
        if loss_scaled(model):
            # Overflow is the loss scale's business; the task variables of
            # tasks dropped for their outputs or loss get zeros (their
            # gradient may be 0 * inf), lest every step be skipped.
            return [g if g is None or id(v) not in owner else _zero_task(
                self._ok[owner[id(v)]], g)
                for v, g in zip(variables, gradients)]
        own_bad = tf.stack([tf.logical_not(probably_finite(
            [g for v, g in zip(variables, gradients)
             if owner.get(id(v)) == t]))
            for t in range(len(self.task_names))])
        flags = any_replica(tf.concat(
            [own_bad, [tf.logical_not(probably_finite(gradients))]], axis=0))
        own_ok, bad = tf.logical_not(flags[:-1]), flags[-1]
        screen_ok = self._ok
        present = [i for i, g in enumerate(gradients) if g is not None
                   and not isinstance(g, tf.IndexedSlices)]

        def repaired() -> tuple[list, Tensor]:
            kept = tf.ones_like(screen_ok)
            grads = gradients
            if self.recomputes:
                grads, kept = self._by_task(tape, screen_ok, own_ok,
                                            weights, counts, objective,
                                            extra)
            keep = tf.logical_and(tf.logical_and(screen_ok, own_ok), kept)
            fixed = []
            for i in present:
                g = tf.convert_to_tensor(grads[i])
                t = owner.get(id(variables[i]))
                finite = all_finite([g])
                fixed.append(zero_unless(
                    finite if t is None else tf.logical_and(finite, keep[t]),
                    g))
            return fixed, kept

        fixed, kept = tf.cond(bad, repaired, lambda: (
            [tf.convert_to_tensor(gradients[i]) for i in present],
            tf.ones_like(screen_ok)))
        self._ok = ok = tf.logical_and(tf.logical_and(screen_ok, own_ok),
                                       kept)
        self._bad = bad
        gradients = list(gradients)
        for i, g in zip(present, fixed):
            gradients[i] = g
        for i, g in enumerate(gradients):  # embeddings: sparse gradients
            if isinstance(g, tf.IndexedSlices):
                t = owner.get(id(variables[i]))
                keep = tf.math.is_finite(g.values)
                if t is not None:
                    keep = tf.logical_and(keep, ok[t])
                gradients[i] = tf.IndexedSlices(
                    zero_unless(keep, g.values), g.indices, g.dense_shape)
        return gradients

    def _by_task(self, tape: tf.GradientTape, screen_ok: Tensor,
                 own_ok: Tensor, weights: Tensor, counts: Tensor,
                 objective: Tensor, extra: Tensor) -> tuple[list, Tensor]:
        """The fast path's gradient summed from each task's own loss,
        without the tasks whose outputs, loss or shared gradient are not
        finite (nor the own variables of those whose own gradient is not);
        returns it and which tasks kept their shared gradient."""
        model = self.model
        variables = model.trainable_variables
        shared = {id(v) for v in model.shared_variables}
        owner = {id(v): t for t, n in enumerate(self.task_names)
                 for v in model.task_variables[n]}
        mine = [v for v in variables if id(v) in shared or id(v) in owner]
        rest = [v for v in variables if id(v) not in shared
                and id(v) not in owner]
        total = [_dense(g, v) for g, v in zip(tape.gradient(extra, mine),
                                               mine)]
        kept = []
        for t, task_total in enumerate(self._totals):
            scale = tf.math.divide_no_nan(weights[t], counts[t])
            grads = [None if g is None else scale * tf.convert_to_tensor(g)
                     for g in tape.gradient(task_total, mine)]
            keep = tf.logical_and(screen_ok[t], counts[t] > 0)
            keep = tf.logical_and(keep, all_finite(
                [g for v, g in zip(mine, grads) if id(v) in shared]))
            kept.append(tf.logical_or(keep, counts[t] <= 0))
            for i, (v, g) in enumerate(zip(mine, grads)):
                if g is not None:
                    use = keep if id(v) in shared else tf.logical_and(
                        keep, own_ok[t])
                    total[i] += zero_unless(use, g)
        by_id = {id(v): g for v, g in zip(mine, total)}
        if rest:  # learned weighting parameters
            by_id.update((id(v), _dense(g, v)) for v, g in zip(
                rest, tape.gradient(objective, rest)))
        return [by_id.get(id(v)) for v in variables], tf.stack(kept)
