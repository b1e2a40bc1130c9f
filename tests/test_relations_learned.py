"""Learned task covariance in soft sharing (relation="learn")."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mtl
from keras_mtl.layers.soft_sharing import SoftSharing
from keras_mtl.layers.task_covariance import centered_basis
from keras_mtl.layers.task_covariance import closed_form_covariance
from keras_mtl.relations import relation_matrix


def test_closed_form_matches_the_matrix_square_root():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3))
    gram = w.T @ w
    values, vectors = np.linalg.eigh(gram)
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    omega, inverse, finite = closed_form_covariance(
        tf.constant(gram, tf.float32), 1e-9)
    assert bool(finite)
    np.testing.assert_allclose(omega.numpy(), root / np.trace(root),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(omega.numpy() @ inverse.numpy(), np.eye(3),
                               atol=1e-4)
    # tr(W Ω⁻¹ Wᵀ) at the optimum is the squared trace norm of W.
    penalty = float(np.sum(inverse.numpy() * gram))
    assert penalty == pytest.approx(np.trace(root) ** 2, rel=1e-4)


def test_non_finite_gram_does_not_reach_eigh():
    gram = tf.constant([[1.0, np.nan], [np.nan, 1.0]])
    _, _, finite = closed_form_covariance(gram, 1e-6)  # no raise
    assert not bool(finite)


def test_centered_basis_is_orthonormal_and_sums_to_zero():
    basis = centered_basis(4)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(basis.sum(axis=0), 0.0, atol=1e-12)


def _model(relation="learn", strength=0.1, input_dim=20, seed=0):
    keras.utils.set_random_seed(seed)
    tasks = [keras_mtl.Task(f"task_{t}", "regression") for t in (1, 2, 3)]
    return keras_mtl.build(keras.Input((input_dim,)), tasks,
                           architecture="soft", trunk=(16,),
                           relation=relation, strength=strength)


def test_learned_relation_recovers_the_sign_structure():
    # Tasks 1 and 2 correlated (cosine 0.9), task 3 anti-correlated with
    # both. Seeds 0-3 all give this sign pattern (smallest margin 0.04,
    # seed 0); seed 3 is used here.
    x, y = keras_mtl.data.synthetic_mmoe(1000, (0.9, -0.9), num_tasks=3,
                                         seed=3, input_dim=20)
    model = _model(seed=3)
    start = relation_matrix(model)
    assert start.measure == "learned_covariance"
    basis = centered_basis(3)
    np.testing.assert_allclose(start.values, basis @ basis.T / 2, atol=1e-6)
    model.compile(keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    learned = relation_matrix(model)
    assert learned["task_1", "task_2"] > 0.05
    assert learned["task_1", "task_3"] < -0.05
    assert learned["task_2", "task_3"] < -0.05
    assert np.trace(learned.values) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(learned.values, learned.values.T, atol=1e-6)


def test_learned_relation_saves_reloads_and_round_trips(tmp_path):
    x, y = keras_mtl.data.synthetic_mmoe(128, (0.9, -0.9), num_tasks=3,
                                         seed=1, input_dim=20)
    model = _model()
    layer = model.get_layer("soft_sharing")
    columns = [c.get_weights() for c in layer.columns]
    for other in columns[1:]:  # one starting point
        for a, b in zip(columns[0], other):
            np.testing.assert_array_equal(a, b)
    model.compile("adam")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    trained = relation_matrix(model).values
    path = tmp_path / "soft.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(relation_matrix(loaded).values, trained,
                               atol=1e-7)
    config = layer.get_config()
    assert config["relation"] == "learn" and config["epsilon"] == 1e-6
    clone = SoftSharing.from_config(config)
    assert clone.learns_relation and clone.epsilon == 1e-6
    # Evaluation does not move the stored relation.
    loaded.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(relation_matrix(loaded).values, trained,
                               atol=1e-7)


def test_nan_weights_keep_the_stored_relation():
    model = _model()
    layer = model.get_layer("soft_sharing")
    before = layer.relation_matrix()
    kernel = layer.columns[1].trainable_weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    penalty = layer._learned_penalty(update=True)  # eigh never sees NaN
    assert not np.isfinite(float(penalty))
    np.testing.assert_array_equal(layer.relation_matrix(), before)


def test_bad_relation_arguments_raise():
    with pytest.raises(ValueError, match="relation"):
        _model(relation="learned")
    column = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="two or more"):
        SoftSharing([column], relation="learn")
    with pytest.raises(ValueError, match="epsilon"):
        SoftSharing([column, column], relation="learn", epsilon=0)
    with pytest.raises(ValueError, match="SoftSharing"):
        relation_matrix(keras_mtl.build(
            keras.Input((3,)), [keras_mtl.Task("a", "regression"),
                                keras_mtl.Task("b", "regression")]))


def test_synthetic_mmoe_per_task_correlations():
    # The sines (shared alpha, beta) blur the label correlation, so the
    # labels' signs follow the weight cosines but not their size.
    x, y = keras_mtl.data.synthetic_mmoe(4000, (0.9, -0.9), num_tasks=3,
                                         seed=3, input_dim=20)
    corr = np.corrcoef(np.concatenate(list(y.values()), axis=1).T)
    assert corr[0, 1] > 0.5 and corr[0, 2] < -0.5 and corr[1, 2] < -0.3
    # A float means the same cosine for every task, as before.
    a = keras_mtl.data.synthetic_mmoe(50, 0.5, num_tasks=3, seed=4)
    b = keras_mtl.data.synthetic_mmoe(50, (0.5, 0.5), num_tasks=3, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    for name in a[1]:
        np.testing.assert_array_equal(a[1][name], b[1][name])
    with pytest.raises(ValueError, match="num_tasks - 1"):
        keras_mtl.data.synthetic_mmoe(10, (0.5,), num_tasks=3)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        keras_mtl.data.synthetic_mmoe(10, (0.5, 1.5), num_tasks=3)
