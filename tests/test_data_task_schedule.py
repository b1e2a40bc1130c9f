"""Tests of `keras_mtl.callbacks.TaskSchedule` (per-step task masks)."""

import math

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl.callbacks import TaskSchedule

NAMES = ("a", "b", "c")


def _model_and_data(num_samples=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(num_samples, 4)).astype("float32")
    y = {"a": (x[:, 0] > 0).astype("int32"),
         "b": x[:, 1:2] * 3.0,
         "c": (x[:, 2] > 0).astype("int32")}
    tasks = [keras_mtl.Task("a", "binary"),
             keras_mtl.Task("b", "regression"),
             keras_mtl.Task("c", "binary")]
    model = keras_mtl.build(keras.Input((4,)), tasks, trunk=(8,))
    return model, x, y


class _HeadRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.kernels = []
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append({n: self.model.get_layer(n).kernel.numpy().copy()
                             for n in NAMES})
        self.weights.append({n: logs[f"{n}_weight"] for n in NAMES})


class _FakeModel:
    task_names = NAMES


def _schedule(strategy, **kwargs):
    schedule = TaskSchedule(strategy, **kwargs)
    schedule._model = _FakeModel()  # next_mask needs only task names
    return schedule


def test_round_robin_masks_and_the_model_ignores_masked_tasks():
    model, x, y = _model_and_data()
    model.compile(keras.optimizers.SGD(0.1))
    before = {n: model.get_layer(n).kernel.numpy().copy() for n in NAMES}
    schedule = TaskSchedule("round_robin", k=1)
    recorder = _HeadRecorder()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                        callbacks=[schedule, recorder])
    active = schedule.active
    assert active.shape == (4, 3)
    np.testing.assert_array_equal(
        active, np.eye(3, dtype=bool)[[0, 1, 2, 0]])
    previous = before
    for step, kernels in enumerate(recorder.kernels):
        for t, name in enumerate(NAMES):
            changed = not np.array_equal(kernels[name], previous[name])
            # Only the scheduled task's head moves on its step.
            assert changed == bool(active[step, t]), (step, name)
        previous = kernels
    # Logged weights: running means over the epoch of 0/1 masks.
    assert recorder.weights[0] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert history.history["a_active"] == [0.5]
    assert history.history["b_active"] == [0.25]
    # The mask is removed after fit: a later fit trains every task.
    assert model._hidden.task_mask is None
    recorder = _HeadRecorder()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.weights[0] == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_random_subset_rates_and_rescale():
    schedule = _schedule("random", k=2, seed=0, rescale=True)
    masks = np.stack([schedule.next_mask() for _ in range(3000)])
    assert set(np.unique(masks)) == {0.0, 1.5}
    assert np.all((masks > 0).sum(axis=1) == 2)
    share = (masks > 0).mean(axis=0)
    assert np.all(np.abs(share - 2 / 3) < 4 * math.sqrt(2 / 9 / 3000))


def test_all_strategy_and_k_at_least_t():
    assert np.all(_schedule("all").next_mask() == 1)
    assert np.all(_schedule("random", k=5, seed=0).next_mask() == 1)


def test_loss_progress_favours_slowest_task_at_the_stated_rate():
    schedule = _schedule("loss_progress", k=1, seed=1, temperature=0.5)
    assert np.all(schedule.next_mask() == 1)  # first step: all tasks
    schedule._start_losses = np.array([1.0, 2.0, 4.0])
    schedule._losses = np.array([0.2, 1.6, 2.0])  # ratios .2, .8, .5
    p = schedule.probabilities()
    expected = np.exp(np.array([0.2, 0.8, 0.5]) / 0.5)
    np.testing.assert_allclose(p, expected / expected.sum())
    assert np.argmax(p) == 1
    draws = np.stack([schedule.next_mask() for _ in range(4000)])
    assert np.all(draws.sum(axis=1) == 1)
    share = draws.mean(axis=0)
    tolerance = 4 * np.sqrt(p * (1 - p) / 4000)
    assert np.all(np.abs(share - p) < tolerance)


def test_loss_progress_in_fit_reads_task_losses():
    model, x, y = _model_and_data()
    model.compile(keras.optimizers.Adam(0.05))
    schedule = TaskSchedule("loss_progress", k=1, seed=0)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        callbacks=[schedule])
    assert schedule._start_losses is not None
    assert schedule.active[0].all()
    assert np.all(schedule.active[1:].sum(axis=1) == 1)
    shares = [history.history[f"{n}_active"][-1] for n in NAMES]
    assert math.isclose(sum(shares), 1.0)


def test_config_round_trip_and_errors():
    schedule = TaskSchedule("random", k=2, temperature=0.3, rescale=True,
                            seed=4)
    config = schedule.get_config()
    again = TaskSchedule.from_config(config)
    assert again.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, TaskSchedule)
    assert restored.get_config() == config
    with pytest.raises(ValueError, match="strategy"):
        TaskSchedule("sometimes")
    with pytest.raises(ValueError, match="k=0"):
        TaskSchedule("random", k=0)
