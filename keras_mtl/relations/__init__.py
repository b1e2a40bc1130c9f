"""Task relations: measure them, learn them, turn them into a sharing plan.

- `TaskAffinity`: a `fit` callback measuring TAG lookahead affinity and
  gradient cosine between tasks (`affinity.py`, `callback.py`).
- `RelationMatrix`: a task-labelled `[T, T]` matrix (`matrix.py`).
- `relation_matrix(model)`: the task covariance a soft-sharing model
  learned with `relation="learn"` (`learned.py`).
"""

from keras_mtl.relations.affinity import measure_affinity
from keras_mtl.relations.callback import TaskAffinity
from keras_mtl.relations.learned import relation_matrix
from keras_mtl.relations.matrix import RelationMatrix

__all__ = [
    "RelationMatrix",
    "TaskAffinity",
    "measure_affinity",
    "relation_matrix",
]
