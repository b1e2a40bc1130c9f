"""The step applies first and its transaction commits, repairs or rolls
back (`keras_mtl.training.step`): on one device the update runs before
the verdict, so these pin what that must never change."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl._compat import tensorflow as tf_compat

BATCH = 8


@keras.saving.register_keras_serializable(package="tests_step_commit")
class RecordsPeak(keras.layers.Layer):
    """Identity that records `peak * 1e30` of its input in a
    non-trainable variable while training: an input entry above ~3.4e8
    writes Inf there, with every output, loss and gradient finite."""

    def build(self, input_shape):
        self.peak = self.add_weight(shape=(), initializer="zeros",
                                    trainable=False, name="peak")

    def call(self, inputs, training=False):
        if training:
            self.peak.assign(tf.reduce_max(tf.abs(inputs)) * 1e30)
        return inputs


def build() -> keras_mtl.MultiTaskModel:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,), name="x")
    recorded = RecordsPeak(name="recorder")(inputs)
    z = keras.layers.Dense(6, activation="tanh", name="trunk")(
        keras.layers.Lambda(lambda t: tf.tanh(t * 1e-9), name="squash")(
            recorded))
    outputs = {"a": keras.layers.Dense(1, name="a")(z),
               "b": keras.layers.Dense(1, name="b")(z)}
    return keras_mtl.MultiTaskModel(
        inputs, outputs, tasks=[keras_mtl.Task("a", "regression"),
                                keras_mtl.Task("b", "regression")])


def state(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in
            model.weights + model.optimizer.variables]


@pytest.mark.parametrize("policy,aggregator", [
    ("drop_task", None), ("drop_task", "upgrad"), ("skip_step", None)])
def test_a_clean_step_that_writes_inf_is_rolled_back(policy, aggregator):
    """Losses and gradients are finite; the forward pass writes Inf into
    a layer's variable. The whole step is rolled back (no repair: no
    task was at fault) and counted against every task."""
    model = build()
    model.compile(keras.optimizers.Adam(0.01), on_nonfinite=policy,
                  aggregator=aggregator)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 4)).astype("float32")
    y = {"a": rng.normal(size=(BATCH, 1)).astype("float32"),
         "b": rng.normal(size=(BATCH, 1)).astype("float32")}
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # builds slots
    before = state(model)
    x_bad = x.copy()
    x_bad[2, 1] = 1e10
    logs = model.fit(x_bad, y, batch_size=BATCH, epochs=1, verbose=0,
                     shuffle=False).history
    for old, new in zip(before, state(model)):
        np.testing.assert_array_equal(new, old)
    assert logs["nonfinite_steps"] == [1.0]
    assert logs["a_nonfinite"] == [1.0] and logs["b_nonfinite"] == [1.0]
    # The next clean batch trains as usual.
    logs = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0).history
    assert logs["nonfinite_steps"] == [0.0]
    assert not np.array_equal(model.get_layer("trunk").kernel.numpy(),
                              before[1])


def test_a_clean_step_applies_what_no_policy_applies():
    """The update that runs first is the step's update: on a clean batch
    `drop_task` leaves every variable where `on_nonfinite=None` does."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4 * BATCH, 4)).astype("float32")
    y = {"a": rng.normal(size=(4 * BATCH, 1)).astype("float32"),
         "b": rng.normal(size=(4 * BATCH, 1)).astype("float32")}
    results = []
    for policy in ("drop_task", None):
        model = build()
        model.compile(keras.optimizers.Adam(0.01), on_nonfinite=policy)
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                  shuffle=False)
        results.append(state(model))
    for with_policy, without in zip(*results):
        np.testing.assert_allclose(with_policy, without, rtol=1e-6,
                                   atol=1e-7)


def test_the_repair_branch_is_one_call_not_lowered():
    """The default step's commit-or-repair conditional stays an `If` op
    (only the branch taken runs); see `_compat.tensorflow.cond_as_call`."""
    model = build()
    model.compile("sgd")
    x = np.zeros((BATCH, 4), "float32")
    y = {"a": np.zeros((BATCH, 1), "float32"),
         "b": np.zeros((BATCH, 1), "float32")}
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    step = tf.function(lambda data: model.train_step(data))
    graph = step.get_concrete_function(
        (tf.TensorSpec((BATCH, 4)), {k: tf.TensorSpec((BATCH, 1))
                                     for k in y})).graph
    flags = [op.get_attr("_lower_using_switch_merge")
             for op in graph.get_operations() if op.type == "If"]
    assert False in flags


def test_cond_as_call_keeps_values_and_order():
    counter = tf.Variable(0.0)

    def then():
        counter.assign(2.0)
        counter.assign_add(1.0)  # after the assign: 3
        return counter.read_value() * 2.0

    def otherwise():
        return tf.constant(-1.0)

    @tf.function
    def run(flag):
        return tf_compat.cond_as_call(flag, then, otherwise)

    assert float(run(tf.constant(True))) == 6.0
    assert float(counter.numpy()) == 3.0
    assert float(run(tf.constant(False))) == -1.0
    graph = run.get_concrete_function(tf.constant(True)).graph
    ifs = [op for op in graph.get_operations() if op.type == "If"]
    assert [op.get_attr("_lower_using_switch_merge") for op in ifs] == [
        False]
    counter.assign(0.0)
    assert float(tf_compat.cond_as_call(tf.constant(True), then,
                                        otherwise)) == 6.0  # eagerly
