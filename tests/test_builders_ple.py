"""CGC and PLE builders."""

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


def test_ple_outputs_parameter_count_and_sharing():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="ple",
                            num_levels=2, expert_units=5)
    level_0 = 25 + 2 * 25 + 2 * (4 * 2) + 4 * 3  # experts, gates, shared gate
    level_1 = 30 + 2 * 30 + 2 * (5 * 2)          # no shared gate at the top
    assert model.count_params() == level_0 + level_1 + 2 * 6
    assert_outputs(model, np.zeros((3, 4), "float32"))
    shared = {layer.name for layer in model.shared_layers}
    assert {"level_0_shared_experts", "level_0_task_1_experts",
            "level_0_shared_gate", "level_1_shared_experts",
            "level_1_task_1_gate", "level_1_task_2_gate"} <= shared
    assert "level_1_shared_gate" not in {layer.name for layer in model.layers}
    assert [layer.name for layer in model.task_layers["task_1"]] == [
        "level_1_task_1_experts", "task_1"]


def test_cgc_is_one_level():
    cgc = keras_mtl.build(keras.Input((4,)), TASKS, architecture="cgc",
                          num_shared_experts=2, num_task_experts=1,
                          expert_units=5)
    # shared 2*25, task 2*25, gates 2 * (4 * 3), heads 2 * 6
    assert cgc.count_params() == 50 + 50 + 24 + 12
    one_level = keras_mtl.build(keras.Input((4,)), TASKS, architecture="ple",
                                num_levels=1, num_shared_experts=2,
                                expert_units=5)
    assert one_level.count_params() == cgc.count_params()
    assert cgc.name == "cgc"


def test_gates_sum_to_one():
    model = keras_mtl.build(keras.Input((4,)), TASKS, architecture="ple",
                            num_levels=2, num_shared_experts=2,
                            num_task_experts=3, expert_units=5)
    names = ["level_0_task_1_gate", "level_0_shared_gate",
             "level_1_task_2_gate"]
    probe = keras.Model(model.input, [model.get_layer(n).output
                                      for n in names])
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
    widths = [5, 2 * 3 + 2, 5]
    for weights, width in zip(probe(x), widths):
        weights = keras.ops.convert_to_numpy(weights)
        assert weights.shape == (10, width)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)


def test_trains_logs_utilisation_and_round_trips(tmp_path):
    x, y = mmoe_data()
    model = keras_mtl.build(keras.Input((100,), name="x"), TASKS,
                            architecture="ple", num_levels=2,
                            expert_units=8, trunk=(16, 8), sharing_depth=1)
    callback = ExpertUtilisation(x[:128])
    history = assert_trains(model, x, y, callbacks=[callback])
    assert {f"level_0_shared_gate_expert_{e}" for e in range(3)} <= set(
        history)
    assert_round_trip(model, x[:32], tmp_path)


@pytest.mark.parametrize("argument", [
    "num_levels", "num_shared_experts", "num_task_experts"])
def test_counts_must_be_positive(argument):
    with pytest.raises(ValueError, match=f"`{argument}` must be an int"):
        keras_mtl.build(keras.Input((4,)), TASKS, architecture="ple",
                        **{argument: 0})
