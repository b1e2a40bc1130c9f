"""Knowledge distillation: single-task teachers into one multi-task student.

Train (or take) one single-task teacher per task, compute their predictions
once, then train a multi-task student on, per task,

```
L_t = alpha * task_loss(y, p) + (1 - alpha) * D(q, p)

D(q, p) = T^2 * KL(softmax(log q / T) || softmax(log p / T))   multiclass
        = T^2 * KL(Bern(sigmoid(logit q / T)) || Bern(sigmoid(logit p / T)))
                                                    binary, per label
        = (q - p)^2                                  regression, per target
```

with `q` the teacher's prediction, `p` the student's, `T` the temperature
(the `T^2` keeps the soft term's gradients on the scale of the hard one, as
in Hinton et al.). The student is an ordinary `MultiTaskModel`: compile it
with `loss=distillation_losses(student, alpha, temperature)` and fit it on
`distillation_targets(labels, teacher_predictions(...))`, so weightings,
aggregators and per-task logs work as usual. A sample without a task's
label still learns from the teacher (the task term is 0 there), so a
partly labelled transfer set is used in full.

Example:

```python
teachers = keras_mtl.distill.train_teachers(
    lambda task: keras_mtl.build(keras.Input((10,)), [task], trunk=(64,)),
    tasks, x, y, epochs=20)
cached = keras_mtl.distill.teacher_predictions(teachers, x)  # once
student = keras_mtl.build(keras.Input((10,)), tasks, trunk=(16,))
student.compile("adam", loss=keras_mtl.distill.distillation_losses(
    student, alpha=0.5, temperature=2.0))
student.fit(x, keras_mtl.distill.distillation_targets(y, cached), epochs=20)
print(keras_mtl.distill.format_report(keras_mtl.distill.distillation_report(
    student, teachers, x_test, y_test)))
```

References:
- Hinton, Vinyals, Dean (2015). Distilling the Knowledge in a Neural
  Network. NIPS Deep Learning Workshop. arXiv:1503.02531.
- Clark, Luong, Khandelwal, Manning, Le (2019). BAM! Born-Again Multi-Task
  Networks for Natural Language Understanding. ACL. arXiv:1907.04829.
"""

import time
from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_mtl.losses import MaskedTaskLoss
from keras_mtl.model import MultiTaskModel
from keras_mtl.registry import register
from keras_mtl.task_metric_objects import make_task_metrics
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


def _task_output(outputs: Any, name: str) -> Any:
    if isinstance(outputs, Mapping):
        if name not in outputs:
            raise ValueError(
                f"Teacher for task {name!r} has outputs {sorted(outputs)} "
                f"but none named {name!r}. Key the teacher by the task name "
                "its output carries.")
        return outputs[name]
    return outputs


def teacher_predictions(
    teachers: Mapping[str, keras.Model], x: Any, batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Each teacher's prediction of its task on `x`, computed once.

    Cache the result and pass it to `distillation_targets`: the teachers
    then run once, not once per epoch.

    Args:
        teachers: `{task: model}`; a model may output a tensor or a dict
            holding the task's key.
        x: Inputs (arrays or a dict of arrays), in the student's order.
        batch_size: Prediction batch size.

    Returns:
        `{task: float32 predictions}`.
    """
    out = {}
    for name, teacher in teachers.items():
        prediction = teacher.predict(x, batch_size=batch_size, verbose=0)
        out[name] = np.asarray(
            _task_output(prediction, name), dtype="float32")
    return out


def distillation_targets(
    labels: Mapping[str, Any], teacher: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Packs labels and cached teacher predictions for the student's fit.

    Args:
        labels: `{task: labels}` (missing labels allowed).
        teacher: `{task: predictions}` from `teacher_predictions`. A task
            without a teacher keeps its plain labels, and a NaN prediction
            leaves that entry to the task loss alone.

    Returns:
        `{task: {"label": labels, "teacher": predictions}}` (plain labels
        for tasks without a teacher).
    """
    unknown = sorted(set(teacher) - set(labels))
    if unknown:
        raise ValueError(
            f"Teacher predictions for task(s) {unknown} have no labels "
            f"entry (label tasks: {sorted(labels)}). Give every task a "
            "labels array, with missing labels marked by the sentinel.")
    out: dict[str, Any] = {}
    for name, y in labels.items():
        y = np.asarray(y)
        if name in teacher:
            q = np.asarray(teacher[name], dtype="float32")
            if len(q) != len(y):
                raise ValueError(
                    f"Task {name!r}: {len(y)} labels but {len(q)} teacher "
                    "predictions. Compute the predictions on the same "
                    "inputs, in the same order.")
            out[name] = {LABEL_KEY: y, TEACHER_KEY: q}
        else:
            out[name] = y  # no teacher: the task loss alone
    return out


def train_teachers(
    build_fn: Callable[[Task], keras.Model],
    tasks: Sequence[Task],
    x: Any,
    y: Mapping[str, Any],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: Any = "adam",
    verbose: int = 0,
    **fit_kwargs: Any,
) -> dict[str, MultiTaskModel]:
    """Trains one single-task teacher per task.

    Args:
        build_fn: `build_fn(task)` returns an uncompiled single-task
            `MultiTaskModel` (e.g. `keras_mtl.build(inputs, [task])`).
        tasks: The tasks.
        x: Training inputs.
        y: `{task: labels}` (missing labels allowed).
        epochs, batch_size, verbose, fit_kwargs: As in `fit`.
        optimizer: An optimizer id or instance (copied per teacher).

    Returns:
        `{task: trained teacher}`.
    """
    teachers = {}
    for task in tasks:
        model = build_fn(task)
        if not isinstance(model, MultiTaskModel) or model.task_names != (
                task.name,):
            raise ValueError(
                f"build_fn must return a single-task MultiTaskModel for "
                f"task {task.name!r}. Received: {model!r}.")
        opt = optimizer
        if isinstance(optimizer, keras.optimizers.Optimizer):
            opt = optimizer.__class__.from_config(optimizer.get_config())
        model.compile(opt)
        model.fit(x, {task.name: y[task.name]}, epochs=epochs,
                  batch_size=batch_size, verbose=verbose, **fit_kwargs)
        teachers[task.name] = model
    return teachers


def _latency_ms(model: keras.Model, batch: Any, repeats: int) -> float:
    for _ in range(2):
        model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def _task_metrics(task: Task, y: Any, prediction: Any) -> dict[str, float]:
    loss = MaskedTaskLoss(task)
    y_pred = tf.convert_to_tensor(np.asarray(prediction, "float32"))
    y_safe, weights = loss.prepare(np.asarray(y), y_pred, None)
    results = {}
    for metric in make_task_metrics(task):
        if weights.shape.rank > 1 and isinstance(
                metric, keras.metrics.MeanMetricWrapper):
            metric.update_state(y_safe[..., None], y_pred[..., None],
                                sample_weight=weights)
        else:
            metric.update_state(y_safe, y_pred, sample_weight=weights)
        results[metric.name] = float(metric.result())
    return results


def distillation_report(
    student: MultiTaskModel,
    teachers: Mapping[str, keras.Model],
    x: Any,
    y: Mapping[str, Any],
    *,
    batch_size: int = 256,
    repeats: int = 20,
) -> dict[str, dict[str, Any]]:
    """Student vs teachers: per-task metrics, parameters and latency.

    Latency is the median wall time of `predict_on_batch` on the first
    `batch_size` inputs over `repeats` calls (after two warm-up calls),
    measured for every model in this one run, so the numbers compare.
    "teachers (all)" adds the teachers up: what serving every task with
    the teachers costs.

    Returns:
        `{row: {"params": int, "latency_ms": float, "<task>_<metric>":
        float, ...}}` with rows `"student"`, `"teacher <task>"` and
        `"teachers (all)"`.
    """
    batch = _first_rows(x, batch_size)
    rows: dict[str, dict[str, Any]] = {}
    student_pred = student.predict(x, batch_size=batch_size, verbose=0)
    row: dict[str, Any] = {"params": int(student.count_params()),
                           "latency_ms": _latency_ms(student, batch,
                                                     repeats)}
    for task in student.tasks:
        row.update(_task_metrics(task, y[task.name], student_pred[task.name]))
    rows["student"] = row
    tasks = {t.name: t for t in student.tasks}
    total = {"params": 0, "latency_ms": 0.0}
    for name, teacher in teachers.items():
        prediction = _task_output(
            teacher.predict(x, batch_size=batch_size, verbose=0), name)
        row = {"params": int(teacher.count_params()),
               "latency_ms": _latency_ms(teacher, batch, repeats)}
        row.update(_task_metrics(tasks[name], y[name], prediction))
        rows[f"teacher {name}"] = row
        total["params"] += row["params"]
        total["latency_ms"] += row["latency_ms"]
        for key, value in row.items():
            if key.startswith(f"{name}_"):
                total[key] = value
    rows["teachers (all)"] = total
    return rows


def _first_rows(x: Any, count: int) -> Any:
    if isinstance(x, Mapping):
        return {k: np.asarray(v)[:count] for k, v in x.items()}
    return np.asarray(x)[:count]


def format_report(report: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of `distillation_report`'s rows."""
    columns: list[str] = []
    for row in report.values():
        for key in row:
            if key not in columns:
                columns.append(key)
    width = max(len(r) for r in report) + 2
    lines = ["".ljust(width) + "".join(c.rjust(16) for c in columns)]
    for name, row in report.items():
        cells = []
        for column in columns:
            value = row.get(column)
            if value is None:
                cells.append("-".rjust(16))
            elif isinstance(value, int):
                cells.append(f"{value:,}".rjust(16))
            else:
                cells.append(f"{value:.4f}".rjust(16))
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
