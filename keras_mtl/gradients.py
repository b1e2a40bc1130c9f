"""The gradient engine of `MultiTaskModel.train_step`.

Without an aggregator, one backward pass of the weighted objective gives
every gradient (the fast path, as cheap as plain Keras `fit`). With an
aggregator, the shared variables get `aggregator(J)` where `J` stacks the
per-task gradients of the weighted task losses; every other variable
(task-specific layers, learned weighting parameters) gets the gradient of
the objective, which for a task-specific variable is its own task's
gradient.
"""

from typing import Any

import tensorflow as tf

from keras_mtl.types import Tensor


def _flatten(gradients: list, variables: list) -> Tensor:
    return tf.concat([
        tf.reshape(tf.zeros_like(v) if g is None else tf.cast(g, v.dtype),
                   [-1])
        for g, v in zip(gradients, variables)], axis=0)


def _unflatten(flat: Tensor, variables: list) -> list:
    sizes = [int(tf.size(v)) for v in variables]
    parts = tf.split(flat, sizes)
    return [tf.reshape(p, v.shape) for p, v in zip(parts, variables)]


class GradientEngine:
    """Computes the step's gradients for `model.trainable_variables`.

    Args:
        model: The `MultiTaskModel`.
        aggregator: An `Aggregator`, or None for the fast path.
    """

    def __init__(self, model: Any, aggregator: Any = None) -> None:
        self.model = model
        self.aggregator = aggregator

    @property
    def persistent(self) -> bool:
        """Whether the step's tape must serve several gradient calls."""
        return self.aggregator is not None

    @property
    def needs_representation(self) -> bool:
        """Whether the forward pass must also return the representation."""
        return False

    def gradients(
        self, tape: tf.GradientTape, objective: Tensor,
        weighted_losses: Tensor, extra: Tensor,
        representation: Tensor | None,
    ) -> list:
        """Returns gradients aligned with `model.trainable_variables`.

        Args:
            tape: The step's tape (persistent when `self.persistent`).
            objective: The scalar (loss-scaled) training objective,
                `sum(weighted_losses) + extra`, computed inside the tape.
            weighted_losses: `[T]` weighted (and loss-scaled) task losses,
                computed inside the tape.
            extra: Scalar non-task terms of the objective (regularizers).
            representation: The shared representation, when
                `needs_representation`.
        """
        variables = self.model.trainable_variables
        if self.aggregator is None:
            return tape.gradient(objective, variables)
        return self._aggregated(tape, weighted_losses, extra, objective)

    def _aggregated(
        self, tape: tf.GradientTape, weighted_losses: Tensor,
        extra: Tensor, objective: Tensor,
    ) -> list:
        model = self.model
        variables = model.trainable_variables
        shared = model.shared_variables
        shared_ids = {id(v) for v in shared}
        others = [v for v in variables if id(v) not in shared_ids]
        rows = [
            _flatten(tape.gradient(weighted_losses[t], shared), shared)
            for t in range(len(model.tasks))]
        jacobian = tf.stack(rows)
        direction = self.aggregator(jacobian)
        shared_grads = _unflatten(direction, shared)
        extra_grads = tape.gradient(extra, shared)
        shared_grads = [
            g if e is None else g + tf.cast(e, g.dtype)
            for g, e in zip(shared_grads, extra_grads)]
        other_grads = tape.gradient(objective, others) if others else []
        by_id = {id(v): g for v, g in zip(shared, shared_grads)}
        by_id.update({id(v): g for v, g in zip(others, other_grads)})
        return [by_id[id(v)] for v in variables]
