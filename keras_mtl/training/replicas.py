"""What the training step needs from `tf.distribute`, in one place.

Under a strategy the step runs once per replica. Task losses are partial
sums that add up over replicas (`keras_mtl.training.task_losses`), the
decisions of the non-finite policy are OR-ed over replicas so that every
replica takes the same branch, and conditional writes (the optimizer
update, a rollback) run in the cross-replica context, because
`apply_gradients` and writes to mirrored variables call `merge_call`,
which a `tf.cond` in a replica context cannot hold (Keras's own
`LossScaleOptimizer` does the same).
"""

from typing import Any
from typing import Callable
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl._compat import tensorflow as tensorflow_compat
from keras_mtl.types import Tensor


def replica_context() -> Any:
    """The replica context when running in sync on 2+ replicas, else None."""
    return tensorflow_compat.replica_context()


def replica_scale() -> float:
    """`1 / N` under N replicas (1 on one device): the share of a term that
    must count once when the replicas' gradients are summed."""
    replica = replica_context()
    return 1.0 / replica.num_replicas_in_sync if replica else 1.0


def sum_over_replicas(values: Any) -> Any:
    """`values` summed over replicas (unchanged on one device)."""
    replica = replica_context()
    if replica is None:
        return values
    return replica.all_reduce(tf.distribute.ReduceOp.SUM, values)


def any_replica(flags: Tensor) -> Tensor:
    """`flags` (bool) OR-ed over replicas, identical on every replica."""
    if replica_context() is None:
        return flags
    return sum_over_replicas(tf.cast(flags, tf.float32)) > 0.0


def once(fn: Callable[..., Any], *args: Tensor) -> Any:
    """Runs `fn(*args)` once per step, also under a strategy.

    The replicas hold identical (all-reduced) inputs, but a random
    aggregator (PCGrad's task order) or a stateful one (moving averages)
    must draw and update once per step, as on one device: under a strategy
    `fn` runs in the cross-replica context on replica 0's values and every
    replica receives its result."""
    replica = replica_context()
    if replica is None:
        return fn(*args)

    def merged(strategy: Any, *values: Any) -> Any:
        return fn(*[strategy.experimental_local_results(v)[0]
                    for v in values])

    return replica.merge_call(merged, args=args)


def run_if(allowed: Tensor, fn: Callable[[list], None],
           values: Sequence[Any]) -> None:
    """`fn(values)` under `tf.cond(allowed, ...)`; `allowed` must be equal
    on every replica. `values` may hold None (passed through)."""
    present = [i for i, v in enumerate(values) if v is not None]

    def run(*given: Tensor) -> None:
        full: list = [None] * len(values)
        for i, value in zip(present, given):
            full[i] = value
        fn(full)

    given = [values[i] for i in present]
    if (not tf.distribute.has_strategy()
            or tensorflow_compat.strategy_supports_no_merge_call()):
        tf.cond(allowed, lambda: run(*given), lambda: None)
        return

    def cross_replica(strategy: Any, allowed: Any, *given: Any) -> None:
        first = strategy.experimental_local_results(allowed)[0]
        tf.cond(first, lambda: strategy.extended.call_for_each_replica(
            run, args=given), lambda: None)

    tf.distribute.get_replica_context().merge_call(
        cross_replica, args=(allowed, *given))


def assign_all(variables: Sequence[Any], values: Sequence[Tensor]) -> None:
    """Assigns `values` to (Keras or TF) `variables`; under a strategy
    the writes go through the strategy in the cross-replica context."""
    targets = [v.value if isinstance(v, keras.Variable) else v
               for v in variables]
    replica = tensorflow_compat.replica_context(min_replicas=1)
    if replica is not None:
        replica.merge_call(_assign_cross_replica, args=(targets, values))
        return
    for target, value in zip(targets, values):
        target.assign(value)


def _assign_cross_replica(strategy: Any, targets: list,
                          values: list) -> None:
    for target, value in zip(targets, values):
        if isinstance(target, tf.distribute.DistributedValues):
            strategy.extended.update(
                target, lambda var, new: var.assign(new), args=(value,),
                group=False)
        else:  # created outside the scope (e.g. a seed generator's state)
            target.assign(strategy.experimental_local_results(value)[0])
