"""Training a `MultiTaskModel` with `MultiWorkerMirroredStrategy`.

Under `tf.distribute` the training step takes the single-device step on
the global batch (`keras_mtl.gradients`: per-task gradients are summed
over replicas before aggregation; task losses divide by the global label
counts), so the only multi-worker specific part is Keras's start of `fit`.

Keras 3.15 builds a distributed model from the first batch, all-reducing
the whole nested `(x, y)` batch in one `strategy.reduce` call.
`MirroredStrategy` maps that over the structure;
`MultiWorkerMirroredStrategy` does not, and `fit` fails with "Attempt to
convert a value ({...: PerReplica...}) ... to a Tensor" for any batch that
is a tuple or dict. `first_batch_for_build` reduces it leaf by leaf (the
same collectives in the same order on every worker).

Keras then reduces each step's logs with `strategy.reduce("MEAN", value,
axis=0)` under `MultiWorkerMirroredStrategy`, which fails on scalar logs
("Invalid reduction dimension 0 for input with 0 dimensions",
tensorflow/tensorflow#72388). `step_logs` gives them a leading axis of
size 1 there, so the reduction returns the mean over replicas as a
scalar; epoch logs are read from the metrics, summed over replicas.
"""

from typing import Any

import keras
import tensorflow as tf

from keras_mtl._compat import tensorflow as tensorflow_compat


def first_batch_for_build(strategy: Any, epoch_iterator: Any) -> Any:
    """The first batch of `epoch_iterator`, averaged over replicas leaf by
    leaf, as Keras's `_maybe_symbolic_build` needs it (for its shapes)."""
    for _, _, iterator in epoch_iterator:
        batch = next(iterator)
        return keras.tree.map_structure(
            lambda value: strategy.reduce("MEAN", value, axis=None)
            if isinstance(value, tf.distribute.DistributedValues) else value,
            batch)
    return None


def _multi_worker(strategy: Any) -> bool:
    return tensorflow_compat.in_multi_worker_mode(strategy)


def step_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """A step's `{name: scalar}` logs, shaped `[1]` under multi-worker
    `MultiWorkerMirroredStrategy` (unchanged otherwise)."""
    if not _multi_worker(tf.distribute.get_strategy()):
        return logs
    return {name: tf.reshape(value, [1])
            if tf.convert_to_tensor(value).shape.rank == 0 else value
            for name, value in logs.items()}
