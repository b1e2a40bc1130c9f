"""Stage 5 of the step: the non-finite policy, `compile(on_nonfinite=...)`.

A multi-task step shares its trunk between tasks: one task's NaN, Inf or
overflow, left alone, reaches the shared variables and poisons every
task. The policy judges the step from values the step computes anyway:

- a task whose global loss `L_t` is NaN or Inf, or so large that `L_t²`
  overflows float32, is *faulty*;
- a gradient is *unsafe* when the sum of its squares overflows: Adam and
  RMSprop square gradients into their second moments, so a finite
  gradient above ~1.8e19 writes Inf into a slot and NaN into the weight a
  step later (one fused `l2_loss` per gradient, and one `[T+1, V]`
  ownership product, turn that into per-task flags);
- with an aggregator, a Jacobian row that is unsafe is zeroed before
  aggregation (by the engine), and its task is faulty.

Then, by policy:

- `"drop_task"` (default): faulty tasks leave the step, the others train.
  On the fast path (no aggregator) a step with a faulty task is rebuilt
  from each task's own loss (`T` backward passes, on such steps only):
  one backward pass of the weighted sum visits a faulty task's layers
  with a zero cotangent and `0 * inf = NaN` would reach the trunk. The
  faulty tasks' own variables get zero gradients; a shared gradient that
  is still unsafe is zeroed;
- `"skip_step"`: a step with any fault applies nothing and is rolled back
  (`keras_mtl.training.transaction`);
- `"raise"`: as `"skip_step"`, then `NonFiniteError` names the task(s);
- `None`: no checks (plain Keras behaviour).

On one device without loss scaling the step applies first and judges
the result (`judge(..., deferred=True)`, `keras_mtl.training.step`):
the same decisions, taken after the update and undone by the
transaction, with the per-task attribution and the repair only on the
steps that need them. A repaired `"drop_task"` step keeps the model's
update without the faulty tasks; what the weighting, the aggregator and
the regularizer learned during that step (GradNorm's weights, GradVac's
targets, seed states: computed while a task was faulty) is restored with
the snapshot, as on a skipped step (FAMO's post-step update is redone on
the repaired model). Under a strategy, where the verdict comes before
the update, the same state is restored after it.

A weighting sees a faulty task's loss as 0 (as for a batch without its
labels), so its state stays finite. Whatever the policy, the transaction
then checks what the update wrote and rolls the step back if any variable
is not finite. Decisions are all-reduced, so every replica takes the same
branch. Under a `LossScaleOptimizer`, unsafe gradients are the loss
scale's business (it skips such steps and lowers its scale): only faulty
losses are acted on, and faulty tasks' own gradients are zeroed.
"""

from typing import Any
from typing import NamedTuple
from typing import Sequence

import tensorflow as tf

from keras_mtl.training.ownership import Ownership
from keras_mtl.training.replicas import any_replica
from keras_mtl.types import Tensor

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


class Verdict(NamedTuple):
    """What the policy decides for one step.

    Attributes:
        trained: `[T]` bool, the tasks whose gradients the update holds
            (on a deferred `"drop_task"` step: whose loss and Jacobian
            row are safe; `repair` decides the rest).
        clean: bool, no fault anywhere in the step.
        apply: bool, whether the optimizer update runs.
        repair: On a deferred `"drop_task"` step (see `judge`), `repair()`
            -> `(gradients, kept)`: the gradients without the faulty
            tasks and the `[T]` tasks they hold, for the transaction to
            apply when the step is not clean. None otherwise.
    """

    trained: Tensor
    clean: Tensor
    apply: Tensor
    repair: Any = None


def safe(values: Tensor) -> Tensor:
    """Elementwise: finite, and the square is finite too."""
    return tf.math.is_finite(values * values)


def screen_losses(ok: Tensor, losses: Tensor) -> Tensor:
    """The losses the weighting sees: 0 for faulty tasks."""
    return tf.where(ok, losses, tf.zeros_like(losses))


def _dense_values(gradient: Any) -> Tensor:
    if isinstance(gradient, tf.IndexedSlices):
        return gradient.values
    return gradient


def gradient_health(
    gradients: Sequence[Any], ownership: Ownership, reduce: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Returns `(safe_by_variable [V'], own_ok [T], rest_ok)` where `V'`
    are the present gradients, `own_ok[t]` says task `t`'s own gradients
    are safe and `rest_ok` that those no task owns are; the last two
    all-reduced unless `reduce=False`."""
    present, sums = squared_sums(gradients)
    if not present:
        num_tasks = ownership.matrix.shape[0] - 1
        return (tf.ones([0], tf.bool), tf.ones([num_tasks], tf.bool),
                tf.constant(True))
    bad = tf.logical_not(tf.math.is_finite(sums))
    own_ok, rest_ok = _attribute(bad, present, ownership, reduce)
    return tf.logical_not(bad), own_ok, rest_ok


def squared_sums(gradients: Sequence[Any]) -> tuple[list, Tensor]:
    """`(present, sums)`: the indices of the gradients that are not None
    and `[V']` half sums of their squares (one fused `l2_loss` each),
    non-finite where the square overflows."""
    present = [i for i, g in enumerate(gradients) if g is not None]
    if not present:
        return present, tf.zeros([0], tf.float32)
    return present, tf.stack([tf.nn.l2_loss(tf.cast(
        _dense_values(gradients[i]), tf.float32)) for i in present])


def _attribute(bad: Tensor, present: list, ownership: Ownership,
               reduce: bool) -> tuple[Tensor, Tensor]:
    """`(own_ok [T], rest_ok)` from the `[V']` unsafe flags."""
    matrix = tf.constant(ownership.matrix[:, present])
    flags = tf.linalg.matvec(matrix, tf.cast(bad, tf.float32)) > 0.0
    if reduce:
        flags = any_replica(flags)
    return tf.logical_not(flags[:-1]), tf.logical_not(flags[-1])


def judge(
    policy: str, gradients: list, ownership: Ownership, ok: Tensor,
    rows_ok: Tensor | None, loss_scaled: bool, rebuild: Any = None,
    deferred: bool = False,
) -> tuple[list, Verdict]:
    """Judges the step's gradients under `policy` (not None).

    Args:
        policy: `"drop_task"`, `"skip_step"` or `"raise"`.
        gradients: Aligned with `ownership.variables`.
        ownership: The step's `Ownership`.
        ok: `[T]` bool, tasks whose loss is safe.
        rows_ok: `[T]` bool, tasks whose Jacobian row was safe (None on
            the fast path).
        loss_scaled: A `LossScaleOptimizer` handles overflow.
        rebuild: On the fast path, `rebuild(keep)` -> `(gradients,
            kept)` from each task's own loss
            (`keras_mtl.training.rebuild.task_by_task`), used on faulty
            steps under `"drop_task"`.
        deferred: The step applies first and judges the result (one
            device, no loss scaling: `keras_mtl.training.step`). Under
            `"drop_task"` the gradients come back unchanged and the
            per-task attribution and repair wait in `Verdict.repair`,
            which runs on faulty steps only.

    Returns:
        `(gradients, Verdict)`.
    """
    trained = ok if rows_ok is None else tf.logical_and(ok, rows_ok)
    num_tasks = ownership.matrix.shape[0] - 1
    if loss_scaled:
        clean = tf.reduce_all(trained)
        if policy != "drop_task":
            return gradients, Verdict(trained, clean, clean)
        if rebuild is not None:  # without the faulty tasks' 0 * inf
            gradients, _ = cond_gradients(
                clean, lambda: (gradients, trained),
                lambda: rebuild(trained), gradients)
        # A faulty head's own gradient may be 0 * inf: zero it, lest the
        # loss scale skip every step.
        return zero_tasks(gradients, ownership, trained), Verdict(
            trained, clean, tf.constant(True))
    if deferred and policy == "drop_task":
        return gradients, _deferred_verdict(
            gradients, ownership, trained, rebuild)
    _, own_ok, rest_ok = gradient_health(gradients, ownership)
    trained = tf.logical_and(trained, own_ok)
    clean = tf.logical_and(tf.reduce_all(trained), rest_ok)
    if policy != "drop_task":
        return gradients, Verdict(trained, clean, clean)

    def healthy() -> tuple[list, Tensor]:
        return gradients, tf.ones([num_tasks], tf.bool)

    def repaired() -> tuple[list, Tensor]:
        return _without_faulty(gradients, ownership, trained, rebuild)

    gradients, kept = cond_gradients(clean, healthy, repaired, gradients)
    trained = tf.logical_not(any_replica(tf.logical_not(kept)))
    return gradients, Verdict(trained, clean, tf.constant(True))


def _deferred_verdict(gradients: list, ownership: Ownership,
                      trained: Tensor, rebuild: Any) -> Verdict:
    """`"drop_task"` when the update runs first: a clean step needs one
    flag (every loss, row and gradient safe); which task is at fault, and
    the gradients without it, are worked out by `repair` on faulty steps
    only (no per-task work and no conditional before the update)."""
    present, sums = squared_sums(gradients)
    finite = tf.math.is_finite(sums)
    clean = tf.logical_and(tf.reduce_all(trained), tf.reduce_all(finite))

    def repair() -> tuple[list, Tensor]:
        keep = trained
        if present:
            own_ok, _ = _attribute(tf.logical_not(finite), present,
                                   ownership, reduce=False)
            keep = tf.logical_and(keep, own_ok)
        return _without_faulty(gradients, ownership, keep, rebuild)

    return Verdict(trained, clean, tf.constant(True), repair)


def _without_faulty(gradients: list, ownership: Ownership, keep: Tensor,
                    rebuild: Any) -> tuple[list, Tensor]:
    """The gradients without the tasks not in `keep` (rebuilt from each
    task's own loss on the fast path, `rebuild`), with every gradient
    that is still unsafe zeroed; and the `[T]` tasks they hold (local to
    this replica)."""
    num_tasks = ownership.matrix.shape[0] - 1
    grads, kept = (gradients, tf.ones([num_tasks], tf.bool)) \
        if rebuild is None else rebuild(keep)
    keep = tf.logical_and(keep, kept)
    safe_now, own_now, _ = gradient_health(grads, ownership, reduce=False)
    keep = tf.logical_and(keep, own_now)
    return zero_faulty(grads, ownership, safe_now, keep), keep


def zero_faulty(
    gradients: Sequence[Any], ownership: Ownership, safe_present: Tensor,
    trained: Tensor,
) -> list:
    """Zeroes unsafe gradients and the own gradients of tasks not trained
    (`safe_present` comes from `gradient_health` on the same list)."""
    present = [i for i, g in enumerate(gradients) if g is not None]
    out = list(gradients)
    for k, i in enumerate(present):
        keep = safe_present[k]
        t = ownership.owner[i]
        if t is not None:
            keep = tf.logical_and(keep, trained[t])
        out[i] = _zero_unless(keep, gradients[i])
    return out


def zero_tasks(gradients: Sequence[Any], ownership: Ownership,
               trained: Tensor) -> list:
    """Zeroes the own gradients of the tasks not `trained`."""
    return [g if g is None or t is None else _zero_unless(trained[t], g)
            for g, t in zip(gradients, ownership.owner)]


def _zero_unless(keep: Tensor, gradient: Any) -> Any:
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(
            tf.where(keep, gradient.values, tf.zeros_like(gradient.values)),
            gradient.indices, gradient.dense_shape)
    gradient = tf.convert_to_tensor(gradient)
    return tf.where(keep, gradient, tf.zeros_like(gradient))


def cond_gradients(pred: Tensor, true_fn: Any, false_fn: Any,
                   gradients: Sequence[Any]) -> tuple[list, Tensor]:
    """`tf.cond` over the dense entries of a gradient list (None entries
    and sparse `IndexedSlices` pass through from `gradients`); each
    branch returns `(gradients, flags)`."""
    present = [i for i, g in enumerate(gradients) if g is not None
               and not isinstance(g, tf.IndexedSlices)]

    def wrap(fn: Any) -> Any:
        def run() -> tuple[list, Tensor]:
            grads, flags = fn()
            return [dense_gradient(grads[i], gradients[i])
                    for i in present], flags
        return run

    values, flags = tf.cond(pred, wrap(true_fn), wrap(false_fn))
    out = list(gradients)
    for i, value in zip(present, values):
        out[i] = value
    return out, flags


def dense_gradient(gradient: Any, like: Any) -> Tensor:
    """`gradient` as a dense tensor; zeros shaped like `like` for None."""
    if gradient is None:
        return tf.zeros_like(tf.convert_to_tensor(like))
    return tf.convert_to_tensor(gradient)
