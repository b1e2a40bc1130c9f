"""Masked per-task losses: the mean over labelled entries, never the batch.

Keras's default reduction divides a task's summed loss by the batch size, so
a task labelled on 10% of a batch silently gets a tenth of the weight. Here a
task's loss is `sum(mask * w * l) / sum(mask * w)` where `mask` marks the
labelled entries (sentinel and NaN labels are missing) and `w` is the
optional per-task sample weight. A task with no labelled entry in a batch
contributes exactly 0 and a zero (finite) gradient.

Inputs that could be misread are made unambiguous:

- a NaN sample weight marks that sample as unlabelled for the task, like
  a missing label (it would otherwise enter the count and, with an
  aggregator, every Jacobian row through `divide_no_nan`'s gradient);
- a negative sample weight is an error naming the task (the loss could
  flip sign), and so is an infinite label or sample weight (NaN is the
  missing-value marker; an Inf is a broken value, and reading it as
  "missing" would drop it without a word); the checks run in the step
  (datasets included) and are dropped by XLA (`jit_compile=True`), where
  negative weights count as 0 and infinite values as missing;
- bool labels mean 0/1 and are never compared with the missing-label
  sentinel (`-1` cast to bool would be True);
- labels whose rank Keras no longer knows (a `fit` with labels of shape
  `(N,)` after one with `(N, 1)` retraces with an unknown rank) are
  reshaped to the head's output.
"""

import inspect
import math
import types
from typing import Any
from typing import Callable

import keras
import tensorflow as tf

from keras_mtl.tasks import Task
from keras_mtl.types import Tensor

# Mark the step's input assertions so that `fit` can name the task.
NEGATIVE_WEIGHT_MARKER = "keras_mtl.negative_sample_weight"
INFINITE_VALUE_MARKER = "keras_mtl.infinite_value"

# Losses that are a mean over the last axis of per-entry terms: computing them
# on a trailing axis of size one gives one value per label entry, which lets
# multilabel and multi-target regression tasks mask single entries.
_ELEMENTWISE_FUNCTIONS = (
    keras.losses.binary_crossentropy,
    keras.losses.binary_focal_crossentropy,
    keras.losses.mean_squared_error,
    keras.losses.mean_absolute_error,
    keras.losses.mean_absolute_percentage_error,
    keras.losses.mean_squared_logarithmic_error,
    keras.losses.huber,
    keras.losses.log_cosh,
)
_ELEMENTWISE_CLASSES = (
    keras.losses.BinaryCrossentropy,
    keras.losses.BinaryFocalCrossentropy,
    keras.losses.MeanSquaredError,
    keras.losses.MeanAbsoluteError,
    keras.losses.MeanAbsolutePercentageError,
    keras.losses.MeanSquaredLogarithmicError,
    keras.losses.Huber,
    keras.losses.LogCosh,
)


def _with_autograph(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A user's loss function, converted by AutoGraph.

    The steps are traced without AutoGraph (`MultiTaskModel.train_step`),
    so a user's `if tf.reduce_mean(y) > 0:` would fail at trace time where
    plain Keras converts it; the user's own function is converted here, as
    Keras would. Keras's and TensorFlow's losses need no conversion. A
    callable AutoGraph cannot convert is used as it is (Python control flow
    on tensors then fails loudly at trace time).
    """
    module = getattr(fn, "__module__", None) or ""
    if module.split(".")[0] in ("keras", "tensorflow", "keras_mtl"):
        return fn
    try:
        if inspect.ismethod(fn):  # a Loss subclass's `call`
            return types.MethodType(tf.autograph.to_graph(fn.__func__),
                                    fn.__self__)
        if inspect.isfunction(fn):
            return tf.autograph.to_graph(fn)
    except Exception:  # noqa: BLE001 - a callable AutoGraph cannot read
        pass
    return fn


def _resolve(spec: Any, task: Task) -> tuple[Callable[..., Tensor], bool]:
    """Returns an unreduced loss function and whether it is per entry."""
    if isinstance(spec, keras.losses.Loss):
        return _with_autograph(spec.call), isinstance(
            spec, _ELEMENTWISE_CLASSES)
    fn = keras.losses.get(spec) if isinstance(spec, (str, dict)) else spec
    if not callable(fn):
        raise ValueError(
            f"Task {task.name!r}: could not interpret loss {spec!r}. Pass a "
            "Keras loss id such as 'mse', a loss function, or a "
            "`keras.losses.Loss` instance."
        )
    if isinstance(fn, keras.losses.Loss):
        return _with_autograph(fn.call), isinstance(fn, _ELEMENTWISE_CLASSES)
    return _with_autograph(fn), any(fn is f for f in _ELEMENTWISE_FUNCTIONS)


class MaskedTaskLoss:
    """The masked loss of one task.

    Calling it returns `(total, count)`: the sum of the per-entry losses over
    labelled entries (times their sample weights) and the sum of the weights
    of those entries. The model divides by the count summed over replicas,
    so that the loss is exact under `tf.distribute` too.

    Args:
        task: The `Task`.
        loss: The loss spec (defaults to `task.loss`).
    """

    def __init__(self, task: Task, loss: Any = None) -> None:
        self.task = task
        self.spec = task.loss if loss is None else loss
        self.fn, self.elementwise = _resolve(self.spec, task)
        # Labels not aligned entry by entry with the output (class
        # indices, a custom task's ids): declared on the task, never
        # guessed from the loss's name (keras_mtl.tasks.label_rules).
        self.sparse = task.labels_are_indices or (
            task.label_shape is not None)

    def expected_label_shape(self, y_pred: Tensor) -> tuple:
        """Per-sample label shape for a head output like `y_pred`."""
        pred_shape = tuple(y_pred.shape[1:])
        if self.task.label_shape is not None:
            return tuple(self.task.label_shape)
        if self.task.labels_are_indices:
            return pred_shape[:-1] + (1,)
        return pred_shape

    def prepare(
        self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Returns `(safe_labels, entry_weights)`.

        Missing labels are replaced by 0 (so that the loss and its gradient
        stay finite) and get weight 0. `entry_weights` has the label's shape
        for per-entry losses, and `[batch]` otherwise.
        """
        task = self.task
        y_true = tf.convert_to_tensor(y_true)
        if y_true.dtype == tf.bool:  # True/False are 1/0, never missing
            y_true = tf.cast(y_true, tf.float32)
            missing = None
        else:
            missing = task.missing_label
        expected = self.expected_label_shape(y_pred)
        if y_true.shape.rank is None:  # retraced with a relaxed shape
            y_true = tf.reshape(y_true, tf.concat([tf.shape(y_pred)[:1], [
                -1 if d is None else d for d in expected]], axis=0))
        elif y_true.shape.rank == len(expected) and expected[-1] == 1:
            if task.labels_are_indices and task.label_shape is None:
                # `(batch,)` class indices stay as given: sparse losses
                # and metrics take them so (no expand and squeeze back
                # for every task on every step).
                expected = expected[:-1]
            else:
                y_true = tf.expand_dims(y_true, -1)
        self._check_shape(y_true, y_pred, expected)
        valid = None  # every entry, until a rule below says otherwise
        if y_true.dtype.is_floating:
            self._assert_no_infinity(y_true, "label")
            valid = tf.math.is_finite(y_true)
        if missing is not None and not math.isnan(missing):
            present = tf.not_equal(y_true, tf.cast(missing, y_true.dtype))
            valid = present if valid is None else valid & present
        if valid is None:
            valid = tf.ones_like(y_true, dtype=tf.bool)
            y_safe = y_true
        else:
            y_safe = tf.where(valid, y_true, tf.zeros((), y_true.dtype))
        if (self.sparse or not self.elementwise) and valid.shape.rank > 1:
            # One flag per sample: all of its entries are labelled.
            valid = tf.reduce_all(valid, axis=list(range(1, valid.shape.rank)))
        if sample_weight is not None:
            sw = tf.reshape(tf.cast(sample_weight, tf.float32),
                            [-1] + [1] * (valid.shape.rank - 1))
            self._assert_non_negative(sw)
            self._assert_no_infinity(sw, "sample weight")
            # NaN weight: that sample is unlabelled for this task.
            valid = tf.logical_and(valid, tf.math.is_finite(sw))
            weights = tf.where(valid, tf.maximum(sw, 0.0), 0.0)
        else:
            weights = tf.cast(valid, tf.float32)
        return y_safe, weights

    def _assert_no_infinity(self, values: Tensor, what: str) -> None:
        tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(tf.math.is_inf(values))),
            [tf.constant(f"{INFINITE_VALUE_MARKER}{{{self.task.name}}}"
                         f"{{{what}}}")])

    def _assert_non_negative(self, sample_weight: Tensor) -> None:
        tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(sample_weight < 0.0)),
            [tf.constant(f"{NEGATIVE_WEIGHT_MARKER}{{{self.task.name}}}"),
             tf.reduce_min(sample_weight)])

    def __call__(
        self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns `(total, count, safe_labels, entry_weights)`.

        A task without a loss (`supervised=False`) gives `total = count =
        0`; its labels, when given, feed only its metrics."""
        if not self.task.supervised:
            return self._unsupervised(y_true, y_pred, sample_weight)
        y_safe, weights = self.prepare(y_true, y_pred, sample_weight)
        if self.elementwise and not self.sparse:
            per_entry = self.fn(
                tf.cast(y_safe, y_pred.dtype)[..., None], y_pred[..., None])
        else:
            labels = y_safe if self.sparse else tf.cast(y_safe, y_pred.dtype)
            per_entry = self.fn(labels, y_pred)
        per_entry = tf.cast(per_entry, tf.float32)
        labelled = weights > 0
        total = tf.reduce_sum(
            tf.where(labelled, per_entry * weights, 0.0))
        return total, tf.reduce_sum(weights), y_safe, weights

    def _unsupervised(
        self, y_true: Tensor | None, y_pred: Tensor,
        sample_weight: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        zero = tf.zeros((), tf.float32)
        if y_true is not None:
            y_safe, weights = self.prepare(y_true, y_pred, sample_weight)
            return zero, zero, y_safe, weights
        batch = tf.shape(y_pred)[:1]
        shape = tf.concat([batch, self.expected_label_shape(y_pred)], 0)
        per_entry = self.elementwise and not self.sparse
        weights = tf.zeros(shape if per_entry else batch, tf.float32)
        return zero, zero, tf.zeros(shape, y_pred.dtype), weights

    def _check_shape(
        self, y_true: Tensor, y_pred: Tensor, expected: tuple
    ) -> None:
        label_shape = tuple(y_true.shape[1:])
        pred_shape = tuple(y_pred.shape[1:])
        if len(label_shape) != len(expected) or any(
            a is not None and b is not None and a != b
            for a, b in zip(label_shape, expected)
        ):
            hint = (
                "class indices of shape (batch,) or (batch, 1)"
                if self.task.labels_are_indices else f"labels of shape "
                f"(batch, {', '.join(str(d) for d in expected)})"
            )
            raise ValueError(
                f"Task {self.task.name!r}: labels of shape (batch, "
                f"{', '.join(str(d) for d in label_shape)}) do not fit the "
                f"head's output of shape (batch, "
                f"{', '.join(str(d) for d in pred_shape)}). Pass {hint}"
                + (
                    ", or one-hot labels with "
                    "loss='categorical_crossentropy'."
                    if self.task.labels_are_indices else
                    ", or declare the task's own label shape, e.g. "
                    "Task(..., label_shape=(1,)) for ids."
                    if self.task.kind == "custom" else "."
                )
            )
