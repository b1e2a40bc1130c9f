"""Teachers: train one single-task model per task, cache their predictions
once, and pair them with the labels as the student's targets."""

from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras
import numpy as np

from keras_mtl.distill.loss import LABEL_KEY
from keras_mtl.distill.loss import TEACHER_KEY
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task


def task_output(outputs: Any, name: str) -> Any:
    """The output of task `name` from a teacher's (dict or single) output."""
    if isinstance(outputs, Mapping):
        if name not in outputs:
            raise ValueError(
                f"Teacher for task {name!r} has outputs {sorted(outputs)} "
                f"but none named {name!r}. Key the teacher by the task name "
                "its output carries.")
        return outputs[name]
    return outputs


def teacher_predictions(
    teachers: Mapping[str, keras.Model], x: Any, batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Each teacher's prediction of its task on `x`, computed once.

    Cache the result and pass it to `distillation_targets`: the teachers
    then run once, not once per epoch.

    Args:
        teachers: `{task: model}`; a model may output a tensor or a dict
            holding the task's key.
        x: Inputs (arrays or a dict of arrays), in the student's order.
        batch_size: Prediction batch size.

    Returns:
        `{task: float32 predictions}`.
    """
    out = {}
    for name, teacher in teachers.items():
        prediction = teacher.predict(x, batch_size=batch_size, verbose=0)
        out[name] = np.asarray(
            task_output(prediction, name), dtype="float32")
    return out


def distillation_targets(
    labels: Mapping[str, Any], teacher: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Packs labels and cached teacher predictions for the student's fit.

    Args:
        labels: `{task: labels}` (missing labels allowed).
        teacher: `{task: predictions}` from `teacher_predictions`. A task
            without a teacher keeps its plain labels, and a NaN prediction
            leaves that entry to the task loss alone.

    Returns:
        `{task: {"label": labels, "teacher": predictions}}` (plain labels
        for tasks without a teacher).
    """
    unknown = sorted(set(teacher) - set(labels))
    if unknown:
        raise ValueError(
            f"Teacher predictions for task(s) {unknown} have no labels "
            f"entry (label tasks: {sorted(labels)}). Give every task a "
            "labels array, with missing labels marked by the sentinel.")
    out: dict[str, Any] = {}
    for name, y in labels.items():
        y = np.asarray(y)
        if name in teacher:
            q = np.asarray(teacher[name], dtype="float32")
            if len(q) != len(y):
                raise ValueError(
                    f"Task {name!r}: {len(y)} labels but {len(q)} teacher "
                    "predictions. Compute the predictions on the same "
                    "inputs, in the same order.")
            out[name] = {LABEL_KEY: y, TEACHER_KEY: q}
        else:
            out[name] = y  # no teacher: the task loss alone
    return out


def train_teachers(
    build_fn: Callable[[Task], keras.Model],
    tasks: Sequence[Task],
    x: Any,
    y: Mapping[str, Any],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: Any = "adam",
    verbose: int = 0,
    **fit_kwargs: Any,
) -> dict[str, MultiTaskModel]:
    """Trains one single-task teacher per task.

    Args:
        build_fn: `build_fn(task)` returns an uncompiled single-task
            `MultiTaskModel` (e.g. `keras_mtl.build(inputs, [task])`).
        tasks: The tasks.
        x: Training inputs.
        y: `{task: labels}` (missing labels allowed).
        epochs, batch_size, verbose, fit_kwargs: As in `fit`.
        optimizer: An optimizer id or instance (copied per teacher).

    Returns:
        `{task: trained teacher}`.
    """
    teachers = {}
    for task in tasks:
        model = build_fn(task)
        if not isinstance(model, MultiTaskModel) or model.task_names != (
                task.name,):
            raise ValueError(
                f"build_fn must return a single-task MultiTaskModel for "
                f"task {task.name!r}. Received: {model!r}.")
        opt = optimizer
        if isinstance(optimizer, keras.optimizers.Optimizer):
            opt = optimizer.__class__.from_config(optimizer.get_config())
        model.compile(opt)
        model.fit(x, {task.name: y[task.name]}, epochs=epochs,
                  batch_size=batch_size, verbose=verbose, **fit_kwargs)
        teachers[task.name] = model
    return teachers
