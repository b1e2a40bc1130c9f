"""The fast path's gradient rebuilt task by task, on faulty steps only.

Without an aggregator one backward pass of the weighted sum gives every
gradient. When a task is faulty that pass visits its layers with a zero
cotangent and `0 * inf = NaN` can reach the shared variables, so the
non-finite policy (`"drop_task"`) asks for the gradient again, summed from
each task's own loss scalar (`T` backward passes on the step's persistent
tape) without the faulty tasks.
"""

from typing import Sequence

import tensorflow as tf

from keras_mtl.training.nonfinite import dense_gradient
from keras_mtl.training.ownership import Ownership
from keras_mtl.types import Tensor


def task_by_task(
    tape: tf.GradientTape, ownership: Ownership,
    objective: Tensor, weighted: Sequence[Tensor], extra: Tensor,
    keep: Tensor,
) -> tuple[list, Tensor]:
    """The fast path's gradient summed from each task's own scalar
    (`T` backward passes on a persistent tape), leaving out the tasks
    not in `keep` and those whose shared gradient is unsafe (sum of
    squares overflows). Returns it and the `[T]` tasks kept (local to
    this replica: the caller all-reduces).

    Used by the non-finite policy on faulty steps only: one backward
    pass of the weighted sum visits a faulty task's layers with a zero
    cotangent, and `0 * inf = NaN` would reach the shared variables.
    """
    variables = ownership.variables
    shared = ownership.shared
    mine = list(shared)
    for own in ownership.by_task.values():
        mine += own
    mine_ids = {id(v) for v in mine}
    total = [dense_gradient(g, v) for g, v in zip(tape.gradient(extra, mine),
                                           mine)]
    position = {id(v): i for i, v in enumerate(mine)}
    kept = []
    for t, own in enumerate(ownership.by_task.values()):
        targets = list(shared) + list(own)
        grads = tape.gradient(weighted[t], targets)
        dense = [dense_gradient(g, v) for g, v in zip(grads, targets)]
        sums = [tf.nn.l2_loss(tf.cast(g, tf.float32))
                for g in dense[:len(shared)]]
        use = tf.logical_and(keep[t], tf.reduce_all(tf.math.is_finite(
            tf.stack(sums)))) if sums else keep[t]
        kept.append(use)
        for v, g in zip(targets, dense):
            i = position[id(v)]
            total[i] = total[i] + tf.where(use, g, tf.zeros_like(g))
    by_id = {id(v): g for v, g in zip(mine, total)}
    rest = [v for v in variables if id(v) not in mine_ids]
    if rest:  # learned weighting parameters
        by_id.update((id(v), dense_gradient(g, v)) for v, g in zip(
            rest, tape.gradient(objective, rest)))
    return [by_id.get(id(v)) for v in variables], tf.stack(kept)
