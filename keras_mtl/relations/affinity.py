"""One measurement of inter-task affinity on one batch (graph-safe).

Two measures of how tasks relate, both on the shared parameters `θ_s`:

```
lookahead (TAG):  θ_s^{i} = θ_s - η ∇_{θ_s} L_i(θ_s, θ_i)
                  Z_{i->j} = 1 - L_j(θ_s^{i}, θ_j) / L_j(θ_s, θ_j)
cosine:           C_{ij}   = <g_i, g_j> / (|g_i| |g_j|),  g_i = ∇_{θ_s} L_i
```

on the same batch, with `η` the optimizer's learning rate and the task
parameters `θ_j` unchanged (Fifty et al. 2021, Eq. 1-2: the lookahead
moves the shared parameters only, by a plain gradient step of task i's
loss). `Z_{i->j} > 0`: a step for task i lowers task j's loss; `< 0`: it
raises it. The losses `L` are the model's per-task training losses
(masked means over labelled samples), unweighted, computed with
`training=False` so that dropout draws and batch-norm statistics neither
add noise nor change (a lookahead must not touch the model's state).

Cost of one measurement with T tasks: `T + 1` forward passes (one at `θ`,
one per lookahead) and `T` backward passes through the shared layers.

References:
- Fifty, Amid, Zhao, Yu, Anil, Finn (2021). Efficiently Identifying Task
  Groupings for Multi-Task Networks. NeurIPS. arXiv:2109.04617.
- Yu, Kumar, Gupta, Levine, Hausman, Finn (2020). Gradient Surgery for
  Multi-Task Learning. NeurIPS. arXiv:2001.06782 (gradient cosine).
"""

from typing import Any

import tensorflow as tf

from keras_mtl.training.nonfinite import dense_gradient
from keras_mtl.training.targets import standardize_targets
from keras_mtl.training.task_losses import TaskLosses
from keras_mtl.training.task_losses import compute_task_losses
from keras_mtl.types import Tensor


def check_model(model: Any, who: str) -> None:
    """Raises unless `model` is a multi-task model with shared weights."""
    if not hasattr(model, "task_names") or not hasattr(
            model, "shared_variables"):
        raise TypeError(
            f"{who} needs a keras_mtl.MultiTaskModel (built with "
            f"keras_mtl.build). Received: {type(model).__name__}."
        )
    if not model.shared_variables:
        raise ValueError(
            f"{who}: model {model.name!r} has no shared variables, so a "
            "step on one task cannot move another task's loss "
            "(sharing_depth=0?). Share at least one layer."
        )


def task_losses(model: Any, outputs: Any, y: Any,
                sample_weight: Any) -> TaskLosses:
    """The unweighted per-task training losses of `outputs`: one scalar
    per task (`.partial`) and the `[T]` vector (`.losses`)."""
    return compute_task_losses(model.task_loss_functions, y, outputs,
                               sample_weight)


def measure_affinity(
    model: Any, x: Any, y: Any, sample_weight: Any = None,
    learning_rate: Any = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Lookahead affinity and gradient cosine on one batch.

    Args:
        model: A compiled `keras_mtl.MultiTaskModel`.
        x: The batch's inputs.
        y: Labels, a dict keyed by task name.
        sample_weight: Optional sample weights (as for `fit`).
        learning_rate: The lookahead step `η`; None reads the optimizer's
            current learning rate (schedules included).

    Returns:
        `(lookahead, lookahead_valid, cosine, cosine_valid)`: `[T, T]`
        float32 matrices and boolean masks of the entries that are
        defined on this batch (`L_j > 0` and finite for the lookahead,
        both gradients non-zero and finite for the cosine). Undefined
        entries hold 0.
    """
    y, sample_weight = standardize_targets(model.tasks, y, sample_weight)
    shared = model.shared_variables
    num_tasks = len(model.task_names)
    with tf.GradientTape(persistent=True) as tape:
        task = task_losses(model, model(x, training=False), y,
                           sample_weight)
    losses = tf.cast(task.losses, tf.float32)
    grads = []
    for t in range(num_tasks):
        # Each task's own scalar: another task's Inf cannot reach the row.
        row = tape.gradient(task.partial[t], shared)
        grads.append([dense_gradient(g, v.value) for g, v in zip(row, shared)])
    del tape
    if learning_rate is None:
        learning_rate = model.optimizer.learning_rate
    eta = tf.cast(learning_rate, tf.float32)

    trainable = model.trainable_variables
    position = {id(v): k for k, v in enumerate(trainable)}
    base = [v.value for v in trainable]
    fixed = [v.value for v in model.non_trainable_variables]
    rows = []
    for t in range(num_tasks):
        values = list(base)
        for v, g in zip(shared, grads[t]):
            k = position[id(v)]
            values[k] = v.value - tf.cast(eta * tf.cast(g, tf.float32),
                                          v.value.dtype)
        outputs, _ = model.stateless_call(values, fixed, x, training=False)
        rows.append(tf.cast(task_losses(
            model, outputs, y, sample_weight).losses, tf.float32))
    after = tf.stack(rows)  # [T (source i), T (target j)]
    before = losses[None, :]
    lookahead_valid = tf.logical_and(
        tf.broadcast_to(tf.math.is_finite(before) & (before > 0),
                        tf.shape(after)),
        tf.math.is_finite(after))
    lookahead = tf.where(lookahead_valid,
                         1.0 - tf.math.divide_no_nan(after, before), 0.0)

    gram = tf.add_n([
        tf.matmul(flat, flat, transpose_b=True) for flat in (
            tf.stack([tf.reshape(tf.cast(grads[t][k], tf.float32), [-1])
                      for t in range(num_tasks)])
            for k in range(len(shared)))])
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
    outer = norms[:, None] * norms[None, :]
    cosine_valid = tf.math.is_finite(gram) & (outer > 0) & \
        tf.math.is_finite(outer)
    cosine = tf.where(cosine_valid, tf.clip_by_value(
        tf.math.divide_no_nan(gram, outer), -1.0, 1.0), 0.0)
    return lookahead, lookahead_valid, cosine, cosine_valid
