"""Issue 15's silent failures 1-10 of the training step, one test each.

Each test failed on the step before the `keras_mtl.training` rebuild and
passes with it. Failure 9 (counts under two replicas) runs in a fresh
interpreter: TensorFlow fixes its devices at initialisation.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl.monitoring import logged_names
from keras_mtl.nonfinite import NonFiniteError

N = 16


def _model(kinds=("regression", "regression"), own_input=True,
           frozen_last=False) -> keras_mtl.MultiTaskModel:
    """Tasks `a` and `b` on a two-layer trunk; `b` also reads `b_in`."""
    keras.utils.set_random_seed(3)
    x_in = keras.Input((4,), name="x")
    b_in = keras.Input((2,), name="b_in")
    z = keras.layers.Dense(6, activation="tanh", name="trunk_1")(x_in)
    z = keras.layers.Dense(5, activation="tanh", name="trunk_2",
                           trainable=not frozen_last)(z)
    a = keras.layers.Dense(1, name="a", activation=(
        "sigmoid" if kinds[0] == "binary" else None))(z)
    h = keras.layers.Concatenate(name="b_concat")([z, b_in]) if own_input \
        else z
    h = keras.layers.Dense(3, activation="relu", name="b_hidden")(h)
    b = keras.layers.Dense(1, name="b", activation=(
        "sigmoid" if kinds[1] == "binary" else None))(h)
    return keras_mtl.MultiTaskModel(
        {"x": x_in, "b_in": b_in}, {"a": a, "b": b},
        tasks=[keras_mtl.Task("a", kinds[0]), keras_mtl.Task("b", kinds[1])])


def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = {"x": rng.normal(size=(n, 4)).astype("float32"),
         "b_in": rng.normal(size=(n, 2)).astype("float32")}
    y = {"a": rng.normal(size=(n, 1)).astype("float32"),
         "b": rng.normal(size=(n, 1)).astype("float32")}
    return x, y


def _state(model) -> dict[str, np.ndarray]:
    """Every variable a step may write, by path, plus seed states."""
    found = {}
    parts = [model, model.optimizer, model.weighting]
    if model.aggregator is not None:
        parts.append(model.aggregator)
    for part in parts:
        for v in part.variables:
            found[f"{type(part).__name__}:{v.path}"] = np.array(v.numpy())
    for part in (model.weighting, model.aggregator):
        generator = getattr(part, "seed_generator", None)
        if generator is not None:
            found[f"seed:{part.name}"] = np.array(generator.state.numpy())
    return found


def _assert_all_finite(model):
    for key, value in _state(model).items():
        if value.dtype.kind == "f":
            assert np.isfinite(value).all(), key


# --- 1. finite but huge values write NaN -------------------------------

@pytest.mark.parametrize("policy", ["drop_task", "skip_step", "raise"])
def test_1_huge_finite_input_never_writes_a_nonfinite_value(policy):
    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), on_nonfinite=policy)
    x, y = _data()
    x["b_in"][5, 0] = 1e12
    try:
        model.fit(x, y, batch_size=N, epochs=2, verbose=0)
    except NonFiniteError:
        assert policy == "raise"
    _assert_all_finite(model)


def test_1_huge_regression_labels_keep_uncertainty_state_finite():
    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), weighting="uncertainty")
    x, y = _data()
    y["b"][2, 0] = 1e14
    logs = model.fit(x, y, batch_size=N, epochs=3, verbose=0).history
    _assert_all_finite(model)
    assert logs["b_nonfinite"] == [1.0, 1.0, 1.0]
    assert logs["a_nonfinite"] == [0.0, 0.0, 0.0]


# --- 2. a skipped step changes nothing ----------------------------------

@pytest.mark.parametrize("weighting,aggregator", [
    ("gradnorm", None), ("famo", None), (None, "gradvac"),
    (None, "nash_mtl"), (None, "pcgrad")])
def test_2_skip_step_changes_no_variable_anywhere(weighting, aggregator):
    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), weighting=weighting,
                  aggregator=aggregator, on_nonfinite="skip_step")
    x, y = _data()
    model.fit(x, y, batch_size=N, epochs=1, verbose=0)  # builds all state
    before = _state(model)
    x["b_in"][1, 1] = np.nan
    logs = model.fit(x, y, batch_size=N, epochs=1, verbose=0).history
    assert logs["nonfinite_steps"] == [1.0]
    after = _state(model)
    assert set(after) == set(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_2_skip_step_leaves_the_loss_scale_as_it_was():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _model()
        model.compile("adam", on_nonfinite="skip_step")
        x, y = _data()
        model.fit(x, y, batch_size=N, epochs=1, verbose=0)
        assert isinstance(model.optimizer,
                          keras.optimizers.LossScaleOptimizer)
        before = _state(model)
        y["b"][3, 0] = 1e30  # its loss overflows
        logs = model.fit(x, y, batch_size=N, epochs=1, verbose=0).history
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert logs["nonfinite_steps"] == [1.0] and logs["b_nonfinite"] == [1.0]
    after = _state(model)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


# --- 3. a NaN sample weight means "unlabelled" -------------------------

@pytest.mark.parametrize("aggregator", [None, "upgrad"])
def test_3_nan_sample_weight_leaves_that_sample_out(aggregator):
    x, y = _data()
    weights = {"a": np.ones(N, "float32"), "b": np.ones(N, "float32")}
    weights["b"][4] = np.nan
    model = _model()
    model.compile(keras.optimizers.SGD(0.1), aggregator=aggregator)
    logs = model.fit(x, y, sample_weight=weights, batch_size=N, epochs=1,
                     verbose=0, shuffle=False).history
    assert logs["nonfinite_steps"] == [0.0]
    reference = _model()
    reference.compile(keras.optimizers.SGD(0.1), aggregator=aggregator)
    y_ref = {k: v.copy() for k, v in y.items()}
    y_ref["b"][4] = np.nan  # the same sample, unlabelled
    reference.fit(x, y_ref, batch_size=N, epochs=1, verbose=0,
                  shuffle=False)
    for got, want in zip(model.weights, reference.weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6,
                                   err_msg=got.path)


# --- 4. negative sample weights are an error ----------------------------

def test_4_negative_sample_weight_is_an_error_naming_the_task():
    x, y = _data()
    weights = {"a": np.ones(N, "float32"), "b": np.ones(N, "float32")}
    weights["b"][7] = -2.0
    model = _model()
    model.compile("adam")
    with pytest.raises(ValueError, match=r"[Tt]ask 'b'.*negative"):
        model.fit(x, y, sample_weight=weights, batch_size=N, verbose=0)


def test_4_negative_sample_weight_in_a_dataset_is_an_error_too():
    import tensorflow as tf
    x, y = _data()
    weights = {"a": np.ones(N, "float32"), "b": np.ones(N, "float32")}
    weights["b"][7] = -2.0
    data = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(N)
    model = _model()
    model.compile("adam")
    with pytest.raises(ValueError, match=r"[Tt]ask 'b'.*negative"):
        model.fit(data, verbose=0)


# --- 5. bool labels mean 0/1 ---------------------------------------------

def test_5_bool_labels_train_as_zero_one():
    x, y = _data()
    truth = x["x"][:, :1] > 0
    results = []
    for labels in (truth, truth.astype("float32")):
        model = _model(kinds=("binary", "regression"))
        model.compile("adam")
        results.append(model.evaluate(
            x, {"a": labels, "b": y["b"]}, batch_size=N, verbose=0))
    assert results[0]["a_loss"] == pytest.approx(results[1]["a_loss"])
    assert results[0]["a_auc"] == pytest.approx(results[1]["a_auc"])


# --- 6. loss and val_loss are the same quantity ---------------------------

def test_6_val_loss_includes_the_weighting_regularisation():
    x, y = _data()
    model = _model()
    model.compile(keras.optimizers.Adam(0.05), weighting="uncertainty")
    model.fit(x, y, batch_size=N, epochs=5, verbose=0)
    result = model.evaluate(x, y, batch_size=N, verbose=0)
    s = model.weighting.log_variance.numpy()
    expected = sum(0.5 * np.exp(-s[i]) * result[f"{t}_loss"] + 0.5 * s[i]
                   for i, t in enumerate(("a", "b")))
    assert result["loss"] == pytest.approx(expected, rel=1e-5)


# --- 7. no label, no metric value ----------------------------------------

def test_7_task_without_labels_reports_nan_not_zero():
    x, y = _data()
    model = _model(kinds=("binary", "regression"))
    model.compile("adam")
    y["a"] = np.full((N, 1), -1.0, "float32")  # no label for `a`
    result = model.evaluate(x, y, batch_size=N, verbose=0)
    for key in ("a_loss", "a_auc", "a_accuracy"):
        assert np.isnan(result[key]), (key, result[key])
    assert np.isfinite(result["b_mae"])


def test_logs_validation_logs_carry_no_training_only_entries():
    x, y = _data()
    model = _model()
    model.compile("adam")
    logs = model.fit(x, y, validation_data=(x, y), epochs=1,
                     verbose=0).history
    assert "a_weight" in logs and "a_nonfinite" in logs
    assert not [k for k in logs if k.startswith("val_") and (
        k.endswith("_weight") or "nonfinite" in k)]
    # What monitors may name agrees with what fit logs.
    names = logged_names(model)
    assert "val_a_loss" in names and "a_weight" in names
    assert set(names) == set(logs)


# --- 8. GradNorm with a frozen last shared layer -------------------------

def test_8_gradnorm_measures_at_the_last_trainable_shared_layer():
    x, y = _data()
    y["b"] *= 10.0
    model = _model(own_input=False, frozen_last=True)
    model.compile("adam", weighting="gradnorm")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    weights = model.weighting.task_weights.numpy()
    assert not np.allclose(weights, 1.0), weights


# --- 9. per-batch counts under two replicas ------------------------------

SCRIPT = textwrap.dedent('''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np, keras_mtl
    batches = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append({k: float(v) for k, v in logs.items()
                            if "nonfinite" in k})

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": rng.normal(size=(32, 1)).astype("float32"),
         "b": rng.normal(size=(32, 1)).astype("float32")}
    x[3, 0] = np.nan  # first batch: both tasks see it
    with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
        model = keras_mtl.build(
            keras.Input((4,)), [keras_mtl.Task("a", "regression"),
                                keras_mtl.Task("b", "regression")],
            trunk=(8,))
        model.compile("sgd")
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False,
                        verbose=0, callbacks=[Record()])
    print("RESULTS" + json.dumps({
        "batches": batches,
        "epoch": {k: v[0] for k, v in history.history.items()
                  if "nonfinite" in k}}))
''')


def test_9_per_batch_counts_are_whole_under_two_replicas():
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT], check=False, capture_output=True,
        text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = [s for s in completed.stdout.splitlines()
            if s.startswith("RESULTS")][-1]
    results = json.loads(line[len("RESULTS"):])
    assert results["batches"][0]["nonfinite_steps"] == 1.0
    assert results["batches"][0]["a_nonfinite"] == 1.0
    assert results["batches"][1]["nonfinite_steps"] == 1.0  # cumulative
    assert results["epoch"]["nonfinite_steps"] == 1.0


# --- 10. label rank may change between calls -----------------------------

def test_10_label_rank_may_change_between_fit_calls():
    x, y = _data()
    model = _model()
    model.compile("adam")
    flat = {k: v[:, 0] for k, v in y.items()}
    first = model.fit(x, flat, batch_size=N, epochs=1, verbose=0)
    second = model.fit(x, y, batch_size=N, epochs=1, verbose=0)
    assert np.isfinite(first.history["loss"][0])
    assert np.isfinite(second.history["loss"][0])
