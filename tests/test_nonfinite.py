"""compile(on_nonfinite=...): NaN and Inf in one task never reach a weight."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.nonfinite import NonFiniteError

BATCH = 16


@keras.saving.register_keras_serializable(package="tests_nonfinite")
class InfWhenFlagged(keras.layers.Layer):
    """Divides its input by 0 (Inf or NaN) on samples whose flag is 1."""

    def call(self, inputs):
        features, flag = inputs
        return features / (1.0 - flag)


@keras.saving.register_keras_serializable(package="tests_nonfinite")
class GradientBlowUp(keras.layers.Layer):
    """Identity whose non-zero gradients overflow to +inf."""

    def call(self, inputs):
        @tf.custom_gradient
        def blow_up(x):
            def grad(upstream):
                return tf.where(upstream != 0.0, upstream * np.inf, 0.0)
            return tf.identity(x), grad
        return blow_up(inputs)


def build(fault: str) -> keras_mtl.MultiTaskModel:
    """Task `a` on the trunk; task `b` also sees its own input `b_in`."""
    keras.utils.set_random_seed(1)
    shared_in = keras.Input((4,), name="shared_in")
    b_in = keras.Input((2,), name="b_in")
    z = keras.layers.Dense(8, activation="tanh", name="trunk")(shared_in)
    a = keras.layers.Dense(1, name="a")(z)
    h = keras.layers.Dense(4, activation="relu", name="b_hidden")(
        keras.layers.Concatenate(name="b_concat")([z, b_in]))
    if fault == "inf_activation":
        h = InfWhenFlagged(name="b_inf")([h, b_in[:, 1:]])
    elif fault == "gradient_overflow":
        h = GradientBlowUp(name="b_blow_up")(h)
    b = keras.layers.Dense(1, name="b")(h)
    return keras_mtl.MultiTaskModel(
        {"shared_in": shared_in, "b_in": b_in}, {"a": a, "b": b},
        tasks=[keras_mtl.Task("a", "regression"),
               keras_mtl.Task("b", "regression", loss=_loss_for(fault))])


def _sqrt_loss(y_true, y_pred):
    # NaN, with a NaN derivative, on a negative label.
    return tf.reduce_mean(tf.square(y_pred - tf.sqrt(y_true)), axis=-1)


def _loss_for(fault: str):
    return _sqrt_loss if fault == "nan_loss" else "mse"


def batch(fault: str) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    x = {"shared_in": rng.normal(size=(BATCH, 4)).astype("float32"),
         "b_in": np.zeros((BATCH, 2), "float32")}
    if fault == "inf_input":
        x["b_in"][3, 0] = np.inf
    elif fault == "inf_activation":
        x["b_in"][3, 1] = 1.0
    y = {"a": rng.normal(size=(BATCH, 1)).astype("float32"),
         "b": np.abs(rng.normal(size=(BATCH, 1))).astype("float32")}
    if fault == "nan_loss":
        y["b"][3, 0] = -1.0
    return x, y


def values(model) -> dict[str, np.ndarray]:
    return {v.path: np.array(v.numpy()) for v in model.trainable_variables}


def fit_one_step(model, x, y, **compile_args):
    model.compile(keras.optimizers.SGD(0.1), **compile_args)
    history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                        shuffle=False)
    return history.history


def all_finite(model) -> bool:
    return all(np.isfinite(np.asarray(v.numpy())).all()
               for v in model.weights + model.optimizer.variables)


def reference_without_b(fault: str, aggregator) -> dict[str, np.ndarray]:
    """The same step with task b unlabelled (NaN labels mark missing)."""
    x, y = batch(fault)
    x["b_in"] = np.zeros_like(x["b_in"])
    y["b"] = np.full_like(y["b"], np.nan)
    model = build("none" if fault == "gradient_overflow" else fault)
    fit_one_step(model, x, y, aggregator=aggregator, run_eagerly=True)
    return values(model)


@pytest.mark.parametrize("fault,aggregator", [
    ("inf_input", None), ("inf_input", "upgrad"),
    ("inf_activation", None), ("nan_loss", None), ("nan_loss", "upgrad")])
def test_drop_task_trains_the_other_tasks_as_if_unlabelled(fault, aggregator):
    model = build(fault)
    before = values(model)
    x, y = batch(fault)
    logs = fit_one_step(model, x, y, aggregator=aggregator)
    assert all_finite(model)
    assert logs["b_nonfinite"] == [1.0] and logs["a_nonfinite"] == [0.0]
    assert logs["nonfinite_steps"] == [1.0]
    after = values(model)
    for path in ("b_hidden/kernel", "b/kernel", "b/bias"):
        np.testing.assert_array_equal(after[path], before[path])
    assert not np.allclose(after["trunk/kernel"], before["trunk/kernel"])
    expected = reference_without_b(fault, aggregator)
    for path in ("trunk/kernel", "trunk/bias", "a/kernel", "a/bias"):
        np.testing.assert_allclose(after[path], expected[path], atol=1e-6)


@pytest.mark.parametrize("aggregator", [None, "upgrad"])
def test_task_whose_gradient_overflows_is_dropped(aggregator):
    """b's outputs and loss are finite, its gradient is not: the Jacobian
    path zeroes b's row before aggregation; the fast path rebuilds the
    gradient from each task's own loss on that step."""
    model = build("gradient_overflow")
    before = values(model)
    x, y = batch("none")
    logs = fit_one_step(model, x, y, aggregator=aggregator)
    assert all_finite(model)
    assert logs["b_nonfinite"] == [1.0] and logs["a_nonfinite"] == [0.0]
    after = values(model)
    np.testing.assert_array_equal(after["b/kernel"], before["b/kernel"])
    expected = reference_without_b("gradient_overflow", aggregator)
    for path in ("trunk/kernel", "a/kernel"):
        np.testing.assert_allclose(after[path], expected[path], atol=1e-6)


def test_an_inf_activation_in_one_head_leaves_the_other_rows_clean():
    """Each Jacobian row is the gradient of one task's own loss scalar, so
    b's infinite activation (whose backward pass gives 0 * inf = NaN)
    stays in b's row: b is dropped, a trains as if b were unlabelled."""
    model = build("inf_activation")
    before = values(model)
    x, y = batch("inf_activation")
    logs = fit_one_step(model, x, y, aggregator="upgrad")
    assert all_finite(model)
    assert logs["nonfinite_steps"] == [1.0] and logs["b_nonfinite"] == [1.0]
    assert logs["a_nonfinite"] == [0.0]
    after = values(model)
    for path in ("b_hidden/kernel", "b/kernel", "b/bias"):
        np.testing.assert_array_equal(after[path], before[path])
    expected = reference_without_b("inf_activation", "upgrad")
    for path in ("trunk/kernel", "a/kernel"):
        np.testing.assert_allclose(after[path], expected[path], atol=1e-6)


def test_inf_in_the_shared_input_moves_nothing():
    """Every task is non-finite: nothing is left to train."""
    model = build("none")
    before = values(model)
    x, y = batch("none")
    x["shared_in"][2, 1] = np.inf
    logs = fit_one_step(model, x, y)
    assert all_finite(model)
    assert logs["a_nonfinite"] == [1.0] and logs["b_nonfinite"] == [1.0]
    after = values(model)
    for path in before:
        np.testing.assert_array_equal(after[path], before[path])


@pytest.mark.parametrize("aggregator", [None, "upgrad"])
def test_skip_step_changes_nothing(aggregator):
    model = build("inf_input")
    before = values(model)
    x, y = batch("inf_input")
    model.compile(keras.optimizers.Adam(0.1), aggregator=aggregator,
                  on_nonfinite="skip_step")
    logs = model.fit(x, y, batch_size=BATCH, verbose=0).history
    assert logs["nonfinite_steps"] == [1.0] and logs["b_nonfinite"] == [1.0]
    assert int(model.optimizer.iterations.numpy()) == 0
    after = values(model)
    for path in before:
        np.testing.assert_array_equal(after[path], before[path])
    assert all_finite(model)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_raise_names_the_task_and_applies_nothing(run_eagerly):
    model = build("inf_activation")
    before = values(model)
    x, y = batch("inf_activation")
    model.compile("adam", on_nonfinite="raise", run_eagerly=run_eagerly)
    with pytest.raises(NonFiniteError, match=r"task\(s\) \['b'\]") as info:
        model.fit(x, y, batch_size=BATCH, verbose=0)
    assert "on_nonfinite='drop_task'" in str(info.value)
    after = values(model)
    for path in before:
        np.testing.assert_array_equal(after[path], before[path])


@pytest.mark.parametrize("weighting", ["uncertainty", "famo", "gradnorm"])
def test_weighting_state_stays_finite(weighting):
    model = build("inf_input")
    x, y = batch("inf_input")
    clean_x, _ = batch("none")
    x = {k: np.concatenate([clean_x[k], v]) for k, v in x.items()}
    y = {k: np.concatenate([v, v]) for k, v in y.items()}
    model.compile("adam", weighting=weighting)
    logs = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                     shuffle=False).history
    assert logs["b_nonfinite"] == [1.0]
    assert all(np.isfinite(logs["loss"]))
    assert all_finite(model)


def test_mixed_precision_trains_the_other_tasks():
    """Under a LossScaleOptimizer overflow skips are the optimizer's, but
    a dropped task's own gradient (0 * inf) must not skip every step."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = build("inf_input")
        x, y = batch("inf_input")
        model.compile("adam")
        assert isinstance(model.optimizer,
                          keras.optimizers.LossScaleOptimizer)
        logs = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0).history
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert logs["b_nonfinite"] == [1.0, 1.0]
    assert logs["a_loss"][1] < logs["a_loss"][0]  # task a trains
    assert all_finite(model)


def test_evaluation_reports_the_non_finite_loss_without_training_counts():
    """Evaluation has no steps to skip: a non-finite task loss shows as
    such, and the training-only counts are left out of its logs."""
    model = build("inf_input")
    model.compile("adam")
    x, y = batch("inf_input")
    result = model.evaluate(x, y, batch_size=BATCH, verbose=0)
    assert not any("nonfinite" in key or key.endswith("_weight")
                   for key in result)
    assert not np.isfinite(result["b_loss"])
    assert np.isfinite(result["a_loss"])


def test_no_policy_lets_nan_through_and_logs_nothing():
    model = build("inf_input")
    x, y = batch("inf_input")
    logs = fit_one_step(model, x, y, on_nonfinite=None)
    assert not any("nonfinite" in key for key in logs)
    assert not np.isfinite(model.get_layer("b").kernel.numpy()).all()


def test_unknown_policy_is_refused():
    model = build("none")
    with pytest.raises(ValueError, match="on_nonfinite='ignore'"):
        model.compile("adam", on_nonfinite="ignore")
