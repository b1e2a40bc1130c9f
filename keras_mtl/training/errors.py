"""Errors raised from inside the compiled step, made readable at `fit`.

A graph cannot raise a Python exception: the step fails an assertion whose
message carries a marker, and `readable_errors` (around `fit`/`evaluate`)
turns it into an error that names the task(s) and the fix.
"""

import contextlib
import re
from typing import Any
from typing import Iterator
from typing import Sequence

import tensorflow as tf

from keras_mtl.losses import INFINITE_VALUE_MARKER
from keras_mtl.losses import NEGATIVE_WEIGHT_MARKER
from keras_mtl.types import Tensor

_MARKER = "keras_mtl.on_nonfinite"
_SHARED = "<shared variables>"


class NonFiniteError(FloatingPointError):
    """A task produced a non-finite value under `on_nonfinite="raise"`."""


def assert_tasks_finite(task_names: Sequence[str], faulty: Tensor,
                        clean: Tensor, step: Any) -> None:
    """Fails the step unless `clean`, naming the `faulty` tasks (or the
    shared variables when no task is faulty)."""
    names = tf.constant(list(task_names) + [_SHARED])
    culprits = tf.concat([faulty, [tf.logical_and(
        tf.logical_not(clean), tf.logical_not(tf.reduce_any(faulty)))]],
        axis=0)
    tf.debugging.Assert(clean, [tf.strings.join([
        _MARKER, "{", tf.strings.reduce_join(
            tf.boolean_mask(names, culprits), separator=","),
        "}{", tf.strings.as_string(tf.convert_to_tensor(step)), "}"])])


@contextlib.contextmanager
def readable_errors(model_name: str) -> Iterator[None]:
    """Turns the step's assertions into errors that name the task(s):
    `NonFiniteError` (`on_nonfinite="raise"`) and `ValueError` (negative
    sample weights, infinite labels or sample weights)."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        message = str(error.message)
        negative = re.search(
            re.escape(NEGATIVE_WEIGHT_MARKER) + r"\{([^}]*)\}", message)
        if negative:
            raise ValueError(
                f"Model {model_name!r}: task {negative.group(1)!r} has a "
                "negative sample weight. Sample weights must be >= 0 (use "
                "0, or NaN, to leave a sample out of that task's loss)."
            ) from None
        infinite = re.search(
            re.escape(INFINITE_VALUE_MARKER) + r"\{([^}]*)\}\{([^}]*)\}",
            message)
        if infinite:
            task, what = infinite.groups()
            raise ValueError(
                f"Model {model_name!r}: task {task!r} has an infinite "
                f"{what} (Inf). Labels and sample weights must be finite: "
                f"mark a missing {what} with NaN (or the task's "
                "missing_label sentinel), and check how the value was "
                "computed (an overflow or a division by zero upstream)."
            ) from None
        if _MARKER not in message:
            raise
        found = re.search(
            re.escape(_MARKER) + r"\{([^}]*)\}\{(\d+)\}", message)
        tasks = found.group(1).split(",") if found else ["<unknown>"]
        step = found.group(2) if found else "?"
        culprits = [t for t in tasks if t and t != _SHARED]
        what = (f"task(s) {culprits}" if culprits else
                "the shared variables (a non-finite gradient or update no "
                "single task's loss or gradient explains)")
        raise NonFiniteError(
            f"Model {model_name!r}: {what} produced a non-finite (or "
            f"overflowing) loss, gradient or update at optimizer step "
            f"{step} (compile(on_nonfinite='raise')); the step was rolled "
            "back: no variable changed. Check that task's inputs, labels "
            "and loss, or compile with on_nonfinite='drop_task' to train "
            "the other tasks on such steps."
        ) from None
