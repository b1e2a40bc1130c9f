"""Stage 4 of the step: gradients and their aggregation.

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

Each row is the gradient of task `t`'s own weighted loss scalar, so it
visits task `t`'s graph only (see `keras_mtl.training.task_losses`).
With `screen_rows` (the non-finite policy), a row whose sum of squares
overflows is zeroed before aggregation and reported in the returned
`rows_ok` flags; the engine decides nothing else.

Mixed precision: the rows come from the loss-scaled objective; the
aggregator sees them unscaled (`J / scale`) and the direction is scaled
back, so methods that are not scale-invariant (Nash-MTL, GradVac targets)
act on true gradients. A non-finite Jacobian yields a non-finite direction
(never a silently finite one), so `LossScaleOptimizer` skips the step.
"""

from typing import Any
from typing import Sequence

import tensorflow as tf

from keras_mtl.aggregators.base import Aggregator
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.training.nonfinite import dense_gradient
from keras_mtl.training.ownership import Ownership
from keras_mtl.training.replicas import once
from keras_mtl.training.replicas import replica_context
from keras_mtl.types import Tensor

MODES = ("jacobian", "representation")


def _columns(flat: Tensor) -> Any:
    size = flat.shape[1]
    return size if size is not None else tf.shape(flat)[1]


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
    """Computes the step's gradients for `ownership.variables`.

    Args:
        aggregator: An `Aggregator`, or None for the fast path.
        mode: `"jacobian"`, `"representation"` or None (the aggregator's
            `default_mode`, else `"jacobian"`). Ignored without an
            aggregator.
        representation: Name of the model's shared representation layer,
            or None (representation mode then raises).
        model_name: For error messages.
        rows: Positions of the tasks whose rows the aggregator sees (the
            tasks that have a loss); None for all.
    """

    def __init__(self, aggregator: Any = None, mode: str | None = None,
                 representation: str | None = None,
                 model_name: str = "model",
                 rows: Sequence[int] | None = None) -> None:
        self.aggregator = aggregator
        self.rows = None if rows is None else list(rows)
        self.mode = resolve_mode(aggregator, mode)
        self.representation = representation
        self.model_name = model_name
        if (aggregator is not None and self.mode == "representation"
                and representation is None):
            raise ValueError(
                f"aggregation_mode='representation' needs one shared "
                f"representation, but model {model_name!r} has none "
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
        self, tape: tf.GradientTape, ownership: Ownership,
        objective: Tensor, weighted: Sequence[Tensor], extra: Tensor,
        representation: Tensor | None = None,
        loss_scale: Tensor | float = 1.0, screen_rows: bool = False,
        row_keep: Tensor | None = None,
    ) -> tuple[list, Tensor | None]:
        """Returns `(gradients, rows_ok)`.

        `gradients` are aligned with `ownership.variables`; `rows_ok` is
        the `[T]` bool of rows kept by `screen_rows` (None on the fast
        path or without screening).

        Args:
            tape: The step's tape (persistent when `self.persistent`).
            ownership: The step's `Ownership`.
            objective: The scalar (loss-scaled) training objective,
                `sum(weighted) + extra`, computed inside the tape.
            weighted: `T` scalars, each task's weighted (loss-scaled)
                partial loss, computed inside the tape.
            extra: Scalar non-task terms of the objective (regularizers).
            representation: The shared representation, when
                `needs_representation`.
            loss_scale: The optimizer's loss scale (1 without one).
            screen_rows: Zero Jacobian rows whose sum of squares
                overflows before aggregation.
            row_keep: Optional `[T]` bool: rows of the other tasks are
                zeroed before aggregation (tasks already left out).
        """
        variables = ownership.variables
        if self.aggregator is None:
            return tape.gradient(objective, variables), None
        shared = ownership.shared
        owned = {id(v) for v in shared}
        by_id: dict[int, Any] = {}

        # Per task: one reverse pass of its own scalar to the shared
        # variables (Jacobian mode) or to the representation
        # (representation mode), which also gives its own variables.
        sources = ([representation] if self.needs_representation
                   else list(shared))
        rows = []
        for t, own in enumerate(ownership.by_task.values()):
            owned.update(id(v) for v in own)
            grads = tape.gradient(weighted[t], sources + list(own))
            rows.append(grads[:len(sources)])
            by_id.update((id(v), g) for v, g in zip(own, grads[len(sources):]))
        if self.needs_representation:
            stack = tf.stack([dense_gradient(r[0], representation)
                              for r in rows])
            cotangent, rows_ok = self._aggregate_representation(
                stack, loss_scale, (screen_rows, row_keep))
            shared_grads = tape.gradient(
                representation, shared, output_gradients=cotangent)
            missing = [v.path for v, g in zip(shared, shared_grads)
                       if g is None]
            if missing:
                raise ValueError(
                    f"Shared variables {missing} of model "
                    f"{self.model_name!r} are not below its representation "
                    f"layer {self.representation!r}, so representation "
                    "mode cannot reach them. Use "
                    "aggregation_mode='jacobian'.")
        else:
            stacks = [tf.stack([dense_gradient(r[i], v) for r in rows])
                      for i, v in enumerate(shared)]
            shared_grads, rows_ok = self._aggregate_jacobian(
                stacks, loss_scale, (screen_rows, row_keep))
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
        return [by_id.get(id(v)) for v in variables], rows_ok

    # ------------------------------------------------------------------
    # Aggregation of the stacked per-task gradients.

    def _aggregate_jacobian(
        self, stacks: list, loss_scale: Any, screen: tuple
    ) -> tuple[list, Tensor | None]:
        """`[T, *shape]` per-task gradients of each shared variable to
        the aggregated gradient of each."""
        replica = replica_context()
        if replica is not None:
            stacks = replica.all_reduce(tf.distribute.ReduceOp.SUM, stacks)
        directions, rows_ok = self._aggregate(stacks, loss_scale, screen)
        if replica is not None:  # apply_gradients sums over replicas
            n = float(replica.num_replicas_in_sync)
            directions = [d / tf.cast(n, d.dtype) for d in directions]
        return directions, rows_ok

    def _aggregate_representation(
        self, stack: Tensor, loss_scale: Any, screen: tuple
    ) -> tuple[Tensor, Tensor | None]:
        """Per-task gradients w.r.t. this replica's `[B, ...]`
        representation to the aggregated `[B, ...]` cotangent."""
        replica = replica_context()
        if replica is None:
            directions, rows_ok = self._aggregate([stack], loss_scale, screen)
            return directions[0], rows_ok
        if _uses_gramian(self.aggregator):
            # The replicas hold disjoint samples: G = Σ_r J_r J_rᵀ.
            directions, rows_ok = self._aggregate(
                [stack], loss_scale, screen, replica=replica)
            return directions[0], rows_ok
        gathered = replica.all_gather(stack, axis=1)  # [T, N·B, ...]
        gathered.set_shape([stack.shape[0]] + [None] * (stack.shape.rank - 1))
        directions, rows_ok = self._aggregate([gathered], loss_scale, screen)
        # This replica's rows; the last batch may split unevenly.
        size = tf.shape(stack)[1:2]
        sizes = replica.all_gather(size, axis=0)  # [N]
        replica_id = tf.cast(replica.replica_id_in_sync_group, tf.int32)
        start = tf.reduce_sum(sizes[:replica_id])
        return directions[0][start:start + size[0]], rows_ok

    def _aggregate(self, stacks: list, loss_scale: Any = 1.0,
                   screen: tuple = (False, None),
                   replica: Any = None) -> tuple[list, Tensor | None]:
        """Aggregates `[T, *shape]` stacks (the loss-scaled Jacobian split
        by variable) into one loss-scaled direction per stack.

        `screen` is `(screen_rows, row_keep)`: rows whose sum of squares
        overflows (on any replica, with `replica`), and rows not in
        `row_keep`, are zeroed first; the kept rows are reported. With
        `replica`, the Gramian is summed over replicas (for Jacobians
        whose columns are split across them)."""
        aggregator = self.aggregator
        num_tasks = int(stacks[0].shape[0])
        scale = tf.cast(loss_scale, tf.float32)
        flat = [tf.cast(tf.reshape(s, [num_tasks, -1]), tf.float32)
                for s in stacks]
        screen_rows, rows_ok = screen
        if screen_rows:
            sums = tf.add_n([tf.reduce_sum(tf.square(f), axis=1)
                             for f in flat])
            finite = tf.math.is_finite(sums)
            if replica is not None:
                finite = replica.all_reduce(
                    tf.distribute.ReduceOp.SUM,
                    tf.cast(tf.logical_not(finite), tf.float32)) <= 0.0
            rows_ok = finite if rows_ok is None else tf.logical_and(
                rows_ok, finite)
        if rows_ok is not None:
            flat = [tf.where(rows_ok[:, None], f, tf.zeros_like(f))
                    for f in flat]
        if self.rows is not None and len(self.rows) < num_tasks:
            # Tasks without a loss have zero rows: the aggregator does not
            # see them.
            flat = [tf.gather(f, self.rows) for f in flat]
        if _uses_gramian(aggregator):
            gramian = tf.add_n([tf.matmul(f, f, transpose_b=True)
                                for f in flat]) / (scale * scale)
            if replica is not None:
                gramian = replica.all_reduce(
                    tf.distribute.ReduceOp.SUM, gramian)
            alpha = once(aggregator.weights_from_gramian, gramian)
            alpha = tf.where(tf.reduce_all(tf.math.is_finite(gramian)),
                             tf.cast(alpha, tf.float32), float("nan"))
            return [tf.cast(tf.reshape(tf.matmul(alpha[None], f),
                                       tf.shape(s)[1:]), s.dtype)
                    for f, s in zip(flat, stacks)], rows_ok
        jacobian = tf.concat(flat, axis=1) if len(flat) > 1 else flat[0]
        direction = tf.cast(once(aggregator, jacobian / scale),
                            tf.float32) * scale
        if not screen_rows:  # screened rows are finite or zeroed
            direction = tf.where(
                tf.reduce_all(tf.math.is_finite(jacobian)), direction,
                float("nan"))
        parts = (tf.split(direction, [_columns(f) for f in flat])
                 if len(flat) > 1 else [direction])
        return [tf.cast(tf.reshape(p, tf.shape(s)[1:]), s.dtype)
                for p, s in zip(parts, stacks)], rows_ok
