"""Real searches on the MMoE synthetic data (tiny models, one epoch)."""

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import tuning

TASKS = [keras_mtl.Task("task_1", "regression"),
         keras_mtl.Task("task_2", "regression")]
METRICS = {"val_task_1_mae": "min", "val_task_2_mae": "min"}


@pytest.fixture(scope="module")
def data():
    x, y = keras_mtl.data.synthetic_mmoe(64, correlation=0.5, seed=0)
    x_val, y_val = keras_mtl.data.synthetic_mmoe(32, correlation=0.5,
                                                 seed=1)
    return x, y, (x_val, y_val)


def _hypermodel(**kwargs):
    return tuning.MultiTaskHyperModel(
        keras.Input((100,), name="features"), TASKS, trunk=(8, 4),
        architectures=["hard", "mmoe"] if "mmoe" in
        keras_mtl.builders.ARCHITECTURES else ["hard"],
        weightings=["equal", "uncertainty", "static"],
        aggregators=[None, "pcgrad"], option_ranges={"num_experts": (2, 3)},
        # Eager steps: tracing a graph per trial costs more than these
        # few steps on a loaded 2-core machine.
        compile_options={"run_eagerly": True}, seed=0, **kwargs)


def _completed(tuner):
    return [t for t in tuner.oracle.trials.values()
            if t.status == "COMPLETED"]


def test_random_search_and_rebuild_of_the_best_trial(data, tmp_path):
    x, y, validation = data
    hm = _hypermodel()
    objective = tuning.DeltaMObjective(
        {"val_task_1_mae": 1.0, "val_task_2_mae": 1.0})
    tuner = tuning.make_tuner(
        "random", hm, objective, max_trials=3, seed=3,
        directory=str(tmp_path), project_name="random")
    fit = dict(validation_data=validation, epochs=1, batch_size=64,
               shuffle=False, verbose=0)
    tuner.search(x, y, **fit)
    trials = _completed(tuner)
    assert len(trials) == 3
    assert all(np.isfinite(t.score) for t in trials)

    # The best trial's hyperparameters rebuild the same model.
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best = tuner.get_best_models(1)[0]
    rebuilt = hm.build(best_hp)
    again = hm.build(best_hp)
    assert rebuilt.get_config() == best.get_config()
    assert rebuilt.count_params() == best.count_params()
    first, second = rebuilt(x[:8]), again(x[:8])
    for task in first:
        np.testing.assert_array_equal(np.asarray(first[task]),
                                      np.asarray(second[task]))
    # Retrained with the same seed and data: the trial's model again.
    retrained = tuning.retrain_best(tuner, x, y, **fit)
    expected, got = best(x[:8]), retrained(x[:8])
    for task in expected:
        np.testing.assert_allclose(np.asarray(got[task]),
                                   np.asarray(expected[task]),
                                   rtol=1e-4, atol=1e-5)

    # The Pareto front over the per-task metrics of the trials.
    rows = tuning.trial_results(tuner, list(METRICS))
    assert len(rows) == 3
    front = tuning.pareto_front(rows, METRICS)
    assert front and set(front) <= set(range(3))
    best_row = [r for r in rows if r["trial_id"] == tuner.oracle
                .get_best_trials(1)[0].trial_id][0]
    # The best by Δm% (an average of the two) is never dominated.
    assert rows.index(best_row) in front
    table = tuning.pareto_table(rows, METRICS)
    assert len(table.splitlines()) == len(front) + 1
    # A trial picked from the front rebuilds from its table row.
    row = rows[front[-1]]
    trial = tuner.oracle.get_trial(row["trial_id"])
    model = hm.build(hm.hyperparameters(row["hyperparameters"]))
    assert model.get_config() == hm.build(
        trial.hyperparameters).get_config()


@pytest.mark.parametrize("kind, kwargs", [
    ("bayesian", {"max_trials": 2, "num_initial_points": 1}),
    ("hyperband", {"max_epochs": 2, "factor": 2,
                   "hyperband_iterations": 1}),
])
def test_bayesian_and_hyperband_with_a_scale_free_objective(
        data, tmp_path, kind, kwargs):
    x, y, validation = data
    # A small space: Keras Tuner's Bayesian oracle optimises its
    # acquisition with restarts per dimension, which costs seconds here.
    hm = _hypermodel(fixed={"architecture": "hard", "aggregator": "none",
                            "weighting": "equal"}, widths=None)
    objective = tuning.NormalizedSumObjective(
        {"val_task_1_mae": 1.0, "val_task_2_loss": 4.0})
    tuner = tuning.make_tuner(kind, hm, objective, seed=1,
                              directory=str(tmp_path), project_name=kind,
                              **kwargs)
    tuner.search(x, y, validation_data=validation, epochs=2,
                 batch_size=64, verbose=0)
    trials = _completed(tuner)
    assert len(trials) >= 2
    for trial in trials:
        metrics = {n: trial.metrics.get_last_value(n)
                   for n in objective.metric_names}
        assert trial.score == pytest.approx(objective.get_value(metrics))
    assert tuner.get_best_hyperparameters(1)
