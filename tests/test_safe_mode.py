"""Untrusted `.keras` files: keras_mtl objects load in Keras's safe mode, and
a file that carries code (a lambda) is refused there."""

import json
import zipfile

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import aggregators
from keras_mtl import weightings

TASKS = [keras_mtl.Task("income", "binary"),
         keras_mtl.Task("kind", "multiclass", num_classes=3),
         keras_mtl.Task("age", "regression")]


def _data(n: int = 32) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, {"income": (rng.random((n, 1)) > 0.5).astype("float32"),
               "kind": rng.integers(0, 3, size=(n,)),
               "age": rng.normal(size=(n, 1)).astype("float32")}


def _instances() -> list:
    special = {"inverse_size": {"sizes": {"income": 10, "kind": 5, "age": 3}},
               "static": {"weights": {"income": 2.0}}}
    return [family.get_class(name)(**special.get(name, {}))
            for family in (weightings, aggregators)
            for name in family.names()]


def test_every_weighting_and_aggregator_config_loads_in_safe_mode():
    for instance in _instances():
        config = keras.saving.serialize_keras_object(instance)
        assert "__lambda__" not in json.dumps(config), type(instance)
        restored = keras.saving.deserialize_keras_object(
            config, safe_mode=True)
        assert type(restored) is type(instance)
        assert restored.get_config() == instance.get_config()


def _archive_is_plain(path) -> dict:
    """The file holds JSON and HDF5 weights only, and no serialized code."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert names == {"config.json", "metadata.json", "model.weights.h5"}
        config = archive.read("config.json").decode()
    assert "__lambda__" not in config and "pickle" not in config
    return json.loads(config)


@pytest.mark.parametrize("architecture,options", [
    ("hard", {"trunk": (8,), "dropout": 0.1}),
    ("mmoe", {"num_experts": 2, "expert_units": (4,)}),
    ("ple", {"num_levels": 1, "expert_units": (4,)}),
    ("cross_stitch", {"trunk": (4,)}),
])
def test_trained_model_with_state_loads_in_safe_mode(
        architecture, options, tmp_path):
    model = keras_mtl.build(keras.Input((6,), name="features"), TASKS,
                            architecture=architecture, **options)
    model.compile(
        "adam", weighting=weightings.UncertaintyWeighting(),
        aggregator=aggregators.GradVac(seed=1) if architecture == "hard"
        else None, task_learning_rates={"age": 2.0},
        on_nonfinite="skip_step")
    x, y = _data()
    if architecture == "hard":  # optimizer, weighting, aggregator state
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    else:
        model.optimizer.build(model.trainable_variables)
    path = tmp_path / "model.keras"
    model.save(path)
    config = _archive_is_plain(path)
    assert config["compile_config"]["on_nonfinite"] == "skip_step"

    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, keras_mtl.MultiTaskModel)
    assert loaded._hidden.policy == "skip_step"
    assert isinstance(loaded.weighting, weightings.UncertaintyWeighting)
    saved = model.weights + model.optimizer.variables
    restored = loaded.weights + loaded.optimizer.variables
    assert len(saved) == len(restored)
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    expected, got = model(x[:4]), loaded(x[:4])
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-6)


def test_a_file_with_a_lambda_layer_is_refused_in_safe_mode(tmp_path):
    inputs = keras.Input((6,), name="features")
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(inputs)
    model = keras_mtl.build(inputs, TASKS[:2], trunk=(4,))
    outputs = model(doubled)
    wrapped = keras_mtl.MultiTaskModel(inputs, outputs, tasks=TASKS[:2])
    wrapped.compile("adam")
    path = tmp_path / "lambda.keras"
    wrapped.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path)  # safe mode is Keras's default
