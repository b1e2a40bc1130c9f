"""`MultiTaskModel`'s training and evaluation steps, top to bottom.

```
stage                    receives                    returns
1 forward                x                           outputs, representation
2 task losses (once)     y, outputs, sample_weight   TaskLosses: partial,
                                                     losses [T], counts [T]
  loss screen (policy)   losses                      ok [T]
3 weighting              losses (0 where not ok)     weights [T], reg. term
4 gradients, aggregation tape, weighted scalars      gradients, rows_ok [T]
  GradNorm, regularizer  norms / RegularizerInputs   weights / gradients
5 non-finite policy      gradients, ok, rows_ok      gradients, Verdict
6 one apply              gradients, Verdict.apply    updated variables
  transaction            snapshot, Verdict           committed, repaired
                                                     or rolled back
7 metrics                losses, weights, Verdict    logs
```

On one device without loss scaling the update runs first and the
transaction judges its result: a clean step, and nearly every step is,
runs no conditional before the update and no per-task attribution.
Under `"drop_task"` a step that is not clean is restored and repaired
(the update without the faulty tasks, verified in turn) inside one
conditional that runs as a function call, so its large branch costs
nothing on the steps that do not take it. Under a strategy, whose
conditional writes need the cross-replica context, the verdict comes
first and the update runs under it.

Each stage is a function or a collaborator in `keras_mtl.training`
that receives what it needs and returns what it decides; nothing is kept
on an object from one stage to the next. The step keeps Keras's own
duties: loss scaling for mixed precision, the replicas' share of
non-task terms, the loss tracker and the metrics.
"""

import functools
from typing import Any

import keras
import tensorflow as tf

from keras_mtl._compat import keras as keras_compat
from keras_mtl._compat import tensorflow as tensorflow_compat
from keras_mtl.training import nonfinite
from keras_mtl.training.errors import assert_tasks_finite
from keras_mtl.training.logs import accumulate
from keras_mtl.training.ownership import Ownership
from keras_mtl.training.rebuild import task_by_task
from keras_mtl.training.regularizer import RegularizerInputs
from keras_mtl.training.regularizer import regularize
from keras_mtl.training.replicas import replica_scale
from keras_mtl.training.replicas import run_if
from keras_mtl.training.replicas import sum_over_replicas
from keras_mtl.training.targets import standardize_targets
from keras_mtl.training.task_losses import compute_task_losses
from keras_mtl.training.transaction import Snapshot
from keras_mtl.training.transaction import part_variables
from keras_mtl.training.transaction import step_state
from keras_mtl.types import Tensor


def _forward(model: Any, x: Any, representation: bool) -> tuple:
    if representation:
        return model.call_with_representation(x, training=True)
    return model(x, training=True), None


def _model_losses(model: Any) -> Tensor:
    """`model.losses` (weight regularizers, layer penalties) as a scalar."""
    return tf.add_n([tf.zeros(())] + [
        tf.cast(v, tf.float32) for v in model.losses])


def train_step(model: Any, data: Any) -> dict[str, Any]:
    """One training step of a compiled `MultiTaskModel` (see module)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    y, sample_weight = standardize_targets(model.tasks, y, sample_weight)
    plan = model._hidden
    engine, policy, optimizer = plan.engine, plan.policy, model.optimizer
    weighting, regularizer = model.weighting, model.gradient_regularizer
    ownership = Ownership.of(model)
    num_tasks = len(model.task_names)
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    parts = (weighting, model.aggregator, regularizer)  # learned state
    snapshot = None if policy is None else Snapshot.take(step_state(
        model, parts))
    wants_norms = weighting.requires_shared_gradient_norms
    with tf.GradientTape(persistent=engine.persistent or wants_norms or (
            policy == "drop_task")) as tape:
        # 1. Forward.
        outputs, representation = _forward(
            model, x, engine.needs_representation)
        # 2. Task losses, once; a faulty loss leaves the step.
        task = compute_task_losses(
            plan.task_losses, y, outputs, sample_weight)
        if policy is None:
            ok, losses, partial = None, task.losses, task.partial
        else:
            ok = nonfinite.safe(task.losses)
            losses = nonfinite.screen_losses(ok, task.losses)
            partial = [tf.where(flag, p, 0.0) for flag, p in zip(
                tf.unstack(ok, num=num_tasks), task.partial)]
        # 3. Weighting.
        weights = weighting(losses, training=True)
        if plan.task_mask is not None:  # per-step task schedule
            weights = weights * plan.task_mask
        extra = replica_scale() * (
            weighting.regularization(losses) + _model_losses(model))
        weighted = [optimizer.scale_loss(w * p) for w, p in zip(
            tf.unstack(weights, num=num_tasks), partial)]
        scaled_extra = optimizer.scale_loss(extra)
        objective = tf.add_n(weighted + [scaled_extra])
    # 4. Gradients and aggregation.
    loss_scale = tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)
    gradients, rows_ok = engine.gradients(
        tape, ownership, objective, weighted, scaled_extra, representation,
        loss_scale, screen_rows=policy is not None and not loss_scaled,
        row_keep=ok)
    if wants_norms:  # GradNorm
        norms = _shared_gradient_norms(
            tape, weighted, model.gradient_norm_variables()) / loss_scale
        weighting.update_from_gradients(losses, tf.where(
            tf.math.is_finite(norms), norms, 0.0))
    if regularizer is not None:  # e.g. GREAT
        gradients = regularize(regularizer, RegularizerInputs.from_model(
            model, x, y, sample_weight, ownership), gradients, model)
    # 5. The non-finite policy. On one device without loss scaling the
    # update runs first and the transaction judges its result: a clean
    # step (nearly all of them) pays no conditional before the update.
    verdict = None
    deferred = policy is not None and not loss_scaled and (
        not tf.distribute.has_strategy())
    if policy is not None:
        rebuild = None if engine.aggregator is not None else (
            functools.partial(task_by_task, tape, ownership, objective,
                              weighted, scaled_extra))
        gradients, verdict = nonfinite.judge(
            policy, gradients, ownership, ok, rows_ok, loss_scaled, rebuild,
            deferred=deferred)
    del tape
    # 6. One apply, and the transaction: commit, repair or roll back.
    apply = _applier(model, ownership.variables)
    after_step = _post_step(model, plan.task_losses, x, y, sample_weight,
                            losses)
    faulty, clean = None, None
    if snapshot is None:
        apply(gradients)
        after_step()
    elif verdict.repair is not None:  # deferred "drop_task"
        faulty, clean = _commit_or_repair(
            snapshot, gradients, verdict, apply, after_step, num_tasks)
    else:
        if deferred or bool(tf.get_static_value(verdict.apply)):
            apply(gradients)  # rolled back below unless it may stay
        else:
            run_if(verdict.apply, apply, gradients)
        if policy == "drop_task":  # as a repaired step on one device
            snapshot.rollback_if(tf.logical_not(verdict.clean),
                                 only=part_variables(parts))
        after_step()
        written = snapshot.verify()
        kept = tf.logical_and(verdict.apply, written)
        snapshot.rollback_if(tf.logical_not(kept))
        # A non-finite write counts against every task only when the
        # verdict let the update stand (a skipped one was rolled back).
        faulty = tf.logical_or(tf.logical_not(verdict.trained), tf.logical_and(
            verdict.apply, tf.logical_not(written)))
        clean = tf.logical_and(verdict.clean, written)
    if policy == "raise":
        assert_tasks_finite(model.task_names, faulty, clean,
                            optimizer.iterations)
    # 7. Metrics.
    objective = tf.reduce_sum(weights * losses) + extra / replica_scale()
    accumulate(keras_compat.loss_tracker(model), objective)
    plan.logs.update(losses, task.counts, outputs, task.prepared, weights,
                     faulty, clean)
    return model.get_metrics_result()


def test_step(model: Any, data: Any) -> dict[str, Any]:
    """One evaluation step: the same `loss` as training (weighted task
    losses plus the weighting's regularization and `model.losses`)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    y, sample_weight = standardize_targets(model.tasks, y, sample_weight)
    plan = model._hidden
    outputs = model(x, training=False)
    task = compute_task_losses(plan.task_losses, y, outputs, sample_weight)
    weights = model.weighting(task.losses, training=False)
    objective = (tf.reduce_sum(weights * task.losses)
                 + model.weighting.regularization(task.losses)
                 + _model_losses(model))
    accumulate(keras_compat.loss_tracker(model), objective)
    plan.logs.update(task.losses, task.counts, outputs, task.prepared)
    return plan.logs.result(model.metrics, training=False)


def _post_step(model: Any, task_losses: Any, x: Any, y: Any,
               sample_weight: Any, losses: Tensor) -> Any:
    """`after_step()`: what a weighting learns from the updated model
    (FAMO's post-step losses); a no-op for the others."""
    weighting = model.weighting
    if not weighting.requires_post_step_losses:
        return lambda: None

    def after_step() -> None:
        after = compute_task_losses(task_losses, y, model(
            x, training=False), sample_weight).losses
        weighting.after_step(losses, tf.where(
            nonfinite.safe(after), after, losses))

    return after_step


def _commit_or_repair(
    snapshot: Snapshot, gradients: list, verdict: nonfinite.Verdict,
    apply: Any, after_step: Any, num_tasks: int,
) -> tuple[Tensor, Tensor]:
    """The deferred `"drop_task"` transaction: apply, then keep the
    update when the step is clean and wrote only finite values. Else
    restore the snapshot and, when a task or gradient was at fault,
    apply `verdict.repair()` (the step without the faulty tasks), itself
    verified and rolled back if it still writes a non-finite value; a
    step that was clean but wrote one (e.g. batch statistics) stays
    rolled back. Returns `(faulty [T], clean)` for the logs."""
    apply(gradients)
    after_step()
    good = tf.logical_and(verdict.clean, snapshot.verify())

    def keep() -> tuple[Tensor, Tensor]:
        return tf.ones([num_tasks], tf.bool), tf.constant(True)

    def without_faulty() -> tuple[Tensor, Tensor]:
        repaired, kept = verdict.repair()
        apply(repaired)
        after_step()
        written = snapshot.verify()
        snapshot.rollback_if(tf.logical_not(written))
        return kept, written

    def redo() -> tuple[Tensor, Tensor]:
        snapshot.restore()
        return tf.cond(verdict.clean, lambda: (
            tf.zeros([num_tasks], tf.bool), tf.constant(False)),
            without_faulty)

    # One function call of the branch taken: the repair branch is
    # large and almost never runs (keras_mtl._compat.tensorflow).
    kept, written = tensorflow_compat.cond_as_call(good, keep, redo)
    return (tf.logical_or(tf.logical_not(kept), tf.logical_not(written)),
            good)


def _applier(model: Any, variables: list) -> Any:
    """`apply(gradients)`: the optimizer update, then the per-task
    learning-rate multipliers (`keras_mtl.task_learning_rates`)."""
    scaler = model._hidden.update_scaler

    def apply(gradients: list) -> None:
        before = scaler.snapshot() if scaler is not None else None
        model.optimizer.apply_gradients(zip(gradients, variables))
        if scaler is not None:
            scaler.rescale(before)

    return apply


def _shared_gradient_norms(tape: tf.GradientTape, weighted: list,
                           variables: list) -> Tensor:
    """`[T]` norms of each weighted task loss's gradient with respect to
    `variables` (GradNorm's `G_W^(i)`), over the global batch."""
    norms = []
    for scalar in weighted:
        grads = tape.gradient(scalar, variables)
        grads = sum_over_replicas([tf.zeros_like(v) if g is None else g
                                   for g, v in zip(grads, variables)])
        norms.append(tf.linalg.global_norm(grads))
    return tf.stack(norms)
