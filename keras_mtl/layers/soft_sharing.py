"""`SoftSharing`: per-task columns tied by an L2 penalty on their weights."""

import math
from typing import Any
from typing import Sequence

import keras
from keras import ops

from keras_mtl.registry import register
from keras_mtl.types import Tensor


def check_relation(relation: Any, num_tasks: int) -> list[list[float]]:
    """Validates a task-relation matrix; returns it as nested lists.

    `None` ties every pair of tasks with weight 1.
    """
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

    Called on one tensor (fed to every column) or on a list of T tensors
    (one per column); returns the list of T column outputs.

    Args:
        columns: Sequence of T Keras layers or models of the same
            architecture, one per task, in task order.
        strength: float >= 0. The penalty strength lambda.
        relation: Optional T x T symmetric non-negative matrix; entry
            (i, j) says how strongly tasks i and j are tied (0: untied).
            The diagonal is ignored.
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
    """

    def __init__(
        self,
        columns: Sequence[keras.layers.Layer],
        strength: float = 1e-2,
        relation: Any = None,
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
        self.relation = check_relation(relation, len(columns))
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

    def penalty(self) -> Tensor:
        """The current penalty (a float32 scalar, `strength` included)."""
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
            "relation": [list(r) for r in self.relation],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SoftSharing":
        config = dict(config)
        config["columns"] = [keras.saving.deserialize_keras_object(c)
                             for c in config["columns"]]
        return cls(**config)
