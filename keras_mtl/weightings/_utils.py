"""Helpers shared by the weighting strategies (private).

Everything here runs inside the compiled training step, written with
`keras.ops` on `[T]` vectors.
"""

from typing import Any
from typing import Iterable
from typing import Sequence

import keras
from keras import ops

from keras_mtl.types import Tensor


def check_task_keys(
    owner: str, argument: str, keys: Iterable[str], task_names: Sequence[str]
) -> None:
    """Raises when a per-task dict names a task the model does not have."""
    unknown = sorted(set(keys) - set(task_names))
    if unknown:
        raise ValueError(
            f"{owner}: argument `{argument}` names unknown task(s) {unknown}. "
            f"The model's tasks are {list(task_names)}. Fix the keys of "
            f"`{argument}` to use these task names."
        )


def check_positive(owner: str, argument: str, value: Any,
                   allow_zero: bool = False) -> float:
    """Validates a float hyperparameter (> 0, or >= 0 with `allow_zero`)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{owner}: argument `{argument}` must be a float {bound}. "
            f"Received: {argument}={value!r}."
        )
    return float(value)


def present(losses: Tensor) -> Tensor:
    """`[T]` float mask of the tasks with labelled samples in the batch.

    The model gives a task without any labelled sample a loss of exactly
    0; strategies that divide by or take the log of losses leave it out.
    """
    return ops.cast(ops.greater(losses, 0.0), losses.dtype)


def remember_first_losses(
    variable: keras.Variable, losses: Tensor
) -> Tensor:
    """Stores each task's first non-zero loss in `variable` (0 = unseen).

    Returns the stored vector after the update. A task absent from the
    first batch is recorded at the first batch that labels it.
    """
    stored = ops.convert_to_tensor(variable)
    updated = ops.where(ops.greater(stored, 0.0), stored, losses)
    variable.assign(updated)
    return updated


def add_adam_slots(layer: keras.layers.Layer, shape: tuple[int, ...],
                   prefix: str) -> tuple[keras.Variable, ...]:
    """Creates first/second moment and step-count variables on `layer`."""
    first = layer.add_weight(
        shape=shape, initializer="zeros", trainable=False,
        name=f"{prefix}_adam_m", aggregation="mean")
    second = layer.add_weight(
        shape=shape, initializer="zeros", trainable=False,
        name=f"{prefix}_adam_v", aggregation="mean")
    count = layer.add_weight(
        shape=(), initializer="zeros", trainable=False,
        name=f"{prefix}_adam_t", aggregation="mean")
    return first, second, count


def adam_update(
    variable: keras.Variable,
    gradient: Tensor,
    slots: tuple[keras.Variable, ...],
    learning_rate: float,
    weight_decay: float = 0.0,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
) -> None:
    """One Adam step (Kingma and Ba, 2015) on a small state vector.

    `weight_decay` adds `weight_decay * variable` to the gradient (L2, as
    in `torch.optim.Adam`), which FAMO uses to keep its logits bounded.
    """
    first, second, count = slots
    value = ops.convert_to_tensor(variable)
    gradient = gradient + weight_decay * value
    step = ops.convert_to_tensor(count) + 1.0
    m = beta_1 * ops.convert_to_tensor(first) + (1.0 - beta_1) * gradient
    v = beta_2 * ops.convert_to_tensor(second) + (
        1.0 - beta_2) * ops.square(gradient)
    m_hat = m / (1.0 - ops.power(beta_1, step))
    v_hat = v / (1.0 - ops.power(beta_2, step))
    first.assign(m)
    second.assign(v)
    count.assign(step)
    variable.assign(value - learning_rate * m_hat / (
        ops.sqrt(v_hat) + epsilon))
