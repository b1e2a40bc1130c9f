"""The three steps of a search space: probe, declare, read choices."""

import dataclasses

import keras
import keras_tuner
import pytest

import keras_mtl
from keras_mtl.tuning import SearchSpace
from keras_mtl.tuning.choose import read_choices
from keras_mtl.tuning.declare import declare_hyperparameters
from keras_mtl.tuning.probe import probe_space

TASKS = [keras_mtl.Task("task_1", "regression"),
         keras_mtl.Task("task_2", "regression")]

# The names Keras Tuner writes into every saved trial of this space. A
# rename makes saved trials unreadable: change this list only on purpose.
SAVED_NAMES = [
    "architecture", "units_0", "units_1", "sharing_depth", "aggregator",
    "cagrad_c", "weighting", "dwa_temperature", "simplex_task_1",
    "simplex_task_2", "learning_rate",
]


@pytest.fixture(scope="module")
def space():
    return probe_space(
        keras.Input((10,)), TASKS, trunk=(6, 4),
        architectures=["hard"], weightings=["equal", "dwa", "static"],
        aggregators=[None, "pcgrad", "cagrad"])


def test_probe_returns_a_frozen_value_object(space):
    assert isinstance(space, SearchSpace)
    assert space.architecture_names == ["hard"]
    assert space.weightings == ("equal", "dwa", "static")
    assert space.aggregators == ("none", "pcgrad", "cagrad")
    assert space.depth == 2 and space.depth_range == (0, 2)
    hard = space.architecture("hard")
    assert hard.has_depth and not hard.shares_at_zero
    assert space.conditional_aggregator()
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.depth = 3


def test_declare_keeps_the_saved_trial_names(space):
    first, second = (keras_tuner.HyperParameters() for _ in range(2))
    declare_hyperparameters(space, first)
    declare_hyperparameters(space, second)
    assert [p.name for p in first.space] == SAVED_NAMES
    assert first.get_config() == second.get_config()


def test_read_choices_builds_nothing_and_reads_the_values(space):
    hp = keras_tuner.HyperParameters()
    hp.values.update({"sharing_depth": 1, "aggregator": "cagrad",
                      "cagrad_c": 0.3, "weighting": "dwa",
                      "dwa_temperature": 2.5, "units_0": 12})
    declare_hyperparameters(space, hp)
    choices = read_choices(space, hp, {"run_eagerly": False})
    assert choices.architecture == "hard"
    assert choices.options["sharing_depth"] == 1
    assert choices.options["trunk"] == (12, 4)
    assert (choices.aggregator, choices.aggregator_options) == (
        "cagrad", {"c": 0.3})
    assert (choices.weighting, choices.weighting_options) == (
        "dwa", {"temperature": 2.5})
    assert choices.compile_options == {"run_eagerly": False}


def test_read_choices_names_a_foreign_space(space):
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["mmoe"])
    with pytest.raises(ValueError, match="another search space"):
        read_choices(space, hp)


def test_hypermodel_is_a_view_of_its_space(space):
    hm = keras_mtl.tuning.MultiTaskHyperModel(
        keras.Input((10,)), TASKS, trunk=(6, 4), architectures=["hard"],
        weightings=["equal", "dwa", "static"],
        aggregators=[None, "pcgrad", "cagrad"])
    assert hm.space == dataclasses.replace(
        space, inputs=hm.space.inputs)
    assert hm.weighting_names == list(space.weightings)
    with pytest.raises(AttributeError):
        hm.fixed = {"architecture": "hard"}
