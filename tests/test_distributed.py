"""MirroredStrategy over two logical CPU devices takes the single-device
step on the global batch, for non-linear aggregators in both modes, and
logs the global-batch task losses.

TensorFlow fixes its devices at initialisation, so the comparison runs in
a fresh interpreter that splits the CPU into two logical devices. The
three cases cover the engine's three distributed paths: all-reduce of the
per-task gradients (Jacobian mode, PCGrad: also checks that a random
aggregator draws once per step, as on one device), all-reduce of the
Gramian (representation mode, UPGrad) and all-gather of the
representation gradients (representation mode, an aggregator that only
defines `call`)."""

import textwrap

from two_replicas import results_of

SCRIPT = textwrap.dedent('''
    import json
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import contextlib
    import keras
    import numpy as np
    import keras_mtl

    rng = np.random.default_rng(0)
    n = 127  # the last batch (63) splits unevenly: 32 + 31
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {"a": (x @ rng.normal(size=(6, 1))).astype("float32"),
         "b": (x @ rng.normal(size=(6, 1)) > 0).astype("float32"),
         "c": (-x @ rng.normal(size=(6, 1))).astype("float32")}
    # Task "c" misses most labels in the first half of every batch, so the
    # replicas see different label counts.
    y["c"][np.arange(n) % 64 < 24] = np.nan

    class CallUPGrad(keras_mtl.aggregators.Aggregator):
        """UPGrad through `call`: the engine's all-gather path."""

        def call(self, jacobian):
            return keras_mtl.aggregators.UPGrad()(jacobian)

    def run(strategy, aggregator, mode):
        keras.utils.set_random_seed(0)
        scope = strategy.scope() if strategy else contextlib.nullcontext()
        with scope:
            tasks = [keras_mtl.Task("a", "regression"),
                     keras_mtl.Task("b", "binary"),
                     keras_mtl.Task("c", "regression")]
            model = keras_mtl.build(keras.Input((6,)), tasks, trunk=(16, 8))
            model.compile(keras.optimizers.SGD(0.1), aggregator=aggregator,
                          aggregation_mode=mode)
        start = [np.array(w) for w in model.get_weights()]
        history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False,
                            verbose=0)
        end = [np.array(w) for w in model.get_weights()]
        return start, end, history.history

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    makers = {"call_upgrad": CallUPGrad,
              "pcgrad": lambda: keras_mtl.aggregators.PCGrad(seed=4)}
    for name, mode in [("pcgrad", "jacobian"), ("upgrad", "representation"),
                       ("call_upgrad", "representation")]:
        make = makers.get(name, lambda n=name: n)
        start, single, single_logs = run(None, make(), mode)
        _, mirrored, mirrored_logs = run(strategy, make(), mode)
        results[f"{name}-{mode}"] = {
            "weights": max(float(np.abs(a - b).max())
                           for a, b in zip(single, mirrored)),
            "update": max(float(np.abs(a - b).max())
                          for a, b in zip(start, single)),
            "losses": {k: [single_logs[k], mirrored_logs[k]]
                       for k in single_logs if k.endswith("loss")},
            "replicas": strategy.num_replicas_in_sync,
        }
    print("RESULTS" + json.dumps(results))
''')


def test_mirrored_strategy_matches_one_device_on_the_global_batch():
    results = results_of(SCRIPT)
    assert set(results) == {"pcgrad-jacobian", "upgrad-representation",
                            "call_upgrad-representation"}
    for name, result in results.items():
        assert result["replicas"] == 2
        # The training moved the weights, and both runs moved them alike.
        assert result["update"] > 1e-2, name
        assert result["weights"] < 1e-5 * max(1.0, result["update"]), (
            name, result)
        for key, (single, mirrored) in result["losses"].items():
            # Logged per-task losses are the global-batch values.
            assert len(single) == len(mirrored) == 1
            for a, b in zip(single, mirrored):
                assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (name, key)
