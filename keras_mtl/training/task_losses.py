"""Stage 2 of the step: every task's loss, computed once per step.

Each task's masked loss (`keras_mtl.losses.MaskedTaskLoss`) gives a sum
over its labelled entries and their count. Dividing by the count summed
over replicas makes each replica's *partial* loss a share of the
global-batch loss, so gradients summed by the optimizer are those of the
global batch, and the all-reduced `losses` are the global values (equal on
every replica) that the weighting, the non-finite policy and the logs
read.

The partial losses stay separate scalars, one per task: a backward pass
from task `t`'s scalar visits task `t`'s graph only, so a NaN or Inf in
another task's head never reaches task `t`'s gradient (a backward pass
from a slice of one stacked vector visits every task with a zero
cotangent, and `0 * inf = NaN`).
"""

from typing import Any
from typing import Mapping
from typing import NamedTuple
from typing import Sequence

import tensorflow as tf

from keras_mtl.training.replicas import sum_over_replicas
from keras_mtl.types import Tensor


class TaskLosses(NamedTuple):
    """What stage 2 returns.

    Attributes:
        partial: `T` scalars, this replica's share of each task's loss.
        losses: `[T]` global-batch task losses (equal on every replica).
        counts: `[T]` global-batch labelled weight per task.
        prepared: per task `(safe_labels, entry_weights, flags)` for
            metrics; `flags` (a Python bool) says the entry weights are
            already the 0/1 labelled mask (no sample weights given).
    """

    partial: list
    losses: Tensor
    counts: Tensor
    prepared: list


def compute_task_losses(
    task_losses: Sequence[Any], y: Mapping[str, Any],
    outputs: Mapping[str, Tensor], sample_weight: Mapping[str, Any],
) -> TaskLosses:
    """Returns the `TaskLosses` of one batch (call inside the tape)."""
    totals, counts, prepared = [], [], []
    for task_loss in task_losses:
        name = task_loss.task.name
        total, count, y_safe, weights = task_loss(
            y[name], outputs[name], sample_weight[name])
        totals.append(total)
        counts.append(count)
        prepared.append((y_safe, weights, sample_weight[name] is None))
    counts = sum_over_replicas(tf.stack(counts))
    partial = [tf.math.divide_no_nan(total, count) for total, count in zip(
        totals, tf.unstack(counts, num=len(totals)))]
    losses = sum_over_replicas(tf.stack(partial))
    return TaskLosses(partial, losses, counts, prepared)
