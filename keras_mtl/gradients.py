"""The gradient engine of `MultiTaskModel.train_step`.

Without an aggregator, one backward pass of the weighted objective gives
every gradient (the fast path, as cheap as plain Keras `fit`). With an
aggregator (`compile(aggregator=..., aggregation_mode=...)`):

- a variable that only one task's loss reaches (`model.task_variables`)
  gets the gradient of that task's weighted loss, and variables that
  belong to no task (learned loss weights) the gradient of the objective.
  A variable that two or more task losses reach is aggregated as shared
  (`model.shared_variables`), also when it sits in one task's tower whose
  output another task consumes (ESMM's CTR tower, reached by the CTR and
  CTCVR losses): giving it only its owner's gradient would drop the
  consumer's. Tasks without a loss (`supervised=False`) have no row;
- **Jacobian mode** (default): the shared variables get `aggregator(J)`,
  where row `t` of `J` is the gradient of task `t`'s weighted loss with
  respect to all shared variables. The rows come from one reverse pass per
  task on the step's persistent tape. Measured on the peers' workload
  (LeNet trunk, batch 256, 2-core CPU, TF 2.21): a Python loop of
  `tape.gradient` calls is faster than `tape.jacobian` with `pfor`
  (1.63x vs 2.06x the time of plain fit at two tasks, 2.14x vs 2.75x at
  three), and
  the loop costs `T` backward passes of the trunk, which dominates.
  Vectorising the `T` trunk passes over stacked cotangents
  (`vectorized_map` of `tf.gradients`) was slower still: 4.4x plain at
  three tasks against 2.3x for the loop. Accumulating the Gramian layer by
  layer from activations and output gradients (TorchJD's autogram) saves
  the per-task weight gradients, but for convolutions it needs
  patch-by-patch inner products that cost more than the filter gradients
  they replace, so it is not used. Gramian aggregators never see `J`:
  the Gramian `J Jᵀ` is summed variable by variable, the task weights `α`
  come from it, and each shared variable gets `αᵀ J_v`, with no `[T, P]`
  concatenation and no split back;
- **representation mode** (MGDA-UB, Sener & Koltun 2018): the rows are
  the gradients with respect to the shared representation `Z` (the
  output of the model's `representation_layer`, flattened over batch and
  features, `[T, B·D]`), so each costs a pass through the heads only;
  the aggregated `[B, D]` cotangent then flows through the trunk in one
  backward pass. It costs about as much as plain `fit`, and needs a model
  with one shared representation (hard sharing); MMoE, PLE, cross-stitch
  or `sharing_depth=0` models raise at compile time.

Under `tf.distribute` (MirroredStrategy, MultiWorkerMirroredStrategy) the
engine makes N replicas take the single-device step on the global batch:
in Jacobian mode the per-task gradients are all-reduced (summed: each
replica's partial task losses sum to the global ones) before aggregation,
and the aggregated direction is divided by N because `apply_gradients`
sums again. In representation mode the replicas hold different samples,
so the global `J` is the concatenation of the replicas' blocks: Gramian
aggregators all-reduce the Gramian (`Σ_r J_r J_rᵀ`, exact), others
all-gather the blocks; each replica then back-propagates its own block.
The aggregator itself runs once per step in the cross-replica context
(`merge_call`), so that random aggregators (PCGrad's task order) draw,
and stateful ones update, once per step as on one device.
`jit_compile=True` does not work with MirroredStrategy in this Keras/TF
(XLA refuses variables placed on another device, even for built-in `fit`),
so under a strategy the step runs as a graph without XLA. On CPU, XLA
halves the speed of every mode measured; Keras's default
(`jit_compile="auto"`) keeps it off there.

Mixed precision: the rows come from the loss-scaled objective; the
aggregator sees them unscaled (`J / scale`) and the direction is scaled
back, so methods that are not scale-invariant (Nash-MTL, GradVac targets)
act on true gradients. A non-finite Jacobian yields a non-finite direction
(never a silently finite one), so `LossScaleOptimizer` skips the step.
"""

from typing import Any

import tensorflow as tf

from keras_mtl.aggregators.base import Aggregator
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.types import Tensor

MODES = ("jacobian", "representation")


def _replica_context() -> Any:
    """The replica context when running in sync on 2+ replicas, else None."""
    replica = tf.distribute.get_replica_context()
    if (tf.distribute.has_strategy() and replica is not None
            and replica.num_replicas_in_sync > 1):
        return replica
    return None


def _dense(gradient: Any, like: Any) -> Tensor:
    if gradient is None:
        return tf.zeros_like(like)
    return tf.convert_to_tensor(gradient)


def _columns(flat: Tensor) -> Any:
    size = flat.shape[1]
    return size if size is not None else tf.shape(flat)[1]


def _once(fn: Any, *args: Tensor) -> Any:
    """Runs `fn(*args)` once per step, also under a strategy.

    The replicas aggregate identical (all-reduced) inputs, but a random
    aggregator (PCGrad's task order) or a stateful one (moving averages)
    must draw and update once per step, as on one device: under a strategy
    `fn` runs in the cross-replica context on replica 0's values, and every
    replica receives its result."""
    replica = _replica_context()
    if replica is None:
        return fn(*args)

    def merged(strategy: Any, *values: Any) -> Any:
        return fn(*[strategy.experimental_local_results(v)[0]
                    for v in values])

    return replica.merge_call(merged, args=args)


def _uses_gramian(aggregator: Aggregator) -> bool:
    """Whether `aggregator(J)` is `αᵀ J` with `α` from the Gramian."""
    return isinstance(aggregator, GramianAggregator) and (
        type(aggregator).call is GramianAggregator.call)


def resolve_mode(aggregator: Any, mode: str | None) -> str:
    """The aggregation mode: `mode`, or the aggregator's `default_mode`
    attribute, or `"jacobian"`."""
    if mode is None:
        mode = getattr(aggregator, "default_mode", "jacobian")
    if mode not in MODES:
        raise ValueError(
            f"Argument `aggregation_mode` must be one of {list(MODES)} (or "
            f"None for the aggregator's default). Received: "
            f"aggregation_mode={mode!r}.")
    return mode


class GradientEngine:
    """Computes the step's gradients for `model.trainable_variables`.

    Args:
        model: The `MultiTaskModel`.
        aggregator: An `Aggregator`, or None for the fast path.
        mode: `"jacobian"`, `"representation"` or None (the aggregator's
            `default_mode`, else `"jacobian"`). Ignored without an
            aggregator.
    """

    def __init__(self, model: Any, aggregator: Any = None,
                 mode: str | None = None) -> None:
        self.model = model
        self.aggregator = aggregator
        self.mode = resolve_mode(aggregator, mode)
        # Set by `keras_mtl.nonfinite`: maps the flattened `[T, n]` stacks
        # to stacks whose non-finite task rows are zeroed.
        self.row_filter: Any = None
        if (aggregator is not None and self.mode == "representation"
                and model.representation_layer is None):
            raise ValueError(
                f"aggregation_mode='representation' needs one shared "
                f"representation, but model {model.name!r} has none "
                "(MMoE, PLE, cross-stitch and sharing_depth=0 models feed "
                "the tasks from several tensors). Use "
                "aggregation_mode='jacobian', or build the model with a "
                "`representation` layer (the hard-sharing builder names it "
                "'shared_representation').")

    @property
    def persistent(self) -> bool:
        """Whether the step's tape must serve several gradient calls."""
        return self.aggregator is not None

    @property
    def needs_representation(self) -> bool:
        """Whether the forward pass must also return the representation."""
        return self.aggregator is not None and self.mode == "representation"

    def gradients(
        self, tape: tf.GradientTape, objective: Tensor,
        weighted_losses: Tensor, extra: Tensor,
        representation: Tensor | None,
    ) -> list:
        """Returns gradients aligned with `model.trainable_variables`.

        Args:
            tape: The step's tape (persistent when `self.persistent`).
            objective: The scalar (loss-scaled) training objective,
                `sum(weighted_losses) + extra`, computed inside the tape.
            weighted_losses: `[T]` weighted (and loss-scaled) task losses,
                computed inside the tape. On each replica they are partial
                losses that sum over replicas to the global-batch values.
            extra: Scalar non-task terms of the objective (regularizers).
            representation: The shared representation, when
                `needs_representation`.
        """
        variables = self.model.trainable_variables
        if self.aggregator is None:
            return tape.gradient(objective, variables)
        model = self.model
        shared = model.shared_variables
        task_variables = model.task_variables
        owned = {id(v) for v in shared}
        for own in task_variables.values():
            owned.update(id(v) for v in own)
        by_id: dict[int, Any] = {}

        # Per task: one reverse pass to the shared variables (Jacobian
        # mode) or to the representation (representation mode), which
        # also gives the task's own variables their gradient.
        sources = ([representation] if self.needs_representation
                   else list(shared))
        rows = []
        num_tasks = len(model.task_names)
        for t, name in enumerate(model.task_names):
            own = task_variables[name]
            targets = sources + own
            # A one-hot cotangent selects task t: slicing the losses here,
            # after the tape has stopped recording, would cut the graph.
            grads = tape.gradient(
                weighted_losses, targets, output_gradients=tf.one_hot(
                    t, num_tasks, dtype=weighted_losses.dtype))
            split = len(targets) - len(own)
            rows.append(grads[:split])
            by_id.update((id(v), g) for v, g in zip(own, grads[split:]))
        if self.needs_representation:
            cotangent = self._aggregate_representation(
                [r[0] for r in rows], representation)
            shared_grads = tape.gradient(
                representation, shared, output_gradients=cotangent)
            missing = [v.path for v, g in zip(shared, shared_grads)
                       if g is None]
            if missing:
                raise ValueError(
                    f"Shared variables {missing} of model {model.name!r} "
                    "are not below its representation layer "
                    f"{model.representation_layer.name!r}, so "
                    "representation mode cannot reach them. Use "
                    "aggregation_mode='jacobian'.")
        else:
            stacks = [tf.stack([_dense(r[i], v) for r in rows])
                      for i, v in enumerate(shared)]
            shared_grads = self._aggregate_jacobian(stacks)
        by_id.update((id(v), g) for v, g in zip(shared, shared_grads))

        # Regularizers (weight decay terms in model.losses, learned-weight
        # penalties) act on their variables directly, after aggregation.
        owned_list = [v for v in variables if id(v) in owned]
        for v, g in zip(owned_list, tape.gradient(extra, owned_list)):
            if g is not None:
                base = by_id.get(id(v))
                by_id[id(v)] = g if base is None else base + tf.cast(
                    g, base.dtype)
        rest = [v for v in variables if id(v) not in owned]
        if rest:  # e.g. the log-variances of uncertainty weighting
            by_id.update(zip(map(id, rest), tape.gradient(objective, rest)))
        return [by_id.get(id(v)) for v in variables]

    # ------------------------------------------------------------------
    # Aggregation of the stacked per-task gradients.

    def _loss_scale(self) -> Tensor:
        return tf.cast(self.model.optimizer.scale_loss(
            tf.constant(1.0, tf.float32)), tf.float32)

    def _aggregate_jacobian(self, stacks: list) -> list:
        """`[T, *shape]` per-task gradients of each shared variable to
        the aggregated gradient of each."""
        replica = _replica_context()
        if replica is not None:
            stacks = replica.all_reduce(tf.distribute.ReduceOp.SUM, stacks)
        directions = self._aggregate(stacks)
        if replica is not None:  # apply_gradients sums over replicas
            n = float(replica.num_replicas_in_sync)
            directions = [d / tf.cast(n, d.dtype) for d in directions]
        return directions

    def _aggregate_representation(
        self, rows: list, representation: Tensor
    ) -> Tensor:
        """Per-task gradients w.r.t. this replica's `[B, ...]`
        representation to the aggregated `[B, ...]` cotangent."""
        stack = tf.stack([_dense(r, representation) for r in rows])
        replica = _replica_context()
        if replica is None:
            return self._aggregate([stack])[0]
        if _uses_gramian(self.aggregator):
            # The replicas hold disjoint samples: G = Σ_r J_r J_rᵀ.
            return self._aggregate([stack], replica=replica)[0]
        gathered = replica.all_gather(stack, axis=1)  # [T, N·B, ...]
        direction = self._aggregate([gathered])[0]
        # This replica's rows; the last batch may split unevenly.
        size = tf.shape(stack)[1:2]
        sizes = replica.all_gather(size, axis=0)  # [N]
        replica_id = tf.cast(replica.replica_id_in_sync_group, tf.int32)
        start = tf.reduce_sum(sizes[:replica_id])
        return direction[start:start + size[0]]

    def _aggregate(self, stacks: list, replica: Any = None) -> list:
        """Aggregates `[T, *shape]` stacks (the loss-scaled Jacobian split
        by variable) into one loss-scaled direction per stack.

        With `replica`, the Gramian is summed over replicas (for Jacobians
        whose columns are split across them)."""
        aggregator = self.aggregator
        num_tasks = len(self.model.task_names)
        scale = self._loss_scale()
        flat = [tf.cast(tf.reshape(s, [num_tasks, -1]), tf.float32)
                for s in stacks]
        if self.row_filter is not None:  # compile(on_nonfinite=...)
            flat = self.row_filter(flat)
        kept = self.model.supervised_task_indices
        if len(kept) < num_tasks:  # tasks without a loss have zero rows
            flat = [tf.gather(f, kept) for f in flat]
        if _uses_gramian(aggregator):
            gramian = tf.add_n([tf.matmul(f, f, transpose_b=True)
                                for f in flat]) / (scale * scale)
            if replica is not None:
                gramian = replica.all_reduce(
                    tf.distribute.ReduceOp.SUM, gramian)
            alpha = _once(aggregator.weights_from_gramian, gramian)
            alpha = tf.where(tf.reduce_all(tf.math.is_finite(gramian)),
                             tf.cast(alpha, tf.float32), float("nan"))
            return [tf.cast(tf.reshape(tf.matmul(alpha[None], f),
                               tf.shape(s)[1:]), s.dtype)
                    for f, s in zip(flat, stacks)]
        jacobian = tf.concat(flat, axis=1) if len(flat) > 1 else flat[0]
        direction = tf.cast(_once(aggregator, jacobian / scale),
                            tf.float32) * scale
        direction = tf.where(tf.reduce_all(tf.math.is_finite(jacobian)),
                             direction, float("nan"))
        parts = (tf.split(direction, [_columns(f) for f in flat])
                 if len(flat) > 1 else [direction])
        return [tf.cast(tf.reshape(p, tf.shape(s)[1:]), s.dtype)
                for p, s in zip(parts, stacks)]
