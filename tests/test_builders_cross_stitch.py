"""Cross-stitch builder."""

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
    model = keras_mtl.build(keras.Input((4,)), TASKS,
                            architecture="cross_stitch", trunk=(5, 3))
    # columns 2 * (25 + 18), units 2 * (2*2), heads 2 * (3+1)
    assert model.count_params() == 86 + 8 + 8
    assert_outputs(model, np.zeros((3, 4), "float32"))
    assert {layer.name for layer in model.shared_layers} == {
        "task_1_trunk_0", "task_2_trunk_0", "cross_stitch_0",
        "task_1_trunk_1", "task_2_trunk_1", "cross_stitch_1"}
    np.testing.assert_allclose(
        np.asarray(model.get_layer("cross_stitch_1").alpha),
        [[0.9, 0.1], [0.1, 0.9]], rtol=1e-6)
    per_channel = keras_mtl.build(keras.Input((4,)), TASKS,
                                  architecture="cross_stitch", trunk=(5, 3),
                                  per_channel=True)
    assert per_channel.count_params() == 86 + 2 * 2 * (5 + 3) + 8
    bottom = keras_mtl.build(keras.Input((4,)), TASKS,
                             architecture="cross_stitch", trunk=(5, 3),
                             sharing_depth=1)
    assert bottom.count_params() == 25 + 2 * 18 + 4 + 8


def test_identity_initialisation_equals_independent_columns():
    stitched = keras_mtl.build(keras.Input((4,)), TASKS,
                               architecture="cross_stitch", trunk=(5, 3),
                               self_weight=1.0)
    independent = keras_mtl.build(keras.Input((4,)), TASKS, trunk=(5, 3),
                                  sharing_depth=0)
    for layer in independent.layers:
        if layer.weights:
            stitched.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected = predict(independent, x)
    found = predict(stitched, x)
    for task in ("task_1", "task_2"):
        np.testing.assert_allclose(found[task], expected[task], rtol=1e-5,
                                   atol=1e-6)


def test_trains_and_round_trips(tmp_path):
    x, y = mmoe_data()
    model = keras_mtl.build(keras.Input((100,), name="x"), TASKS,
                            architecture="cross_stitch", trunk=(16, 8))
    assert_trains(model, x, y)
    alpha = np.asarray(model.get_layer("cross_stitch_0").alpha)
    assert not np.allclose(alpha, [[0.9, 0.1], [0.1, 0.9]])
    assert_round_trip(model, x[:32], tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sharing_depth"):
        keras_mtl.build(keras.Input((4,)), TASKS,
                        architecture="cross_stitch", trunk=(5,),
                        sharing_depth=1)
    with pytest.raises(ValueError, match="self_weight"):
        keras_mtl.build(keras.Input((4,)), TASKS,
                        architecture="cross_stitch", self_weight=-0.1)
