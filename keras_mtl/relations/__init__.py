"""Task relations: measure them, learn them, turn them into a sharing plan.

- `TaskAffinity`: a `fit` callback measuring TAG lookahead affinity and
  gradient cosine between tasks (`affinity.py`, `callback.py`).
- `RelationMatrix`: a task-labelled `[T, T]` matrix (`matrix.py`).
- `relation_matrix(model)`: the task covariance a soft-sharing model
  learned with `relation="learn"` (`learned.py`).
- Plans (`plans.py`) that `keras_mtl.build(..., plan=plan)` builds:
  `suggest_groups` (TAG's selection of task groups under a budget,
  `grouping.py`) and `suggest_branches` (a tree of branches from the
  layer similarity of single-task networks, `similarity.py`,
  `branching.py`).
- Pictures (`plots.py`, matplotlib imported lazily).
"""

from keras_mtl.relations.affinity import measure_affinity
from keras_mtl.relations.branching import suggest_branches
from keras_mtl.relations.callback import TaskAffinity
from keras_mtl.relations.callback import restore_train_step
from keras_mtl.relations.grouping import suggest_groups
from keras_mtl.relations.learned import relation_matrix
from keras_mtl.relations.matrix import RelationMatrix
from keras_mtl.relations.plans import BranchPlan
from keras_mtl.relations.plans import GroupingPlan
from keras_mtl.relations.similarity import layer_similarity
from keras_mtl.relations.similarity import linear_cka

__all__ = [
    "BranchPlan",
    "GroupingPlan",
    "RelationMatrix",
    "TaskAffinity",
    "layer_similarity",
    "linear_cka",
    "measure_affinity",
    "relation_matrix",
    "restore_train_step",
    "suggest_branches",
    "suggest_groups",
]
