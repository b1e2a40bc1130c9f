"""TAG lookahead affinity and gradient cosine (keras_mtl.relations)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.relations import TaskAffinity
from keras_mtl.relations import measure_affinity


def linear_model(seed: int = 0):
    """x -> W1 (shared, no bias) -> w_a, w_b (heads, no bias), MSE."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), name="features")
    z = keras.layers.Dense(3, use_bias=False, name="shared")(inputs)
    outputs = {n: keras.layers.Dense(1, use_bias=False, name=n)(z)
               for n in ("a", "b")}
    tasks = [keras_mtl.Task(n, "regression") for n in ("a", "b")]
    return keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks)


def hand_affinity(model, x, y, eta):
    w1 = model.get_layer("shared").kernel.numpy().astype(np.float64)
    heads = {n: model.get_layer(n).kernel.numpy().astype(np.float64)
             for n in ("a", "b")}
    x = x.astype(np.float64)

    def loss(w, t):
        return float(np.mean((x @ w @ heads[t] - y[t]) ** 2))

    def grad(t):  # d/dW1 mean((x W1 w_t - y_t)^2)
        r = x @ w1 @ heads[t] - y[t]
        return 2.0 / len(x) * x.T @ r @ heads[t].T

    grads = {t: grad(t) for t in ("a", "b")}
    names = ("a", "b")
    z = np.array([[1 - loss(w1 - eta * grads[i], j) / loss(w1, j)
                   for j in names] for i in names])
    flat = np.stack([grads[t].ravel() for t in names])
    norms = np.linalg.norm(flat, axis=1)
    cos = flat @ flat.T / np.outer(norms, norms)
    return z, cos


def test_lookahead_and_cosine_match_hand_computed_values():
    model = linear_model()
    model.compile(keras.optimizers.SGD(0.05))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"a": rng.normal(size=(16, 1)).astype("float32"),
         "b": rng.normal(size=(16, 1)).astype("float32")}
    lookahead, l_valid, cosine, c_valid = tf.function(
        lambda: measure_affinity(model, x, y))()
    z, cos = hand_affinity(model, x, y, 0.05)
    assert np.all(l_valid.numpy()) and np.all(c_valid.numpy())
    np.testing.assert_allclose(lookahead.numpy(), z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cosine.numpy(), cos, rtol=1e-5, atol=1e-6)
    # An explicit step size overrides the optimizer's learning rate.
    other = measure_affinity(model, x, y, learning_rate=0.2)[0].numpy()
    np.testing.assert_allclose(other, hand_affinity(model, x, y, 0.2)[0],
                               rtol=1e-4, atol=1e-6)


def test_callback_measures_the_step_batch_before_the_update():
    model = linear_model(seed=1)
    model.compile(keras.optimizers.SGD(0.05))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"a": rng.normal(size=(16, 1)).astype("float32"),
         "b": rng.normal(size=(16, 1)).astype("float32")}
    z, cos = hand_affinity(model, x, y, 0.05)  # at θ before the step
    callback = TaskAffinity(every_n_steps=1)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                        callbacks=[callback])
    lookahead = callback.affinity("lookahead")
    assert lookahead.tasks == ("a", "b")
    np.testing.assert_allclose(lookahead.values, z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(callback.affinity("cosine").values, cos,
                               rtol=1e-5, atol=1e-6)
    assert history.history["affinity/a_to_b"][0] == pytest.approx(
        z[0, 1], rel=1e-4)
    assert history.history["affinity/cosine_a_b"][0] == pytest.approx(
        cos[0, 1], rel=1e-5)
    # fit restores the plain step afterwards.
    assert "train_step" not in vars(model)


class CaptureGramian(keras_mtl.aggregators.Sum):
    """Sum that records the Gramian J Jᵀ the engine hands it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = tf.Variable(tf.zeros((3, 3)), trainable=False)

    def weights_from_gramian(self, gramian):
        self.seen.assign(tf.cast(gramian, tf.float32))
        return super().weights_from_gramian(gramian)


def test_cosine_equals_the_engines_per_task_gradients():
    x, y = keras_mtl.data.synthetic_mmoe(64, 0.3, num_tasks=3, seed=2)
    tasks = [keras_mtl.Task(n, "regression") for n in y]
    keras.utils.set_random_seed(0)
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(8, 4))
    capture = CaptureGramian()
    model.compile(keras.optimizers.SGD(0.01), aggregator=capture)
    callback = TaskAffinity(every_n_steps=1)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    gram = capture.seen.numpy().astype(np.float64)
    norms = np.sqrt(np.diag(gram))
    np.testing.assert_allclose(callback.affinity("cosine").values,
                               gram / np.outer(norms, norms), atol=2e-5)


def test_frequency_counts_and_averages():
    x, y = keras_mtl.data.synthetic_mmoe(96, 0.5, num_tasks=2, seed=2)
    tasks = [keras_mtl.Task(n, "regression") for n in y]
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(8,))
    model.compile("sgd")
    callback = TaskAffinity(every_n_steps=2)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    assert callback.measured_steps == 6  # steps 0, 2, ..., 10 of 12
    matrix = callback.affinity("lookahead")
    assert matrix.counts.tolist() == [[6, 6], [6, 6]]
    assert np.all(np.isfinite(matrix.values))
    assert matrix["task_1", "task_2"] == matrix.values[0, 1]


def test_bad_arguments_and_models_raise():
    with pytest.raises(ValueError, match="every_n_steps"):
        TaskAffinity(every_n_steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TaskAffinity(learning_rate=-1.0)
    with pytest.raises(ValueError, match="measured nothing"):
        TaskAffinity().affinity()
    with pytest.raises(ValueError, match="measure"):
        TaskAffinity().affinity("pearson")
    x, y = keras_mtl.data.synthetic_mmoe(32, 0.5, num_tasks=2, seed=2)
    tasks = [keras_mtl.Task(n, "regression") for n in y]
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(4,),
                            sharing_depth=0)
    model.compile("sgd")
    with pytest.raises(ValueError, match="no shared variables"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[TaskAffinity()])
    shared = keras_mtl.build(keras.Input((100,)), tasks, trunk=(4,))
    shared.compile("sgd")
    with pytest.raises(ValueError, match="one TaskAffinity"):
        shared.fit(x, y, epochs=1, verbose=0,
                   callbacks=[TaskAffinity(), TaskAffinity()])


class Stop(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise RuntimeError("interrupted")


def test_an_interrupted_fit_can_be_restored():
    x, y = keras_mtl.data.synthetic_mmoe(32, 0.5, num_tasks=2, seed=2)
    tasks = [keras_mtl.Task(n, "regression") for n in y]
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(4,))
    model.compile("sgd")
    stale = TaskAffinity(every_n_steps=1)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[stale, Stop()])
    assert "train_step" in vars(model)
    assert keras_mtl.relations.restore_train_step(model)
    model.fit(x, y, batch_size=8, verbose=0)
    assert stale.measured_steps == 1  # the plain fit measured nothing
    # A later TaskAffinity replaces a stale wrapper itself.
    with pytest.raises(RuntimeError):
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[stale, Stop()])
    fresh = TaskAffinity(every_n_steps=1)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[fresh])
    assert fresh.measured_steps == 4 and "train_step" not in vars(model)


def test_entries_undefined_on_a_batch_are_left_out():
    model = linear_model(seed=2)
    model.compile(keras.optimizers.SGD(0.05))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"a": rng.normal(size=(16, 1)).astype("float32"),
         "b": np.full((16, 1), np.nan, "float32")}  # b unlabelled
    callback = TaskAffinity(every_n_steps=1)
    with pytest.warns(UserWarning, match="missing"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[callback])
    lookahead = callback.affinity("lookahead")
    assert lookahead.counts.tolist() == [[1, 0], [1, 0]]
    assert np.isnan(lookahead["a", "b"]) and np.isnan(lookahead["b", "b"])
    assert lookahead["b", "a"] == 0.0  # b's zero gradient moves nothing
    cosine = callback.affinity("cosine")
    assert cosine.counts.tolist() == [[1, 0], [0, 0]]
    assert cosine["a", "a"] == pytest.approx(1.0)


def test_epoch_averages_reach_tensorboard(tmp_path):
    x, y = keras_mtl.data.synthetic_mmoe(64, 0.5, num_tasks=2, seed=2)
    tasks = [keras_mtl.Task(n, "regression") for n in y]
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(4,))
    model.compile("sgd")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[
        TaskAffinity(every_n_steps=2),
        keras.callbacks.TensorBoard(str(tmp_path))])
    tags = {value.tag for path in (tmp_path / "train").iterdir()
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}
    assert {"epoch_affinity/task_1_to_task_2",
            "epoch_affinity/task_2_to_task_1",
            "epoch_affinity/cosine_task_1_task_2"} <= tags


def test_relation_matrix_value_object():
    from keras_mtl.relations import RelationMatrix

    matrix = RelationMatrix.from_array(("a", "b"), [[1, np.nan], [0.5, 1]])
    assert matrix.to_json()["values"] == [[1.0, None], [0.5, 1.0]]
    assert matrix.to_dict()["b"]["a"] == 0.5
    assert np.isnan(matrix.symmetric()["a", "b"])  # NaN stays visible
    with pytest.raises(KeyError, match="Unknown task 'c'"):
        matrix["a", "c"]
    with pytest.raises(ValueError, match="shape"):
        RelationMatrix(("a", "b"), np.eye(3), "x")
    with pytest.raises(ValueError, match="unique"):
        RelationMatrix(("a", "a"), np.eye(2), "x")
    with pytest.raises(ValueError, match="every task once"):
        matrix.reordered(["a", "a"])


def test_a_non_finite_task_loss_spoils_only_its_own_entries():
    """A third task whose head holds NaN: the a/b entries stay defined
    (its zero cotangent times NaN must not reach their gradients)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="features")
    z = keras.layers.Dense(3, use_bias=False, name="shared")(inputs)
    outputs = {n: keras.layers.Dense(1, use_bias=False, name=n)(z)
               for n in ("a", "b", "c")}
    tasks = [keras_mtl.Task(n, "regression", missing_label=None)
             for n in ("a", "b", "c")]
    model = keras_mtl.MultiTaskModel(inputs, outputs, tasks=tasks)
    model.compile(keras.optimizers.SGD(0.05))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {n: rng.normal(size=(16, 1)).astype("float32") for n in "abc"}
    kernel = model.get_layer("c").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    lookahead, l_valid, cosine, c_valid = tf.function(
        lambda: measure_affinity(model, x, y))()
    assert c_valid.numpy()[:2, :2].all() and l_valid.numpy()[:2, :2].all()
    assert np.isfinite(cosine.numpy()[:2, :2]).all()
    assert not c_valid.numpy()[2].any() and not l_valid.numpy()[:, 2].any()
