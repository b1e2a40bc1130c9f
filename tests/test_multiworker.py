"""Two worker processes on 127.0.0.1 with MultiWorkerMirroredStrategy take
the single-process step on the global batch, UPGrad included.

Each worker is this file run as a script with `TF_CONFIG` naming both
workers (free loopback ports). Each step's global batch of 32 samples is
split between the workers (16 each); task `a` misses labels in worker 1's
half only, so the workers see different label counts; at step 2 an Inf in
task `b`'s own input reaches worker 1's half only, so that worker 0 must
learn from the all-reduced flags that `b` leaves that step
(`on_nonfinite="drop_task"`). Both workers must end with identical
weights, equal within 1e-5 to one process training on the global batches.
Then, under `on_nonfinite="skip_step"`, a step whose Inf only worker 1
sees is skipped by both (a conditional update in the cross-replica
context).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

STEPS, GLOBAL_BATCH, WORKERS = 4, 32, 2
TIMEOUT_S = 150


def data() -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    n = STEPS * GLOBAL_BATCH
    x = {"shared_in": rng.normal(size=(n, 6)).astype("float32"),
         "b_in": rng.normal(size=(n, 2)).astype("float32")}
    y = {"a": (x["shared_in"] @ rng.normal(size=(6, 1))).astype("float32"),
         "b": (x["shared_in"][:, :1] > 0).astype("float32")}
    half = GLOBAL_BATCH // WORKERS
    rows = np.arange(n)
    y["a"][(rows % GLOBAL_BATCH >= half) & (rows % 3 == 0)] = np.nan
    x["b_in"][2 * GLOBAL_BATCH + half + 1, 0] = np.inf
    return x, y


def build():
    import keras

    import keras_mtl

    keras.utils.set_random_seed(0)
    shared_in = keras.Input((6,), name="shared_in")
    b_in = keras.Input((2,), name="b_in")
    z = keras.layers.Dense(16, activation="relu", name="trunk_0")(shared_in)
    z = keras.layers.Dense(8, activation="relu", name="trunk_1")(z)
    a = keras.layers.Dense(1, name="a")(z)
    b = keras.layers.Dense(1, activation="sigmoid", name="b")(
        keras.layers.Concatenate(name="b_concat")([z, b_in]))
    model = keras_mtl.MultiTaskModel(
        {"shared_in": shared_in, "b_in": b_in}, {"a": a, "b": b},
        tasks=[keras_mtl.Task("a", "regression"),
               keras_mtl.Task("b", "binary")])
    model.compile(keras.optimizers.SGD(0.05), aggregator="upgrad")
    return model


def train(model, dataset) -> list:
    history = model.fit(dataset, epochs=1, steps_per_epoch=STEPS, verbose=0,
                        shuffle=False)
    assert history.history["b_nonfinite"] == [1.0], history.history
    return [np.asarray(w) for w in model.get_weights()]


def _worker(index: int, out: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y = data()
    half = GLOBAL_BATCH // WORKERS

    def worker_data(context):
        start = context.input_pipeline_id * half
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(
            GLOBAL_BATCH)
        return dataset.map(lambda x, y: tf.nest.map_structure(
            lambda t: t[start:start + half], (x, y)))

    dataset = strategy.distribute_datasets_from_function(worker_data)
    with strategy.scope():
        model = build()
    weights = train(model, dataset)
    np.savez(os.path.join(out, f"worker_{index}.npz"), *weights,
             replicas=strategy.num_replicas_in_sync)

    # skip_step: a conditional optimizer update (in the cross-replica
    # context) that both workers skip when only worker 1 sees the Inf.
    def bad_step(context):
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).skip(
            2 * GLOBAL_BATCH).take(GLOBAL_BATCH).batch(GLOBAL_BATCH)
        start = context.input_pipeline_id * half
        return dataset.map(lambda x, y: tf.nest.map_structure(
            lambda t: t[start:start + half], (x, y)))

    with strategy.scope():
        model.compile(keras.optimizers.SGD(0.05), aggregator="upgrad",
                      on_nonfinite="skip_step")
    history = model.fit(strategy.distribute_datasets_from_function(bad_step),
                        epochs=1, steps_per_epoch=1, verbose=0)
    assert history.history["nonfinite_steps"] == [1.0], history.history
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert int(model.optimizer.iterations.numpy()) == 0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_take_the_single_process_step():
    import tensorflow as tf

    out = tempfile.mkdtemp()
    workers = [f"127.0.0.1:{p}" for p in _free_ports(WORKERS)]
    processes = []
    for index in range(WORKERS):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers},
             "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, __file__, str(index), out], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for process in processes:
            logs.append(process.communicate(timeout=TIMEOUT_S)[0])
    except subprocess.TimeoutExpired:
        pytest.fail(f"The workers did not finish within {TIMEOUT_S} s.")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-4000:]

    x, y = data()
    single = train(build(), tf.data.Dataset.from_tensor_slices(
        (x, y)).batch(GLOBAL_BATCH))
    results = [np.load(os.path.join(out, f"worker_{i}.npz"))
               for i in range(WORKERS)]
    assert all(int(r["replicas"]) == WORKERS for r in results)
    first, second = ([r[f"arr_{i}"] for i in range(len(single))]
                     for r in results)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    start = build().get_weights()
    moved = max(float(np.max(np.abs(a - s))) for a, s in zip(single, start))
    assert moved > 1e-2  # the comparison is not between untrained models
    for a, b in zip(first, single):
        np.testing.assert_allclose(a, b, atol=1e-5)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), sys.argv[2])
