"""Tasks that consume other tasks' outputs: ESMM and `inputs_from`."""

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl.builders import build_esmm


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    click = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype("float32")
    conv = (x[:, 1] > 0).astype("float32")
    return x, click, conv


def _names(layers):
    return [layer.name for layer in layers]


def test_ownership_keeps_each_tower_with_its_task():
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    assert _names(model.shared_layers) == ["trunk_0"]
    layers = {t: _names(v) for t, v in model.task_layers.items()}
    assert layers == {"ctr": ["ctr_head_0", "ctr"],
                      "cvr": ["cvr_head_0", "cvr"], "ctcvr": []}


def test_towers_that_two_losses_reach_are_shared_for_aggregation():
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    shared = {v.path for v in model.shared_variables}
    # Both the ctr and ctcvr losses reach the CTR tower.
    assert {"ctr_head_0/kernel", "ctr/kernel", "trunk_0/kernel"} <= shared
    own = {t: {v.path for v in vs} for t, vs in model.task_variables.items()}
    # Only the ctcvr loss reaches the CVR tower; cvr has no loss.
    assert own["ctcvr"] == {"cvr_head_0/kernel", "cvr_head_0/bias",
                            "cvr/kernel", "cvr/bias"}
    assert own["ctr"] == set() and own["cvr"] == set()


def _one_sgd_step(aggregator):
    keras.utils.set_random_seed(3)
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    model.compile(keras.optimizers.SGD(0.1), aggregator=aggregator)
    x, click, conv = _data(64)
    model.fit(x, {"ctr": click, "ctcvr": click * conv}, batch_size=64,
              epochs=1, verbose=0, shuffle=False)
    return {v.path: v.numpy() for v in model.trainable_variables}


def test_sum_aggregator_equals_the_fast_path():
    # The CTR tower must get the gradients of the ctr AND ctcvr losses;
    # giving it ctr's alone (as a task-specific variable) would differ.
    fast = _one_sgd_step(None)
    summed = _one_sgd_step("sum")
    for path, value in fast.items():
        np.testing.assert_allclose(summed[path], value, atol=1e-6,
                                   err_msg=path)


def test_mgda_trains_with_a_task_without_loss():
    # A zero row for cvr would make MGDA's min-norm direction 0.
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    model.compile(keras.optimizers.SGD(0.1), aggregator="mgda")
    x, click, conv = _data()
    before = [v.numpy().copy() for v in model.shared_variables]
    model.fit(x, {"ctr": click, "ctcvr": click * conv}, epochs=1,
              verbose=0)
    after = [v.numpy() for v in model.shared_variables]
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(after, before))


def test_cvr_labels_feed_metrics_only_and_round_trip(tmp_path):
    x, click, conv = _data()
    cvr_labels = np.where(click > 0, conv, -1.0)
    runs = []
    for labels in ({}, {"cvr": cvr_labels}):
        keras.utils.set_random_seed(5)
        model = build_esmm(keras.Input((6,), name="x"), shared=(8,),
                           tower=(4,))
        model.compile(keras.optimizers.Adam(1e-2))
        history = model.fit(x, {"ctr": click, "ctcvr": click * conv,
                                **labels}, epochs=2, verbose=0,
                            shuffle=False)
        runs.append((model, history.history))
    (plain, _), (with_cvr, history) = runs
    for a, b in zip(plain.trainable_variables,
                    with_cvr.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert history["cvr_loss"] == [0.0, 0.0]
    assert history["cvr_weight"] == [0.0, 0.0]
    assert history["cvr_auc"][-1] > 0.55
    path = str(tmp_path / "esmm.keras")
    with_cvr.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["ctcvr"],
                               with_cvr.predict(x, verbose=0)["ctcvr"],
                               atol=1e-6)
    assert _names(loaded.task_layers["cvr"]) == ["cvr_head_0", "cvr"]
    out = with_cvr.predict(x, verbose=0)
    np.testing.assert_allclose(out["ctcvr"], out["ctr"] * out["cvr"],
                               rtol=1e-5)


def test_general_form_with_the_hard_builder():
    tasks = [
        keras_mtl.Task("ctr", "binary", head_units=(4,)),
        keras_mtl.Task("cvr", "binary", supervised=False),
        keras_mtl.Task("ctcvr", "binary", inputs_from=("ctr", "cvr"),
                       head=keras.layers.Multiply()),
    ]
    model = keras_mtl.build(keras.Input((6,), name="x"), tasks,
                            trunk=(8,))
    assert _names(model.task_layers["ctr"]) == ["ctr_head_0", "ctr"]
    x, click, conv = _data()
    model.compile("adam")
    model.fit(x, {"ctr": click, "ctcvr": click * conv}, verbose=0)


def _wrapped(tasks, link=True):
    inputs = keras.Input((6,), name="x")
    z = keras.layers.Dense(8, name="emb")(inputs)
    ctr = keras.layers.Dense(1, activation="sigmoid", name="ctr")(z)
    cvr = keras.layers.Dense(1, activation="sigmoid", name="cvr")(z)
    ctcvr = keras.layers.Multiply(name="ctcvr")(
        [ctr, cvr] if link else [cvr, cvr])
    return keras_mtl.MultiTaskModel(
        inputs, {"ctr": ctr, "cvr": cvr, "ctcvr": ctcvr}, tasks=tasks)


def test_wrapped_graph_must_declare_its_links():
    undeclared = [keras_mtl.Task("ctr", "binary"),
                  keras_mtl.Task("cvr", "binary"),
                  keras_mtl.Task("ctcvr", "binary")]
    with pytest.raises(ValueError, match=r"'ctcvr'.*inputs_from=\('ctr', "
                                         r"'cvr'\)"):
        _wrapped(undeclared)
    declared = [keras_mtl.Task("ctr", "binary"),
                keras_mtl.Task("cvr", "binary", supervised=False),
                keras_mtl.Task("ctcvr", "binary",
                               inputs_from=("ctr", "cvr"))]
    model = _wrapped(declared)
    assert _names(model.task_layers["ctr"]) == ["ctr"]
    with pytest.raises(ValueError, match="'ctcvr'.*depends on"):
        _wrapped(declared, link=False)


@pytest.mark.parametrize("tasks, match", [
    ([keras_mtl.Task("a", "binary"),
      keras_mtl.Task("b", "binary", supervised=False)], "nothing would"),
    ([keras_mtl.Task("a", "binary", inputs_from=("z",))], "unknown"),
    ([keras_mtl.Task("a", "binary", inputs_from=("b",),
                     head=keras.layers.Identity()),
      keras_mtl.Task("b", "binary", inputs_from=("a",),
                     head=keras.layers.Identity())], "cycle"),
])
def test_bad_links_are_refused(tasks, match):
    with pytest.raises(ValueError, match=match):
        keras_mtl.build(keras.Input((6,)), tasks, trunk=(4,))


def test_learned_weighting_with_a_loss_free_task_is_refused():
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    with pytest.raises(ValueError, match=r"\['cvr'\].*supervised=False"):
        model.compile("adam", weighting="uncertainty")
    model.compile("adam", loss_weights={"ctr": 2.0})
    assert model.weighting.static_weights == {"ctr": 2.0, "cvr": 0.0}


def test_task_learning_rate_without_own_variables_is_an_error():
    model = build_esmm(keras.Input((6,), name="x"), shared=(8,), tower=(4,))
    with pytest.raises(ValueError, match="'ctr'.*would change nothing"):
        model.compile("adam", task_learning_rates={"ctr": 2.0})
    model.compile("adam", task_learning_rates={"ctcvr": 0.5})


def _esmm_tasks():
    return keras_mtl.builders.esmm_tasks(tower=(4,))


def test_mmoe_builds_an_esmm_head_without_a_gate():
    model = keras_mtl.build(keras.Input((6,), name="x"), _esmm_tasks(),
                            architecture="mmoe", num_experts=2,
                            expert_units=(4,))
    names = [layer.name for layer in model.layers]
    assert "ctr_gate" in names and "cvr_gate" in names
    assert "ctcvr_gate" not in names
    assert _names(model.task_layers["cvr"])[-1] == "cvr"
    x, click, conv = _data(64)
    model.compile("adam")
    model.fit(x, {"ctr": click, "ctcvr": click * conv}, verbose=0)


@pytest.mark.parametrize("architecture, options", [
    ("ple", {}), ("cgc", {}), ("cross_stitch", {"trunk": (4,)}),
    ("soft", {"trunk": (4,)}), ("mtan", {}),
    ("hard", {"trunk": (4,), "sharing_depth": {"ctr": 1, "cvr": 0,
                                               "ctcvr": 0}}),
])
def test_other_builders_refuse_inputs_from_clearly(architecture, options):
    with pytest.raises(ValueError, match=r"\['ctcvr'\] declare"):
        keras_mtl.build(keras.Input((6,), name="x"), _esmm_tasks(),
                        architecture=architecture, **options)
