"""Public registry API (`names()`, `get_class()`) and `validate_tasks`."""

import pytest

from keras_mtl import aggregators
from keras_mtl import weightings
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_tasks


@pytest.mark.parametrize("family, base", [
    (weightings, weightings.Weighting),
    (aggregators, aggregators.Aggregator),
])
def test_names_and_get_class_agree_with_get(family, base):
    names = family.names()
    assert len(names) == len(set(names))
    for name in names:
        cls = family.get_class(name)
        assert issubclass(cls, base)
        assert family.get_class(name.upper()) is cls
        assert cls.__name__ in family.__all__
    # The list is a copy: editing it leaves the registry alone.
    names.append("mine")
    assert "mine" not in family.names()


@pytest.mark.parametrize("family", [weightings, aggregators])
@pytest.mark.parametrize("bad", ["nope", 3, None])
def test_get_class_names_the_known_ids_on_error(family, bad):
    with pytest.raises(ValueError, match=r"Known .*names\(\)"):
        family.get_class(bad)


def test_validate_tasks_is_public_and_returns_a_tuple():
    tasks = [Task("a", kind="binary"), Task("b", kind="regression")]
    assert validate_tasks(tasks) == tuple(tasks)
    with pytest.raises(ValueError, match="task list is empty"):
        validate_tasks([])
    with pytest.raises(TypeError, match="Expected `keras_mtl.Task`"):
        validate_tasks([tasks[0], "b"])
    with pytest.raises(ValueError, match=r"Duplicate task name\(s\) \['a'\]"):
        validate_tasks([tasks[0], Task("a", kind="regression")])


def test_model_keeps_the_old_private_name():
    from keras_mtl.model import _validate_tasks

    assert _validate_tasks is validate_tasks
