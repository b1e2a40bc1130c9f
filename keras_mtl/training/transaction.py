"""The step as a transaction: it commits, or every variable is restored.

At the start of a guarded step the values of every variable the step may
write are read (`Snapshot.take`): the model's weights and non-trainable
state (batch statistics), the seed states of its layers (dropout), the
weighting's, aggregator's and gradient regularizer's state (GradNorm's
weights and moments, FAMO's counter, GradVac's targets, seed states) and
the optimizer's variables (slots, iteration counter, loss scale). After
the update, `Snapshot.verify` checks what was written; `rollback_if`
writes the snapshot back when the step is skipped or wrote a non-finite
value.

Cost: TensorFlow's variable reads alias the buffer, so the snapshot
costs one copy of each variable that the step then updates (copy on
write), plus one sum per floating-point variable to verify:
measured as part of the default step in `benchmarks/bench_fit_overhead.py`.
Metric variables (the logs) are not part of the transaction: a skipped
step is counted.
"""

from typing import Any
from typing import Iterable
from typing import NamedTuple

import tensorflow as tf

from keras_mtl.training.replicas import any_replica
from keras_mtl.training.replicas import assign_all
from keras_mtl.training.replicas import run_if
from keras_mtl.types import Tensor


def unique_variables(variables: Iterable[Any]) -> list:
    """`variables` in order, each once (by identity)."""
    seen: set[int] = set()
    found = []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            found.append(v)
    return found


def step_state(model: Any, parts: Iterable[Any] = ()) -> list:
    """Every variable a training step of `model` may write, except the
    metrics: `model.variables` (weights, non-trainable state, seed states,
    tracked weighting / aggregator / regularizer), those of `parts`, and
    the optimizer's."""
    found = list(model.variables) + part_variables(parts)
    found += list(model.optimizer.variables)
    return unique_variables(found)


def part_variables(parts: Iterable[Any]) -> list:
    """The variables of the step's learned parts (weighting, aggregator,
    gradient regularizer; None or a duck-typed part may hold none)."""
    return [v for part in parts
            for v in (getattr(part, "variables", None) or [])]


def _floating(variable: Any) -> bool:
    return tf.as_dtype(variable.dtype).is_floating


class Snapshot(NamedTuple):
    """The values of `variables` at the start of the step."""

    variables: list
    values: list

    @classmethod
    def take(cls, variables: list) -> "Snapshot":
        # A read aliases the variable's buffer; TensorFlow copies it on
        # the next in-place update (copy on write), not here.
        return cls(variables, [tf.convert_to_tensor(v) for v in variables])

    def verify(self) -> Tensor:
        """True when every floating-point variable holds only finite
        values (on every replica): one sum per variable, which is NaN or
        Inf as soon as one entry is (or when the sum overflows float32,
        beyond ~3.4e38, which the gradient check keeps slots below)."""
        sums = [tf.reduce_sum(tf.cast(tf.convert_to_tensor(v), tf.float32))
                for v in self.variables if _floating(v)]
        if not sums:
            return tf.constant(True)
        bad = tf.logical_not(tf.reduce_all(tf.math.is_finite(
            tf.stack(sums))))
        return tf.logical_not(any_replica(bad))

    def restore(self) -> None:
        """Writes the snapshot back."""
        assign_all(self.variables, self.values)

    def rollback_if(self, condition: Tensor,
                    only: Iterable[Any] | None = None) -> None:
        """Writes the snapshot back when `condition` (equal on every
        replica) holds; with `only`, just those of its variables."""
        variables, values = self.variables, self.values
        if only is not None:
            wanted = {id(v) for v in only}
            kept = [(v, x) for v, x in zip(variables, values)
                    if id(v) in wanted]
            variables, values = [v for v, _ in kept], [x for _, x in kept]
        if not variables:
            return
        run_if(condition, lambda given: assign_all(variables, given),
               values)

