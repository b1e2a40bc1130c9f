"""`SoftSharing`: per-task columns tied by an L2 penalty on their weights."""

import math
from typing import Any
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_mtl.layers.task_covariance import centered_basis
from keras_mtl.layers.task_covariance import deviation_penalty
from keras_mtl.registry import register
from keras_mtl.types import Tensor

LEARN = "learn"


def check_relation(relation: Any, num_tasks: int) -> list[list[float]]:
    """Validates a task-relation matrix; returns it as nested lists.

    `None` ties every pair of tasks with weight 1.
    """
    if isinstance(relation, str):
        raise ValueError(
            f"Argument `relation` must be None, a {num_tasks} x {num_tasks} "
            f"matrix or {LEARN!r} (learn it). Received: relation="
            f"{relation!r}."
        )
    if relation is None:
        return [[0.0 if i == j else 1.0 for j in range(num_tasks)]
                for i in range(num_tasks)]
    try:
        rows = [[float(v) for v in row] for row in relation]
    except (TypeError, ValueError) as error:
        raise ValueError(
            "Argument `relation` must be a square matrix of floats (nested "
            f"lists or an array). Received: relation={relation!r}."
        ) from error
    if len(rows) != num_tasks or any(len(r) != num_tasks for r in rows):
        raise ValueError(
            f"Argument `relation` must be a {num_tasks} x {num_tasks} "
            "matrix (one row and column per task, in task order). Received "
            f"a matrix with rows of lengths {[len(r) for r in rows]}."
        )
    for i in range(num_tasks):
        for j in range(num_tasks):
            value = rows[i][j]
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    "Argument `relation` must hold finite values >= 0 (0: "
                    f"untied tasks). Received relation[{i}][{j}]={value}."
                )
            if not math.isclose(value, rows[j][i], rel_tol=1e-6,
                                abs_tol=1e-12):
                raise ValueError(
                    "Argument `relation` must be symmetric (tasks i and j "
                    f"are tied as strongly as j and i). Received "
                    f"relation[{i}][{j}]={value} but relation[{j}][{i}]="
                    f"{rows[j][i]}."
                )
    return [[0.0 if i == j else rows[i][j] for j in range(num_tasks)]
            for i in range(num_tasks)]


@register
class SoftSharing(keras.layers.Layer):
    """T task columns of the same architecture, tied by an L2 penalty.

    Each task has its own column (own weights). Corresponding weights of
    two columns are pulled together by

    ```
    penalty = strength * sum_{i<j} R_ij sum_k ||W_i^(k) - W_j^(k)||_F^2
    ```

    where `W_i^(k)` is the k-th trainable weight of column i (kernels and
    biases) and `R` the task-relation matrix (default: 1 for every pair).
    The penalty is added with `add_loss` (so `fit` minimises it with the
    task losses) and logged as `<layer name>_penalty`
    (`soft_sharing_penalty` by default, `val_...` in validation).

    With `relation="learn"` the relation is learned jointly with the
    weights (multi-task relationship learning, Zhang & Yeung 2010): with
    `w_t` the flattened weights of column t and `w̄` their mean,

    ```
    W       = [w_1 - w̄, ..., w_T - w̄]              (deviations, [P, T])
    penalty = strength * tr(W Ω⁻¹ Wᵀ)
    Ω       = (Wᵀ W)^{1/2} / tr((Wᵀ W)^{1/2})       (closed form, each
                                                     training step)
    ```

    `Ω` (trace 1, rows summing to 0; `keras_mtl.layers.task_covariance`)
    is the covariance of the columns' deviations from the mean column:
    `Ω_ij > 0` when columns i and j move away from the average the same
    way, `< 0` when they move opposite ways. It is kept in the
    non-trainable variable `relation` (saved in `.keras` files and
    checkpoints; read it with `relation_matrix()`). With the uniform `Ω`
    (its starting value) the penalty is `(T - 1) / T` times the fixed one
    with every pair tied by 1. Columns
    are comparable only if they start from the same point (as the
    fine-tuned task layers of Long et al. 2017 do), so in this mode every
    column starts from column 0's initial weights.

    Called on one tensor (fed to every column) or on a list of T tensors
    (one per column); returns the list of T column outputs.

    Args:
        columns: Sequence of T Keras layers or models of the same
            architecture, one per task, in task order.
        strength: float >= 0. The penalty strength lambda.
        relation: Optional T x T symmetric non-negative matrix; entry
            (i, j) says how strongly tasks i and j are tied (0: untied).
            The diagonal is ignored. `"learn"` learns the task covariance
            (needs T >= 2).
        epsilon: float > 0. Learned mode: eigenvalue floor of the
            deviations' Gram matrix, relative to its mean eigenvalue
            (keeps `Ω` invertible). Defaults to 1e-6.
        **kwargs: Base `keras.layers.Layer` arguments (default name
            `"soft_sharing"`).

    Example:

    ```python
    columns = [keras.Sequential([keras.layers.Dense(32, activation="relu")])
               for _ in range(2)]
    a, b = keras_mtl.layers.SoftSharing(columns, strength=1e-2)(x)
    ```

    References:
    - Duong, Cohn, Bird, Cook (2015). Low Resource Dependency Parsing:
      Cross-lingual Parameter Sharing in a Neural Network Parser. ACL.
    - Ruder (2017). An Overview of Multi-Task Learning in Deep Neural
      Networks. arXiv:1706.05098.
    - Zhang, Yeung (2010). A Convex Formulation for Learning Task
      Relationships in Multi-Task Learning. UAI. arXiv:1203.3536.
    - Long, Cao, Wang, Yu (2017). Learning Multiple Tasks with
      Multilinear Relationship Networks. NeurIPS. arXiv:1506.02117.
    """

    def __init__(
        self,
        columns: Sequence[keras.layers.Layer],
        strength: float = 1e-2,
        relation: Any = None,
        epsilon: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", "soft_sharing")
        super().__init__(**kwargs)
        columns = list(columns)
        if not columns or not all(
                isinstance(c, keras.layers.Layer) for c in columns):
            raise TypeError(
                "Argument `columns` must be a non-empty list of Keras "
                f"layers, one per task. Received: {columns!r}."
            )
        if isinstance(strength, bool) or not isinstance(
                strength, (int, float)) or not math.isfinite(strength) \
                or strength < 0:
            raise ValueError(
                "Argument `strength` must be a finite float >= 0. Received: "
                f"strength={strength!r}."
            )
        self.columns = columns
        self.strength = float(strength)
        self.learns_relation = isinstance(relation, str) and relation == LEARN
        if self.learns_relation and len(columns) < 2:
            raise ValueError(
                "relation='learn' relates two or more tasks; layer "
                f"{self.name!r} has {len(columns)} column. Pass "
                "relation=None."
            )
        if isinstance(epsilon, bool) or not isinstance(
                epsilon, (int, float)) or not math.isfinite(epsilon) \
                or epsilon <= 0:
            raise ValueError(
                "Argument `epsilon` must be a finite float > 0. Received: "
                f"epsilon={epsilon!r}."
            )
        self.epsilon = float(epsilon)
        self.relation = None if self.learns_relation else check_relation(
            relation, len(columns))
        self.relation_variable: keras.Variable | None = None
        self.penalty_tracker = keras.metrics.Mean(name=f"{self.name}_penalty")

    def build(self, input_shape: Any) -> None:
        shapes = input_shape
        if not (isinstance(shapes, (list, tuple)) and shapes
                and isinstance(shapes[0], (list, tuple))):
            shapes = [input_shape] * len(self.columns)
        if len(shapes) != len(self.columns):
            raise ValueError(
                f"Layer {self.name!r} (SoftSharing) has {len(self.columns)} "
                f"columns but was called on {len(shapes)} inputs. Pass one "
                "tensor (shared by all columns) or one per column."
            )
        for column, shape in zip(self.columns, shapes):
            if not column.built:
                column.build(tuple(shape))
        reference = [tuple(w.shape) for w in self.columns[0].trainable_weights]
        for i, column in enumerate(self.columns[1:], start=1):
            found = [tuple(w.shape) for w in column.trainable_weights]
            if found != reference:
                raise ValueError(
                    f"Layer {self.name!r} (SoftSharing): column {i} "
                    f"({column.name!r}) has weights of shapes {found}, "
                    f"column 0 ({self.columns[0].name!r}) {reference}. "
                    "Soft sharing ties corresponding weights, so every "
                    "column needs the same architecture."
                )
        if self.learns_relation:
            self._build_learned_relation()

    def _build_learned_relation(self) -> None:
        num_tasks = len(self.columns)
        basis = centered_basis(num_tasks)
        self._basis = basis.astype("float32")
        start = basis @ basis.T / (num_tasks - 1)  # uniform: trace 1
        self.relation_variable = self.add_weight(
            name="relation", shape=(num_tasks, num_tasks),
            initializer=keras.initializers.Constant(start),
            trainable=False, aggregation="mean")
        for column in self.columns[1:]:  # one starting point
            for w, w0 in zip(column.trainable_weights,
                             self.columns[0].trainable_weights):
                w.assign(w0)

    def relation_matrix(self) -> np.ndarray:
        """The `[T, T]` relation: learned `Ω` or the fixed matrix."""
        if self.learns_relation:
            if self.relation_variable is None:
                raise ValueError(
                    f"Layer {self.name!r} is not built yet: call it (or "
                    "build the model) before reading its relation."
                )
            return np.asarray(self.relation_variable.numpy(), np.float64)
        return np.asarray(self.relation, np.float64)

    def _learned_penalty(self, update: bool) -> Tensor:
        value, omega, finite = deviation_penalty(
            [c.trainable_weights for c in self.columns], self._basis,
            self.epsilon)
        if update:
            old = tf.cast(self.relation_variable, tf.float32)
            self.relation_variable.assign(tf.where(finite, omega, old))
        return self.strength * value

    def penalty(self) -> Tensor:
        """The current penalty (a float32 scalar, `strength` included)."""
        if self.learns_relation:
            return self._learned_penalty(update=False)
        total = ops.zeros((), dtype="float32")
        weights = [c.trainable_weights for c in self.columns]
        for i in range(len(self.columns)):
            for j in range(i + 1, len(self.columns)):
                tie = self.relation[i][j]
                if tie == 0.0:
                    continue
                for a, b in zip(weights[i], weights[j]):
                    diff = ops.cast(a, "float32") - ops.cast(b, "float32")
                    total = total + tie * ops.sum(ops.square(diff))
        return self.strength * total

    def call(self, inputs: Tensor | Sequence[Tensor],
             training: bool | None = None) -> list[Tensor]:
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs] * len(self.columns)
        outputs = [column(x, training=training)
                   for column, x in zip(self.columns, inputs)]
        if self.learns_relation:
            penalty = self._learned_penalty(update=bool(training))
        else:
            penalty = self.penalty()
        self.add_loss(penalty)
        self.penalty_tracker.update_state(penalty)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> list[tuple]:
        shapes = input_shape
        if not (isinstance(shapes, (list, tuple)) and shapes
                and isinstance(shapes[0], (list, tuple))):
            shapes = [input_shape] * len(self.columns)
        return [tuple(c.compute_output_shape(tuple(s)))
                for c, s in zip(self.columns, shapes)]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "columns": [keras.saving.serialize_keras_object(c)
                        for c in self.columns],
            "strength": self.strength,
            "relation": LEARN if self.learns_relation else [
                list(r) for r in self.relation],
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SoftSharing":
        config = dict(config)
        config["columns"] = [keras.saving.deserialize_keras_object(c)
                             for c in config["columns"]]
        return cls(**config)
