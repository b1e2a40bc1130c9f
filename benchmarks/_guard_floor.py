"""The least a transactional step can cost: plain Keras plus a bare guard.

`GuardedKerasModel` is `keras.Model` whose `train_step` is Keras's own
(forward, compiled loss, one backward pass, one apply, compiled metrics)
plus only what any step that promises "a bad update is never kept" must
add, whatever library implements it:

- read every variable the apply may write, before it (the snapshot);
- one sum of squares per gradient, to catch a finite gradient whose
  square overflows (it would write Inf into Adam's second moment);
- one sum per variable after the apply, to check what was written;
- one conditional rollback.

It has no per-task anything (no masking, no per-task loss, no policy
choices), so `bench_fit_overhead.py` can show how much of keras_mtl's
cost over plain `fit` is this floor and how much is keras_mtl's own.
Benchmark-only: it is not part of the package.
"""

from typing import Any

import keras
import tensorflow as tf


class GuardedKerasModel(keras.Model):
    """`keras.Model` with a bare transactional guard around its step."""

    def train_step(self, data: Any) -> dict:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        state = [v for v in list(self.variables) + list(
            self.optimizer.variables)]
        snapshot = [tf.convert_to_tensor(v) for v in state]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred,
                                     sample_weight=sample_weight,
                                     training=True)
        gradients = tape.gradient(loss, variables)
        safe = tf.reduce_all(tf.math.is_finite(tf.stack(
            [tf.nn.l2_loss(g) for g in gradients])))
        self.optimizer.apply_gradients(zip(gradients, variables))
        written = tf.reduce_all(tf.math.is_finite(tf.stack([
            tf.reduce_sum(tf.cast(tf.convert_to_tensor(v), tf.float32))
            for v in state if tf.as_dtype(v.dtype).is_floating])))

        def rollback() -> None:
            for variable, value in zip(state, snapshot):
                variable.assign(value)

        tf.cond(tf.logical_and(safe, written), lambda: None, rollback)
        return self.compute_metrics(x, y, y_pred, sample_weight)
