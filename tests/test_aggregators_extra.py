"""Aligned-MTL, GradVac, GradDrop, Nash-MTL, ConFIG and RGW against their
papers' definitions, on hand-computed cases, invariants and degenerate
inputs; serialization and state round trips."""

import math

import keras
import numpy as np
import pytest
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import keras_mtl
from keras_mtl import aggregators
from keras_mtl.aggregators import RGW
from keras_mtl.aggregators import AlignedMTL
from keras_mtl.aggregators import ConFIG
from keras_mtl.aggregators import GradDrop
from keras_mtl.aggregators import GradVac
from keras_mtl.aggregators import NashMTL

IDS = {
    "aligned_mtl": AlignedMTL,
    "config": ConFIG,
    "graddrop": GradDrop,
    "gradvac": GradVac,
    "nash_mtl": NashMTL,
    "rgw": RGW,
}


def _make(name):
    cls = IDS[name]
    return cls(seed=1) if name in ("graddrop", "gradvac", "rgw") else cls()


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _np(x):
    return keras.ops.convert_to_numpy(x)


# ----------------------------------------------------------------------
# Registry and configs.


def test_registry_ids_classes_and_default_names():
    for name, cls in IDS.items():
        aggregator = aggregators.get(name)
        assert type(aggregator) is cls
        assert aggregator.name == name
        assert cls.__name__ in aggregators.__all__


def test_config_round_trip():
    for aggregator in [
            AlignedMTL(scale_mode="rmse"), GradVac(beta=0.1, seed=3),
            GradDrop(leak=[0.1, 0.2], seed=4),
            NashMTL(update_frequency=4, normalize=False), ConFIG(),
            RGW(distribution="dirichlet", seed=5)]:
        config = keras.saving.serialize_keras_object(aggregator)
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(aggregator)
        assert restored.get_config() == aggregator.get_config()


def test_invalid_arguments_name_the_argument():
    for make, message in [
        (lambda: AlignedMTL(scale_mode="max"), "scale_mode"),
        (lambda: GradVac(beta=0.0), "beta"),
        (lambda: GradDrop(leak=1.5), "leak"),
        (lambda: NashMTL(update_frequency=0), "update_frequency"),
        (lambda: NashMTL(epsilon=-1.0), "epsilon"),
        (lambda: RGW(distribution="cauchy"), "distribution"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()


# ----------------------------------------------------------------------
# Degenerate inputs: finite results for every method.

_RNG = np.random.default_rng(0)
_BASE = _RNG.normal(size=(3, 6))
DEGENERATE = {
    "zero": np.zeros((3, 6)),
    "one_zero_task": np.concatenate([_BASE[:2], np.zeros((1, 6))]),
    "parallel": np.stack([_BASE[0], 2.0 * _BASE[0], 0.5 * _BASE[0]]),
    "opposite": np.stack([_BASE[0], -_BASE[0]]),
    "one_task": _BASE[:1],
    "more_tasks_than_params": _RNG.normal(size=(4, 2)),
}


@pytest.mark.parametrize("name", sorted(IDS))
def test_degenerate_inputs_and_scales_give_finite_results(name):
    for dtype in ("float32", "float64"):
        for case, matrix in DEGENERATE.items():
            jacobian = matrix.astype(dtype)
            direction = _make(name)(jacobian)
            assert direction.dtype == dtype
            values = _np(direction)
            assert values.shape == (jacobian.shape[1],)
            assert np.all(np.isfinite(values)), (case, dtype, values)
            if case == "zero":
                np.testing.assert_allclose(values, 0.0)
        for scale in (1e-8, 1e-4, 1.0, 1e4, 1e8):
            values = _np(_make(name)((scale * _BASE).astype(dtype)))
            assert np.all(np.isfinite(values)), (scale, dtype, values)
            assert np.linalg.norm(values) > 0, (scale, dtype)


@pytest.mark.parametrize("name", ["aligned_mtl", "config", "nash_mtl"])
def test_weights_are_scale_invariant(name):
    # Weights of the deterministic Gramian methods do not change when all
    # gradients are scaled (Nash-MTL with its default normalisation).
    jacobian = _BASE.astype("float64")
    reference = _np(_make(name).task_weights(jacobian))
    for scale in (1e-6, 1e6):
        weights = _np(_make(name).task_weights(scale * jacobian))
        np.testing.assert_allclose(weights, reference, rtol=1e-6)


# ----------------------------------------------------------------------
# Aligned-MTL.


@pytest.mark.parametrize("mode", ["min", "median", "rmse"])
def test_aligned_mtl_aligned_gradients_have_condition_number_one(mode):
    jacobian = _RNG.normal(size=(4, 12)) * np.array([[1.0], [5.0], [0.1],
                                                     [2.0]])
    gramian = jacobian @ jacobian.T
    matrix = _np(AlignedMTL(scale_mode=mode).alignment_matrix(gramian))
    aligned = matrix @ jacobian
    singular = np.linalg.svd(aligned, compute_uv=False)
    assert singular.max() / singular.min() == pytest.approx(1.0, rel=1e-6)
    original = np.linalg.svd(jacobian, compute_uv=False)
    expected = {
        "min": original.min(),
        "median": np.median(original),
        "rmse": math.sqrt(np.mean(original ** 2)),
    }[mode]
    np.testing.assert_allclose(singular, expected, rtol=1e-6)


@pytest.mark.parametrize("mode, scale", [
    ("min", 1.0), ("median", 1.5), ("rmse", math.sqrt(2.5))])
def test_aligned_mtl_hand_computed(mode, scale):
    # Orthogonal gradients of norms 1 and 2: B = s diag(1, 1/2).
    jacobian = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    direction = _np(AlignedMTL(scale_mode=mode)(jacobian))
    np.testing.assert_allclose(direction, [scale, scale, 0.0], rtol=1e-6)


def test_aligned_mtl_rank_deficient_keeps_the_span():
    # Two parallel tasks: rank 1, the aligned Gramian is s² times the
    # projector on the non-null eigenvector.
    jacobian = np.stack([_BASE[0], 3.0 * _BASE[0]])
    gramian = jacobian @ jacobian.T
    matrix = _np(AlignedMTL().alignment_matrix(gramian))
    aligned_gramian = matrix @ gramian @ matrix
    values = np.linalg.eigvalsh(aligned_gramian)
    np.testing.assert_allclose(values, [0.0, values[-1]], atol=1e-9)
    assert values[-1] == pytest.approx(np.linalg.norm(jacobian) ** 2,
                                       rel=1e-6)


# ----------------------------------------------------------------------
# GradVac.


def test_gradvac_reaches_the_similarity_target_for_two_tasks():
    g1 = np.array([1.0, 0.0, 0.0])
    g2 = np.array([-0.3, math.sqrt(1 - 0.09), 0.0]) * 2.0  # cos = -0.3
    aggregator = GradVac(beta=0.01, seed=0)
    aggregator.build((2, 3))
    # Target 0.5 for (1, 2); task 2's target -0.9 is already met.
    aggregator.targets.assign(np.array([[0.0, 0.5], [-0.9, 0.0]]))
    direction = _np(aggregator(np.stack([g1, g2])))
    adjusted_1 = direction - g2
    assert _cosine(adjusted_1, g2) == pytest.approx(0.5, abs=1e-6)
    targets = _np(aggregator.targets)
    assert targets[0, 1] == pytest.approx(0.99 * 0.5 + 0.01 * -0.3, abs=1e-6)
    assert targets[1, 0] == pytest.approx(0.99 * -0.9 + 0.01 * -0.3,
                                          abs=1e-6)


def test_gradvac_with_zero_targets_is_pcgrad():
    jacobian = np.array([[1.0, 0.0], [-1.0, 1.0]])
    # PCGrad by hand: g1' = [0.5, 0.5], g2' = [0, 1].
    direction = _np(GradVac(seed=0)(jacobian))
    np.testing.assert_allclose(direction, [0.5, 1.5], rtol=1e-6)


def test_gradvac_targets_follow_the_observed_cosine():
    jacobian = np.array([[1.0, 0.0], [1.0, 1.0]])  # cos = 1/sqrt(2)
    aggregator = GradVac(beta=0.5, seed=0)
    for _ in range(30):
        direction = _np(aggregator(jacobian))
    np.testing.assert_allclose(
        _np(aggregator.targets), [[0.0, 0.5 ** 0.5], [0.5 ** 0.5, 0.0]],
        atol=1e-6)
    # Gradients that meet their targets are summed unchanged.
    np.testing.assert_allclose(direction, [2.0, 1.0], rtol=1e-6)


def test_gradvac_permutation_of_tasks_permutes_nothing_in_the_sum():
    jacobian = _RNG.normal(size=(2, 5))
    direction = _np(GradVac(seed=0)(jacobian))
    swapped = _np(GradVac(seed=0)(jacobian[::-1]))
    np.testing.assert_allclose(direction, swapped, rtol=1e-5)


# ----------------------------------------------------------------------
# GradDrop.


def test_graddrop_keeps_one_sign_per_coordinate():
    jacobian = _RNG.normal(size=(3, 400))
    direction = _np(GradDrop(seed=2)(jacobian))
    positive = np.where(jacobian > 0, jacobian, 0).sum(axis=0)
    negative = np.where(jacobian < 0, jacobian, 0).sum(axis=0)
    is_positive = np.isclose(direction, positive)
    is_negative = np.isclose(direction, negative)
    assert np.all(is_positive | is_negative)
    # Both signs are drawn somewhere on a mixed matrix.
    assert is_positive.sum() > 50 and is_negative.sum() > 50


def test_graddrop_sign_purity_and_its_sampling_rate():
    # Columns [3, -1]: P = ½ (1 + 2/4) = 0.75 everywhere.
    jacobian = np.tile(np.array([[3.0], [-1.0]]), (1, 4000))
    aggregator = GradDrop(seed=7)
    np.testing.assert_allclose(_np(aggregator.sign_purity(jacobian)), 0.75)
    direction = _np(aggregator(jacobian))
    assert set(np.unique(direction)) <= {3.0, -1.0}
    assert np.mean(direction == 3.0) == pytest.approx(0.75, abs=0.03)


def test_graddrop_agreeing_signs_and_full_leak_are_the_sum():
    agreeing = np.abs(_RNG.normal(size=(3, 20))) * np.sign(
        _RNG.normal(size=(1, 20)))
    np.testing.assert_allclose(
        _np(GradDrop(seed=0)(agreeing)), agreeing.sum(axis=0), rtol=1e-6)
    mixed = _RNG.normal(size=(3, 20))
    np.testing.assert_allclose(
        _np(GradDrop(leak=1.0, seed=0)(mixed)), mixed.sum(axis=0),
        rtol=1e-6)


def test_graddrop_per_task_leak():
    mixed = _RNG.normal(size=(2, 50))
    direction = _np(GradDrop(leak=[1.0, 0.0], seed=0)(mixed))
    rest = direction - mixed[0]
    kept = np.isclose(rest, mixed[1]) | np.isclose(rest, 0.0)
    assert np.all(kept)
    with pytest.raises(ValueError, match="3 tasks"):
        GradDrop(leak=[0.1, 0.2])(_RNG.normal(size=(3, 4)))


def test_graddrop_is_reproducible_with_a_seed():
    mixed = _RNG.normal(size=(3, 100))
    first = _np(GradDrop(seed=11)(mixed))
    second = _np(GradDrop(seed=11)(mixed))
    np.testing.assert_array_equal(first, second)


# ----------------------------------------------------------------------
# Nash-MTL.


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-6),
                                         ("float32", 1e-4)])
def test_nash_mtl_solves_the_bargaining_condition(dtype, rtol):
    jacobian = (_RNG.normal(size=(4, 9)) * np.array(
        [[1.0], [3.0], [0.2], [1.0]])).astype(dtype)
    gramian = jacobian.astype("float64") @ jacobian.T.astype("float64")
    alpha = _np(NashMTL(normalize=False).weights_from_gramian(
        gramian.astype(dtype))).astype("float64")
    assert np.all(alpha > 0)
    np.testing.assert_allclose(gramian @ alpha, 1.0 / alpha, rtol=rtol)
    # Every task's directional derivative is 1 / α_i; the update has norm
    # sqrt(T).
    direction = alpha @ jacobian.astype("float64")
    assert np.linalg.norm(direction) == pytest.approx(2.0, rel=rtol)


def test_nash_mtl_normalised_gramian_condition():
    jacobian = _RNG.normal(size=(3, 7)) * 50.0
    gramian = jacobian @ jacobian.T
    alpha = _np(NashMTL().weights_from_gramian(gramian))
    normalised = gramian / np.linalg.norm(gramian)
    np.testing.assert_allclose(normalised @ alpha, 1.0 / alpha, rtol=1e-6)


def test_nash_mtl_hand_computed_orthogonal():
    # G = diag(1, 4): α_i = 1 / |g_i|.
    jacobian = np.array([[1.0, 0.0], [0.0, 2.0]])
    alpha = _np(NashMTL(normalize=False).task_weights(jacobian))
    np.testing.assert_allclose(alpha, [1.0, 0.5], rtol=1e-6)


def test_nash_mtl_zero_task_gets_no_weight():
    jacobian = np.concatenate([_BASE[:2], np.zeros((1, 6))])
    alpha = _np(NashMTL(normalize=False).task_weights(jacobian))
    assert alpha[2] == 0.0
    gramian = jacobian[:2] @ jacobian[:2].T
    np.testing.assert_allclose(gramian @ alpha[:2], 1 / alpha[:2], rtol=1e-6)


def test_nash_mtl_update_frequency_reuses_cached_weights():
    aggregator = NashMTL(update_frequency=3)
    first = _RNG.normal(size=(2, 5))
    other = _RNG.normal(size=(2, 5))
    solved = _np(aggregator.task_weights(first))
    reused = [_np(aggregator.task_weights(other)) for _ in range(2)]
    for weights in reused:
        np.testing.assert_allclose(weights, solved)
    fresh = _np(aggregator.task_weights(other))
    np.testing.assert_allclose(
        fresh, _np(NashMTL().task_weights(other)), rtol=1e-6)
    assert int(_np(aggregator.calls)) == 4
    np.testing.assert_allclose(_np(aggregator.cached_weights), fresh,
                               rtol=1e-6)


# ----------------------------------------------------------------------
# ConFIG.


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_config_equal_positive_projections(num_tasks):
    jacobian = _RNG.normal(size=(num_tasks, 12)) * _RNG.uniform(
        0.1, 10.0, size=(num_tasks, 1))
    direction = _np(ConFIG()(jacobian))
    cosines = [_cosine(direction, row) for row in jacobian]
    assert min(cosines) > 0
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-6)
    # Its length is the sum of the task gradients' projections on it.
    unit = direction / np.linalg.norm(direction)
    assert np.linalg.norm(direction) == pytest.approx(
        float(np.sum(jacobian @ unit)), rel=1e-6)


def test_config_hand_computed():
    np.testing.assert_allclose(
        _np(ConFIG()(np.array([[1.0, 0.0], [0.0, 2.0]]))), [1.5, 1.5],
        rtol=1e-6)
    np.testing.assert_allclose(
        _np(ConFIG()(np.array([[1.0, 0.0], [-1.0, 0.0]]))), [0.0, 0.0],
        atol=1e-12)


# ----------------------------------------------------------------------
# RGW.


@pytest.mark.parametrize("distribution", ["normal", "uniform", "dirichlet"])
def test_rgw_weights_are_random_on_the_simplex(distribution):
    aggregator = RGW(distribution=distribution, seed=3)
    jacobian = _RNG.normal(size=(3, 4))
    draws = np.stack([_np(aggregator.task_weights(jacobian))
                      for _ in range(200)])
    assert np.all(draws >= 0)
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, rtol=1e-6)
    assert draws.std(axis=0).min() > 0.05
    np.testing.assert_allclose(draws.mean(axis=0), 1 / 3, atol=0.05)
    replay = RGW(distribution=distribution, seed=3)
    np.testing.assert_array_equal(
        _np(replay.task_weights(jacobian)), draws[0])


def test_rgw_direction_is_the_weighted_sum():
    jacobian = _RNG.normal(size=(2, 3))
    direction = _np(RGW(seed=9)(jacobian))
    weights = _np(RGW(seed=9).task_weights(jacobian))
    np.testing.assert_allclose(direction, weights @ jacobian, rtol=1e-6)


# ----------------------------------------------------------------------
# In a model: graph mode, `.keras` reload and checkpoint resume.


def _model_and_data(num_samples=64):
    x, y = keras_mtl.data.synthetic_mmoe(num_samples, correlation=-0.5,
                                         seed=0, input_dim=8)
    tasks = [keras_mtl.Task("task_1", "regression"),
             keras_mtl.Task("task_2", "regression")]
    model = keras_mtl.build(keras.Input((8,)), tasks, trunk=(8,))
    return model, x, y


@pytest.mark.parametrize("name", ["aligned_mtl", "config"])
def test_trains_in_a_model(name):
    # The stateful and seeded methods train in the state test below.
    model, x, y = _model_and_data()
    model.compile(keras.optimizers.SGD(0.01), aggregator=_make(name))
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize("make", [
    lambda: GradVac(beta=0.3, seed=1),
    lambda: NashMTL(update_frequency=3),
    lambda: RGW(seed=4),
    lambda: GradDrop(seed=5),
], ids=["gradvac", "nash_mtl", "rgw", "graddrop"])
def test_state_survives_keras_reload_and_checkpoint_resume(make, tmp_path):
    model, x, y = _model_and_data()
    model.compile(keras.optimizers.SGD(0.01), aggregator=make())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    state = [_np(v) for v in model.aggregator.variables]
    assert any(np.any(s != 0) for s in state)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.aggregator) is type(model.aggregator)
    for before, after in zip(state, loaded.aggregator.variables):
        np.testing.assert_array_equal(before, _np(after))

    # Resume from a weights checkpoint into a freshly compiled model whose
    # aggregator has not been built yet.
    weights = tmp_path / "ckpt.weights.h5"
    model.save_weights(weights)
    resumed, _, _ = _model_and_data()
    resumed.compile(keras.optimizers.SGD(0.01), aggregator=make())
    resumed.load_weights(weights)
    for before, after in zip(state, resumed.aggregator.variables):
        np.testing.assert_array_equal(before, _np(after))
    if isinstance(model.aggregator, GradVac):
        # Both continue identically.
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        resumed.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        for a, b in zip(model.aggregator.variables,
                        resumed.aggregator.variables):
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6)


# ----------------------------------------------------------------------
# Invariants on random well-conditioned Jacobians.

@st.composite
def _jacobians(draw):
    num_tasks = draw(st.integers(2, 4))
    num_params = draw(st.integers(num_tasks + 1, 8))
    matrix = draw(hnp.arrays(
        np.float64, (num_tasks, num_params),
        elements=st.floats(-10, 10, allow_nan=False, width=64)))
    singular = np.linalg.svd(matrix, compute_uv=False)
    # Well conditioned, and not so small that the Gramian underflows
    # (entries like 1e-213 square to 0); scales are tested separately.
    assume(singular.min() > 1e-2 * singular.max() and singular.max() > 1e-6)
    return matrix


@settings(max_examples=25, deadline=None)
@given(_jacobians())
def test_invariants_on_random_jacobians(jacobian):
    gramian = jacobian @ jacobian.T
    # Nash-MTL: the bargaining condition.
    alpha = _np(NashMTL(normalize=False).weights_from_gramian(gramian))
    np.testing.assert_allclose(gramian @ alpha, 1.0 / alpha, rtol=1e-5)
    # ConFIG: equal positive cosines.
    direction = _np(ConFIG()(jacobian))
    cosines = np.array([_cosine(direction, row) for row in jacobian])
    assert cosines.min() > 0
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-5)
    # Aligned-MTL: aligned gradients with condition number 1.
    matrix = _np(AlignedMTL().alignment_matrix(gramian))
    singular = np.linalg.svd(matrix @ jacobian, compute_uv=False)
    assert singular.max() / singular.min() == pytest.approx(1.0, rel=1e-5)
