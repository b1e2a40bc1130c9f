"""Checks shared by the architecture tests (tests/test_builders_*.py)."""

import keras
import numpy as np

import keras_mtl

TASKS = (keras_mtl.Task("task_1", "regression"),
         keras_mtl.Task("task_2", "regression"))


def small_tasks(num_tasks: int = 2) -> list:
    return [keras_mtl.Task(f"task_{i + 1}", "regression")
            for i in range(num_tasks)]


def mmoe_data(num_samples: int = 1024, correlation: float = 0.8,
              num_tasks: int = 2, seed: int = 0):
    """The MMoE synthetic data, labels standardised (losses start near 1)."""
    x, y = keras_mtl.data.synthetic_mmoe(
        num_samples, correlation, num_tasks=num_tasks, seed=seed)
    y = {k: (v - v.mean()) / v.std() for k, v in y.items()}
    return x, y


def predict(model, x) -> dict:
    """Eager inference (no tf.function tracing: fast for small checks)."""
    return {k: keras.ops.convert_to_numpy(v)
            for k, v in model(x, training=False).items()}


def assert_outputs(model, x, num_tasks: int = 2, units: int = 1) -> dict:
    """Output names are the task names; shapes are (batch, units)."""
    predictions = predict(model, x)
    batch = len(next(iter(x.values())) if isinstance(x, dict) else x)
    assert sorted(predictions) == [f"task_{i + 1}" for i in range(num_tasks)]
    for value in predictions.values():
        assert value.shape == (batch, units)
        assert np.all(np.isfinite(value))
    return predictions


def _mse(model, x, y) -> dict:
    predictions = predict(model, x)
    return {k: float(np.mean((predictions[k] - y[k]) ** 2)) for k in y}


def assert_trains(model, x, y, epochs: int = 4,
                  learning_rate: float = 1e-2, callbacks=None) -> dict:
    """Fits briefly; every task's loss (MSE) must fall. Returns the
    History."""
    model.compile(keras.optimizers.Adam(learning_rate))
    before = _mse(model, x, y)
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0,
                        callbacks=callbacks)
    after = _mse(model, x, y)
    for task in model.task_names:
        assert after[task] < 0.9 * before[task], (task, before, after)
        assert len(history.history[f"{task}_loss"]) == epochs
    return history.history


def assert_round_trip(model, x, path) -> keras.Model:
    """`.keras` save/load gives the same class, tasks and predictions."""
    expected = predict(model, x)
    file = str(path / f"{model.name}.keras")
    model.save(file)
    loaded = keras.saving.load_model(file)
    assert isinstance(loaded, keras_mtl.MultiTaskModel)
    assert loaded.task_names == model.task_names
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.shared_layers] == \
        [layer.name for layer in model.shared_layers]
    found = predict(loaded, x)
    for task, value in expected.items():
        np.testing.assert_allclose(found[task], value, rtol=1e-5, atol=1e-6)
    return loaded
