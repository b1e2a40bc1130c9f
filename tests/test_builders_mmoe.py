"""MMoE builder and the expert-utilisation callback."""

import keras
import numpy as np
import pytest
from architecture_checks import TASKS
from architecture_checks import assert_outputs
from architecture_checks import assert_round_trip
from architecture_checks import assert_trains
from architecture_checks import mmoe_data

import keras_mtl
from keras_mtl.callbacks import ExpertUtilisation


def test_outputs_and_parameter_count():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe",
                            num_experts=3, expert_units=5)
    # experts 3 * (4*5 + 5) + gates 2 * (4*3) (no bias) + heads 2 * (5 + 1)
    assert model.count_params() == 75 + 24 + 12
    assert_outputs(model, np.zeros((3, 4), "float32"))
    shared = {layer.name for layer in model.shared_layers}
    assert shared == {"experts", "task_1_gate", "task_2_gate"}
    assert [layer.name for layer in model.task_layers["task_1"]] == ["task_1"]


def test_shared_bottom_and_towers_parameter_count():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe",
                            num_experts=3, expert_units=5, trunk=(6, 2),
                            sharing_depth=1)
    # bottom 4*6+6, experts 3*(6*5+5), gates 2*(6*3), towers 2*(5*2+2),
    # heads 2*(2+1)
    assert model.count_params() == 30 + 105 + 36 + 24 + 6
    assert "trunk_0" in {layer.name for layer in model.shared_layers}
    assert {layer.name for layer in model.task_layers["task_2"]} == {
        "task_2_trunk_1", "task_2"}


def test_gates_sum_to_one_and_gate_input():
    inputs = {"user": keras.Input((3,), name="user"),
              "item": keras.Input((5,), name="item")}
    model = keras_mtl.build(inputs, TASKS, architecture="mmoe",
                            num_experts=4, expert_units=3, gate_input="user")
    assert model.get_layer("task_1_gate").kernel.shape == (3, 4)
    x = {"user": np.random.rand(16, 3).astype("float32"),
         "item": np.random.rand(16, 5).astype("float32")}
    probe = keras.Model(model.input, model.get_layer("task_2_gate").output)
    weights = keras.ops.convert_to_numpy(probe(x))
    assert weights.shape == (16, 4)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(weights > 0)


def test_trains_logs_utilisation_and_round_trips(tmp_path):
    x, y = mmoe_data()
    model = keras_mtl.build(keras.Input((100,), name="x"), TASKS,
                            architecture="mmoe", num_experts=3,
                            expert_units=16)
    callback = ExpertUtilisation(x[:256])
    history = assert_trains(model, x, y, callbacks=[callback])
    for task in ("task_1", "task_2"):
        per_epoch = np.array([history[f"{task}_gate_expert_{e}"]
                              for e in range(3)])
        assert per_epoch.shape == (3, 4)
        np.testing.assert_allclose(per_epoch.sum(axis=0), 1.0, rtol=1e-5)
        assert len(callback.history[f"{task}_gate"]) == 4
    assert callback.collapsed(threshold=1.0) == []
    assert_round_trip(model, x[:32], tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_experts"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe",
                        num_experts=0)
    with pytest.raises(ValueError, match="gate_input"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe",
                        gate_input="context")
    with pytest.raises(ValueError, match="sharing_depth"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe",
                        trunk=(8,), sharing_depth=2)


def test_no_single_representation():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="mmoe")
    assert model.representation_layer is None
    with pytest.raises(ValueError, match="no single shared representation"):
        model.call_with_representation(np.zeros((2, 4), "float32"))


def test_expert_utilisation_needs_gates():
    model = keras_mtl.build(keras.Input((4,)), TASKS, trunk=(3,))
    model.compile("sgd", run_eagerly=True)
    callback = ExpertUtilisation(np.zeros((4, 4), "float32"))
    with pytest.raises(ValueError, match="no keras_mtl.layers.Gate"):
        model.fit(np.zeros((4, 4), "float32"),
                  {"task_1": np.zeros((4, 1)), "task_2": np.zeros((4, 1))},
                  epochs=1, verbose=0, callbacks=[callback])
    with pytest.raises(ValueError, match="data"):
        ExpertUtilisation(None)


def test_gradient_aggregation_on_experts_and_gates():
    x, y = mmoe_data(256)
    model = keras_mtl.build(keras.Input((100,)), TASKS, architecture="mmoe",
                            num_experts=2, expert_units=4)
    model.compile(keras.optimizers.Adam(1e-2), aggregator="upgrad",
                  aggregation_mode="jacobian", run_eagerly=True)
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0).history
    assert np.isfinite(history["loss"][0])
    with pytest.raises(ValueError, match="representation"):
        model.compile("adam", aggregator="upgrad",
                      aggregation_mode="representation")
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
