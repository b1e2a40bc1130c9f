import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl


def _model(**compile_kwargs):
    tasks = [keras_mtl.Task("cls", "binary"),
             keras_mtl.Task("reg", "regression")]
    model = keras_mtl.build(keras.Input((4,), name="x"), tasks, trunk=(8,))
    model.compile(keras.optimizers.Adam(1e-2), **compile_kwargs)
    return model


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, {"cls": (x[:, 0] > 0).astype("float32"),
               "reg": x[:, 1:2] * 2}


def test_history_and_progress_keys():
    model = _model()
    x, y = _data()
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    evaluated = {"loss", "cls_loss", "cls_auc", "cls_accuracy", "reg_loss",
                 "reg_mae", "reg_rmse"}
    training_only = {"cls_weight", "reg_weight", "nonfinite_steps",
                     "cls_nonfinite", "reg_nonfinite"}
    assert set(history.history) == (evaluated | training_only | {
        f"val_{k}" for k in evaluated})


def test_evaluate_and_predict_return_dicts_keyed_by_task():
    model = _model()
    x, y = _data()
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, dict) and "cls_auc" in result
    assert set(model.predict(x, verbose=0)) == {"cls", "reg"}


def test_logged_task_loss_is_mean_over_labelled_samples():
    model = _model()
    x, y = _data(32)
    y["cls"][::2] = -1.0  # half the samples carry no class label
    result = model.evaluate(x, y, batch_size=32, verbose=0)
    p = model.predict(x, verbose=0)["cls"][1::2, 0]
    t = y["cls"][1::2]
    p = np.clip(p, 1e-7, 1 - 1e-7)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(result["cls_loss"], expected, rtol=1e-4)
    accuracy = np.mean((p > 0.5) == (t > 0.5))
    np.testing.assert_allclose(result["cls_accuracy"], accuracy, rtol=1e-6)


def test_task_without_labels_in_batch_contributes_zero_and_stays_finite():
    model = _model()
    x, y = _data(16)
    y["reg"][:] = np.nan
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert np.isnan(history["reg_loss"][0])  # no label: no value
    assert np.isnan(history["reg_mae"][0]) and history["loss"][0] > 0
    for old, var in zip(before, model.trainable_variables):
        assert np.all(np.isfinite(var.numpy()))
    reg_head = model.get_layer("reg").kernel.numpy()
    np.testing.assert_array_equal(reg_head, before[[
        i for i, v in enumerate(model.trainable_variables)
        if v is model.get_layer("reg").kernel][0]])


def test_tf_data_with_per_task_sample_weights():
    model = _model()
    x, y = _data()
    sw = {"cls": np.ones(64, "float32"), "reg": np.zeros(64, "float32")}
    ds = tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(16)
    history = model.fit(ds, epochs=1, verbose=0).history
    assert np.isnan(history["reg_loss"][0]) and history["cls_loss"][0] > 0


def test_compile_overrides_per_task():
    model = _model(loss={"reg": "mae"}, metrics={"cls": ["accuracy"]},
                   loss_weights={"cls": 2.0})
    x, y = _data()
    result = model.evaluate(x, y, verbose=0)
    assert "cls_auc" not in result and "cls_accuracy" in result
    assert "cls_weight" not in result  # training only
    trained = model.fit(x, y, epochs=1, verbose=0).history
    assert trained["cls_weight"] == [2.0] and trained["reg_weight"] == [1.0]
    result = model.evaluate(x, y, verbose=0)
    mae = np.mean(np.abs(model.predict(x, verbose=0)["reg"] - y["reg"]))
    np.testing.assert_allclose(result["reg_loss"], mae, rtol=1e-4)
    np.testing.assert_allclose(
        result["loss"], 2 * result["cls_loss"] + result["reg_loss"],
        rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(loss={"clss": "mse"}), r"`loss` names unknown task\(s\) "
         r"\['clss'\].*\['cls', 'reg'\]"),
        (dict(metrics={"other": ["mae"]}), r"unknown task\(s\) \['other'\]"),
        (dict(loss_weights={"x": 1.0}), r"unknown task\(s\) \['x'\]"),
        (dict(loss_weights={"cls": 1.0}, weighting="equal"), "not both"),
        (dict(weighting="nope"), "Unknown weighting 'nope'"),
        (dict(aggregator="nope"), "Unknown aggregator 'nope'"),
    ],
)
def test_compile_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_label_errors_name_tasks():
    model = _model()
    x, y = _data()
    with pytest.raises(ValueError, match=r"no entry for task\(s\) \['reg'\]"):
        model.fit(x, {"cls": y["cls"]}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['age'\]"):
        model.fit(x, {**y, "age": y["cls"]}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Task 'reg': labels of shape "
                       r"\(batch, 3\).*\(batch, 1\)"):
        model.fit(x, {**y, "reg": np.zeros((64, 3))}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="must be a dict"):
        model.fit(x, y["cls"], epochs=1, verbose=0)


def test_keras_file_round_trip_restores_predictions_and_training(tmp_path):
    model = _model(loss_weights={"cls": 0.5})
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, keras_mtl.MultiTaskModel)
    assert loaded.task_names == model.task_names
    assert loaded.weighting.static_weights == {"cls": 0.5}
    p0, p1 = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for task in p0:
        np.testing.assert_array_equal(p0[task], p1[task])
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Both continue identically from the same state.
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_user_functional_graph_as_multitask_model():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(6, name="shared")(inputs)
    outputs = {
        "a": keras.layers.Dense(1, activation="sigmoid", name="a")(shared),
        "b": keras.layers.Dense(1, name="b")(
            keras.layers.Dense(3, name="b_hidden")(shared)),
    }
    model = keras_mtl.MultiTaskModel(
        inputs, outputs, tasks=[keras_mtl.Task("a"),
                                keras_mtl.Task("b", "regression")])
    assert [layer.name for layer in model.shared_layers] == ["shared"]
    assert [layer.name for layer in model.task_layers["b"]] == [
        "b_hidden", "b"]
    with pytest.raises(ValueError, match="do not match the task names"):
        keras_mtl.MultiTaskModel(inputs, {"a": outputs["a"]},
                                 tasks=[keras_mtl.Task("c")])
