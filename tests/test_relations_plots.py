"""Pictures of task relations: one PNG per call."""

import keras
import numpy as np

import keras_mtl
from keras_mtl.relations import BranchPlan
from keras_mtl.relations import RelationMatrix
from keras_mtl.relations import suggest_groups
from keras_mtl.relations.plots import plot_affinity
from keras_mtl.relations.plots import plot_branches
from keras_mtl.relations.plots import plot_relation

PNG = b"\x89PNG\r\n\x1a\n"


def test_cluster_order_keeps_related_tasks_together():
    z = np.array([[1, -.5, .9, -.4], [-.5, 1, -.3, .8],
                  [.9, -.3, 1, -.6], [-.4, .8, -.6, 1]])
    matrix = RelationMatrix(("a", "b", "c", "d"), z, "cosine")
    order = matrix.cluster_order()
    assert abs(order.index("a") - order.index("c")) == 1
    assert abs(order.index("b") - order.index("d")) == 1
    moved = matrix.reordered(order)
    assert moved[order[0], order[1]] == matrix[order[0], order[1]]


def test_each_picture_is_one_call(tmp_path):
    z = np.array([[.5, .4, -.2], [.4, .5, np.nan], [-.2, -.3, .5]])
    matrix = RelationMatrix(("a", "b", "c"), z, "lookahead")
    paths = [
        plot_affinity(matrix, tmp_path / "sub" / "affinity.png"),
        plot_branches(BranchPlan(("a", "b", "c"), (
            (("a", "b", "c"),), (("a", "b"), ("c",))), 0.0),
            tmp_path / "tree.png"),
        plot_branches(suggest_groups(np.nan_to_num(z), 2,
                                     tasks=("a", "b", "c"), overlap=False),
                      tmp_path / "groups.png"),
    ]
    tasks = [keras_mtl.Task(n, "regression") for n in ("a", "b")]
    model = keras_mtl.build(keras.Input((3,)), tasks, architecture="soft",
                            trunk=(4,), relation="learn")
    paths.append(plot_relation(model, tmp_path / "relation.png"))
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
