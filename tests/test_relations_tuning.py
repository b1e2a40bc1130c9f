"""A relations plan as the tuner's fixed sharing structure."""

import keras
import pytest

import keras_mtl
from keras_mtl.relations import BranchPlan
from keras_mtl.relations import suggest_groups

TASKS = [keras_mtl.Task(n, "regression") for n in ("a", "b", "c")]
PLAN = BranchPlan(("a", "b", "c"), ((("a", "b", "c"),),
                                    (("a", "b"), ("c",))), 0.0)


def test_hypermodel_builds_the_plan_and_searches_the_rest():
    hm = keras_mtl.tuning.MultiTaskHyperModel(
        keras.Input((6,)), TASKS, trunk=(8, 4), plan=PLAN,
        aggregators=[None, "pcgrad"], weightings=["equal"])
    hp = hm.hyperparameters({"units_1": 8})
    names = {p.name for p in hp.space}
    assert "sharing_depth" not in names
    assert {"architecture", "units_0", "units_1", "aggregator",
            "learning_rate"} <= names
    assert hm.architecture_names == ["hard"]
    model = hm.build(hp)
    layers = [x.name for x in model.layers]
    assert "trunk_0" in layers and "group_a_b_trunk_1" in layers
    assert model.get_layer("group_a_b_trunk_1").units == 8
    with pytest.raises(ValueError, match="Unknown hyperparameter"):
        hm.hyperparameters({"sharing_depth": 1})


def test_grouping_plan_and_bad_plans():
    groups = suggest_groups([[1, .5, -.5], [.5, 1, -.5], [-.5, -.5, 1]],
                            2, overlap=False, tasks=("a", "b", "c"))
    hm = keras_mtl.tuning.MultiTaskHyperModel(
        keras.Input((6,)), TASKS, trunk=(8,), plan=groups,
        aggregators=[None], weightings=["equal"], widths=None)
    layers = [x.name for x in hm.build(hm.hyperparameters()).layers]
    assert "group_a_b_trunk_0" in layers and "c_trunk_0" in layers
    with pytest.raises(TypeError, match="plan"):
        keras_mtl.tuning.MultiTaskHyperModel(
            keras.Input((6,)), TASKS, plan={"a": 1})
    with pytest.raises(ValueError, match="block"):
        keras_mtl.tuning.MultiTaskHyperModel(  # 2-block plan, 1-block trunk
            keras.Input((6,)), TASKS, trunk=(8,), plan=PLAN,
            aggregators=[None], weightings=["equal"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(architectures=["mmoe"]), "no 'hard' architecture"),
    (dict(fixed={"architecture": "mmoe"}), "no 'hard' architecture"),
    (dict(sharing_depths=(0, 1)), "sharing_depths"),
    (dict(fixed={"sharing_depth": 1}), "sharing_depth"),
])
def test_a_plan_the_search_would_ignore_is_an_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_mtl.tuning.MultiTaskHyperModel(
            keras.Input((6,)), TASKS, trunk=(8, 4), plan=PLAN,
            aggregators=[None], weightings=["equal"], **kwargs)
