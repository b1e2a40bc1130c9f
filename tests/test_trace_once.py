"""The step is traced once per fit, not twice.

Keras builds the optimizer's slots inside the first trace of the train
function; `tf.function` then traces the whole step a second time without
variable creation. For a many-task step that doubled the start-up (a
14-task step: about 40 s instead of 20 s on two cores).
"""

import keras
import numpy as np

import keras_mtl
from keras_mtl.training import step as training_step


def test_first_fit_traces_the_step_once(monkeypatch):
    calls = []
    original = training_step.train_step

    def counting(model, data):
        calls.append(1)
        return original(model, data)

    monkeypatch.setattr(training_step, "train_step", counting)
    tasks = [keras_mtl.Task("a", "regression"),
             keras_mtl.Task("b", "binary")]
    model = keras_mtl.build(keras.Input((5,)), tasks, architecture="hard",
                            trunk=(4,))
    model.compile(keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    y = {"a": np.zeros((32, 1), "float32"), "b": np.ones((32, 1), "int32")}
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert len(calls) == 1
    assert model.optimizer.built
