"""The gradient engine inside `fit`: which variable gets which gradient in
Jacobian and representation mode, agreement with the fast path and with
hand-computed steps, regularizers and learned weights, mixed precision,
XLA, save/load, and clear errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl import aggregators
from keras_mtl.weightings.base import Weighting

TASKS = ("a", "b", "c")
LR = 0.1


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {t: (x @ rng.normal(size=(6, 1)) + rng.normal(size=(n, 1))
             ).astype("float32") for t in TASKS}
    return x, y


def _model(sharing_depth=None, architecture="hard", regularize=False):
    keras.utils.set_random_seed(0)
    tasks = [keras_mtl.Task(t, "regression") for t in TASKS]
    if architecture != "hard":
        return keras_mtl.build(keras.Input((6,)), tasks,
                               architecture=architecture)
    trunk = [keras.layers.Dense(8, activation="tanh", name="trunk_0",
                                kernel_regularizer="l2" if regularize
                                else None),
             keras.layers.Dense(4, activation="tanh", name="trunk_1")]
    return keras_mtl.build(keras.Input((6,)), tasks, trunk=trunk,
                           sharing_depth=sharing_depth)


def _step(model, x, y, optimizer=None, **compile_args):
    """One SGD step on the whole batch; returns `{path: delta / -LR}`,
    i.e. the gradient that was applied."""
    model.compile(optimizer or keras.optimizers.SGD(LR), **compile_args)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return {v.path: (before[v.path] - np.array(v)) / LR
            for v in model.trainable_variables}


def _manual(model, x, y):
    """Per-task gradients by hand: `(shared_rows [T, P], shared, by task
    {path: grad of own loss}, representation rows [T, B*D], trunk rows
    per task)`."""
    shared = model.shared_variables
    with tf.GradientTape(persistent=True) as tape:
        outputs, z = model.call_with_representation(x, training=True)
        losses = [tf.reduce_mean(tf.square(outputs[t] - y[t]))
                  for t in TASKS]
    rows, own, z_rows = [], {}, []
    for t, loss in zip(TASKS, losses):
        grads = tape.gradient(loss, shared)
        rows.append(np.concatenate([np.ravel(g) for g in grads]))
        for v in model.task_variables[t]:
            own[v.path] = np.array(tape.gradient(loss, v))
        z_rows.append(np.ravel(tape.gradient(loss, z)))
    return np.stack(rows), shared, own, np.stack(z_rows)


def _flat(gradients, variables):
    return np.concatenate([np.ravel(gradients[v.path]) for v in variables])


def test_sum_equals_the_fast_path_and_mean_scales_the_shared_part():
    x, y = _data()
    fast = _step(_model(), x, y)
    for mode in ("jacobian", "representation"):
        summed = _step(_model(), x, y, aggregator="sum",
                       aggregation_mode=mode)
        for path, g in fast.items():
            np.testing.assert_allclose(summed[path], g, rtol=1e-4,
                                       atol=1e-5)
    for mode in ("jacobian",):  # representation: see the MGDA-UB test
        model = _model()
        mean = _step(model, x, y, aggregator="mean", aggregation_mode=mode)
        shared = {v.path for v in model.shared_variables}
        for path, g in fast.items():
            expected = g / 3 if path in shared else g
            np.testing.assert_allclose(mean[path], expected, rtol=1e-4,
                                       atol=1e-5)


@pytest.mark.parametrize("name", ["upgrad", "pcgrad"])
def test_jacobian_mode_task_variables_get_only_their_task_gradient(name):
    x, y = _data()
    model = _model()
    rows, shared, own, _ = _manual(model, x, y)
    applied = _step(model, x, y,
                    aggregator=aggregators.get(name) if name != "pcgrad"
                    else aggregators.PCGrad(seed=0))
    for path, g in own.items():
        np.testing.assert_allclose(applied[path], g, rtol=1e-4, atol=1e-6)
    expected = np.asarray(
        (aggregators.UPGrad() if name == "upgrad" else
         aggregators.PCGrad(seed=0))(rows.astype("float64")))
    np.testing.assert_allclose(_flat(applied, shared), expected,
                               rtol=1e-3, atol=1e-5)


def test_representation_mode_is_mgda_ub():
    x, y = _data()
    model = _model()
    rows, shared, own, z_rows = _manual(model, x, y)
    alpha = np.asarray(aggregators.MGDA().task_weights(
        z_rows.astype("float64")))
    applied = _step(model, x, y, aggregator="mgda",
                    aggregation_mode="representation")
    # The trunk gets the gradient of the α-weighted losses, where α is
    # MGDA's on the representation gradients; the heads their own.
    np.testing.assert_allclose(_flat(applied, shared), alpha @ rows,
                               rtol=1e-3, atol=1e-5)
    for path, g in own.items():
        np.testing.assert_allclose(applied[path], g, rtol=1e-4, atol=1e-6)


def test_regularizers_and_learned_weights_keep_their_gradients():
    class Learned(Weighting):
        def build(self, input_shape):
            self.log_vars = self.add_weight(
                shape=input_shape, initializer="zeros", name="log_vars")

        def call(self, losses, training=False):
            return keras.ops.exp(-self.log_vars)

        def regularization(self, losses):
            return keras.ops.sum(self.log_vars)

    x, y = _data()
    fast = _step(_model(regularize=True), x, y, weighting=Learned())
    summed = _step(_model(regularize=True), x, y, weighting=Learned(),
                   aggregator="sum")
    assert any("log_vars" in p for p in summed)
    assert len(summed) == len(fast)
    # Same variables in the same order (the weighting's name differs).
    for (path, g), other in zip(fast.items(), summed.values()):
        assert np.any(g != 0), path
        np.testing.assert_allclose(other, g, rtol=1e-4, atol=1e-5)


def test_representation_mode_needs_one_representation():
    with pytest.raises(ValueError, match="one shared representation"):
        _model(sharing_depth=0).compile(
            "sgd", aggregator="mgda", aggregation_mode="representation")
    with pytest.raises(ValueError, match="aggregation_mode"):
        _model().compile("sgd", aggregator="mgda", aggregation_mode="rep")


def test_mmoe_model_trains_in_jacobian_mode():
    x, y = _data()
    model = _model(architecture="mmoe")
    with pytest.raises(ValueError, match="one shared representation"):
        model.compile("sgd", aggregator="upgrad",
                      aggregation_mode="representation")
    applied = _step(model, x, y, aggregator="upgrad")
    assert all(np.all(np.isfinite(g)) for g in applied.values())
    assert np.any(_flat(applied, model.shared_variables) != 0)


def test_mixed_precision_step_matches_float32():
    x, y = _data()
    rows, shared, own, _ = _manual(_model(), x, y)
    expected = np.asarray(aggregators.UPGrad()(rows.astype("float64")))
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        # A scale that float16 gradients of this model do not overflow.
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(LR), initial_scale=2.0 ** 6)
        applied = _step(model, x, y, optimizer=optimizer,
                        aggregator="upgrad")
        assert model.optimizer.dynamic_scale.numpy() == 2.0 ** 6
        # An overflowing scale: the step is skipped and the scale lowered,
        # instead of the solver failing on a non-finite Gramian.
        model = _model()
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(LR), initial_scale=2.0 ** 30)
        skipped = _step(model, x, y, optimizer=optimizer,
                        aggregator="upgrad")
        assert model.optimizer.dynamic_scale.numpy() < 2.0 ** 30
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # float16 activations: the unscaled UPGrad step to float16 accuracy.
    np.testing.assert_allclose(_flat(applied, shared), expected, rtol=0.05,
                               atol=5e-3)
    for path, g in own.items():
        np.testing.assert_allclose(applied[path], g, rtol=0.05, atol=5e-3)
    for g in skipped.values():
        np.testing.assert_array_equal(g, 0.0)


def test_jit_compile_step_is_the_upgrad_step():
    x, y = _data()
    model = _model()
    rows, shared, own, _ = _manual(model, x, y)
    expected = np.asarray(aggregators.UPGrad()(rows.astype("float64")))
    xla = _step(model, x, y, aggregator="upgrad", jit_compile=True)
    np.testing.assert_allclose(_flat(xla, shared), expected, rtol=1e-3,
                               atol=1e-5)
    for path, g in own.items():
        np.testing.assert_allclose(xla[path], g, rtol=1e-4, atol=1e-6)


def test_keras_round_trip_keeps_aggregator_and_mode(tmp_path):
    x, y = _data()
    model = _model()
    model.compile("adam", aggregator=aggregators.PCGrad(seed=3),
                  aggregation_mode="representation")
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.aggregator, aggregators.PCGrad)
    assert loaded.aggregator.seed == 3
    assert loaded._hidden.engine.mode == "representation"
    history = loaded.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_non_finite_jacobian_gives_non_finite_direction():
    class Total(aggregators.Aggregator):
        def call(self, jacobian):
            return keras.ops.sum(keras.ops.nan_to_num(jacobian), axis=0)

    stack = tf.constant([[1.0, np.inf], [0.0, 1.0], [2.0, 0.5]])
    for aggregator in (aggregators.UPGrad(), Total()):
        model = _model()
        model.compile("sgd", aggregator=aggregator)
        engine = model._hidden.engine
        # Without the non-finite policy's row screening.
        directions, rows_ok = engine._aggregate([stack])
        assert rows_ok is None
        direction = directions[0]
        assert not np.any(np.isfinite(np.asarray(direction)))
