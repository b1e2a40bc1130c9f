"""Weighting strategies inside compiled `model.fit`: recovered noise,
balanced gradient norms, epoch formulas, saving and resuming."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl import Task
from keras_mtl import weightings as W


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {"a": (x[:, :1] + 0.5 * rng.normal(size=(n, 1))).astype("float32"),
         "b": (3 * x[:, 1:2] ** 2 + rng.normal(size=(n, 1))).astype(
             "float32")}
    return x, y


def small_model(tasks=None, inputs=6, trunk=(8,), **options):
    tasks = tasks or [Task("a", "regression"), Task("b", "regression")]
    return keras_mtl.build(keras.Input((inputs,)), tasks, trunk=trunk,
                           **options)


def assert_keras_round_trip(model, directory):
    """Saves and reloads `model`; the weighting's state comes back."""
    path = os.path.join(directory, f"{model.weighting.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.weighting) is type(model.weighting)
    assert loaded.weighting.get_config() == model.weighting.get_config()
    ours, theirs = model.weighting.variables, loaded.weighting.variables
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))
    return loaded


def test_uncertainty_recovers_the_noise_ratio(tmp_path):
    """Noise sd 1 and 4: the learned sigma ratio is within 20% of 4."""
    rng = np.random.default_rng(0)
    n = 2048
    x = rng.normal(size=(n, 4)).astype("float32")
    a, b = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    y = {"low": (x @ a + rng.normal(size=(n, 1))).astype("float32"),
         "high": (x @ b + 4 * rng.normal(size=(n, 1))).astype("float32")}
    model = small_model([Task("low", "regression"),
                         Task("high", "regression")],
                        inputs=4, activation=None)
    model.compile(keras.optimizers.Adam(0.1), weighting="uncertainty",
                  steps_per_execution=8)
    history = model.fit(x, y, epochs=20, batch_size=256, verbose=0)
    sigmas = model.weighting.sigmas()
    assert sigmas["high"] / sigmas["low"] == pytest.approx(4.0, rel=0.2)
    # The logged weights are the regression precisions 1 / (2 sigma^2).
    assert history.history["high_weight"][-1] == pytest.approx(
        0.5 / sigmas["high"] ** 2, rel=0.1)
    loaded = assert_keras_round_trip(model, tmp_path)
    assert loaded.weighting.sigmas() == pytest.approx(sigmas)


def shared_gradient_norms(model, x, y):
    """`||grad_W w_i L_i||` at the last shared layer, on the full data."""
    kernel = model.shared_layers[-1].trainable_variables
    weights = model.weighting(tf.ones(2))
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(x, training=False)
        losses = [tf.reduce_mean((y[k] - outputs[k]) ** 2) for k in "ab"]
        weighted = [weights[i] * losses[i] for i in range(2)]
    norms = [float(tf.linalg.global_norm(tape.gradient(w, kernel)))
             for w in weighted]
    return np.array(norms), np.array([float(v) for v in losses])


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_gradnorm_moves_gradient_norms_to_the_target_ratio(alpha, tmp_path):
    rng = np.random.default_rng(0)
    n = 1024
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {"a": (np.sin(x[:, :1]) + 0.1 * rng.normal(size=(n, 1))).astype(
             "float32"),
         "b": (10 * np.cos(x[:, 1:2]) + rng.normal(size=(n, 1))).astype(
             "float32")}
    model = small_model(trunk=(16,))
    model.compile(keras.optimizers.Adam(0.01),
                  weighting=W.GradNorm(alpha=alpha, learning_rate=0.05))
    norms, first_losses = shared_gradient_norms(model, x, y)
    model.fit(x, y, epochs=12, batch_size=64, verbose=0)
    end_norms, losses = shared_gradient_norms(model, x, y)
    rate = (losses / first_losses) / np.mean(losses / first_losses)
    target = (rate[1] / rate[0]) ** alpha
    before = abs(math.log(norms[1] / norms[0] / target))
    after = abs(math.log(end_norms[1] / end_norms[0] / target))
    print(f"alpha={alpha}: |log(G_b / G_a / target)| {before:.3f} -> "
          f"{after:.3f}")
    assert before > 0.9  # task b's gradient starts ~10x larger
    assert after < 0.5 and after < before / 2
    weights = keras.ops.convert_to_numpy(model.weighting.task_weights)
    assert weights.sum() == pytest.approx(2.0, rel=1e-5)
    if alpha == 0.0:
        assert_keras_round_trip(model, tmp_path)


def test_dwa_matches_its_formula_over_three_epochs(tmp_path):
    x, y = regression_data()
    model = small_model()
    model.compile("adam", weighting=W.DWA(temperature=2.0))
    logs = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history
    assert logs["a_weight"][:2] == [1.0, 1.0]
    ratios = [logs[f"{t}_loss"][1] / logs[f"{t}_loss"][0] for t in "ab"]
    e = [math.exp(r / 2.0) for r in ratios]
    expected = [2 * v / sum(e) for v in e]
    assert [logs["a_weight"][2], logs["b_weight"][2]] == pytest.approx(
        expected, rel=1e-5)
    assert_keras_round_trip(model, tmp_path)


def test_scheduled_weights_inside_fit(tmp_path):
    x, y = regression_data()
    model = small_model()
    model.compile("adam", weighting=W.ScheduledWeighting(
        lambda epoch: {"b": 0.5 * epoch}))
    logs = model.fit(x, y, epochs=3, batch_size=32, verbose=0).history
    assert logs["b_weight"] == pytest.approx([0.0, 0.5, 1.0])

    weighting = W.ScheduledWeighting(initial={"b": 0.1})

    class Raise(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weighting.set_task_weights({"b": 0.1 + 0.4 * (epoch + 1)})

    model.compile("adam", weighting=weighting)
    logs = model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                     callbacks=[Raise()]).history
    assert logs["b_weight"] == pytest.approx([0.1, 0.5, 0.9])

    model.compile("adam", weighting=W.ScheduledWeighting.step_by_step(
        ["a", "b"], stage_length=3, unit="step"))
    logs = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    # Steps 0-2 train task a alone, so b's mean weight over the first two
    # steps is 0, then 1/2 (steps 2, 3), averaged per epoch.
    assert logs["b_weight"] == pytest.approx([0.0, 0.5])
    loaded = assert_keras_round_trip(model, tmp_path)
    assert isinstance(loaded.weighting.schedule, W.StepByStep)


def test_dtp_reads_accuracy_from_the_epoch_logs(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = {"a": x[:, :1] + 0.1, "b": (x[:, 1:2] > 0).astype("float32")}
    model = small_model([Task("a", "regression"), Task("b", "binary")])
    model.compile("adam", weighting=W.DTP(kpis={"b": "accuracy"},
                                          gamma=2.0, alpha=1.0))
    logs = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    kappa_b, kappa_a = logs["b_accuracy"][0], math.exp(-logs["a_loss"][0])
    assert logs["b_weight"][1] == pytest.approx(
        -(1 - kappa_b) ** 2 * math.log(kappa_b), rel=1e-5)
    assert logs["a_weight"][1] == pytest.approx(
        -(1 - kappa_a) ** 2 * math.log(kappa_a), rel=1e-5)
    assert_keras_round_trip(model, tmp_path)


def test_string_ids_compile_and_train(tmp_path):
    """The ids not trained by the tests above; stateful ones reload."""
    x, y = regression_data(32)
    model = small_model()
    for identifier in ["gls", "imtl_l", "stch"]:
        model.compile("adam", weighting=identifier)
        logs = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history
        assert all(np.isfinite(logs[f"{t}_weight"]).all() for t in "ab")
    assert_keras_round_trip(model, tmp_path)  # STCH's normalisers


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated interruption")


@pytest.mark.parametrize("make", [
    lambda: W.DWA(), lambda: W.FAMO(), lambda: W.RLW(seed=3),
    lambda: W.GradNorm()], ids=["dwa", "famo", "rlw", "gradnorm"])
def test_resume_reproduces_the_uninterrupted_trajectory(make, tmp_path):
    x, y = regression_data(32)

    def fresh():
        keras.utils.set_random_seed(1)
        model = small_model()
        # Eager: eight steps cost less than three traces; the graph-mode
        # updates of these strategies are covered by the tests above.
        model.compile("adam", weighting=make(), run_eagerly=True)
        return model

    def fit(model, callbacks):
        return model.fit(x, y, epochs=4, batch_size=16, shuffle=False,
                         verbose=0, callbacks=callbacks)

    reference = fresh()
    expected = fit(reference, []).history
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="simulated"):
        fit(fresh(), [backup, Interrupt()])
    resumed = fresh()
    history = fit(resumed, [keras.callbacks.BackupAndRestore(
        str(tmp_path / "backup"))]).history
    for task in "ab":
        np.testing.assert_allclose(history[f"{task}_weight"],
                                   expected[f"{task}_weight"][2:],
                                   rtol=1e-5)
    for ours, theirs in zip(resumed.weighting.variables,
                            reference.weighting.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours),
                                   keras.ops.convert_to_numpy(theirs),
                                   rtol=1e-5, atol=1e-7)
    if not isinstance(resumed.weighting, W.DWA):  # DWA: see above
        assert_keras_round_trip(resumed, tmp_path)


def test_famo_post_step_update_under_xla():
    x, y = regression_data(32)
    model = small_model()
    model.compile("adam", weighting="famo", jit_compile=True)
    logs = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    logits = keras.ops.convert_to_numpy(model.weighting.logits)
    assert np.abs(logits).max() > 0  # the after-step hook ran
    total = np.array(logs["a_weight"]) + np.array(logs["b_weight"])
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def test_task_learning_rates_scale_the_adam_update(tmp_path):
    x, y = regression_data(32)

    def one_step(multipliers):
        keras.utils.set_random_seed(2)
        model = small_model()
        model.compile("adam", task_learning_rates=multipliers)
        start = [keras.ops.convert_to_numpy(v).copy()
                 for v in model.trainable_variables]
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        deltas = {v.path: keras.ops.convert_to_numpy(v) - s
                  for v, s in zip(model.trainable_variables, start)}
        return model, deltas

    _, plain = one_step(None)
    model, scaled = one_step({"a": 3.0, "b": 0.0})
    for path, delta in plain.items():
        factor = {"a": 3.0, "b": 0.0}.get(path.split("/")[0], 1.0)
        np.testing.assert_allclose(scaled[path], factor * delta,
                                   rtol=1e-4, atol=1e-7, err_msg=path)
    path = str(tmp_path / "lr.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded._hidden.update_scaler.multipliers == {"a": 3.0, "b": 0.0}
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['z'\]"):
        model.compile("adam", task_learning_rates={"z": 2.0})
    with pytest.raises(ValueError, match="'a'.*>= 0"):
        model.compile("adam", task_learning_rates={"a": -1.0})
