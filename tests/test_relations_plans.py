"""Plans from task relations: TAG grouping, branch points, the builders."""

import itertools

import keras
import numpy as np
import pytest

import keras_mtl
from keras_mtl.relations import BranchPlan
from keras_mtl.relations import RelationMatrix
from keras_mtl.relations import layer_similarity
from keras_mtl.relations import linear_cka
from keras_mtl.relations import suggest_branches
from keras_mtl.relations import suggest_groups

NAMES = ("a", "b", "c", "d")


def brute_force(values, k, overlap):
    t = len(values)
    subsets = [s for r in range(1, t + 1)
               for s in itertools.combinations(range(t), r)]

    def score(group, j):
        others = [i for i in group if i != j]
        return values[j, j] if not others else np.mean(values[others, j])

    best = -np.inf
    for r in range(1, k + 1):
        for pick in itertools.combinations(subsets, r):
            flat = [j for g in pick for j in g]
            if set(flat) != set(range(t)):
                continue
            if not overlap and len(flat) != t:
                continue
            best = max(best, sum(max(score(g, j) for g in pick if j in g)
                                 for j in range(t)))
    return best


def test_grouping_finds_the_known_best_partition():
    # a, b help each other; c, d help each other; across pairs they hurt.
    z = np.array([[.5, .4, -.2, -.3], [.4, .5, -.1, -.2],
                  [-.2, -.3, .5, .45], [-.1, -.2, .4, .5]])
    plan = suggest_groups(RelationMatrix(NAMES, z, "lookahead"), 2)
    assert plan.groups == (("a", "b"), ("c", "d"))
    assert plan.served_by == {"a": 0, "b": 0, "c": 1, "d": 1}
    assert plan.score == pytest.approx(0.4 + 0.4 + 0.45 + 0.4)
    # One network: everything in one group; a budget of 4: each alone.
    assert suggest_groups(z, 1, tasks=NAMES).groups == (NAMES,)
    alone = suggest_groups(z, 4, tasks=NAMES)
    assert alone.groups == (("a",), ("b",), ("c",), ("d",))


def test_overlap_lets_a_helper_sit_in_two_groups():
    # b helps a and c a lot, but a and c hurt each other.
    z = np.array([[.1, .0, -.5], [.6, .1, .6], [-.5, .0, .1]])
    plan = suggest_groups(z, 2, tasks=("a", "b", "c"))
    assert plan.groups == (("a", "b"), ("b", "c"))
    assert plan.overlapping
    assert plan.served_by["a"] == 0 and plan.served_by["c"] == 1
    served = plan.served()
    assert not served.overlapping
    assert sorted(t for g in served.groups for t in g) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="served"):
        keras_mtl.build(keras.Input((3,)), _tasks("abc"), plan=plan)
    assert len(keras_mtl.build(keras.Input((3,)), _tasks("abc"),
                               plan=served).outputs) == 3


@pytest.mark.parametrize("overlap", [True, False])
def test_grouping_is_exact_on_random_matrices(overlap):
    rng = np.random.default_rng(0)
    for _ in range(3):
        z = rng.normal(size=(4, 4))
        for k in (1, 2, 3):
            plan = suggest_groups(z, k, overlap=overlap, tasks=NAMES)
            assert plan.score == pytest.approx(brute_force(z, k, overlap))
            assert len(plan.groups) <= k


def test_grouping_bad_inputs_raise():
    with pytest.raises(ValueError, match="num_groups"):
        suggest_groups(np.eye(2), 0, tasks=("a", "b"))
    with pytest.raises(ValueError, match="tasks="):
        suggest_groups(np.eye(2), 1)
    with pytest.raises(ValueError, match="NaN"):
        suggest_groups(np.array([[1, np.nan], [0, 1]]), 1, tasks=("a", "b"))
    with pytest.raises(ValueError, match="capped"):
        suggest_groups(np.eye(11), 2, tasks=[f"t{i}" for i in range(11)])


def _tasks(letters):
    return [keras_mtl.Task(n, "regression") for n in letters]


def _dense_names(model):
    return sorted(layer.name for layer in model.layers
                  if isinstance(layer, keras.layers.Dense)
                  and "trunk" in layer.name)


def test_per_task_sharing_depth_builds_a_tree():
    model = keras_mtl.build(keras.Input((5,)), _tasks("abc"),
                            trunk=(8, 6, 4),
                            sharing_depth={"a": 2, "b": 2, "c": 1})
    assert _dense_names(model) == sorted([
        "trunk_0", "group_a_b_trunk_1", "c_trunk_1", "a_trunk_2",
        "b_trunk_2", "c_trunk_2"])
    assert model.representation_layer.name == "shared_representation"
    apart = keras_mtl.build(keras.Input((5,)), _tasks("abc"),
                            trunk=(8, 6), sharing_depth={"a": 2, "b": 2,
                                                         "c": 0})
    assert _dense_names(apart) == sorted([
        "group_a_b_trunk_0", "group_a_b_trunk_1", "c_trunk_0",
        "c_trunk_1"])
    assert apart.representation_layer is None  # c shares nothing
    # Every task at the full depth is the classic shared bottom.
    full = keras_mtl.build(keras.Input((5,)), _tasks("ab"), trunk=(8, 4),
                           sharing_depth={"a": 2, "b": 2})
    classic = keras_mtl.build(keras.Input((5,)), _tasks("ab"), trunk=(8, 4))
    assert [x.name for x in full.layers][1:] == [
        x.name for x in classic.layers][1:]
    assert full.representation_layer.name == "shared_representation"
    x = np.ones((2, 5), "float32")
    full.set_weights(classic.get_weights())
    for name in ("a", "b"):
        np.testing.assert_allclose(full.predict(x, verbose=0)[name],
                                   classic.predict(x, verbose=0)[name])


def test_tree_model_trains_saves_and_reloads(tmp_path):
    plan = BranchPlan(("a", "b", "c"), ((("a", "b", "c"),),
                                        (("a", "b"), ("c",))), 0.0)
    model = keras_mtl.build(keras.Input((5,)), _tasks("abc"), trunk=(8, 4),
                            plan=plan)
    assert model.representation_layer.name == "shared_representation"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = {n: rng.normal(size=(32, 1)).astype("float32") for n in "abc"}
    model.compile("adam")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "tree.keras")
    loaded = keras.saving.load_model(tmp_path / "tree.keras")
    for name in "abc":
        np.testing.assert_allclose(loaded.predict(x, verbose=0)[name],
                                   model.predict(x, verbose=0)[name],
                                   rtol=1e-6)


def test_plan_and_depth_errors():
    inputs = keras.Input((5,))
    with pytest.raises(ValueError, match="missing"):
        keras_mtl.build(inputs, _tasks("ab"), sharing_depth={"a": 1})
    with pytest.raises(ValueError, match="Task 'b'"):
        keras_mtl.build(inputs, _tasks("ab"), trunk=(4,),
                        sharing_depth={"a": 1, "b": 3})
    merging = BranchPlan(("a", "b"), ((("a",), ("b",)), (("a", "b"),)), 0.)
    with pytest.raises(ValueError, match="cannot merge"):
        keras_mtl.build(inputs, _tasks("ab"), trunk=(4, 4), plan=merging)
    short = BranchPlan(("a", "b"), ((("a", "b"),),), 0.0)
    with pytest.raises(ValueError, match="block"):
        keras_mtl.build(inputs, _tasks("ab"), trunk=(4, 4), plan=short)
    with pytest.raises(ValueError, match="either"):
        keras_mtl.build(inputs, _tasks("ab"), trunk=(4,), plan=short,
                        sharing_depth=1)
    with pytest.raises(ValueError, match="hard"):
        keras_mtl.build(inputs, _tasks("ab"), architecture="mmoe",
                        plan=short)
    with pytest.raises(TypeError, match="plan"):
        keras_mtl.build(inputs, _tasks("ab"), plan="groups")


def test_linear_cka_invariances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(a, 3.0 * a @ q) == pytest.approx(1.0)
    assert linear_cka(a, a[:, ::-1]) == pytest.approx(1.0)
    assert linear_cka(a, rng.normal(size=(50, 6))) < 0.5
    with pytest.raises(ValueError, match="constant"):
        linear_cka(a, np.ones((50, 3)))


def _single_task_nets(shared_blocks: dict, seed: int = 0):
    """Single-task networks (trunk 8-8-8) whose first `shared_blocks[t]`
    blocks are copies of one reference network's blocks."""
    inputs = keras.Input((6,))
    keras.utils.set_random_seed(seed)
    reference = keras_mtl.build(inputs, _tasks("r"), trunk=(8, 8, 8))
    nets = {}
    for name, k in shared_blocks.items():
        net = keras_mtl.build(inputs, _tasks(name), trunk=(8, 8, 8))
        for level in range(k):
            net.get_layer(f"trunk_{level}").set_weights(
                reference.get_layer(f"trunk_{level}").get_weights())
        nets[name] = net
    return nets


def test_branch_points_from_networks_sharing_exactly_k_layers():
    x = np.random.default_rng(1).normal(size=(200, 6)).astype("float32")
    # a and b are identical up to block 2, c only up to block 1.
    nets = _single_task_nets({"a": 2, "b": 2, "c": 1})
    sims = layer_similarity(nets, x)
    assert [m.measure for m in sims] == ["cka:trunk_0", "cka:trunk_1",
                                         "cka:trunk_2"]
    assert sims[0]["a", "c"] == pytest.approx(1.0)
    assert sims[1]["a", "b"] == pytest.approx(1.0)
    assert sims[1]["a", "c"] < 0.999
    plan = suggest_branches(sims, budget=9)
    assert plan.partitions == ((("a", "b", "c"),), (("a", "b"), ("c",)),
                               (("a",), ("b",), ("c",)))
    assert plan.sharing_depth() == {"a": 2, "b": 2, "c": 1}
    assert plan.cost == pytest.approx(0.0, abs=1e-6)
    # With fewer blocks the cheapest tree shares more.
    tight = suggest_branches(sims, budget=3)
    assert tight.num_blocks == 3
    model = keras_mtl.build(keras.Input((6,)), _tasks("abc"),
                            trunk=(8, 8, 8), plan=plan)
    assert "group_a_b_trunk_1" in [x.name for x in model.layers]
    with pytest.raises(ValueError, match="budget"):
        suggest_branches(sims, budget=2)


def test_branching_is_exact_on_random_similarities():
    from keras_mtl.relations.grouping import _set_partitions

    rng = np.random.default_rng(3)
    names = ("a", "b", "c", "d")
    sims = []
    for _ in range(3):
        s = rng.uniform(0, 1, size=(4, 4))
        s = (s + s.T) / 2
        np.fill_diagonal(s, 1.0)
        sims.append(RelationMatrix(names, s, "cka"))
    parts = list(_set_partitions(list(range(4)), 4))

    def refines(fine, coarse):
        return all(any(set(g) <= set(c) for c in coarse) for g in fine)

    def cost(level, p):
        d = 1 - sims[level].values
        return sum(d[np.ix_(g, g)].max() for g in p if len(g) > 1)

    for budget in (3, 5, 7, 12):
        best = np.inf
        for p0 in parts:
            for p1 in parts:
                for p2 in parts:
                    if not (refines(p1, p0) and refines(p2, p1)):
                        continue
                    if len(p0) + len(p1) + len(p2) > budget:
                        continue
                    best = min(best, cost(0, p0) + cost(1, p1) + cost(2, p2))
        plan = suggest_branches(sims, budget=budget)
        assert plan.cost == pytest.approx(best)
        assert plan.num_blocks <= budget
