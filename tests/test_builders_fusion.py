"""Multimodal inputs: encoders and fusion in keras_mtl.build."""

import keras
import numpy as np
import pytest
from architecture_checks import TASKS
from architecture_checks import assert_outputs
from architecture_checks import assert_round_trip
from architecture_checks import assert_trains
from architecture_checks import predict

import keras_mtl
from keras_mtl.builders import ARCHITECTURES


def _inputs(a=4, b=6):
    return {"a": keras.Input((a,), name="a"), "b": keras.Input((b,), name="b")}


def _x(n=8, a=4, b=6):
    rng = np.random.default_rng(0)
    return {"a": rng.normal(size=(n, a)).astype("float32"),
            "b": rng.normal(size=(n, b)).astype("float32")}


def test_concat_without_encoders_is_the_plain_model():
    model = keras_mtl.build(_inputs(), TASKS, trunk=(5,))
    assert model.count_params() == (10 * 5 + 5) + 2 * 6
    assert model.get_layer("input_concat") is not None


@pytest.mark.parametrize("fusion, params", [
    # projection a 4*6+6, fusion (2 logits | attention 6*6+6+6), trunk
    # 6*5+5, heads 2*6
    ("weighted_sum", 30 + 2 + 35 + 12),
    ("attention", 30 + 48 + 35 + 12),
    # towers: (4*5+5 + 12) and (6*5+5 + 12), per-task fusion 2 * 2 logits
    ("late", 37 + 47 + 4),
])
def test_fusion_parameter_counts(fusion, params):
    model = keras_mtl.build(_inputs(), TASKS, trunk=(5,), fusion=fusion)
    assert model.count_params() == params
    predictions = assert_outputs(model, _x())
    if fusion != "late":
        # The hard builder's representation survives fusion.
        assert model.representation_layer.name == "shared_representation"
    else:
        assert model.get_layer("task_1").__class__.__name__ == \
            "WeightedSumFusion"
        towers = [model.get_layer("a_tower"), model.get_layer("b_tower")]
        tower_mean = 0.5 * sum(predict(t, v)["task_1"]
                               for t, v in zip(towers, _x().values()))
        np.testing.assert_allclose(predictions["task_1"], tower_mean,
                                   rtol=1e-5, atol=1e-6)


def test_encoders_and_a_shared_encoder():
    inputs = {"left": keras.Input((4,), name="left"),
              "right": keras.Input((4,), name="right"),
              "image": keras.Input((5, 5, 1), name="image")}
    shared = keras.layers.Dense(3, name="shared_encoder")
    image = keras.Sequential([keras.layers.Flatten(),
                              keras.layers.Dense(3)], name="image_encoder")
    model = keras_mtl.build(
        inputs, TASKS, trunk=(5,), fusion="weighted_sum",
        encoders={"left": shared, "right": shared, "image": image})
    # shared encoder once (4*3+3), image encoder 25*3+3, 3 logits,
    # trunk 3*5+5, heads 2*6
    assert model.count_params() == 15 + 78 + 3 + 20 + 12
    rng = np.random.default_rng(0)
    x = {"left": rng.normal(size=(4, 4)).astype("float32"),
         "right": rng.normal(size=(4, 4)).astype("float32"),
         "image": rng.normal(size=(4, 5, 5, 1)).astype("float32")}
    assert_outputs(model, x)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_architecture_accepts_fusion(architecture):
    options = {"trunk": (6, 4)} if architecture in (
        "hard", "soft", "cross_stitch", "mtan") else {"expert_units": 4}
    model = keras_mtl.build(_inputs(), TASKS, architecture=architecture,
                            fusion="attention", fusion_units=6, **options)
    assert model.get_layer("fusion") is not None
    assert sorted(i.name for i in model.inputs) == ["a", "b"]
    assert_outputs(model, _x(3))


def test_fused_models_train_and_round_trip(tmp_path):
    x, y = keras_mtl.data.synthetic_mmoe(1024, 0.8, seed=0)
    y = {k: (v - v.mean()) / v.std() for k, v in y.items()}
    inputs = {"a": keras.Input((60,), name="a"),
              "b": keras.Input((40,), name="b")}
    data = {"a": x[:, :60], "b": x[:, 60:]}
    model = keras_mtl.build(
        inputs, TASKS, architecture="mmoe", num_experts=2, expert_units=8,
        fusion="attention",
        encoders={"a": keras.layers.Dense(16, activation="relu")})
    assert_trains(model, data, y)
    assert_round_trip(model, {k: v[:16] for k, v in data.items()}, tmp_path)
    late = keras_mtl.build(inputs, TASKS, trunk=(8,), fusion="late",
                           name="late_model")
    assert_round_trip(late, {k: v[:16] for k, v in data.items()}, tmp_path)


def test_bad_multimodal_arguments():
    with pytest.raises(ValueError, match="Input 'a' has no encoder"):
        keras_mtl.build(_inputs(), TASKS, fusion="weighted_sum",
                        projection=False)
    with pytest.raises(ValueError, match="`encoders` gives embeddings of "
                                         "different widths"):
        keras_mtl.build(_inputs(), TASKS, fusion="attention",
                        projection=False,
                        encoders={"a": keras.layers.Dense(3),
                                  "b": keras.layers.Dense(5)})
    with pytest.raises(ValueError, match="names input"):
        keras_mtl.build(_inputs(), TASKS, encoders={"c": keras.layers.Dense(3)})
    with pytest.raises(ValueError, match="`fusion` must be one of"):
        keras_mtl.build(_inputs(), TASKS, fusion="sum")
    with pytest.raises(ValueError, match="fusion_units"):
        keras_mtl.build(_inputs(), TASKS, fusion="concat", fusion_units=0)
    with pytest.raises(TypeError, match="dict of named inputs"):
        keras_mtl.build(keras.Input((4,)), TASKS, fusion="attention")
    with pytest.raises(TypeError, match="Keras layer"):
        keras_mtl.build(_inputs(), TASKS, encoders={"a": "dense"})
    with pytest.raises(ValueError, match="does not accept its shape"):
        keras_mtl.build(_inputs(), TASKS, encoders={
            "a": keras.layers.Conv2D(2, 3)})
    # Equal widths need no projection.
    model = keras_mtl.build(_inputs(b=4), TASKS, fusion="weighted_sum",
                            projection=False, trunk=(3,))
    assert model.count_params() == 2 + (4 * 3 + 3) + 2 * 4
