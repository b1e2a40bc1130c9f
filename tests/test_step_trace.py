"""The training step is traced without AutoGraph.

AutoGraph transpiled every keras_mtl function the step calls (~55 at
T=5), which took ~85% of the step's trace (28 of 32 s on the LeNet
workload) and changed no op: the step's Python control flow is static and
its tensor branches are explicit `tf.cond`s. The step now opts out
(`tf.autograph.experimental.do_not_convert`); this pins it.
"""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.autograph.impl import api as autograph_api

import keras_mtl


def _model():
    tasks = [keras_mtl.Task(f"task_{i}", "multiclass", num_classes=3)
             for i in range(3)]
    inputs = keras.Input((4,), name="features")
    h = keras.layers.Dense(8, activation="relu")(inputs)
    h = keras.layers.Identity(name="shared_representation")(h)
    model = keras_mtl.MultiTaskModel(
        inputs, {t.name: t.build_head(h) for t in tasks}, tasks=tasks,
        representation="shared_representation")
    model.compile(keras.optimizers.SGD(0.01), aggregator="upgrad")
    return model


def test_train_step_converts_no_keras_mtl_function(monkeypatch):
    model = _model()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {f"task_{i}": rng.integers(0, 3, 16).astype("int32")
         for i in range(3)}
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # builds state
    converted = []
    original = autograph_api._convert_actual

    def recording(entity, program_ctx):
        converted.append(getattr(entity, "__module__", "") or "")
        return original(entity, program_ctx)

    monkeypatch.setattr(autograph_api, "_convert_actual", recording)
    step = tf.function(lambda x, y: model.train_step((x, y)))
    logs = step(tf.constant(x), {k: tf.constant(v) for k, v in y.items()})
    assert np.isfinite(float(logs["loss"]))
    ours = [m for m in converted if m.startswith("keras_mtl")]
    assert not ours, f"AutoGraph converted keras_mtl functions: {ours}"


def test_a_users_loss_with_python_control_flow_on_tensors_trains():
    # The steps are traced without AutoGraph; a user's own loss function is
    # still converted, as plain Keras `fit` would convert it.
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_mtl

    def clipped_mse(y_true, y_pred):
        error = tf.square(y_pred - y_true)
        if tf.reduce_max(error) > 100.0:  # a Python `if` on a tensor
            error = tf.minimum(error, 100.0)
        return tf.reduce_mean(error, axis=-1)

    class Halved(keras.losses.Loss):
        def call(self, y_true, y_pred):
            value = tf.reduce_mean(tf.square(y_pred - y_true), axis=-1)
            if tf.reduce_mean(value) > 0.0:
                value = value / 2.0
            return value

    tasks = [keras_mtl.Task("a", "regression", loss=clipped_mse),
             keras_mtl.Task("b", "regression", loss=Halved())]
    model = keras_mtl.build(keras.Input((3,)), tasks, architecture="hard",
                            trunk=(4,))
    model.compile(keras.optimizers.Adam(1e-3))
    x = np.ones((8, 3), "float32")
    y = {"a": np.full((8, 1), 50.0, "float32"),
         "b": np.ones((8, 1), "float32")}
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["a_loss"][0] <= 100.0
