import json

import keras
import keras_tuner
import numpy as np
import pytest

import keras_mtl
from keras_mtl import reporting as metrics
from keras_mtl.tuning import DeltaMObjective
from keras_mtl.tuning import MultiTaskHyperModel
from keras_mtl.tuning import NormalizedSumObjective
from keras_mtl.tuning import make_tuner
from keras_mtl.tuning import objective
from keras_mtl.tuning import task_objective
from keras_mtl.tuning import train_baselines
from keras_mtl.tuning import validate_objective

BASELINES = {"val_income_auc": 0.90, "val_age_loss": 120.0}
# Hand-made trial results: better than the baselines on both tasks,
# worse on both, and a trade-off.
BETTER = {"val_income_auc": 0.93, "val_age_loss": 100.0}
WORSE = {"val_income_auc": 0.85, "val_age_loss": 150.0}
TRADE = {"val_income_auc": 0.99, "val_age_loss": 130.0}


def test_task_objectives_have_explicit_directions():
    auc = task_objective("income", "auc")
    assert (auc.name, auc.direction) == ("val_income_auc", "max")
    loss = task_objective(keras_mtl.Task("age", "regression"), "loss")
    assert (loss.name, loss.direction) == ("val_age_loss", "min")
    train = task_objective("age", "mae", validation=False)
    assert (train.name, train.direction) == ("age_mae", "min")
    assert objective("val_x_score", direction="max").direction == "max"
    with pytest.raises(ValueError, match="direction='max'"):
        objective("val_x_score")
    with pytest.raises(ValueError, match="'min' or 'max'"):
        objective("val_x_auc", direction="up")


def test_delta_m_objective_sign_on_hand_made_trials():
    obj = DeltaMObjective(BASELINES)
    assert (obj.name, obj.direction) == ("delta_m", "min")
    better, worse = obj.get_value(BETTER), obj.get_value(WORSE)
    expected = 100 * (-(0.93 - 0.90) / 0.90 + (100 - 120) / 120) / 2
    assert better == pytest.approx(expected)
    assert better < 0 < worse
    assert obj.better_than(better, worse)
    # AUC +10% and loss +8.3%: Δm = (-10 + 8.33) / 2.
    assert obj.get_value(TRADE) == pytest.approx(
        100 * (-(0.09 / 0.90) + 10 / 120) / 2)
    libmtl = DeltaMObjective(BASELINES, sign="libmtl")
    assert libmtl.direction == "max"
    assert libmtl.get_value(BETTER) == pytest.approx(-better)
    assert libmtl.better_than(libmtl.get_value(BETTER),
                              libmtl.get_value(WORSE))
    assert obj.has_value(BETTER) and not obj.has_value({"val_age_loss": 1})
    with pytest.raises(ValueError, match="non-zero"):
        DeltaMObjective({"val_income_auc": 0.0})


def test_keras_tuner_picks_the_best_epoch_by_delta_m():
    from keras_tuner.src.engine import tuner_utils

    history = keras.callbacks.History()
    history.history = {k: [WORSE[k], BETTER[k], TRADE[k]] for k in BETTER}
    obj = DeltaMObjective(BASELINES)
    best = tuner_utils.convert_to_metrics_dict(history, obj)
    assert best["delta_m"] == pytest.approx(obj.get_value(BETTER))
    assert tuner_utils.get_best_step(history, obj) == 1


def test_normalized_sum_is_scale_free_and_ranks_like_delta_m():
    obj = NormalizedSumObjective(BASELINES)
    assert obj.direction == "min"
    value = obj.get_value(BETTER)
    assert value == pytest.approx(-0.93 / 0.90 + 100 / 120)
    # Keras Tuner's own multi-objective: the raw signed sum, where the
    # loss in the hundreds decides alone.
    from keras_tuner.src.engine.objective import MultiObjective

    raw = MultiObjective([
        keras_tuner.Objective("val_income_auc", "max"),
        keras_tuner.Objective("val_age_loss", "min")])
    assert raw.get_value(TRADE) > raw.get_value(BETTER)
    rng = np.random.default_rng(0)
    trials = [{"val_income_auc": rng.uniform(0.7, 1.0),
               "val_age_loss": rng.uniform(50, 200)} for _ in range(20)]
    delta = DeltaMObjective(BASELINES)
    assert np.argsort([obj.get_value(t) for t in trials]).tolist() == \
        np.argsort([delta.get_value(t) for t in trials]).tolist()
    weighted = NormalizedSumObjective(
        {"val_a_score": 2.0}, directions={"val_a_score": "max"},
        weights={"val_a_score": 3.0})
    assert weighted.get_value({"val_a_score": 4.0}) == pytest.approx(-6.0)
    with pytest.raises(ValueError, match="without a scale"):
        NormalizedSumObjective(BASELINES, weights={"val_b": 1.0})
    with pytest.raises(ValueError, match="is 0"):
        NormalizedSumObjective({"val_a_auc": 0.0})


@pytest.mark.parametrize("obj", [
    DeltaMObjective(BASELINES, higher_is_better={"val_age_loss": False},
                    sign="libmtl", name="dm"),
    NormalizedSumObjective(BASELINES, weights={"val_age_loss": 2.0}),
])
def test_objective_config_round_trip(obj):
    config = keras.saving.serialize_keras_object(obj)
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(config)))
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    assert restored == obj
    assert restored.get_value(TRADE) == obj.get_value(TRADE)


def test_validate_objective_names_the_fix():
    logged = ["loss", "income_auc", "val_loss", "val_income_auc"]
    validate_objective(task_objective("income", "auc"), logged)
    validate_objective(["val_loss", DeltaMObjective(
        {"val_income_auc": 0.9})], logged)
    with pytest.raises(ValueError, match="did you mean.*val_income_auc"):
        validate_objective(objective("val_incme_auc", "max"), logged)
    with pytest.raises(ValueError, match="no validation metrics"):
        validate_objective("val_income_auc", ["loss", "income_auc"])


@pytest.fixture(scope="module")
def hypermodel():
    tasks = [keras_mtl.Task("task_1", "regression"),
             keras_mtl.Task("task_2", "regression")]
    return MultiTaskHyperModel(
        keras.Input((100,)), tasks, trunk=(8, 4),
        fixed={"architecture": "hard", "aggregator": "none",
               "weighting": "equal"},
        # Eager: the baselines' few steps run faster than a trace.
        compile_options={"run_eagerly": True}, seed=0)


def test_wrong_objective_stops_before_the_search(hypermodel, tmp_path):
    with pytest.raises(ValueError, match="val_task_1_loss"):
        make_tuner("random", hypermodel, "val_task_1_los",
                   max_trials=1, directory=str(tmp_path))
    # A tuner built directly: the hypermodel's check stops `search()`
    # at the first trial instead of failing every trial.
    x, y = keras_mtl.data.synthetic_mmoe(32, 0.5, seed=0)
    hypermodel.objective = objective("val_task_3_loss", "min")
    try:
        tuner = keras_tuner.RandomSearch(
            hypermodel, objective=hypermodel.objective, max_trials=3,
            directory=str(tmp_path), project_name="bad")
        with pytest.raises(keras_tuner.errors.FatalValueError,
                           match="did you mean"):
            tuner.search(x, y, validation_data=(x, y), epochs=1,
                         verbose=0)
    finally:
        hypermodel.objective = None


def test_baselines_independent_separate_and_cached(hypermodel, tmp_path):
    x, y = keras_mtl.data.synthetic_mmoe(64, 0.5, seed=0)
    names = ["val_task_1_mae", "val_task_2_mae"]
    path = tmp_path / "baselines.json"
    independent = train_baselines(
        hypermodel, x, y, validation_data=(x, y), metrics=names,
        batch_size=32, path=path, seed=0)
    assert sorted(independent) == names
    assert all(v > 0 for v in independent.values())
    stored = json.loads(path.read_text())
    assert stored == {"mode": "independent", "baselines": independent}
    # Read from the file: no training (the stored values come back).
    path.write_text(json.dumps(
        {"mode": "independent", "baselines": {n: 7.0 for n in names}}))
    assert train_baselines(
        hypermodel, x, y, validation_data=(x, y), metrics=names,
        path=path) == {n: 7.0 for n in names}
    separate = train_baselines(hypermodel, x, y, validation_data=(x, y),
                               mode="separate", batch_size=32, seed=0)
    assert {"val_task_1_mae", "val_task_2_loss"} <= set(separate)
    assert not any(k.endswith("_weight") for k in separate)
    value = metrics.delta_m(independent, {n: separate[n] for n in names})
    assert np.isfinite(value)
    with pytest.raises(ValueError, match="mode"):
        train_baselines(hypermodel, x, y, validation_data=(x, y),
                        mode="joint")


@pytest.mark.parametrize("kwargs, match", [
    (dict(scales={"val_a_auc": float("nan")}), "scale of metric.*finite"),
    (dict(scales={"val_a_auc": float("inf")}), "scale of metric.*finite"),
    (dict(scales={"val_a_auc": 1.0},
          weights={"val_a_auc": float("nan")}), "weight.*finite"),
])
def test_normalized_sum_refuses_non_finite_scales_and_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NormalizedSumObjective(**kwargs)
