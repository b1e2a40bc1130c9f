"""A repaired `drop_task` step ends the same on one device (update first,
then restore and repair) and under MirroredStrategy (verdict first, then
the update): the healthy tasks train, and what the weighting and the
aggregator learned during the faulty step is restored in both.

TensorFlow fixes its devices at initialisation, so the comparison runs in
a fresh interpreter that splits the CPU into two logical devices."""

import textwrap

from two_replicas import results_of

SCRIPT = textwrap.dedent('''
    import contextlib
    import json
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    import keras_mtl

    def sqrt_loss(y_true, y_pred):  # NaN on a negative label
        return tf.reduce_mean(tf.square(y_pred - tf.sqrt(y_true)), axis=-1)

    rng = np.random.default_rng(0)
    n = 96
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {"a": (x @ rng.normal(size=(6, 1))).astype("float32"),
         "b": np.abs(x @ rng.normal(size=(6, 1))).astype("float32")}
    y["b"][40, 0] = -1.0  # the second of three batches: b is faulty

    def run(strategy, weighting, aggregator):
        keras.utils.set_random_seed(0)
        scope = strategy.scope() if strategy else contextlib.nullcontext()
        with scope:
            tasks = [keras_mtl.Task("a", "regression"),
                     keras_mtl.Task("b", "regression", loss=sqrt_loss)]
            model = keras_mtl.build(keras.Input((6,)), tasks, trunk=(8, 8))
            model.compile(keras.optimizers.Adam(0.05), weighting=weighting,
                          aggregator=aggregator)
        history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False,
                            verbose=0).history
        learned = [np.array(v.numpy()) for part in (
            model.weighting, model.aggregator) for v in (
            getattr(part, "variables", None) or [])]
        return ([np.array(w) for w in model.get_weights()], learned,
                {k: history[k] for k in ("a_nonfinite", "b_nonfinite",
                                         "nonfinite_steps")})

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for weighting, aggregator in [
            ("gradnorm", None), ("equal", keras_mtl.aggregators.PCGrad)]:
        make = (lambda: None) if aggregator is None else (
            lambda: aggregator(seed=3))
        one, one_learned, one_logs = run(None, weighting, make())
        many, many_learned, many_logs = run(strategy, weighting, make())
        results[weighting] = {
            "weights": max(float(np.abs(a - b).max())
                           for a, b in zip(one, many)),
            "learned": max([float(np.abs(a.astype("float64")
                                         - b.astype("float64")).max())
                            for a, b in zip(one_learned, many_learned)]
                           + [0.0]),
            "n_learned": len(one_learned),
            "finite": bool(all(np.isfinite(w).all() for w in one + many)),
            "logs": [one_logs, many_logs],
        }
    print("RESULTS" + json.dumps(results))
''')


def test_a_repaired_step_is_the_same_on_one_device_and_two_replicas():
    results = results_of(SCRIPT)
    assert set(results) == {"gradnorm", "equal"}
    for name, result in results.items():
        assert result["finite"], name
        assert result["n_learned"] > 0, name  # GradNorm's / PCGrad's state
        assert result["weights"] < 1e-5, (name, result)
        assert result["learned"] < 1e-5, (name, result)
        for logs in result["logs"]:
            assert logs["b_nonfinite"] == [1.0], (name, logs)
            assert logs["a_nonfinite"] == [0.0], (name, logs)
            assert logs["nonfinite_steps"] == [1.0], (name, logs)
