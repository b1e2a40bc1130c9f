"""The gradient-regularizer contract: terms added to the step's gradients.

Some methods need more than the per-task Jacobian: GREAT (Sinha et al.,
2018, arXiv:1806.08028) trains an auxiliary network on gradients of the
shared representation and adds a reversed second-order gradient. Such a
method is a `GradientRegularizer`, passed as
`compile(gradient_regularizer=...)`:

```python
class L1Pull(keras_mtl.training.GradientRegularizer):
    '''Adds strength * sign(w) to every shared variable's gradient.'''

    def __init__(self, strength=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.strength = strength

    def regularize(self, inputs, gradients):
        shared = {id(v) for v in inputs.ownership.shared}
        return [g if g is None or id(v) not in shared
                else g + inputs.scale_loss(self.strength * tf.sign(v))
                for v, g in zip(inputs.ownership.variables, gradients)]
```

The step calls `bind(model)` once at compile time (check the model,
create variables), then `regularize(inputs, gradients)` on every training
step, after aggregation and before the non-finite policy judges the
gradients (so the policy screens the regularizer's terms too, and a
skipped step rolls its variables back). `regularize` receives everything
as arguments (`RegularizerInputs`) and returns the new gradient list; it
may update its own variables (they are part of the step's transaction)
but keeps no per-step values on itself.
"""

from typing import Any
from typing import Callable
from typing import NamedTuple
from typing import Sequence

import keras

from keras_mtl.training.ownership import Ownership
from keras_mtl.training.replicas import replica_scale
from keras_mtl.types import Tensor


class RegularizerInputs(NamedTuple):
    """What `GradientRegularizer.regularize` receives.

    Attributes:
        x: The batch's inputs.
        y: `{task: labels}`.
        sample_weight: `{task: weights or None}`.
        forward: `forward(x)` -> `(outputs, representation)`, the model
            in training mode with its shared representation (None when
            the model has none).
        task_losses: The model's `MaskedTaskLoss` per task, in task
            order: `task_losses[t](y, y_pred, sample_weight)` returns
            `(total, count, safe_labels, entry_weights)`.
        ownership: The step's variables and their owners.
        scale_loss: The optimizer's loss scaling (mixed precision); the
            returned gradients are of scaled losses, as the step's.
        replica_scale: `1 / N` under N replicas, else 1: the share of a
            term that must count once when replicas' gradients are summed.
    """

    x: Any
    y: dict
    sample_weight: dict
    forward: Callable[[Any], tuple]
    task_losses: Sequence[Any]
    ownership: Ownership
    scale_loss: Callable[[Tensor], Tensor]
    replica_scale: float

    @classmethod
    def from_model(cls, model: Any, x: Any, y: dict, sample_weight: dict,
                   ownership: Ownership | None = None,
                   ) -> "RegularizerInputs":
        """The inputs for a step of the compiled `model` on a batch
        (`ownership`: the step's, when it has one already)."""
        if model.representation_layer is None:
            def forward(inputs: Any) -> tuple:
                return model(inputs, training=True), None
        else:
            def forward(inputs: Any) -> tuple:
                return model.call_with_representation(inputs, training=True)
        return cls(x, y, sample_weight, forward, model.task_loss_functions,
                   ownership or Ownership.of(model),
                   model.optimizer.scale_loss,
                   replica_scale())


class GradientRegularizer(keras.layers.Layer):
    """Base class: adds terms to the training step's gradients.

    Subclasses implement `regularize(inputs, gradients)` and may override
    `bind(model)`. Being Keras layers, their variables are saved with the
    model (`.keras`, checkpoints) and trained by the model's optimizer
    when they are trainable and get a gradient from `regularize`.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def bind(self, model: Any) -> None:
        """Checks `model` and creates state for it (at compile time)."""

    def regularize(self, inputs: RegularizerInputs,
                   gradients: list) -> list:
        """Returns `gradients` (aligned with `inputs.ownership.variables`,
        None for no gradient) with this method's terms added."""
        raise TypeError(
            f"{type(self).__name__} is abstract: subclasses of "
            "GradientRegularizer define regularize(inputs, gradients).")

    def add_to_gradients(self, model: Any, gradients: Sequence[Any], x: Any,
                         y: dict, sample_weight: dict) -> list:
        """`regularize` for one batch of a compiled `model` (the form of
        the contract before `RegularizerInputs`)."""
        return self.regularize(
            RegularizerInputs.from_model(model, x, y, sample_weight),
            list(gradients))


def regularize(regularizer: Any, inputs: RegularizerInputs,
               gradients: list, model: Any) -> list:
    """Calls a `GradientRegularizer`, or a duck-typed object with the
    older `add_to_gradients(model, gradients, x, y, sample_weight)`."""
    if isinstance(regularizer, GradientRegularizer):
        return regularizer.regularize(inputs, gradients)
    return list(regularizer.add_to_gradients(
        model, gradients, inputs.x, inputs.y, inputs.sample_weight))
