"""The search space of MultiTaskHyperModel at its corners."""

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl import aggregators
from keras_mtl import builders
from keras_mtl import weightings
from keras_mtl.tuning import MultiTaskHyperModel

TASKS = [keras_mtl.Task("task_1", "regression"),
         keras_mtl.Task("task_2", "regression")]
X = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")


def _hypermodel(**kwargs):
    kwargs.setdefault("trunk", (6, 4))
    return MultiTaskHyperModel(keras.Input((10,)), TASKS, **kwargs)


@pytest.fixture(scope="module")
def every_architecture():
    return _hypermodel(seed=0)


@pytest.fixture(scope="module")
def hard_space():
    return _hypermodel(
        fixed={"architecture": "hard"}, widths=None,
        method_options={"inverse_size": {"sizes": {"task_1": 10,
                                                   "task_2": 30}}})


def _check_registry_covered(names, family, options, always=()):
    """Every registered id is searched unless it cannot be constructed
    with default arguments."""
    assert set(names) <= set(family.names())
    for name in set(family.names()) - set(names) - set(always):
        with pytest.raises((TypeError, ValueError)):
            family.get_class(name)(**options.get(name, {}))


def _check_model(model):
    assert isinstance(model, keras_mtl.MultiTaskModel)
    assert model.optimizer is not None  # compiled
    out = model(X, training=False)
    assert sorted(out) == ["task_1", "task_2"]
    assert all(tuple(v.shape) == (4, 1) for v in out.values())
    assert all(np.isfinite(np.asarray(v)).all() for v in out.values())


def test_each_architecture_builds_at_depth_zero_and_full(
        every_architecture):
    # One test over the registry (not parametrized): each test's teardown
    # clears the Keras session, which costs more than these builds.
    hm = every_architecture
    assert hm.architecture_names == list(builders.ARCHITECTURES)
    for architecture in builders.ARCHITECTURES:
        has_depth = "sharing_depth" in hm.architecture_params(architecture)
        for depth in ([0, 2] if has_depth else [None]):
            values = {"architecture": architecture}
            if depth is not None:
                values["sharing_depth"] = depth
            hp = hm.hyperparameters(values)
            model = hm.build(hp)
            _check_model(model)
            if architecture == "hard":
                assert bool(model.shared_variables) == (depth == 2)
            # Options of other architectures are inactive for this one.
            for option in ("num_experts", "num_levels"):
                if option not in hm.architecture_params(architecture) \
                        and any(p.name == option for p in hp.space):
                    assert not hp.is_active(option), (architecture, option)


def test_expert_counts_are_conditional_on_expert_architectures(
        every_architecture):
    hp = every_architecture.hyperparameters()
    experts = [p for p in hp.space if p.name == "num_experts"]
    assert len(experts) == 1
    (condition,) = experts[0].conditions
    assert condition.name == "architecture"
    hm = every_architecture
    users = [a for a in hm.architecture_names
             if "num_experts" in hm.architecture_params(a)]
    assert users
    assert sorted(condition.values) == sorted(users)
    assert "hard" not in condition.values
    if "soft" in hm.architecture_names:
        model = hm.build(hm.hyperparameters({"architecture": "soft",
                                             "strength": 0.05}))
        strength = [p for p in hp.space if p.name == "strength"][0]
        assert strength.conditions[0].values == ["soft"]
        assert any(getattr(layer, "strength", None) == 0.05
                   for layer in model.layers)
    # Every name is declared once (Keras Tuner needs unique names).
    names = [p.name for p in hp.space]
    assert len(names) == len(set(names))


def test_each_aggregator_builds_on_a_shared_trunk(hard_space):
    hm = hard_space
    _check_registry_covered(hm.aggregator_names[1:], aggregators,
                            hm.method_options)
    for aggregator in hm.aggregator_names:
        hp = hm.hyperparameters({"aggregator": aggregator,
                                 "sharing_depth": 2})
        model = hm.build(hp)
        if aggregator == "none":
            assert model.aggregator is None
        else:
            assert type(model.aggregator) is \
                aggregators.get_class(aggregator)
            for arg in hm.method_hyperparameters("aggregator", aggregator):
                assert getattr(model.aggregator, arg) == pytest.approx(
                    hp.values[f"{aggregator}_{arg}"]), (aggregator, arg)
        _check_model(model)


def test_aggregator_is_only_searched_where_parameters_are_shared():
    hm = _hypermodel(fixed={"architecture": "hard"},
                     aggregators=[None, "pcgrad", "cagrad"])
    hp = hm.hyperparameters({"sharing_depth": 0})
    (aggregator,) = [p for p in hp.space if p.name == "aggregator"]
    assert [(c.name, c.values) for c in aggregator.conditions] == [
        ("sharing_depth", [1, 2])]
    assert not hp.is_active("aggregator")
    assert not hp.is_active("cagrad_c")
    assert hm.build(hp).aggregator is None
    hp = hm.hyperparameters({"sharing_depth": 1, "aggregator": "cagrad",
                             "cagrad_c": 0.3})
    assert hp.is_active("cagrad_c")
    model = hm.build(hp)
    assert model.aggregator.c == pytest.approx(0.3)


def test_each_weighting_builds(hard_space):
    hm = hard_space
    _check_registry_covered(hm.weighting_names, weightings,
                            hm.method_options, always=("static",))
    for weighting in hm.weighting_names:
        for depth in (0, 2):
            hp = hm.hyperparameters({"weighting": weighting,
                                     "sharing_depth": depth,
                                     "aggregator": "none"})
            model = hm.build(hp)
            expected = weightings.get_class(weighting)
            if depth == 0 and expected.requires_shared_gradient_norms:
                # Nothing shared: no norms to balance, weights stay at 1.
                expected = weightings.EqualWeighting
            assert type(model.weighting) is expected, (weighting, depth)
            _check_model(model)


def test_static_weights_on_the_simplex_and_per_task():
    hm = _hypermodel(fixed={"architecture": "hard", "weighting": "static"})
    hp = hm.hyperparameters({"simplex_task_1": 0.9, "simplex_task_2": 0.1})
    weights = hm.build(hp).weighting.static_weights
    assert sum(weights.values()) == pytest.approx(2.0)
    # u = 0.1 gives the larger exponential mass: the larger weight.
    assert weights["task_2"] > weights["task_1"]
    ratio = np.log(0.1) / np.log(0.9)
    assert weights["task_2"] / weights["task_1"] == pytest.approx(ratio)

    hm = _hypermodel(fixed={"architecture": "hard", "weighting": "static"},
                     static_weights="per_task",
                     static_weight_range=(0.5, 4.0))
    hp = hm.hyperparameters({"weight_task_1": 3.0})
    assert hm.build(hp).weighting.static_weights == {
        "task_1": 3.0, "task_2": 1.0}
    (param,) = [p for p in hp.space if p.name == "weight_task_2"]
    assert (param.min_value, param.max_value) == (0.5, 4.0)


def test_sharing_depth_spans_the_trunk_and_widths_are_searched():
    hm = _hypermodel(fixed={"architecture": "hard"}, trunk=(8, 4, 2))
    hp = hm.hyperparameters()
    (depth,) = [p for p in hp.space if p.name == "sharing_depth"]
    assert (depth.min_value, depth.max_value) == (0, 3)
    (units,) = [p for p in hp.space if p.name == "units_0"]
    assert units.values == [4, 8, 16]
    model = hm.build(hm.hyperparameters({"units_0": 16,
                                         "sharing_depth": 1}))
    assert model.get_layer("trunk_0").units == 16
    assert model.get_layer("task_1_trunk_1").units == 4


def test_fixed_parts_and_unknown_names():
    hm = _hypermodel(fixed={"architecture": "hard", "sharing_depth": 1,
                            "learning_rate": 0.01})
    hp = hm.hyperparameters()
    fixed = {p.name for p in hp.space if type(p).__name__ == "Fixed"}
    assert {"architecture", "sharing_depth", "learning_rate"} <= fixed
    model = hm.build(hp)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="does not have"):
        _hypermodel(fixed={"architecture": "hard", "dropout_rate": 0.1}
                    ).hyperparameters()
    with pytest.raises(ValueError, match="Unknown hyperparameter"):
        hm.hyperparameters({"units_9": 4})
    with pytest.raises(ValueError, match="Unknown architecture"):
        _hypermodel(architectures=["nope"])
    with pytest.raises(ValueError, match="sharing_depth"):
        _hypermodel(fixed={"architecture": "hard"}, sharing_depths=(0, 5))


def test_extend_hook_adds_hyperparameters():
    class WithDropout(MultiTaskHyperModel):
        def extend(self, hp, choices):
            choices.options["dropout"] = hp.Float("dropout", 0.0, 0.5,
                                                  default=0.25)
            return choices

    hm = WithDropout(keras.Input((10,)), TASKS, trunk=(6, 4),
                     fixed={"architecture": "hard"})
    hp = hm.hyperparameters()
    model = hm.build(hp)
    assert hp.values["dropout"] == 0.25
    assert model.get_layer("trunk_dropout_0").rate == 0.25


def test_same_hyperparameters_and_seed_give_the_same_model():
    hm = _hypermodel(fixed={"architecture": "hard"}, seed=3)
    hp = hm.hyperparameters({"sharing_depth": 1, "units_0": 12})
    first, second = hm.build(hp), hm.build(hp)
    assert first is not second
    assert first.get_config() == second.get_config()
    assert first.count_params() == second.count_params()
    a, b = first(X), second(X)
    for task in a:
        np.testing.assert_array_equal(np.asarray(a[task]),
                                      np.asarray(b[task]))
