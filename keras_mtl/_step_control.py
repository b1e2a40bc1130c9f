"""Control of the training step for `keras_mtl.nonfinite`.

`apply_if` runs the optimizer update under a condition that every replica
agrees on, including under strategies whose `apply_gradients` needs a
`merge_call`. `assert_tasks_finite` is the `on_nonfinite="raise"`
assertion inside the step, and `readable_errors` turns it into a
`NonFiniteError` naming the tasks when it reaches `fit`.
"""

import contextlib
import re
from typing import Any
from typing import Callable
from typing import Iterator
from typing import Sequence

import tensorflow as tf

from keras_mtl.types import Tensor

# Marks the step's assertion so that `fit` can tell it from other errors.
_MARKER = "keras_mtl.on_nonfinite"
_SHARED = "<shared variables>"


class NonFiniteError(FloatingPointError):
    """A task produced a non-finite value under `on_nonfinite="raise"`."""


def assert_tasks_finite(task_names: Sequence[str], ok: Tensor,
                        other_bad: Tensor, step: Any) -> None:
    """Fails the step, naming the tasks that are not `ok` (or the shared
    variables when none is and `other_bad`)."""
    names = tf.constant(list(task_names) + [_SHARED])
    culprits = tf.concat([tf.logical_not(ok), [tf.logical_and(
        other_bad, tf.reduce_all(ok))]], axis=0)
    all_ok = tf.logical_not(tf.reduce_any(culprits))
    tf.debugging.Assert(all_ok, [tf.strings.join([
        _MARKER, "{", tf.strings.reduce_join(
            tf.boolean_mask(names, culprits), separator=","),
        "}{", tf.strings.as_string(tf.convert_to_tensor(step)), "}"])])


def apply_if(allowed: Tensor, gradients: list,
              apply_fn: Callable[[list], None]) -> None:
    """`apply_fn(gradients)` under `tf.cond(allowed, ...)`.

    The optimizer's `apply_gradients` calls `merge_call` under most
    strategies, which a `tf.cond` in a replica context cannot hold: as
    Keras's `LossScaleOptimizer` does, the condition then runs in the
    cross-replica context (`allowed` is equal on every replica).
    """
    present = [i for i, g in enumerate(gradients) if g is not None]

    def run(*values: Tensor) -> None:
        full = [None] * len(gradients)
        for i, value in zip(present, values):
            full[i] = value
        apply_fn(full)

    values = [gradients[i] for i in present]
    if (not tf.distribute.has_strategy()
            or tf.__internal__.distribute.strategy_supports_no_merge_call()):
        tf.cond(allowed, lambda: run(*values), lambda: None)
        return

    def cross_replica(distribution: Any, allowed: Any, *values: Any) -> None:
        first = distribution.experimental_local_results(allowed)[0]
        tf.cond(first, lambda: distribution.extended.call_for_each_replica(
            run, args=values), lambda: None)

    tf.distribute.get_replica_context().merge_call(
        cross_replica, args=(allowed, *values))


@contextlib.contextmanager
def readable_errors(model_name: str) -> Iterator[None]:
    """Turns the step's `on_nonfinite="raise"` assertion into a
    `NonFiniteError` that names the task(s)."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        message = str(error.message)
        if _MARKER not in message:
            raise
        found = re.search(
            re.escape(_MARKER) + r"\{([^}]*)\}\{(\d+)\}", message)
        tasks = found.group(1).split(",") if found else ["<unknown>"]
        step = found.group(2) if found else "?"
        culprits = [t for t in tasks if t != _SHARED]
        what = (f"task(s) {culprits}" if culprits else
                "the shared variables (a non-finite gradient no single "
                "task's outputs, loss or gradient explains)")
        raise NonFiniteError(
            f"Model {model_name!r}: {what} produced a non-finite output, "
            f"loss or gradient at optimizer step {step} "
            "(compile(on_nonfinite='raise')); the step was not applied. "
            "Check that task's inputs, labels and loss, or compile with "
            "on_nonfinite='drop_task' to train the other tasks on such "
            "steps."
        ) from None
