"""The peers' multi-task workload, shared by the keras_mtl benchmarks.

LeNet-style trunk (conv 32 5x5, max-pool, conv 64 5x5, max-pool, dense
128), T heads (dense 64 relu, dense 10), batch 256, random 28x28x1
inputs, as in the TorchJD / LibMTL comparisons of issue 6. Timing is done
inside one `fit` epoch by a callback, so that `fit`'s start-up is left
out, and variants are interleaved repetition by repetition (the machine
is shared) with the median reported.
"""

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_mtl  # noqa: E402

BATCH = 256


def set_threads(threads: int) -> None:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def tasks(num_tasks: int) -> list:
    return [keras_mtl.Task(f"task_{i}", "multiclass", num_classes=10,
                           head_units=(64,)) for i in range(num_tasks)]


def graph(num_tasks: int) -> tuple:
    """Returns `(inputs, outputs, task_list)` of a fresh LeNet graph."""
    task_list = tasks(num_tasks)
    inputs = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(32, 5, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 5, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Identity(name="shared_representation")(h)
    outputs = {t.name: t.build_head(h) for t in task_list}
    return inputs, outputs, task_list


def multitask_model(num_tasks: int, **compile_args: Any) -> keras.Model:
    inputs, outputs, task_list = graph(num_tasks)
    model = keras_mtl.MultiTaskModel(
        inputs, outputs, tasks=task_list,
        representation="shared_representation")
    model.compile(keras.optimizers.SGD(0.01), **compile_args)
    return model


def plain_model(num_tasks: int) -> keras.Model:
    """Plain Keras on the same graph, losses and metrics."""
    inputs, outputs, task_list = graph(num_tasks)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.01),
        loss={t.name: "sparse_categorical_crossentropy" for t in task_list},
        metrics={t.name: ["accuracy"] for t in task_list})
    return model


class FloorLoop:
    """The floor of Jacobian-mode aggregation, as a bare Keras/TF loop.

    One `tf.function` per step: one forward pass of the same graph, `T`
    `tape.gradient` calls on a persistent tape (one per task loss, over
    all trainable variables), the mean of the `T` gradients (a variable a
    task does not reach counts as a zero row) applied with the same
    optimizer. No metrics, no guard, no aggregation: what any Jacobian
    method must at least pay.
    """

    def __init__(self, num_tasks: int) -> None:
        inputs, outputs, task_list = graph(num_tasks)
        self.model = keras.Model(inputs, outputs)
        self.names = [t.name for t in task_list]
        self.loss = keras.losses.SparseCategoricalCrossentropy()
        self.optimizer = keras.optimizers.SGD(0.01)
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.function(self._step)

    def _step(self, x: Any, y: dict) -> Any:
        variables = self.model.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            out = self.model(x, training=True)
            losses = [self.loss(y[k], out[k]) for k in self.names]
        rows = [tape.gradient(loss, variables) for loss in losses]
        count = float(len(losses))
        mean = [tf.add_n([r[i] for r in rows if r[i] is not None]) / count
                for i in range(len(variables))]
        self.optimizer.apply_gradients(zip(mean, variables))
        return tf.add_n(losses)

    def batches(self, x: Any, y: dict) -> list:
        """`x, y` cut into batches of `BATCH` as tensors (made once)."""
        return [(tf.constant(x[i:i + BATCH]),
                 {k: tf.constant(v[i:i + BATCH]) for k, v in y.items()})
                for i in range(0, len(x), BATCH)]

    def steps_per_second(self, batches: list, skip: int = 1) -> float:
        """Steps per second over `batches`, leaving out the first `skip`."""
        ends = []
        for bx, by in batches:
            self.step(bx, by).numpy()  # waits for the step
            ends.append(time.perf_counter())
        ends = ends[skip:]  # as `steps_per_second` below
        return (len(ends) - 1) / (ends[-1] - ends[0])


def data(num_tasks: int, steps: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    n = BATCH * steps
    x = rng.normal(size=(n, 28, 28, 1)).astype("float32")
    y = {f"task_{i}": rng.integers(0, 10, size=(n,)).astype("int32")
         for i in range(num_tasks)}
    return x, y


class _StepTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.ends: list = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())


def steps_per_second(model: keras.Model, x: Any, y: Any,
                     skip: int = 2) -> float:
    """Steps per second over one epoch, leaving out the first `skip`."""
    timer = _StepTimer()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False,
              callbacks=[timer])
    ends = timer.ends[skip:]
    return (len(ends) - 1) / (ends[-1] - ends[0])


def interleaved(variants: dict[str, Callable[[], float]],
                repeats: int) -> dict[str, list]:
    """`repeats` measurements per variant, taken round-robin."""
    samples: dict[str, list] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, measure in variants.items():
            samples[name].append(measure())
    return samples


def summarize(samples: dict[str, list], baseline: str) -> dict[str, tuple]:
    """`{variant: (median steps/s, median cost)}`.

    The cost of a repetition is the baseline's steps/s measured in the same
    round divided by the variant's, so that slow drifts of the machine's
    load (it is shared) cancel; the median is over the rounds."""
    reference = samples[baseline]
    return {
        name: (statistics.median(rates), statistics.median(
            [b / r for b, r in zip(reference, rates)]))
        for name, rates in samples.items()}
