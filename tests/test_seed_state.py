"""Seed-generator states travel with `.keras` files and checkpoints.

Keras does not save a `keras.random.SeedGenerator`'s state. The model
(dropout masks), the seeded aggregators (PCGrad, GradVac, GradDrop, RGW)
and RLW save theirs through one helper, `keras_mtl._seed_state`.
"""

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import _seed_state
from keras_mtl import aggregators as A
from keras_mtl import weightings as W


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _trained(aggregator=None, weighting=None, dropout=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": rng.normal(size=(32, 1)).astype("float32"),
         "b": rng.normal(size=(32, 1)).astype("float32"),
         "c": rng.normal(size=(32, 1)).astype("float32")}
    tasks = [keras_mtl.Task(name, "regression") for name in "abc"]
    model = keras_mtl.build(keras.Input((4,)), tasks, trunk=(4,),
                            dropout=dropout)
    model.compile(keras.optimizers.SGD(0.01), aggregator=aggregator,
                  weighting=weighting)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model, x, y


def test_pcgrad_seed_state_survives_keras_reload(tmp_path):
    model, x, y = _trained(aggregator=A.PCGrad(seed=3))
    state = _np(model.aggregator.seed_generator.state)
    fresh = _np(A.PCGrad(seed=3).seed_generator.state)
    assert not np.array_equal(state, fresh)  # four steps drew from it
    path = tmp_path / "pcgrad.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        _np(loaded.aggregator.seed_generator.state), state)
    # Both continue with the same task orders, hence the same weights.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("owner", ["model", "aggregator", "weighting"])
def test_every_seed_state_survives_keras_reload(owner, tmp_path):
    model, _, _ = _trained(
        aggregator=A.GradDrop(seed=5) if owner == "aggregator" else None,
        weighting=W.RLW(seed=2) if owner == "weighting" else "equal",
        dropout=0.3 if owner == "model" else None)
    generators = _seed_state.seed_generators(
        model if owner == "model" else getattr(model, owner))
    assert generators
    states = {k: _np(g.state) for k, g in generators.items()}
    path = tmp_path / f"{owner}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = _seed_state.seed_generators(
        loaded if owner == "model" else getattr(loaded, owner))
    assert sorted(again) == sorted(states)
    for key, generator in again.items():
        np.testing.assert_array_equal(_np(generator.state), states[key])


def test_files_written_with_the_former_key_still_load():
    # Aggregators and RLW wrote their state as "seed_generator_state".
    rlw = W.RLW(seed=1)
    rlw.build((2,))
    rlw.load_own_variables({"seed_generator_state": np.array([7, 9])})
    np.testing.assert_array_equal(_np(rlw.seed_generator.state), [7, 9])


def test_one_helper_serves_model_aggregators_and_weighting():
    store: dict = {}
    pcgrad = A.PCGrad(seed=4)
    _seed_state.save_seed_states(pcgrad, store)
    assert list(store) == ["seed_state.0"]
    rest = _seed_state.load_seed_states(
        A.PCGrad(seed=0), {"seed_state.0": np.array([1, 2]), "0": 5})
    assert rest == {"0": 5}
    for cls in (A.PCGrad, A.GradVac, A.GradDrop, A.RGW, W.RLW):
        assert issubclass(cls, _seed_state.SeedStateMixin), cls
