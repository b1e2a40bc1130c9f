import keras
import numpy as np
import pytest

import keras_mtl


def _tasks():
    return [
        keras_mtl.Task("zeta", "binary"),
        keras_mtl.Task("alpha", "multiclass", num_classes=3, head_units=(4,)),
        keras_mtl.Task("mid", "regression", units=2),
    ]


def test_outputs_named_and_shaped_in_definition_order():
    model = keras_mtl.build(keras.Input((6,)), _tasks(), trunk=(8, 4))
    assert model.task_names == ("zeta", "alpha", "mid")
    out = model.predict(np.zeros((2, 6), "float32"), verbose=0)
    assert {k: v.shape for k, v in out.items()} == {
        "zeta": (2, 1), "alpha": (2, 3), "mid": (2, 2)}
    for task in model.task_names:
        assert model.get_layer(task).name == task


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_sharing_depth_semantics(depth):
    model = keras_mtl.build(keras.Input((6,)), _tasks(), trunk=(8, 4),
                            sharing_depth=depth)
    shared = [layer.name for layer in model.shared_layers]
    assert shared == [f"trunk_{i}" for i in range(depth)]
    for task, layers in model.task_layers.items():
        names = [layer.name for layer in layers]
        copies = [f"{task}_trunk_{i}" for i in range(depth, 2)]
        assert names[:len(copies)] == copies
    has_representation = model.representation_layer is not None
    assert has_representation == (depth > 0)
    # Hand count: trunk 6->8->4, heads: 4->1, 4->4->3, 4->2.
    trunk = (6 * 8 + 8) + (8 * 4 + 4)
    first, second = 6 * 8 + 8, 8 * 4 + 4
    heads = (4 * 1 + 1) + (4 * 4 + 4 + 4 * 3 + 3) + (4 * 2 + 2)
    copies = {0: 3 * trunk, 1: first + 3 * second, 2: trunk}[depth]
    assert model.count_params() == copies + heads


def test_shared_blocks_are_the_same_objects_and_copies_are_not():
    conv = keras.layers.Conv2D(4, 3, name="conv")
    dense = keras.layers.Dense(5, name="dense")
    model = keras_mtl.build(keras.Input((8, 8, 1)), _tasks(),
                            trunk=[conv, dense], sharing_depth=1)
    assert model.get_layer("conv") is conv
    assert conv in model.shared_layers
    copies = [model.get_layer(f"{t}_dense") for t in model.task_names]
    assert all(c is not dense for c in copies)
    assert len({id(c) for c in copies}) == 3
    assert all(c.get_config()["units"] == 5 for c in copies)
    shared_ids = {id(v) for v in model.shared_variables}
    assert {id(v) for v in conv.trainable_variables} == shared_ids


def test_any_keras_model_as_trunk_with_dict_inputs():
    trunk = keras.Sequential([keras.layers.Dense(8, activation="relu")],
                             name="user_trunk")
    inputs = {"a": keras.Input((3,), name="a"),
              "b": keras.Input((2,), name="b")}
    model = keras_mtl.build(inputs, _tasks(), trunk=trunk)
    out = model.predict({"a": np.zeros((2, 3)), "b": np.zeros((2, 2))},
                        verbose=0)
    assert out["mid"].shape == (2, 2)
    assert model.get_layer("user_trunk") in model.shared_layers
    independent = keras_mtl.build(inputs, _tasks(), trunk=trunk,
                                  sharing_depth=0)
    assert independent.shared_layers == []


def test_training_lowers_every_task_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 6)).astype("float32")
    y = {
        "zeta": (x[:, 0] + x[:, 1] > 0).astype("float32"),
        "alpha": (np.digitize(x[:, 2], [-0.5, 0.5])).astype("int32"),
        "mid": np.stack([x[:, 3], x[:, 4] - x[:, 5]], 1).astype("float32"),
    }
    model = keras_mtl.build(keras.Input((6,)), _tasks(), trunk=(32, 16))
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=6, batch_size=64, verbose=0).history
    for task in model.task_names:
        losses = history[f"{task}_loss"]
        assert losses[-1] < 0.7 * losses[0], (task, losses)


@pytest.mark.parametrize("depth", [-1, 3, 1.5, True])
def test_sharing_depth_out_of_range(depth):
    with pytest.raises(ValueError, match=r"sharing_depth.*\[0, 2\]"):
        keras_mtl.build(keras.Input((6,)), _tasks(), trunk=(8, 4),
                        sharing_depth=depth)


def test_empty_and_duplicate_tasks():
    with pytest.raises(ValueError, match="task list is empty"):
        keras_mtl.build(keras.Input((6,)), [])
    with pytest.raises(ValueError, match=r"Duplicate task name\(s\) \['a'\]"):
        keras_mtl.build(keras.Input((6,)), [keras_mtl.Task("a"),
                                            keras_mtl.Task("a")])
    with pytest.raises(TypeError, match="keras_mtl.Task"):
        keras_mtl.build(keras.Input((6,)), ["a"])


def test_trunk_that_does_not_accept_inputs():
    with pytest.raises(ValueError, match=r"Trunk block 0 \(conv\) does not "
                       r"accept an input of shape \(None, 6\)"):
        keras_mtl.build(keras.Input((6,)), _tasks(),
                        trunk=[keras.layers.Conv2D(4, 3, name="conv")])


def test_bad_trunk_and_architecture():
    with pytest.raises(TypeError, match="trunk"):
        keras_mtl.build(keras.Input((6,)), _tasks(), trunk="big")
    with pytest.raises(ValueError, match="Unknown architecture 'huge'"):
        keras_mtl.build(keras.Input((6,)), _tasks(), architecture="huge")
