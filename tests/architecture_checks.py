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


def assert_outputs(model, x, num_tasks: int = 2, units: int = 1) -> dict:
    """Output names are the task names; shapes are (batch, units)."""
    predictions = model.predict(x, verbose=0)
    assert sorted(predictions) == [f"task_{i + 1}" for i in range(num_tasks)]
    for value in predictions.values():
        assert value.shape == (len(next(iter(
            x.values())) if isinstance(x, dict) else x), units)
        assert np.all(np.isfinite(value))
    return predictions


def assert_trains(model, x, y, epochs: int = 4,
                  learning_rate: float = 1e-2, callbacks=None) -> dict:
    """Fits briefly; every task's loss must fall. Returns the History."""
    model.compile(keras.optimizers.Adam(learning_rate))
    before = model.evaluate(x, y, batch_size=256, verbose=0)
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0,
                        callbacks=callbacks)
    after = model.evaluate(x, y, batch_size=256, verbose=0)
    for task in model.task_names:
        assert after[f"{task}_loss"] < 0.9 * before[f"{task}_loss"], (
            task, before, after)
    return history.history


def assert_round_trip(model, x, path) -> keras.Model:
    """`.keras` save/load gives the same class, tasks and predictions."""
    expected = model.predict(x, verbose=0)
    file = str(path / f"{model.name}.keras")
    model.save(file)
    loaded = keras.saving.load_model(file)
    assert isinstance(loaded, keras_mtl.MultiTaskModel)
    assert loaded.task_names == model.task_names
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.shared_layers] == \
        [layer.name for layer in model.shared_layers]
    found = loaded.predict(x, verbose=0)
    for task, value in expected.items():
        np.testing.assert_allclose(found[task], value, rtol=1e-5, atol=1e-6)
    return loaded
