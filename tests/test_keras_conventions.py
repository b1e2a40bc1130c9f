"""Keras conventions that were refused or surprising (issue 18 part 3):
class_weight, weighted_metrics, metrics and sample weights, logits heads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl


def _model(tasks=None, seed=0):
    keras.utils.set_random_seed(seed)
    tasks = tasks or [keras_mtl.Task("a", "binary"),
                      keras_mtl.Task("d", "multiclass", num_classes=3)]
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="trunk")(inputs)
    return keras_mtl.MultiTaskModel(
        inputs, {t.name: t.build_head(h) for t in tasks}, tasks=tasks)


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, {"a": (x[:, 0] > 0.5).astype("float32"),
               "d": rng.integers(0, 3, size=n).astype("int32")}


def _first_loss(**fit_kwargs):
    model = _model()
    model.compile(keras.optimizers.SGD(0.0))
    x, y = _data()
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0,
                        shuffle=False, **fit_kwargs)
    return history.history


def test_class_weight_equals_the_sample_weight_it_stands_for():
    # The exact call Keras refuses ("only supported for Models with a
    # single output").
    x, y = _data()
    by_class = _first_loss(class_weight={"a": {0: 1.0, 1: 5.0},
                                         "d": {2: 3.0}})
    explicit = _first_loss(sample_weight={
        "a": np.where(y["a"] == 1, 5.0, 1.0).astype("float32"),
        "d": np.where(y["d"] == 2, 3.0, 1.0).astype("float32")})
    for key in ("a_loss", "d_loss"):
        np.testing.assert_allclose(by_class[key], explicit[key], rtol=1e-6)
    plain = _first_loss()
    assert abs(by_class["a_loss"][0] - plain["a_loss"][0]) > 1e-4


def test_class_weight_multiplies_sample_weight():
    x, y = _data()
    sw = np.linspace(0.5, 2.0, len(x)).astype("float32")
    both = _first_loss(class_weight={"a": {1: 4.0}},
                       sample_weight={"a": sw})
    explicit = _first_loss(
        sample_weight={"a": sw * np.where(y["a"] == 1, 4.0, 1.0)})
    np.testing.assert_allclose(both["a_loss"], explicit["a_loss"],
                               rtol=1e-6)


def test_single_task_takes_keras_form():
    model = _model([keras_mtl.Task("a", "binary")])
    model.compile("adam")
    x, y = _data()
    model.fit(x, y["a"], class_weight={0: 1.0, 1: 2.0}, verbose=0)


@pytest.mark.parametrize("class_weight, match", [
    ({"zz": {0: 1.0}}, "unknown task"),
    ({0: 1.0, 1: 5.0}, r"dict \{task: \{class: weight\}\}"),
    ({"a": {2: 1.0}}, "key 2.*0 .. 1"),
    ({"d": {0: -1.0}}, ">= 0"),
    ({"a": [1.0, 2.0]}, r"\{task: \{class: weight\}\}"),
])
def test_bad_class_weight_is_a_clear_error(class_weight, match):
    model = _model()
    model.compile("adam")
    x, y = _data()
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(x, y, class_weight=class_weight, verbose=0)


def test_class_weight_on_regression_and_datasets_points_to_sample_weight():
    model = _model([keras_mtl.Task("a", "binary"),
                    keras_mtl.Task("r", "regression")])
    model.compile("adam")
    x, y = _data()
    y = {"a": y["a"], "r": x[:, 1]}
    with pytest.raises(ValueError, match="'r'.*sample_weight"):
        model.fit(x, y, class_weight={"r": {0: 1.0}}, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with pytest.raises(ValueError, match="in memory.*sample_weights"):
        model.fit(dataset, class_weight={"a": {1: 2.0}}, verbose=0)


def _constant_model():
    """Predicts 0.5 everywhere (zero weights), so accuracy is known."""
    task = keras_mtl.Task("a", "binary")
    inputs = keras.Input((4,), name="x")
    out = keras.layers.Dense(1, activation="sigmoid", name="a",
                             kernel_initializer="zeros")(inputs)
    return keras_mtl.MultiTaskModel(inputs, {"a": out}, tasks=[task])


def test_weighted_metrics_and_the_unweighted_rule(tmp_path):
    model = _constant_model()
    # Was a TypeError (unexpected keyword argument).
    model.compile("adam", metrics={"a": ["accuracy"]},
                  weighted_metrics={"a": ["accuracy"]})
    x = np.zeros((5, 4), "float32")
    y = {"a": np.array([0, 0, 1, 1, 1], "float32")}
    sw = {"a": np.array([1, 1, 1, 3, 0], "float32")}
    logs = model.evaluate(x, y, sample_weight=sw, verbose=0)
    # Unweighted: 2 right of the 4 entries with a nonzero weight.
    assert logs["a_accuracy"] == pytest.approx(0.5)
    # Weighted: (1 + 1) / (1 + 1 + 1 + 3).
    assert logs["a_weighted_accuracy"] == pytest.approx(2 / 6)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = loaded.evaluate(x, y, sample_weight=sw, verbose=0)
    assert again["a_weighted_accuracy"] == pytest.approx(2 / 6)


def test_weighted_metrics_must_be_a_task_dict():
    model = _constant_model()
    with pytest.raises(TypeError, match="weighted_metrics"):
        model.compile("adam", weighted_metrics=["accuracy"])
    with pytest.raises(ValueError, match="unknown task"):
        model.compile("adam", weighted_metrics={"b": ["accuracy"]})


def _wrapped(width=1, activation=None, task=None):
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu")(inputs)
    name = task.name if task is not None else "a"
    out = keras.layers.Dense(width, activation=activation, name=name)(h)
    task = task or keras_mtl.Task("a", "binary")
    return keras_mtl.MultiTaskModel(inputs, {name: out}, tasks=[task])


def test_binary_head_emitting_logits_is_refused_at_wrap_time():
    with pytest.raises(ValueError, match="'a'.*logits.*from_logits=True"):
        _wrapped()


def test_wrong_width_is_refused_at_wrap_time():
    task = keras_mtl.Task("d", "multiclass", num_classes=3)
    with pytest.raises(ValueError, match="'d'.*width 3.*width 4"):
        _wrapped(width=4, activation="softmax", task=task)
    with pytest.raises(ValueError, match="'a'.*'relu'"):
        _wrapped(activation="relu")
    sigmoid_logits = keras_mtl.Task("a", "binary", from_logits=True)
    with pytest.raises(ValueError, match="from_logits=True.*'sigmoid'"):
        _wrapped(activation="sigmoid", task=sigmoid_logits)


def test_from_logits_task_trains_on_a_logits_head():
    task = keras_mtl.Task("a", "binary", from_logits=True)
    model = _wrapped(task=task)
    model.compile(keras.optimizers.Adam(1e-2))
    x, y = _data(512)
    history = model.fit(x, {"a": y["a"]}, epochs=5, verbose=0)
    assert history.history["a_auc"][-1] > 0.9
    assert history.history["a_accuracy"][-1] > 0.85
    assert np.min(model.predict(x, verbose=0)["a"]) < 0.0  # logits


def test_from_logits_builds_a_linear_head_and_logit_loss():
    task = keras_mtl.Task("a", "binary", from_logits=True)
    assert isinstance(task.loss, keras.losses.BinaryCrossentropy)
    assert task.loss.get_config()["from_logits"]
    clone = keras_mtl.Task.from_config(task.get_config())
    assert clone.from_logits and clone.loss.get_config()["from_logits"]
    with pytest.raises(ValueError, match="expects probabilities"):
        keras_mtl.Task("a", "binary", from_logits=True,
                       loss=keras.losses.BinaryCrossentropy())
    with pytest.raises(ValueError, match="from_logits"):
        keras_mtl.Task("r", "regression", from_logits=True)


def test_heads_inside_a_nested_model_are_read_per_output():
    tasks = [keras_mtl.Task("income", "binary"),
             keras_mtl.Task("kind", "multiclass", num_classes=3)]
    inner = keras_mtl.build(keras.Input((6,), name="f"), tasks, trunk=(4,))
    inputs = keras.Input((6,), name="features")
    keras_mtl.MultiTaskModel(inputs, inner(inputs), tasks=tasks)
    bad_inputs = keras.Input((6,), name="f")
    h = keras.layers.Dense(4)(bad_inputs)
    bad = keras.Model(bad_inputs, {
        "income": keras.layers.Dense(1, name="income")(h),
        "kind": keras.layers.Dense(3, activation="softmax", name="kind")(h)})
    with pytest.raises(ValueError, match="'income'.*no activation"):
        keras_mtl.MultiTaskModel(inputs, bad(inputs), tasks=tasks)


def test_export_quality_reads_logits_of_a_from_logits_task():
    from keras_mtl.export import quality

    task = keras_mtl.Task("a", "binary", from_logits=True)
    logits = np.array([[-2.0], [-0.1], [0.3], [4.0]])
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    scores = quality.task_metrics(task, labels, logits)
    assert scores["accuracy"] == 1.0 and scores["auc"] == 1.0
    np.testing.assert_array_equal(
        quality.reference_labels(task, logits)[:, 0], labels)
