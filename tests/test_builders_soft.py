"""Soft parameter sharing builder."""

import keras
import numpy as np
import pytest
from architecture_checks import TASKS
from architecture_checks import assert_outputs
from architecture_checks import assert_round_trip
from architecture_checks import assert_trains
from architecture_checks import mmoe_data
from architecture_checks import small_tasks

import keras_mtl


def _formula(layer, strength, relation):
    weights = [[np.asarray(w) for w in c.trainable_weights]
               for c in layer.columns]
    total = 0.0
    for i in range(len(weights)):
        for j in range(i + 1, len(weights)):
            total += relation[i][j] * sum(
                np.sum((a - b) ** 2) for a, b in zip(weights[i], weights[j]))
    return strength * total


def test_outputs_parameter_count_and_sharing():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="soft",
                            trunk=(5, 3))
    # two columns of (4*5+5) + (5*3+3), heads 2 * (3+1)
    assert model.count_params() == 2 * 43 + 8
    assert_outputs(model, np.zeros((3, 4), "float32"))
    assert [layer.name for layer in model.shared_layers] == ["soft_sharing"]
    assert [layer.name for layer in model.task_layers["task_1"]] == ["task_1"]
    bottom = keras_mtl.build(keras.Input((4,)), TASKS, architecture="soft",
                             trunk=(5, 3), sharing_depth=1)
    assert bottom.count_params() == 25 + 2 * 18 + 8
    assert bottom.representation_layer is None


def test_penalty_equals_formula_and_enters_the_objective():
    relation = [[0, 2, 0], [2, 0, 1], [0, 1, 0]]
    tasks = small_tasks(3)
    model = keras_mtl.build(keras.Input((4,)), tasks, architecture="soft",
                            trunk=(5, 3), strength=0.05, relation=relation)
    layer = model.get_layer("soft_sharing")
    expected = _formula(layer, 0.05, relation)
    assert expected > 0
    np.testing.assert_allclose(float(layer.penalty()), expected, rtol=1e-5)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = {t.name: np.zeros((16, 1), "float32") for t in tasks}
    model(x)
    np.testing.assert_allclose(float(model.losses[0]), expected, rtol=1e-5)
    model.compile("sgd", run_eagerly=True)
    result = model.evaluate(x, y, batch_size=16, verbose=0)
    np.testing.assert_allclose(result["soft_sharing_penalty"], expected,
                               rtol=1e-5)
    task_sum = sum(result[f"{t.name}_loss"] for t in tasks)
    np.testing.assert_allclose(result["loss"], task_sum + expected,
                               rtol=1e-5)


def test_trains_logs_penalty_and_round_trips(tmp_path):
    x, y = mmoe_data()
    model = keras_mtl.build(keras.Input((100,), name="x"), TASKS,
                            architecture="soft", trunk=(16,), strength=1e-2)
    history = assert_trains(model, x, y)
    penalties = history["soft_sharing_penalty"]
    assert len(penalties) == 4 and all(p > 0 for p in penalties)
    assert_round_trip(model, x[:32], tmp_path)


def test_strong_tie_pulls_columns_together():
    x, y = mmoe_data(256)
    distances = {}
    for strength in (0.0, 1.0):
        keras.utils.set_random_seed(1)
        model = keras_mtl.build(keras.Input((100,)), TASKS,
                                architecture="soft", trunk=(8,),
                                strength=strength)
        model.compile(keras.optimizers.Adam(1e-2), run_eagerly=True)
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        distances[strength] = _formula(
            model.get_layer("soft_sharing"), 1.0, [[0, 1], [1, 0]])
    assert distances[1.0] < 0.5 * distances[0.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="sharing_depth"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="soft",
                        trunk=(5, 3), sharing_depth=2)
    with pytest.raises(ValueError, match="relation"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="soft",
                        relation=[[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="strength"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="soft",
                        strength=float("nan"))
