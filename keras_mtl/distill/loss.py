"""The distillation loss: the task loss blended with the teacher's.

`DistillationLoss` is a `MaskedTaskLoss` whose target is
`{"label": y, "teacher": q}` (see `keras_mtl.distill`, whose docstring
gives the formula and the references); `distillation_losses` makes one per
task of a student for `student.compile(loss=...)`.
"""

from typing import Any
from typing import Mapping

import keras
import tensorflow as tf

from keras_mtl.losses import MaskedTaskLoss
from keras_mtl.model import MultiTaskModel
from keras_mtl.registry import register
from keras_mtl.tasks import Task
from keras_mtl.types import Tensor

LABEL_KEY = "label"
TEACHER_KEY = "teacher"
_EPSILON = 1e-7



def soft_target_divergence(
    kind: str, teacher: Tensor, student: Tensor, temperature: float
) -> Tensor:
    """The distillation term `D(q, p)` per sample or per entry.

    Args:
        kind: The task kind (`"binary"`, `"multilabel"`, `"multiclass"`,
            `"regression"`).
        teacher: Teacher predictions `q` (probabilities or values).
        student: Student predictions `p`, same shape.
        temperature: float > 0.

    Returns:
        `[batch]` for multiclass, the prediction's shape otherwise.
    """
    q = tf.cast(teacher, tf.float32)
    p = tf.cast(student, tf.float32)
    if kind == "regression":
        return tf.square(q - p)
    t = tf.constant(temperature, tf.float32)
    q = tf.clip_by_value(q, _EPSILON, 1.0 - _EPSILON)
    p = tf.clip_by_value(p, _EPSILON, 1.0 - _EPSILON)
    if kind == "multiclass":
        log_q = tf.nn.log_softmax(tf.math.log(q) / t, axis=-1)
        log_p = tf.nn.log_softmax(tf.math.log(p) / t, axis=-1)
        kl = tf.reduce_sum(tf.exp(log_q) * (log_q - log_p), axis=-1)
    else:
        z_q = (tf.math.log(q) - tf.math.log1p(-q)) / t
        z_p = (tf.math.log(p) - tf.math.log1p(-p)) / t
        q_t = tf.sigmoid(z_q)
        kl = (q_t * (tf.math.log_sigmoid(z_q) - tf.math.log_sigmoid(z_p))
              + (1.0 - q_t) * (tf.math.log_sigmoid(-z_q)
                               - tf.math.log_sigmoid(-z_p)))
    return kl * t * t


@register
class DistillationLoss(MaskedTaskLoss):
    """`alpha * task loss + (1 - alpha) * distillation loss` for one task.

    Labels come as `{"label": y, "teacher": q}` (see `distillation_targets`).
    Per entry `i` (a sample, or a label entry of per-entry tasks) with
    sample weight `w_i`, label mask `m_i` and teacher mask `n_i` (finite
    teacher prediction):

    ```
    total = sum_i w_i * (alpha * m_i * task_i + (1 - alpha) * n_i * D_i)
    count = sum_i w_i * max(m_i, n_i)
    L     = total / count
    ```

    which is exactly `alpha * task + (1 - alpha) * D` averaged over the
    batch when every sample has a label and a teacher prediction. With
    `distill_unlabeled=False`, `n_i` is also zero where the label is
    missing. Given plain labels (no teacher), it is the task's masked loss,
    so `evaluate` on ordinary labels reports the task loss.

    Args:
        task: The student's `Task` (binary, multiclass, multilabel or
            regression).
        alpha: float in [0, 1]. Weight of the task loss.
        temperature: float > 0. Softening temperature for classification.
        loss: Optional task loss overriding `task.loss`.
        distill_unlabeled: bool. Distil on samples without a label.
    """

    def __init__(
        self,
        task: Task,
        alpha: float = 0.5,
        temperature: float = 2.0,
        loss: Any = None,
        distill_unlabeled: bool = True,
    ) -> None:
        if task.kind == "custom":
            raise ValueError(
                f"Task {task.name!r}: distillation needs a known kind "
                "(binary, multiclass, multilabel or regression) to pick the "
                "soft-target loss. Received kind='custom'.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(
                f"Task {task.name!r}: argument `alpha` must be in [0, 1]. "
                f"Received: alpha={alpha}.")
        if not temperature > 0:
            raise ValueError(
                f"Task {task.name!r}: argument `temperature` must be > 0. "
                f"Received: temperature={temperature}.")
        super().__init__(task, loss)
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.loss = loss
        self.distill_unlabeled = bool(distill_unlabeled)

    def __call__(
        self, y_true: Any, y_pred: Tensor, sample_weight: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if not isinstance(y_true, Mapping):
            return super().__call__(y_true, y_pred, sample_weight)
        if set(y_true) != {LABEL_KEY, TEACHER_KEY}:
            raise ValueError(
                f"Task {self.task.name!r}: distillation targets must be a "
                f"dict with keys {LABEL_KEY!r} and {TEACHER_KEY!r}. Received "
                f"keys {sorted(y_true)}. Build them with "
                "keras_mtl.distill.distillation_targets(labels, teacher).")
        y_safe, label_weights = self.prepare(
            y_true[LABEL_KEY], y_pred, sample_weight)
        teacher = tf.cast(y_true[TEACHER_KEY], tf.float32)
        if teacher.shape.rank == y_pred.shape.rank - 1:
            teacher = tf.expand_dims(teacher, -1)
        per_entry = label_weights.shape.rank > 1
        if self.elementwise and not self.sparse:
            task_term = self.fn(tf.cast(y_safe, y_pred.dtype)[..., None],
                                y_pred[..., None])
        else:
            labels = y_safe if self.sparse else tf.cast(y_safe, y_pred.dtype)
            task_term = self.fn(labels, y_pred)
        task_term = tf.cast(task_term, tf.float32)
        finite = tf.math.is_finite(teacher)
        distill = soft_target_divergence(
            self.task.kind, tf.where(finite, teacher, tf.zeros_like(teacher)),
            y_pred, self.temperature)
        if not per_entry:
            finite = tf.reduce_all(
                tf.reshape(finite, [tf.shape(finite)[0], -1]), axis=-1)
            if distill.shape.rank > 1:
                distill = tf.reduce_mean(
                    tf.reshape(distill, [tf.shape(distill)[0], -1]), axis=-1)
        teacher_weights = tf.cast(finite, tf.float32)
        if sample_weight is not None:
            sw = tf.cast(sample_weight, tf.float32)
            teacher_weights = teacher_weights * tf.reshape(
                sw, [-1] + [1] * (teacher_weights.shape.rank - 1))
        if not self.distill_unlabeled:
            teacher_weights = teacher_weights * tf.cast(
                label_weights > 0, tf.float32)
        zeros = tf.zeros_like(task_term)
        total = tf.reduce_sum(
            self.alpha * tf.where(label_weights > 0,
                                  label_weights * task_term, zeros)
            + (1.0 - self.alpha) * tf.where(
                teacher_weights > 0, teacher_weights * distill, zeros))
        count = tf.reduce_sum(tf.maximum(label_weights, teacher_weights))
        return total, count, y_safe, label_weights

    def get_config(self) -> dict[str, Any]:
        serialize = keras.saving.serialize_keras_object
        return {
            "task": serialize(self.task),
            "alpha": self.alpha,
            "temperature": self.temperature,
            "loss": None if self.loss is None else serialize(self.loss),
            "distill_unlabeled": self.distill_unlabeled,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DistillationLoss":
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        config["task"] = deserialize(config["task"])
        if config.get("loss") is not None:
            config["loss"] = deserialize(config["loss"])
        return cls(**config)


def distillation_losses(
    student: MultiTaskModel,
    alpha: float | Mapping[str, float] = 0.5,
    temperature: float | Mapping[str, float] = 2.0,
    distill_unlabeled: bool = True,
) -> dict[str, DistillationLoss]:
    """`{task: DistillationLoss}` for `student.compile(loss=...)`.

    Args:
        student: The multi-task student.
        alpha: One float or `{task: float}`.
        temperature: One float or `{task: float}`.
        distill_unlabeled: See `DistillationLoss`.
    """
    def pick(value: Any, name: str) -> float:
        return value[name] if isinstance(value, Mapping) else value

    return {
        task.name: DistillationLoss(
            task, pick(alpha, task.name), pick(temperature, task.name),
            distill_unlabeled=distill_unlabeled)
        for task in student.tasks}
