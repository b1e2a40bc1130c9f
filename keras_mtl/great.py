"""GREAT: gradient adversarial training of the shared representation.

GREAT needs the model (its representation, task losses and variables), not
just a `[T, P]` matrix, so it is a training option of `compile` rather than
an aggregator:

```python
model.compile("adam", gradient_regularizer=keras_mtl.GREAT(strength=0.1))
```

At every training step it adds gradient terms to those of the step: the
auxiliary network's own gradient, and a reversed (adversarial) gradient for
the trunk and the task heads. GREAT is one instance of the
`keras_mtl.training.GradientRegularizer` contract (`bind(model)`,
`regularize(inputs, gradients)`), which users can implement too.
"""

from typing import Any
from typing import Sequence

import keras
import tensorflow as tf

from keras_mtl.registry import register
from keras_mtl.training.regularizer import GradientRegularizer
from keras_mtl.training.regularizer import RegularizerInputs
from keras_mtl.types import Tensor


@register
class GREAT(GradientRegularizer):
    """Gradient adversarial training: task gradients made indistinguishable.

    An auxiliary network `a` reads a gradient of the shared representation
    `f` and tries to tell which task's loss it came from; the trunk is
    trained, through a reversed gradient, so that it cannot. Per sample
    `b` and task `t` (labelled samples only):

    ```
    δ_tb   = ∂ℓ_t(b) / ∂f_b                     (inner tape)
    L_aux  = mean_tb  CE(a(δ_tb), t)
    φ  ← φ - η ∂L_aux/∂φ                         (auxiliary network)
    θ  ← θ - η (∂L/∂θ - λ ∂L_aux/∂θ)            (the model's variables)
    ```

    `∂L_aux/∂θ` differentiates through `δ`, a gradient itself: an outer
    tape records the inner tape's backward pass (gradients of gradients).
    The reversed term `-λ ∂L_aux/∂θ` is added to whatever the step gives
    those variables (the plain gradient or an aggregator's direction), so
    GREAT combines with any weighting and aggregator. By default `θ` is
    every variable of the shared trunk and of the task heads (the main
    network is the adversary, as in the paper; a task's gradient at `f` is
    shaped by its head, which the trunk alone cannot change); with
    `reversed_variables="shared"` only the trunk's. The paper also
    proposes per-task gradient alignment layers (GALs) trained by the same
    reversed signal; they are not part of this class.

    Cost: one more forward pass, `T` backward passes to the representation
    and one second-order backward pass per step. Layers with per-call
    state (batch statistics, dropout) run once more in training mode.

    The auxiliary network's variables belong to the model's state (`.keras`
    files, `save_weights`, `BackupAndRestore`; the optimizer trains them
    with the rest), and stay out of exports, which serve the inference
    graph only. `auxiliary_loss` and `auxiliary_accuracy` hold the last
    step's values (chance level, `1 / T`, means the tasks' gradients are
    indistinguishable).

    The model must have a single shared representation
    (`model.representation_layer`, e.g. hard sharing with
    `sharing_depth >= 1`).

    Args:
        strength: float >= 0. The adversarial strength `λ`. Defaults to
            0.1.
        units: Sequence of ints. Hidden widths of the auxiliary network.
            Defaults to `(64,)`.
        activation: str. Hidden activation. Defaults to `"relu"`.
        normalize: bool. Feed the auxiliary network unit-norm gradients
            (directions only) instead of raw ones (directions and
            magnitudes). Defaults to False.
        reversed_variables: str. `"model"` (trunk and task heads) or
            `"shared"` (trunk only): the variables that receive the
            reversed gradient. Defaults to `"model"`.
        seed: Optional int. Seeds the auxiliary network's initial weights.
        **kwargs: Layer arguments (`name`, ...).

    Example:

    ```python
    model = keras_mtl.build(keras.Input((40,)), tasks, trunk=(64, 32))
    model.compile("adam", aggregator="pcgrad",
                  gradient_regularizer=keras_mtl.GREAT(strength=0.05))
    model.fit(x, y, epochs=5)
    ```

    References:
    - Sinha, Chen, Badrinarayanan, Rabinovich (2018). Gradient Adversarial
      Training of Neural Networks. ECCV (arXiv:1806.08028).
    """

    def __init__(
        self,
        strength: float = 0.1,
        units: Sequence[int] = (64,),
        activation: str = "relu",
        normalize: bool = False,
        reversed_variables: str = "model",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "great")
        super().__init__(**kwargs)
        if isinstance(strength, bool) or not isinstance(
                strength, (int, float)) or strength < 0:
            raise ValueError(
                "Argument `strength` must be a float >= 0. Received: "
                f"strength={strength!r}."
            )
        units = [units] if isinstance(units, int) else list(units)
        if any(isinstance(u, bool) or not isinstance(u, int) or u < 1
               for u in units):
            raise ValueError(
                "Argument `units` must be a sequence of positive ints (the "
                f"hidden widths). Received: units={units!r}."
            )
        if reversed_variables not in ("model", "shared"):
            raise ValueError(
                "Argument `reversed_variables` must be 'model' (trunk and "
                "task heads) or 'shared' (trunk only). Received: "
                f"reversed_variables={reversed_variables!r}."
            )
        self.reversed_variables = reversed_variables
        self.strength = float(strength)
        self.units = units
        self.activation = activation
        self.normalize = bool(normalize)
        self.seed = seed
        self.num_tasks = 0
        self.features = 0
        self.hidden_layers: list[keras.layers.Layer] = []
        self.classifier: keras.layers.Layer | None = None

    def bind(self, model: Any) -> None:
        """Checks `model` and builds the auxiliary network for it."""
        layer = model.representation_layer
        if layer is None:
            raise ValueError(
                f"GREAT needs a single shared representation, but model "
                f"{model.name!r} has none (`representation=` is unset; MMoE, "
                "PLE, cross-stitch or sharing_depth=0 feed the tasks from "
                "several tensors). Build a hard-sharing model with "
                "sharing_depth >= 1, or pass `representation=` to "
                "MultiTaskModel."
            )
        num_tasks = len(model.tasks)
        if num_tasks < 2:
            raise ValueError(
                "GREAT tells tasks apart by their gradients and needs at "
                f"least 2 tasks. Model {model.name!r} has {num_tasks}."
            )
        shape = tuple(layer.output.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(
                f"GREAT needs a representation of static shape; layer "
                f"{layer.name!r} outputs (batch, {shape})."
            )
        features = 1
        for d in shape:
            features *= int(d)
        if self.built:
            if num_tasks != self.num_tasks or features != self.features:
                raise ValueError(
                    f"GREAT {self.name!r} is built for {self.num_tasks} "
                    f"tasks and {self.features} representation features, "
                    f"not {num_tasks} and {features}. Create a new instance."
                )
            return
        self.build_from_config(
            {"features": features, "num_tasks": num_tasks})

    def build_from_config(self, config: dict[str, Any]) -> None:
        """Creates the auxiliary network for `features` inputs and
        `num_tasks` classes."""
        if not config or getattr(self, "built", False):
            return
        self.features = int(config["features"])
        self.num_tasks = int(config["num_tasks"])
        seed = self.seed
        width = self.features
        for i, units in enumerate(self.units):
            dense = keras.layers.Dense(
                units, activation=self.activation, dtype="float32",
                kernel_initializer=keras.initializers.GlorotUniform(
                    None if seed is None else seed + i),
                name=f"hidden_{i}")
            dense.build((None, width))
            self.hidden_layers.append(dense)
            width = units
        self.classifier = keras.layers.Dense(
            self.num_tasks, dtype="float32",
            kernel_initializer=keras.initializers.GlorotUniform(
                None if seed is None else seed + len(self.units)),
            name="task_logits")
        self.classifier.build((None, width))
        self.auxiliary_loss = self.add_weight(
            shape=(), initializer="zeros", trainable=False,
            aggregation="mean", name="auxiliary_loss")
        self.auxiliary_accuracy = self.add_weight(
            shape=(), initializer="zeros", trainable=False,
            aggregation="mean", name="auxiliary_accuracy")
        self.built = True

    def get_build_config(self) -> dict[str, Any] | None:
        if not self.built:
            return None
        return {"features": self.features, "num_tasks": self.num_tasks}

    def call(self, gradients: Tensor) -> Tensor:
        """Task logits `[N, T]` for flattened representation gradients."""
        x = tf.cast(gradients, tf.float32)
        if self.normalize:
            x = tf.math.l2_normalize(x, axis=-1)
        if self.classifier is None:
            raise ValueError(
                f"GREAT {self.name!r} is not built yet: pass it to "
                "model.compile(gradient_regularizer=...), which builds it "
                "for the model's representation and tasks."
            )
        for layer in self.hidden_layers:
            x = layer(x)
        return self.classifier(x)

    def regularize(self, inputs: RegularizerInputs,
                   gradients: list) -> list:
        """Returns the step's gradients with GREAT's terms added.

        Args:
            inputs: The step's `RegularizerInputs` (batch, forward pass,
                task losses, variables).
            gradients: The step's (loss-scaled) gradients, aligned with
                `inputs.ownership.variables` (None for no gradient).
        """
        ownership = inputs.ownership
        y, sample_weight = inputs.y, inputs.sample_weight
        variables = ownership.variables
        adversaries = list(ownership.shared)
        if self.reversed_variables == "model":
            for task_variables in ownership.by_task.values():
                adversaries += task_variables
        own = self.trainable_variables
        names = list(ownership.by_task)
        with tf.GradientTape() as outer:
            with tf.GradientTape(persistent=True) as inner:
                outputs, representation = inputs.forward(inputs.x)
                totals, labelled = [], []
                for task_loss in inputs.task_losses:
                    name = task_loss.task.name
                    total, _, _, weights = task_loss(
                        y[name], outputs[name], sample_weight[name])
                    totals.append(total)
                    flat = tf.reshape(weights, [tf.shape(weights)[0], -1])
                    labelled.append(tf.reduce_any(flat > 0, axis=1))
            rows = []
            for t in range(len(names)):
                delta = inner.gradient(totals[t], representation)
                if delta is None:
                    delta = tf.zeros_like(representation)
                rows.append(tf.reshape(delta, [tf.shape(delta)[0], -1]))
            features = tf.concat(rows, axis=0)
            mask = tf.cast(tf.concat(labelled, axis=0), tf.float32)
            labels = tf.repeat(tf.range(len(names)), tf.shape(rows[0])[0])
            logits = self.call(features)
            entropy = keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True)
            count = tf.maximum(tf.reduce_sum(mask), 1.0)
            loss = tf.reduce_sum(entropy * mask) / count
            scaled = inputs.scale_loss(loss * inputs.replica_scale)
        del inner
        found = outer.gradient(scaled, own + adversaries)
        hits = tf.cast(tf.equal(
            tf.argmax(logits, axis=-1, output_type=labels.dtype), labels),
            tf.float32)
        self.auxiliary_loss.assign(loss)
        self.auxiliary_accuracy.assign(tf.reduce_sum(hits * mask) / count)
        extra = {}
        for v, g in zip(own, found[:len(own)]):
            if g is not None:
                extra[id(v)] = g
        for v, g in zip(adversaries, found[len(own):]):
            if g is not None:
                extra[id(v)] = -self.strength * tf.cast(g, v.dtype)
        combined = []
        for v, g in zip(variables, gradients):
            term = extra.get(id(v))
            if term is None:
                combined.append(g)
            elif g is None:
                combined.append(term)
            else:
                combined.append(g + tf.cast(term, g.dtype))
        return combined

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "strength": self.strength,
            "units": list(self.units),
            "activation": self.activation,
            "normalize": self.normalize,
            "reversed_variables": self.reversed_variables,
            "seed": self.seed,
        })
        return config
