"""MTAN builder (task attention over a shared trunk)."""

import keras
import numpy as np
import pytest
from architecture_checks import TASKS
from architecture_checks import assert_outputs
from architecture_checks import assert_round_trip
from architecture_checks import assert_trains
from architecture_checks import mmoe_data
from architecture_checks import predict

import keras_mtl


def test_outputs_parameter_count_and_sharing():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="mtan",
                            trunk=(5, 3))
    first = 2 * (5 * 5 + 5)                       # block 0: hidden, mask
    later = (5 * 3 + 3) + (6 * 3 + 3) + (3 * 3 + 3)  # projection, hidden, mask
    assert model.count_params() == 43 + 2 * (first + later + 4)
    assert_outputs(model, np.zeros((3, 4), "float32"))
    assert [layer.name for layer in model.shared_layers] == [
        "trunk_0", "trunk_1"]
    assert [layer.name for layer in model.task_layers["task_2"]] == [
        "task_2_attention_0", "task_2_attention_1", "task_2"]
    last_only = keras_mtl.build(keras.Input((4,)), TASKS,
                                architecture="mtan", trunk=(5, 3),
                                attention_blocks=[1])
    assert last_only.count_params() == 43 + 2 * (2 * 12 + 4)


def test_single_shared_representation():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="mtan",
                            trunk=(5, 3))
    assert model.representation_layer.name == "shared_representation"
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    outputs, representation = model.call_with_representation(x)
    assert representation.shape == (6, 5 + 3)
    expected = predict(model, x)
    for task in ("task_1", "task_2"):
        np.testing.assert_allclose(np.asarray(outputs[task]), expected[task],
                                   rtol=1e-5, atol=1e-6)


def test_convolutional_trunk():
    trunk = [keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
             keras.layers.Conv2D(6, 3, padding="same", activation="relu")]
    model = keras_mtl.build(keras.Input((8, 8, 1)), TASKS,
                            architecture="mtan", trunk=trunk)
    assert model.get_layer("task_1_attention_1").count_params() == (
        (4 * 6 + 6) + (12 * 6 + 6) + (6 * 6 + 6))
    assert_outputs(model, np.zeros((2, 8, 8, 1), "float32"))


def test_trains_and_round_trips(tmp_path):
    x, y = mmoe_data()
    model = keras_mtl.build(keras.Input((100,), name="x"), TASKS,
                            architecture="mtan", trunk=(16, 8))
    assert_trains(model, x, y)
    assert_round_trip(model, x[:32], tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="attention_blocks"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mtan",
                        trunk=(5, 3), attention_blocks=[0])
    with pytest.raises(ValueError, match="attention_blocks"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mtan",
                        trunk=(5, 3), attention_blocks=[1, 1])
    with pytest.raises(ValueError, match="at least one block"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mtan",
                        trunk=())


def test_gradient_aggregation_in_representation_mode():
    x, y = mmoe_data(256)
    model = keras_mtl.build(keras.Input((100,)), TASKS, architecture="mtan",
                            trunk=(8, 4))
    model.compile(keras.optimizers.Adam(1e-2), aggregator="upgrad",
                  aggregation_mode="representation", run_eagerly=True)
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0).history
    assert all(np.isfinite(history[f"{t}_loss"][0])
               for t in ("task_1", "task_2"))
