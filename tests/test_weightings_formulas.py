"""Weighting strategies against their papers' formulas, on hand-computed
cases (no training), plus validation errors and config round trips."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_mtl import Task
from keras_mtl import weightings as W


def bound(weighting, names=("a", "b")):
    weighting.bind(list(names))
    return weighting


def vec(*values):
    return ops.convert_to_tensor(values, dtype="float32")


def close(actual, expected, tol=1e-5):
    np.testing.assert_allclose(
        ops.convert_to_numpy(actual), np.asarray(expected, "float32"),
        rtol=tol, atol=tol)


# --- Inverse size ----------------------------------------------------------

def test_inverse_size_weights_sum_to_task_count():
    w = bound(W.InverseSizeWeighting({"a": 100, "b": 300}))
    close(w(vec(1.0, 1.0)), [1.5, 0.5])  # 2 * (1/100) / (1/100 + 1/300)
    w = bound(W.InverseSizeWeighting({"a": 100, "b": 400}, power=0.5))
    close(w(vec(1.0, 1.0)), [2 * 0.1 / 0.15, 2 * 0.05 / 0.15])


def test_inverse_size_from_labels_counts_labelled_rows():
    tasks = [Task("a", "regression"), Task("b", "binary")]
    labels = {"a": np.array([[1.0], [np.nan], [2.0], [3.0]]),
              "b": np.array([0, -1, 1, -1])}
    w = W.InverseSizeWeighting.from_labels(labels, tasks)
    assert w.sizes == {"a": 3, "b": 2}


def test_inverse_size_errors_name_the_task():
    with pytest.raises(ValueError, match="needs `sizes`"):
        W.get("inverse_size")
    with pytest.raises(ValueError, match="'b'"):
        W.InverseSizeWeighting({"a": 10, "b": 0})
    with pytest.raises(ValueError, match=r"without a size: \['b'\]"):
        bound(W.InverseSizeWeighting({"a": 10}))


# --- Scheduled and curricula -----------------------------------------------

def test_scheduled_epoch_schedule_and_callback_values():
    w = bound(W.ScheduledWeighting(lambda e: {"b": 0.5 * e}))
    close(w(vec(1, 1)), [1.0, 0.0])  # schedule(0) before the first epoch
    w.on_epoch_begin(3, {})
    close(w(vec(1, 1)), [1.0, 1.5])
    manual = bound(W.ScheduledWeighting(initial={"a": 0.2}))
    close(manual(vec(1, 1)), [0.2, 1.0])
    manual.set_task_weights({"b": 3.0})
    assert manual.get_task_weights() == pytest.approx({"a": 0.2, "b": 3.0})


def test_scheduled_step_schedule_counts_training_steps():
    w = bound(W.ScheduledWeighting(
        lambda t: {"a": ops.minimum(1.0, t / 2.0)}, unit="step"))
    got = [float(w(vec(1, 1), training=True)[0]) for _ in range(4)]
    assert got == pytest.approx([0.0, 0.5, 1.0, 1.0])
    close(w(vec(1, 1), training=False), [1.0, 1.0])  # last value held


def test_main_task_first_ramp():
    schedule = W.MainTaskFirst("a", warmup=2, ramp=2, auxiliary_weight=0.8)
    schedule.bind(["a", "b", "c"])
    aux = [float(schedule(t)["b"]) for t in range(5)]
    assert aux == pytest.approx([0.0, 0.0, 0.4, 0.8, 0.8])
    assert float(schedule(0)["a"]) == 1.0 and "c" in schedule(0)
    step = W.MainTaskFirst("a", warmup=1, ramp=0)
    step.bind(["a", "b"])
    assert [float(step(t)["b"]) for t in range(3)] == [0.0, 1.0, 1.0]


def test_step_by_step_stages():
    schedule = W.StepByStep(["a", ["b", "c"]], stage_length=2, ramp=2)
    schedule.bind(["a", "b", "c"])
    rows = [[float(schedule(t)[n]) for n in "abc"] for t in range(5)]
    assert rows == [[0.5, 0, 0], [1, 0, 0], [1, 0.5, 0.5], [1, 1, 1],
                    [1, 1, 1]]


def test_curriculum_constructors_in_a_weighting():
    w = bound(W.ScheduledWeighting.main_task_first("a", warmup=1, ramp=1),
              ["a", "b"])
    close(w(vec(1, 1)), [1.0, 0.0])
    w.on_epoch_begin(1, {})
    close(w(vec(1, 1)), [1.0, 1.0])
    w = bound(W.ScheduledWeighting.step_by_step(["b", "a"], stage_length=3))
    close(w(vec(1, 1)), [0.0, 1.0])


def test_scheduled_errors():
    with pytest.raises(ValueError, match="unit"):
        W.ScheduledWeighting(lambda e: {}, unit="batch")
    w = bound(W.ScheduledWeighting(lambda e: {"z": 1.0} if e else {}))
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['z'\]"):
        w.on_epoch_begin(1, {})
    with pytest.raises(ValueError, match="'b'.*finite float >= 0"):
        w.set_task_weights({"b": -1.0})
    with pytest.raises(ValueError, match="not listed: \\['b'\\]"):
        bound(W.ScheduledWeighting.step_by_step(["a"]))
    with pytest.raises(ValueError, match="unknown task"):
        bound(W.ScheduledWeighting.main_task_first("x"))


# --- Uncertainty -----------------------------------------------------------

def test_uncertainty_regression_and_classification_forms():
    w = bound(W.UncertaintyWeighting(
        forms={"b": "classification"},
        initial_log_variance={"b": math.log(4.0)}))
    losses = vec(2.0, 3.0)
    close(w(losses), [0.5, 0.25])  # 1/(2 sigma^2), 1/sigma^2
    close(w.regularization(losses), 0.5 * math.log(4.0))  # log sigma
    close(w.regularization(vec(2.0, 0.0)), 0.0)  # unlabelled b: no term
    assert w.sigmas() == pytest.approx({"a": 1.0, "b": 2.0})
    assert [v.trainable for v in w.variables] == [True]


# --- DWA ---------------------------------------------------------------------

def dwa_formula(last, before, temperature):
    r = [a / b for a, b in zip(last, before)]
    e = [math.exp(x / temperature) for x in r]
    return [len(r) * x / sum(e) for x in e]


def test_dwa_epoch_updates_follow_the_formula():
    w = bound(W.DWA(temperature=2.0))
    epochs = [(4.0, 2.0), (2.0, 1.5), (1.0, 1.2), (0.9, 0.6)]
    expected = [[1, 1], [1, 1]]
    for i in range(2, len(epochs)):
        expected.append(dwa_formula(epochs[i - 1], epochs[i - 2], 2.0))
    for epoch, (la, lb) in enumerate(epochs):
        close(w(vec(1, 1)), expected[epoch])
        w.on_epoch_end(epoch, {"a_loss": la, "b_loss": lb})
    close(w(vec(1, 1)), dwa_formula(epochs[-1], epochs[-2], 2.0))


def test_dwa_errors():
    with pytest.raises(ValueError, match="temperature=-1"):
        W.DWA(temperature=-1)
    with pytest.raises(KeyError, match="b_loss"):
        bound(W.DWA()).on_epoch_end(0, {"a_loss": 1.0})


# --- GradNorm ----------------------------------------------------------------

def test_gradnorm_gradient_and_renormalised_update():
    w = bound(W.GradNorm(alpha=1.0, learning_rate=0.1, optimizer="sgd"))
    w.initial_losses.assign([2.0, 2.0])
    losses, norms = vec(1.0, 2.0), vec(1.0, 3.0)
    # r = [0.5, 1] / 0.75; target = mean(G) r^alpha = [4/3, 8/3].
    close(w.weight_gradient(losses, norms, vec(2.0, 2.0)), [-1.0, 3.0])
    w.update_from_gradients(losses, norms)
    close(w(losses), [2 * 1.1 / 1.8, 2 * 0.7 / 1.8])
    assert float(ops.sum(w(losses))) == pytest.approx(2.0)


def test_gradnorm_records_first_losses_and_validates():
    w = bound(W.GradNorm())
    w.update_from_gradients(vec(3.0, 0.0), vec(1.0, 0.0))
    w.update_from_gradients(vec(2.0, 5.0), vec(1.0, 1.0))
    close(w.initial_losses, [3.0, 5.0])
    with pytest.raises(ValueError, match="alpha=-0.5"):
        W.GradNorm(alpha=-0.5)
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        W.GradNorm(optimizer="rmsprop")


# --- RLW ---------------------------------------------------------------------

def test_rlw_draws_lie_on_the_scaled_simplex():
    for distribution in ["normal", "uniform", "dirichlet", "bernoulli"]:
        w = bound(W.RLW(distribution, scale=3.0, seed=1), ["a", "b", "c"])
        draws = np.stack([
            ops.convert_to_numpy(w(vec(1, 1, 1), training=True))
            for _ in range(20)])
        np.testing.assert_allclose(draws.sum(axis=1), 3.0, rtol=1e-5)
        assert (draws >= 0).all() and np.ptp(draws[:, 0]) > 0, distribution
        close(w(vec(1, 1, 1)), [1.0, 1.0, 1.0])  # evaluation: the mean
        again = bound(W.RLW(distribution, scale=3.0, seed=1),
                      ["a", "b", "c"])
        close(again(vec(1, 1, 1), training=True), draws[0])
    bits = bound(W.RLW("bernoulli", seed=2), ["a", "b", "c", "d"])
    for _ in range(10):
        draw = ops.convert_to_numpy(bits(vec(1, 1, 1, 1), training=True))
        active = draw[draw > 0]
        np.testing.assert_allclose(active, 1.0 / len(active), rtol=1e-6)


def test_rlw_errors():
    with pytest.raises(ValueError, match="distribution='beta'"):
        W.RLW("beta")
    with pytest.raises(ValueError, match="scale=0"):
        W.RLW(scale=0)


# --- GLS ---------------------------------------------------------------------

def test_gls_weights_give_the_geometric_mean_and_its_gradient():
    w = bound(W.GLS(), ["a", "b", "c"])
    close(w(vec(1.0, 0.0, 4.0)), [1.0, 0.0, 0.25])  # G = 2 over a and c
    theta = tf.Variable([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        losses = tf.stack([theta[0] ** 2, 3.0 * theta[1]])
        objective = ops.sum(bound(W.GLS())(losses) * losses)
        geometric = tf.sqrt(losses[0] * losses[1])
    close(objective, float(geometric))
    close(tape.gradient(objective, theta), tape.gradient(geometric, theta))


# --- IMTL-L ------------------------------------------------------------------

def test_imtl_l_scales_and_regulariser():
    w = bound(W.IMTLL())
    w.log_scale.assign([0.0, math.log(2.0)])
    close(w(vec(1, 1)), [1.0, 2.0])  # e^s
    close(w.regularization(vec(1, 1)), -math.log(2.0))  # -sum s


# --- DTP ---------------------------------------------------------------------

def test_dtp_focal_weights_and_smoothing():
    w = bound(W.DTP(kpis={"a": "accuracy"}, gamma=2.0, alpha=0.5))
    close(w(vec(1, 1)), [1.0, 1.0])  # before any KPI
    w.on_epoch_end(0, {"a_accuracy": 0.5, "b_loss": -math.log(0.9)})
    def focal(k):
        return -((1 - k) ** 2) * math.log(k)

    close(w(vec(1, 1)), [focal(0.5), focal(0.9)])
    w.on_epoch_end(1, {"a_accuracy": 0.7, "b_loss": -math.log(0.9)})
    close(w(vec(1, 1)), [focal(0.6), focal(0.9)])  # 0.5*0.7 + 0.5*0.5


def test_dtp_validation():
    with pytest.raises(ValueError, match="alpha=1.5"):
        W.DTP(alpha=1.5)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['z'\]"):
        bound(W.DTP(kpis={"z": "accuracy"}))
    w = bound(W.DTP(kpis={"a": "mae"}))
    with pytest.raises(ValueError, match="'a'.*outside"):
        w.on_epoch_end(0, {"a_mae": 3.0, "b_loss": 1.0})
    with pytest.raises(KeyError, match="a_mae"):
        w.on_epoch_end(0, {"b_loss": 1.0})


# --- FAMO --------------------------------------------------------------------

def test_famo_weights_and_logit_update():
    w = bound(W.FAMO(learning_rate=0.1, gamma=0.0, optimizer="sgd"))
    close(w(vec(1.0, 4.0)), [0.8, 0.2])  # (z/L) / sum(z/L), z = 1/2
    w.after_step(vec(1.0, 4.0), vec(0.5, 4.0))
    # delta = z * d - z (z . d), d = log L - log L' = [log 2, 0].
    half = 0.5 * math.log(2.0) - 0.25 * math.log(2.0)
    close(w.logits, [-0.1 * half, 0.1 * half])
    z = np.exp([-0.1 * half, 0.1 * half])
    z /= z.sum()
    ratio = z / np.array([1.0, 4.0])
    close(w(vec(1.0, 4.0)), ratio / ratio.sum(), tol=1e-4)
    close(w(vec(1.0, 0.0)), [1.0, 0.0])  # unlabelled task: weight 0


def test_famo_validation():
    with pytest.raises(ValueError, match="gamma=-1"):
        W.FAMO(gamma=-1)


# --- STCH --------------------------------------------------------------------

def test_stch_hand_case_and_gradient_of_smooth_max():
    w = bound(W.STCH(mu=1.0, normalize="none"))
    e = math.e
    close(w(vec(1.0, 3.0)), [0.5 / (1 + e), 0.5 * e / (1 + e)])
    w = bound(W.STCH(mu=0.2, preferences={"a": 3.0}), ["a", "b", "c"])
    first = vec(2.0, 1.0, 4.0)
    w(first, training=True)  # records the normalisers
    losses = tf.Variable([1.0, 0.8, 1.0])
    with tf.GradientTape() as tape:
        pref = tf.constant([0.6, 0.2, 0.2])
        smooth = 0.2 * tf.reduce_logsumexp(pref * (losses / first) / 0.2)
    close(w(losses, training=True), tape.gradient(smooth, losses))


def test_stch_validation():
    with pytest.raises(ValueError, match="mu=0"):
        W.STCH(mu=0)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['z'\]"):
        bound(W.STCH(preferences={"z": 1.0}))


# --- Registry and configs ----------------------------------------------------

IDS = ["equal", "static", "scheduled", "uncertainty", "dwa", "gradnorm",
       "rlw", "gls", "imtl_l", "dtp", "famo", "stch"]


def test_get_by_id():
    for identifier in IDS:
        weighting = W.get(identifier)
        assert weighting.name == identifier
        assert W.get_class(identifier) is type(weighting)
        assert type(weighting).__name__ in W.__all__
    assert sorted(W.names()) == sorted(IDS + ["inverse_size"])
    with pytest.raises(ValueError, match="Unknown weighting 'nope'"):
        W.get("nope")


CONFIGURED = [
    W.StaticWeighting({"a": 2.0}),
    W.InverseSizeWeighting({"a": 10, "b": 30}, power=0.5),
    W.ScheduledWeighting.main_task_first("a", warmup=2, ramp=3),
    W.ScheduledWeighting.step_by_step([["a"], ["b"]], 4, unit="step"),
    W.UncertaintyWeighting({"a": "classification"}, {"b": 1.0}),
    W.DWA(temperature=1.5),
    W.GradNorm(alpha=0.5, learning_rate=0.01, optimizer="sgd"),
    W.RLW("dirichlet", scale=2.0, seed=3),
    W.GLS(),
    W.IMTLL(initial_scale=0.3),
    W.DTP({"a": "accuracy"}, gamma={"a": 2.0}, alpha=0.7, normalize=True),
    W.FAMO(learning_rate=0.01, gamma=0.01),
    W.STCH(mu=0.3, preferences={"a": 2.0}, normalize="none"),
]


def test_config_round_trip():
    for weighting in CONFIGURED:
        config = weighting.get_config()
        clone = type(weighting).from_config(config)
        assert clone.get_config() == config, weighting.name
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(weighting))
        assert type(restored) is type(weighting)
        assert restored.get_config() == config, weighting.name
        bound(restored)
        losses = vec(1.0, 2.0)
        assert ops.convert_to_numpy(restored(losses)).shape == (2,)


@keras.saving.register_keras_serializable(package="keras_mtl_tests")
def halve_b(epoch):
    return {"b": 0.5 ** epoch}


def test_registered_function_schedule_round_trips():
    weighting = W.ScheduledWeighting(halve_b)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(weighting))
    bound(restored).on_epoch_begin(2, {})
    close(restored(vec(1, 1)), [1.0, 0.25])
