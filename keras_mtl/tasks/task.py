"""`Task`: what one head of a multi-task model predicts and how it learns.

A task is described by a name (the output key, the head's last layer name,
the export signature key and the log prefix) and a kind that brings a
default head, loss, metrics and missing-label convention, all overridable.
"""

import math
import re
from typing import Any
from typing import Sequence

import keras

from keras_mtl.registry import register
from keras_mtl.tasks import label_rules
from keras_mtl.tasks.heads import build_task_head
from keras_mtl.tasks.logits import logit_loss
from keras_mtl.types import KerasTensor

KINDS = ("binary", "multiclass", "multilabel", "regression", "custom")
TASK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

_DEFAULT_LOSS = {
    "binary": "binary_crossentropy",
    "multiclass": "sparse_categorical_crossentropy",
    "multilabel": "binary_crossentropy",
    "regression": "mean_squared_error",
}
_DEFAULT_METRICS = {
    "binary": ("auc", "accuracy"),
    "multiclass": ("accuracy",),
    "multilabel": ("auc", "accuracy"),
    "regression": ("mae", "rmse"),
    "custom": (),
}


def validate_task_name(name: Any) -> str:
    """Checks a task name against `^[a-z][a-z0-9_]*$` and returns it."""
    if not isinstance(name, str) or not TASK_NAME_PATTERN.match(name):
        raise ValueError(
            f"Invalid task name {name!r}. A task name is the output key, the "
            "head layer name, the export signature key and the log prefix, "
            "so it must match ^[a-z][a-z0-9_]*$ (lower case letters, digits "
            "and underscores, starting with a letter), e.g. 'income' or "
            "'left_digit'."
        )
    return name


@register
class Task:
    """One prediction target of a multi-task model.

    Kinds and their defaults:

    ```
    kind        output                      loss                      metrics
    binary      Dense(1, sigmoid)           binary_crossentropy       auc, accuracy
    multiclass  Dense(num_classes, softmax) sparse_categorical_ce     accuracy
    multilabel  Dense(num_labels, sigmoid)  binary_crossentropy       auc, accuracy
    regression  Dense(units)                mean_squared_error        mae, rmse
    custom      `head` (a user layer)       `loss` (required)         `metrics`
    ```

    Missing labels: a label equal to `missing_label` (default -1 for
    binary, multiclass and multilabel, whose valid labels are 0/1 or class
    indices; NaN for regression and custom tasks, so that the default
    never masks a valid number) or NaN (float labels of every kind) is
    missing, and so is a sample whose per-task `sample_weight` is 0.
    `missing_label=None` declares that no label is ever missing. A task's
    loss is the mean over the samples (for
    binary, multilabel and regression: the label entries) that carry a
    label, never over the whole batch.

    Args:
        name: str. The task name, matching `^[a-z][a-z0-9_]*$`.
        kind: str. One of `"binary"`, `"multiclass"`, `"multilabel"`,
            `"regression"`, `"custom"`.
        num_classes: int. Number of classes (multiclass only).
        num_labels: int. Number of binary labels (multilabel only).
        units: int. Number of regression targets (regression only).
            Defaults to 1.
        head_units: tuple of int. Hidden Dense widths of the head before
            its output layer. Defaults to `()`.
        head_activation: str. Activation of the hidden head layers.
        head_dropout: float. Dropout after each hidden head layer.
        head: A Keras layer used as the whole head (custom kind only).
        loss: A Keras loss (string id, function or `keras.losses.Loss`)
            overriding the kind's default. Its reduction is ignored: the
            task loss is always the mean over labelled entries.
        metrics: A list of Keras metrics (string ids or instances)
            overriding the kind's defaults. Strings `"accuracy"` and
            `"auc"` resolve to the variant that fits the kind.
        missing_label: float, NaN or None. The sentinel that marks a
            missing label (NaN in float labels is missing too); NaN: only
            NaN is missing; None: no label is missing. A value that is a
            valid label of the kind (0 or 1 for binary) is refused.
        label_shape: tuple of int or None. The shape of one sample's label
            when it differs from the head's output, e.g. `(1,)` for the
            item ids of an in-batch softmax retrieval loss whose head
            outputs `(64,)` embeddings. For custom tasks, and for
            multiclass tasks whose loss is not a Keras loss (`(1,)`: class
            indices, `(num_classes,)`: one-hot rows). None: the kind's rule
            (see `keras_mtl.tasks.label_rules`).
        from_logits: bool. The head emits logits (binary, multiclass,
            multilabel): the default head has no output activation, the
            default loss and the `"auc"`/`"accuracy"` metrics take logits,
            and `predict` returns logits. Defaults to False.
        inputs_from: tuple of task names. This task's head consumes those
            tasks' outputs (ESMM's pCTCVR = pCTR x pCVR) instead of the
            shared features: `head` (any kind) is called on the list of
            their outputs; without `head`, the default head is applied to
            their concatenation. Their towers stay theirs
            (`MultiTaskModel.task_layers`); the variables that several
            tasks' losses reach are aggregated as shared.
        supervised: bool. False for an output with no loss of its own
            (ESMM's pCVR): its labels may be left out of `fit` (given, they
            feed its metrics only), and it learns only through the tasks
            that consume it (`inputs_from`). Defaults to True.

    Example:

    ```python
    tasks = [
        keras_mtl.Task("income", kind="binary"),
        keras_mtl.Task("digit", kind="multiclass", num_classes=10,
                       head_units=(64,)),
        keras_mtl.Task("age", kind="regression"),
    ]
    ```
    """

    def __init__(
        self,
        name: str,
        kind: str = "binary",
        *,
        num_classes: int | None = None,
        num_labels: int | None = None,
        units: int | None = None,
        head_units: Sequence[int] = (),
        head_activation: str = "relu",
        head_dropout: float = 0.0,
        head: keras.layers.Layer | None = None,
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        missing_label: float | None = "default",  # type: ignore[assignment]
        label_shape: Sequence[int] | None = None,
        from_logits: bool = False,
        inputs_from: Sequence[str] = (),
        supervised: bool = True,
    ) -> None:
        self.name = validate_task_name(name)
        if kind not in KINDS:
            raise ValueError(
                f"Task {name!r}: argument `kind` must be one of {KINDS}. "
                f"Received: kind={kind!r}."
            )
        self.kind = kind
        self.num_classes = self._check_count(
            "num_classes", num_classes, kind == "multiclass", minimum=2)
        self.num_labels = self._check_count(
            "num_labels", num_labels, kind == "multilabel", minimum=1)
        if kind == "regression" and units is None:
            units = 1
        self.units = self._check_count(
            "units", units, kind == "regression", minimum=1)
        head_units = tuple(head_units or ())
        for width in head_units:
            if not isinstance(width, int) or width < 1:
                raise ValueError(
                    f"Task {name!r}: argument `head_units` must hold "
                    f"positive ints. Received: head_units={head_units!r}."
                )
        self.head_units = head_units
        self.head_activation = head_activation
        if not 0.0 <= head_dropout < 1.0:
            raise ValueError(
                f"Task {name!r}: argument `head_dropout` must be in [0, 1). "
                f"Received: head_dropout={head_dropout}."
            )
        self.head_dropout = float(head_dropout)
        self.inputs_from = self._check_inputs_from(inputs_from)
        self.supervised = bool(supervised)
        if kind == "custom":
            if head is None or loss is None:
                raise ValueError(
                    f"Task {name!r}: a custom task needs both `head` (a Keras "
                    "layer producing the prediction) and `loss`. Received: "
                    f"head={head!r}, loss={loss!r}."
                )
        elif head is not None and not self.inputs_from:
            raise ValueError(
                f"Task {name!r}: argument `head` is only for kind='custom' "
                f"(or a task with `inputs_from`). For kind={kind!r} use "
                "`head_units` to add hidden layers."
            )
        self.head = head
        self.from_logits = self._check_from_logits(from_logits)
        self.loss = logit_loss(name, loss if loss is not None
                               else _DEFAULT_LOSS[kind], self.from_logits)
        self.metrics = (
            tuple(metrics) if metrics is not None else _DEFAULT_METRICS[kind]
        )
        self.label_shape, self.labels_are_indices = (
            label_rules.check_label_shape(
                name, kind, label_shape, self.loss, self.num_classes))
        self.missing_label, self.missing_label_declared = (
            label_rules.resolve_missing_label(
                name, kind, missing_label, self.num_classes))

    def _check_count(
        self, arg: str, value: int | None, required: bool, minimum: int
    ) -> int | None:
        if not required:
            if value is not None:
                raise ValueError(
                    f"Task {self.name!r}: argument `{arg}` does not apply to "
                    f"kind={self.kind!r}. Remove it or change the kind."
                )
            return None
        if not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"Task {self.name!r}: kind={self.kind!r} needs `{arg}` as an "
                f"int >= {minimum}. Received: {arg}={value!r}."
            )
        return value

    @property
    def output_units(self) -> int | None:
        """Width of the head's output (None for custom heads)."""
        return {
            "binary": 1,
            "multiclass": self.num_classes,
            "multilabel": self.num_labels,
            "regression": self.units,
        }.get(self.kind)

    @property
    def sparse_labels(self) -> bool:
        """True when labels are class indices (one per sample)."""
        return self.labels_are_indices

    def _check_inputs_from(self, inputs_from: Any) -> tuple[str, ...]:
        if isinstance(inputs_from, str):
            inputs_from = (inputs_from,)
        sources = tuple(inputs_from or ())
        for source in sources:
            validate_task_name(source)
        if self.name in sources or len(set(sources)) != len(sources):
            raise ValueError(
                f"Task {self.name!r}: argument `inputs_from` must name "
                "other tasks, each once. Received: "
                f"inputs_from={sources!r}.")
        return sources

    def _check_from_logits(self, from_logits: Any) -> bool:
        if from_logits and self.kind not in (
                "binary", "multiclass", "multilabel"):
            raise ValueError(
                f"Task {self.name!r}: `from_logits` is for binary, "
                f"multiclass and multilabel tasks, not kind={self.kind!r}.")
        return bool(from_logits)

    def build_head(self, features: KerasTensor) -> KerasTensor:
        """Applies this task's head to `features`; returns the prediction.

        The last layer is named after the task. Under a mixed-precision
        policy the output layer computes in float32 for a stable loss.
        """
        return build_task_head(self, features)

    def get_config(self) -> dict[str, Any]:
        serialize = keras.saving.serialize_keras_object
        missing = self.missing_label
        return {
            "name": self.name,
            "kind": self.kind,
            "num_classes": self.num_classes,
            "num_labels": self.num_labels,
            "units": self.units,
            "head_units": list(self.head_units),
            "head_activation": self.head_activation,
            "head_dropout": self.head_dropout,
            "head": serialize(self.head) if self.head is not None else None,
            "loss": serialize(self.loss),
            "metrics": [serialize(m) for m in self.metrics],
            # JSON has no NaN: store it as a string.
            "missing_label": (
                label_rules.DEFAULT if not self.missing_label_declared
                else "nan" if missing is not None and math.isnan(missing)
                else missing
            ),
            "label_shape": (None if self.label_shape is None
                            else list(self.label_shape)),
            "from_logits": self.from_logits,
            "inputs_from": list(self.inputs_from),
            "supervised": self.supervised,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Task":
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        if config.get("head") is not None:
            config["head"] = deserialize(config["head"])
        config["loss"] = deserialize(config["loss"])
        config["metrics"] = [deserialize(m) for m in config["metrics"]]
        if config.get("label_shape") is not None:
            config["label_shape"] = tuple(config["label_shape"])
        config["inputs_from"] = tuple(config.get("inputs_from", ()))
        config["head_units"] = tuple(config["head_units"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, kind={self.kind!r})"


def validate_tasks(tasks: Sequence[Task]) -> tuple[Task, ...]:
    """Checks a task list and returns it as a tuple.

    Every builder, `MultiTaskModel` and the tuner call it, so a bad list
    fails the same way wherever it is passed.

    Args:
        tasks: A non-empty sequence of `keras_mtl.Task` with distinct names.

    Returns:
        The tasks as a tuple, in the given order.

    Raises:
        ValueError: The list is empty or two tasks share a name.
        TypeError: An entry is not a `keras_mtl.Task`.

    Example:

    ```python
    tasks = validate_tasks([Task("income", kind="binary"),
                            Task("age", kind="regression")])
    ```
    """
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError(
            "The task list is empty. Pass at least one `keras_mtl.Task`, "
            "e.g. [keras_mtl.Task('income', kind='binary')]."
        )
    for task in tasks:
        if not isinstance(task, Task):
            raise TypeError(
                f"Expected `keras_mtl.Task` objects in `tasks`. Received: "
                f"{task!r} of type {type(task).__name__}. Wrap it as "
                f"keras_mtl.Task(name, kind=...)."
            )
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Duplicate task name(s) {duplicates}. Every task needs a "
            "distinct name: it is the output key and the log prefix."
        )
    return tasks
