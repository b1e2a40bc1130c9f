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
_OUTPUT_ACTIVATION = {
    "binary": "sigmoid",
    "multiclass": "softmax",
    "multilabel": "sigmoid",
    "regression": "linear",
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
    binary, multiclass and multilabel; NaN for regression) or NaN (float
    labels of every kind) is missing, and so is a sample whose per-task
    `sample_weight` is 0. A task's loss is the mean over the samples (for
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
        missing_label: float or None. The sentinel that marks a missing
            label. NaN in float labels is always treated as missing.

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
        if kind == "custom":
            if head is None or loss is None:
                raise ValueError(
                    f"Task {name!r}: a custom task needs both `head` (a Keras "
                    "layer producing the prediction) and `loss`. Received: "
                    f"head={head!r}, loss={loss!r}."
                )
        elif head is not None:
            raise ValueError(
                f"Task {name!r}: argument `head` is only for kind='custom'. "
                f"For kind={kind!r} use `head_units` to add hidden layers."
            )
        self.head = head
        self.loss = loss if loss is not None else _DEFAULT_LOSS[kind]
        self.metrics = (
            tuple(metrics) if metrics is not None else _DEFAULT_METRICS[kind]
        )
        if missing_label == "default":
            missing_label = math.nan if kind == "regression" else -1.0
        self.missing_label = (
            None if missing_label is None else float(missing_label)
        )

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
        loss = self.loss
        name = loss if isinstance(loss, str) else getattr(
            loss, "__name__", type(loss).__name__)
        return "sparse" in str(name).lower()

    def build_head(self, features: KerasTensor) -> KerasTensor:
        """Applies this task's head to `features`; returns the prediction.

        The last layer is named after the task. Under a mixed-precision
        policy the output layer computes in float32 for a stable loss.
        """
        if self.kind == "custom":
            out = self.head(features)
            if self.head.name != self.name:
                out = keras.layers.Identity(name=self.name)(out)
            return out
        x = features
        for i, width in enumerate(self.head_units):
            x = keras.layers.Dense(
                width, activation=self.head_activation,
                name=f"{self.name}_head_{i}")(x)
            if self.head_dropout:
                x = keras.layers.Dropout(
                    self.head_dropout, name=f"{self.name}_head_dropout_{i}"
                )(x)
        policy = keras.config.dtype_policy().name
        out_dtype = "float32" if policy.startswith("mixed") else None
        return keras.layers.Dense(
            self.output_units, activation=_OUTPUT_ACTIVATION[self.kind],
            dtype=out_dtype, name=self.name)(x)

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
                "nan" if missing is not None and math.isnan(missing)
                else missing
            ),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Task":
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        if config.get("head") is not None:
            config["head"] = deserialize(config["head"])
        config["loss"] = deserialize(config["loss"])
        config["metrics"] = [deserialize(m) for m in config["metrics"]]
        if config.get("missing_label") == "nan":
            config["missing_label"] = math.nan
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
