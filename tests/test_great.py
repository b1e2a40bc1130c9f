"""GREAT: gradients of gradients, the reversed term, training, state."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl import GREAT


def _model(head_units=(), sharing_depth=None, num_tasks=2):
    # tanh keeps the representation gradients smooth in the weights (ReLU
    # kinks would make finite differences jump).
    tasks = [keras_mtl.Task(f"task_{t + 1}", "regression",
                            head_units=head_units)
             for t in range(num_tasks)]
    return keras_mtl.build(keras.Input((6,)), tasks, trunk=(5,),
                           sharing_depth=sharing_depth, activation="tanh")


def _data(num_samples=48, num_tasks=2):
    x, y = keras_mtl.data.synthetic_mmoe(
        num_samples, correlation=-0.5, num_tasks=num_tasks, seed=0,
        input_dim=6)
    return x, y


def _step(model, great, x, y):
    """GREAT's terms alone (zero step gradients), as a dict by path."""
    names = model.task_names
    zeros = [None] * len(model.trainable_variables)
    grads = great.add_to_gradients(
        model, zeros, tf.constant(x), {n: tf.constant(y[n]) for n in names},
        {n: None for n in names})
    return {v.path: g for v, g in zip(model.trainable_variables, grads)}


def test_reversed_term_is_the_second_order_gradient_of_the_aux_loss():
    model = _model()
    great = GREAT(strength=0.5, units=(4,), activation="tanh", seed=0)
    model.compile(keras.optimizers.SGD(0.1), gradient_regularizer=great)
    x, y = _data(16)
    terms = _step(model, great, x, y)
    loss = float(great.auxiliary_loss)
    assert loss > 0

    def aux_loss():
        _step(model, great, x, y)
        return float(great.auxiliary_loss)

    # A trunk kernel entry, a head kernel entry and an auxiliary weight.
    trunk = model.shared_variables[0]
    head = model.task_variables["task_1"][0]
    aux = great.classifier.kernel
    h = 1e-2
    for variable, sign in ((trunk, -0.5), (head, -0.5), (aux, 1.0)):
        value = variable.numpy()
        index = (1, 0) if value.ndim == 2 else (0,)
        shifted = value.copy()
        shifted[index] += h
        variable.assign(shifted)
        up = aux_loss()
        shifted[index] -= 2 * h
        variable.assign(shifted)
        down = aux_loss()
        variable.assign(value)
        numeric = (up - down) / (2 * h)
        analytic = float(np.asarray(terms[variable.path])[index])
        assert analytic == pytest.approx(sign * numeric, rel=0.05,
                                         abs=1e-5), variable.path
        assert abs(numeric) > 1e-5, variable.path


def test_trunk_only_and_zero_strength():
    model = _model(head_units=(3,))
    great = GREAT(strength=0.0, reversed_variables="shared", seed=0)
    model.compile("sgd", gradient_regularizer=great)
    x, y = _data(16)
    terms = _step(model, great, x, y)
    for variable in model.task_variables["task_1"]:
        assert terms[variable.path] is None
    for variable in model.shared_variables:
        np.testing.assert_allclose(np.asarray(terms[variable.path]), 0.0)
    for variable in great.trainable_variables:
        assert np.linalg.norm(np.asarray(terms[variable.path])) > 0


def test_trains_with_weighting_and_aggregator_and_saves(tmp_path):
    model = _model(head_units=(3,))
    great = GREAT(strength=0.2, seed=1)
    model.compile(keras.optimizers.Adam(1e-2), aggregator="mean",
                  gradient_regularizer=great)
    x, y = _data()
    y = dict(y)
    y["task_2"] = y["task_2"].copy()
    y["task_2"][::3] = np.nan  # missing labels
    before = [v.numpy().copy() for v in great.trainable_variables]
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert 0.0 <= float(great.auxiliary_accuracy) <= 1.0
    assert any(np.any(b != a.numpy())
               for b, a in zip(before, great.trainable_variables))

    path = tmp_path / "great.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.gradient_regularizer
    assert isinstance(restored, GREAT)
    assert restored.get_config() == great.get_config()
    for a, b in zip(great.variables, restored.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Resume from a weights checkpoint into a freshly compiled model.
    weights = tmp_path / "great.weights.h5"
    model.save_weights(weights)
    resumed = _model(head_units=(3,))
    fresh = GREAT(strength=0.2, seed=1)
    resumed.compile(keras.optimizers.Adam(1e-2), aggregator="mean",
                    gradient_regularizer=fresh)
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(weights)
    for a, b in zip(great.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_auxiliary_network_is_state_but_not_in_the_inference_graph():
    model = _model()
    great = GREAT(seed=0)
    model.compile("adam", gradient_regularizer=great)
    state = {id(v) for v in model.variables}
    aux = {id(v) for v in great.variables}
    assert aux <= state
    inference = keras.Model(model.input, model.output)
    assert not aux & {id(v) for v in inference.variables}


def test_missing_labels_are_left_out():
    model = _model()
    great = GREAT(seed=0)
    model.compile("adam", gradient_regularizer=great)
    x, y = _data(16)
    y = dict(y)
    y["task_2"] = np.full_like(y["task_2"], np.nan)
    _step(model, great, x, y)
    # Only task_1 rows count: a classifier that always says task_1 is
    # right on every counted row.
    great.classifier.kernel.assign(np.zeros_like(great.classifier.kernel))
    great.classifier.bias.assign([10.0, -10.0])
    _step(model, great, x, y)
    assert float(great.auxiliary_accuracy) == 1.0
    assert float(great.auxiliary_loss) < 1e-6


def test_invalid_models_and_arguments():
    with pytest.raises(ValueError, match="shared representation"):
        _model(sharing_depth=0).compile(
            "adam", gradient_regularizer=GREAT())
    with pytest.raises(ValueError, match="at least 2 tasks"):
        _model(num_tasks=1).compile("adam", gradient_regularizer=GREAT())
    with pytest.raises(ValueError, match="strength"):
        GREAT(strength=-1.0)
    with pytest.raises(ValueError, match="units"):
        GREAT(units=(0,))
    with pytest.raises(ValueError, match="reversed_variables"):
        GREAT(reversed_variables="heads")
    config = GREAT(strength=0.3, units=(8, 4), normalize=True,
                   reversed_variables="shared", seed=2).get_config()
    assert GREAT.from_config(config).get_config() == config


class _Pull(keras_mtl.training.GradientRegularizer):
    """The contract's documented example: strength * sign(w) on the
    shared variables' gradients."""

    def __init__(self, strength=1.0, **kwargs):
        super().__init__(**kwargs)
        self.strength = strength

    def regularize(self, inputs, gradients):
        shared = {id(v) for v in inputs.ownership.shared}
        return [g if g is None or id(v) not in shared
                else g + inputs.scale_loss(self.strength * tf.sign(v))
                for v, g in zip(inputs.ownership.variables, gradients)]


class _DuckTyped:
    """An object with the contract's older form (add_to_gradients)."""

    def bind(self, model):
        self.calls = 0

    def add_to_gradients(self, model, gradients, x, y, sample_weight):
        self.calls += 1
        return list(gradients)


def test_a_user_gradient_regularizer_adds_its_terms():
    """One SGD step (lr 0.1) with the pull moves each shared weight by
    -0.1 * sign(w) more than the same step without it."""
    x, y = _data(16)
    moved, start = [], None
    for regularizer in (None, _Pull(strength=1.0)):
        keras.utils.set_random_seed(0)
        model = _model()
        model.compile(keras.optimizers.SGD(0.1),
                      gradient_regularizer=regularizer)
        before = {v.path: v.numpy() for v in model.shared_variables}
        start = start or before
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        moved.append({v.path: v.numpy() - before[v.path]
                      for v in model.shared_variables})
    for path, delta in moved[0].items():
        np.testing.assert_allclose(moved[1][path] - delta,
                                   -0.1 * np.sign(start[path]), atol=1e-5)


def test_the_older_duck_typed_regularizer_still_works():
    model = _model()
    regularizer = _DuckTyped()
    model.compile("sgd", gradient_regularizer=regularizer, run_eagerly=True)
    x, y = _data(16)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert regularizer.calls == 1
