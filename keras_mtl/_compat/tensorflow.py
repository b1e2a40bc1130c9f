"""TensorFlow private names that keras_mtl needs, one small function each,
and the one helper that finds the replica context of a training step.

Checked against TensorFlow 2.21.0.
"""

from typing import Any

import tensorflow as tf


def strategy_supports_no_merge_call() -> bool:
    """Whether the current strategy runs `apply_gradients` without a
    `merge_call` (so a `tf.cond` around it may stay in replica context).

    Why private: TensorFlow answers this only in
    `tf.__internal__.distribute.strategy_supports_no_merge_call`, which
    Keras's own `LossScaleOptimizer` reads for the same decision.

    Checked against: TensorFlow 2.21.0.
    """
    return bool(tf.__internal__.distribute.strategy_supports_no_merge_call())


def in_multi_worker_mode(strategy: Any) -> bool:
    """Whether `strategy` (a `MultiWorkerMirroredStrategy`) spans more than
    one worker process; False for every other strategy.

    Why private: the public cluster resolver lists the cluster's jobs, but
    which of them count as workers (chief yes, evaluator no) is decided by
    `CollectiveAllReduceExtended._in_multi_worker_mode`; reading it keeps
    the answer identical to the collectives TensorFlow actually runs.

    Checked against: TensorFlow 2.21.0.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return bool(strategy.extended._in_multi_worker_mode())


def replica_context(min_replicas: int = 2) -> Any:
    """The replica context of the current `tf.distribute` step, or None.

    Returns the context when code runs inside a strategy's replica
    function with at least `min_replicas` replicas in sync, and None
    outside any strategy, in a cross-replica context, or with fewer
    replicas. `min_replicas=2` (the default) asks "must values be
    all-reduced?"; `min_replicas=1` asks "am I in a strategy's replica
    function at all?" (e.g. to `merge_call` a variable update).

    This uses public API only; it lives here so the training step asks
    one function instead of repeating the test.

    Args:
        min_replicas: Int >= 1. Fewest replicas in sync for which the
            context is returned. Defaults to 2.
    """
    if min_replicas < 1:
        raise ValueError(
            "Argument `min_replicas` must be >= 1. Received: "
            f"min_replicas={min_replicas!r}.")
    if not tf.distribute.has_strategy():
        return None
    replica = tf.distribute.get_replica_context()
    if replica is None or replica.num_replicas_in_sync < min_replicas:
        return None
    return replica


def cond_as_call(pred: Any, true_fn: Any, false_fn: Any) -> Any:
    """`tf.cond(pred, true_fn, false_fn)` that runs as one function call
    of the branch taken, instead of being lowered to `Switch`/`Merge`.

    In a graph, TensorFlow lowers a `tf.cond` into the ops of both
    branches behind `Switch` nodes; on every call the executor visits each
    op of the branch not taken to propagate its "dead" input. For a rarely
    taken branch with hundreds of ops (the step's repair path: `T`
    backward passes, an update, a verification) that bookkeeping costs
    more per step than the ops that do run (measured: ~170 µs of a 3.4 ms
    MLP step on these CPUs). Left as an `If` op, only the taken branch's
    function runs. Control dependencies inside the branches are kept
    (the branches are built by `tf.cond` itself).

    Why private: whether an `If` op is lowered is decided by its
    `_lower_using_switch_merge` attribute, which TensorFlow sets itself
    (`control_flow_util_v2.maybe_set_lowering_attr`) and exposes no
    argument for; `tf.cond` is built as usual and the attribute set on
    the `If` op it created in the current graph. Eagerly (no graph)
    this is plain `tf.cond`.

    Checked against: TensorFlow 2.21.0.
    """
    from tensorflow.core.framework import attr_value_pb2

    if tf.executing_eagerly():
        return tf.cond(pred, true_fn, false_fn)
    graph = tf.compat.v1.get_default_graph()
    known = {id(op) for op in graph.get_operations()}
    outputs = tf.cond(pred, true_fn, false_fn)
    for op in graph.get_operations():
        if id(op) not in known and op.type in ("If", "StatelessIf"):
            op._set_attr("_lower_using_switch_merge",
                         attr_value_pb2.AttrValue(b=False))
    return outputs
