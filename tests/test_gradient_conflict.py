"""GradientConflict callback and the conflict plots."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.reporting import conflict_plots
from keras_mtl.aggregators import GradDrop
from keras_mtl.aggregators import GradVac
from keras_mtl.callbacks import GradientConflict

PNG = b"\x89PNG\r\n\x1a\n"


def _opposed_model():
    """One shared weight vector w (zeros) and fixed unit heads: with
    labels y_b = -y_a both tasks predict wᵀx, so at w = 0 their gradients
    are exactly opposite: ∓2 mean(y_a x)."""
    inputs = keras.Input((3,), name="x")
    z = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                           name="shared")(inputs)
    outputs = {
        name: keras.layers.Dense(1, kernel_initializer="ones",
                                 name=name)(z)
        for name in ("a", "b")}
    return keras_mtl.MultiTaskModel(
        inputs, outputs, representation="shared",
        tasks=[keras_mtl.Task("a", "regression"),
               keras_mtl.Task("b", "regression")])


def _opposed_data(num_samples=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(num_samples, 3)).astype("float32")
    y_a = (x @ np.array([1.0, -2.0, 0.5], "float32"))[:, None]
    return x, {"a": y_a, "b": -y_a}


def test_hand_computed_opposite_gradients():
    model = _opposed_model()
    model.compile("sgd")
    x, y = _opposed_data()
    callback = GradientConflict((x, y))
    callback.set_model(model)
    result = callback.measure()
    expected = 2.0 * np.linalg.norm((y["a"] * x).mean(axis=0))
    np.testing.assert_allclose(result["norms"], [expected, expected],
                               rtol=1e-5)
    np.testing.assert_allclose(result["cosine"], [[1, -1], [-1, 1]],
                               atol=1e-6)
    assert result["conflict_share"] == 1.0
    np.testing.assert_allclose(result["weights"], [1.0, 1.0])


def test_weights_of_stateful_aggregators_leave_their_state_alone():
    x, y = _opposed_data()
    for aggregator in (GradVac(beta=0.5, seed=0), GradDrop(seed=0)):
        model = _opposed_model()
        model.compile("sgd", aggregator=aggregator)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        before = [v.numpy().copy() for v in aggregator.variables]
        callback = GradientConflict((x, y))
        callback.set_model(model)
        weights = callback.measure()["weights"]
        assert weights.shape == (2,) and np.all(np.isfinite(weights))
        for b, a in zip(before, aggregator.variables):
            np.testing.assert_array_equal(b, a.numpy())


def test_logs_history_tensorboard_and_plots(tmp_path):
    x, y = keras_mtl.data.synthetic_mmoe(96, correlation=-0.8, num_tasks=3,
                                         seed=0, input_dim=8)
    tasks = [keras_mtl.Task(n, "regression") for n in sorted(y)]
    model = keras_mtl.build(keras.Input((8,)), tasks, trunk=(8,))
    model.compile(keras.optimizers.SGD(0.01),
                  aggregator=keras_mtl.aggregators.AlignedMTL())
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(48)
    callback = GradientConflict(dataset, log_dir=str(tmp_path / "logs"))
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False,
                        callbacks=[callback])
    logs = history.history
    pairs = ["task_1_task_2", "task_1_task_3", "task_2_task_3"]
    for pair in pairs:
        values = logs[f"grad_cosine_{pair}"]
        assert len(values) == 2 and all(-1 <= v <= 1 for v in values)
    cosines = [logs[f"grad_cosine_{p}"][-1] for p in pairs]
    assert logs["grad_conflict_share"][-1] == pytest.approx(
        np.mean([c < 0 for c in cosines]))
    for name in ("task_1", "task_2", "task_3"):
        assert logs[f"{name}_grad_norm"][-1] > 0
        assert np.isfinite(logs[f"{name}_agg_weight"][-1])
    assert len(callback.history) == 2
    events = os.listdir(tmp_path / "logs" / "gradient_conflict")
    assert any(name.startswith("events.out") for name in events)

    paths = conflict_plots.save_conflict_plots(callback, str(tmp_path))
    for path in paths.values():
        with open(path, "rb") as f:
            assert f.read(8) == PNG


def test_frequency_and_errors(tmp_path):
    model = _opposed_model()
    model.compile("sgd")
    x, y = _opposed_data()
    callback = GradientConflict((x, y), frequency=2)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callback])
    assert [h["epoch"] for h in callback.history] == [1]
    with pytest.raises(ValueError, match="frequency"):
        GradientConflict((x, y), frequency=0)
    with pytest.raises(ValueError, match="held batch"):
        GradientConflict(x)
    with pytest.raises(ValueError, match="no measurements"):
        conflict_plots.save_conflict_plots(
            GradientConflict((x, y)), str(tmp_path))
    with pytest.raises(ValueError, match="cosine matrix"):
        conflict_plots.plot_cosine_matrix(
            np.eye(3), ["a", "b"], str(tmp_path / "c.png"))


def test_example_quick(tmp_path, capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / (
        "gradient_conflict.py")
    spec = importlib.util.spec_from_file_location("conflict_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--methods", "config",
                        "--num-train", "128", "--epochs", "1",
                        "--plots-dir", str(tmp_path)])
    assert [r["method"] for r in rows] == ["config"]
    for row in rows:
        assert np.isfinite(row["task_1"]) and np.isfinite(row["task_2"])
        assert 0.0 <= row["conflict_share"] <= 1.0
    assert sorted(os.listdir(tmp_path)) == [
        "config_cosine.png", "config_weights.png"]
    assert "conflict share" in capsys.readouterr().out


def _embedding_model():
    """A CTR-style model: an Embedding in the shared trunk."""
    ids = keras.Input((3,), dtype="int32", name="ids")
    trunk = keras.Sequential([
        keras.layers.Embedding(20, 4, name="emb"),
        keras.layers.Flatten(), keras.layers.Dense(8, name="dense")],
        name="trunk")
    tasks = [keras_mtl.Task("ctr", "binary"), keras_mtl.Task("cvr", "binary")]
    return keras_mtl.build(ids, tasks, trunk=trunk)


def _embedding_data(num_samples=32):
    rng = np.random.default_rng(1)
    # 20 ids, 96 lookups: many ids repeat, so slices must be summed.
    x = rng.integers(0, 20, (num_samples, 3)).astype("int32")
    y = {name: rng.integers(0, 2, (num_samples, 1)).astype("float32")
         for name in ("ctr", "cvr")}
    return x, y


@pytest.mark.parametrize("aggregator", [None, "pcgrad"])
def test_embedding_in_the_trunk(aggregator):
    """The user code that failed with `TypeError: float() argument must be
    ... 'IndexedSlices'`: an Embedding in the trunk."""
    model = _embedding_model()
    model.compile("adam", aggregator=aggregator)
    x, y = _embedding_data()
    callback = GradientConflict((x, y))
    if aggregator is None:  # The user's fit; one is enough (slow here).
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
        assert np.isfinite(history.history["grad_cosine_ctr_cvr"][0])
    else:
        callback.set_model(model)
        assert np.all(np.isfinite(callback.measure()["weights"]))

    # Reference: TensorFlow's own densification of the embedding gradient.
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(x, training=False)
        losses = [keras.losses.binary_crossentropy(y[t], outputs[t])
                  for t in ("ctr", "cvr")]
        losses = [tf.reduce_mean(loss) for loss in losses]
    rows = []
    for loss in losses:
        grads = tape.gradient(loss, model.shared_variables)
        assert any(isinstance(g, tf.IndexedSlices) for g in grads)
        rows.append(np.concatenate([
            np.asarray(tf.convert_to_tensor(g), np.float64).ravel()
            for g in grads]))
    rows = np.stack(rows)
    result = callback.measure()
    np.testing.assert_allclose(result["norms"],
                               np.linalg.norm(rows, axis=1), rtol=1e-5)
    cosine = rows[0] @ rows[1] / np.prod(np.linalg.norm(rows, axis=1))
    np.testing.assert_allclose(result["cosine"][0, 1], cosine, atol=1e-6)
