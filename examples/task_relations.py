"""Task relations on MultiMNIST: measure, group, branch, learn, compare.

Four tasks on the same overlaid digit pairs (MultiMNIST, Sabour et al.
2017): `left` and `right` (the two digits, 10 classes each), `left_large`
(is the left digit >= 5: a task closely related to `left`) and
`projection` (a synthetic task unrelated to the digits: the sign of a
fixed random projection of the pixels, balanced at its median).

1. Measured affinities: an all-shared network trains with the
   `TaskAffinity` callback (TAG lookahead affinity and gradient cosine).
2. Suggested grouping: `suggest_groups` with a budget of 2 networks (TAG's
   selection); the grouping is trained as TAG does, one network per group,
   each task read from the group serving it.
3. Suggested branches: linear CKA per trunk block between the single-task
   networks, then `suggest_branches` within a block budget; the tree is
   built with `keras_mtl.build(..., plan=plan)`.
4. Learned relation: soft sharing with `relation="learn"`.

Every set-up is compared with single-task networks (the baselines) and the
all-shared network, by test accuracy per task and Δm% (negative: better
than single-task), over several seeds. Results (JSON, Markdown, PNGs) go
to `benchmarks/results/task_relations/` by default.

    python examples/task_relations.py            # the full run
    python examples/task_relations.py --quick    # a smoke test (seconds)

References:
- Fifty, Amid, Zhao, Yu, Anil, Finn (2021). Efficiently Identifying Task
  Groupings for Multi-Task Networks. NeurIPS. arXiv:2109.04617.
- Vandenhende, Georgoulis, De Brabandere, Van Gool (2020). Branched
  Multi-Task Networks: Deciding What Layers To Share. BMVC.
  arXiv:1904.02920.
- Zhang, Yeung (2010). A Convex Formulation for Learning Task
  Relationships in Multi-Task Learning. UAI. arXiv:1203.3536.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_mtl  # noqa: E402
from keras_mtl import relations  # noqa: E402
from keras_mtl.relations import plots  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
TASKS = ("left", "right", "left_large", "projection")


def load(num_train: int, num_test: int) -> tuple:
    """MultiMNIST plus the two derived tasks, images flattened."""
    if not MNIST.is_dir():
        raise FileNotFoundError(
            f"MNIST files not found in {MNIST}. Put the IDX files there "
            "(see ../shared/data/mnist/PROVENANCE.md)."
        )
    (x, y), (x_test, y_test) = keras_mtl.data.load_multi_mnist(
        MNIST, num_train=num_train, num_test=num_test, seed=0)
    x = x.reshape(len(x), -1)
    x_test = x_test.reshape(len(x_test), -1)
    direction = np.random.default_rng(1234).normal(size=x.shape[1])
    threshold = float(np.median(x @ direction))

    def labels(images: np.ndarray, digits: dict) -> dict:
        return {
            "left": digits["left"], "right": digits["right"],
            "left_large": (digits["left"] >= 5).astype("float32")[:, None],
            "projection": (images @ direction > threshold).astype(
                "float32")[:, None],
        }

    return (x, labels(x, y)), (x_test, labels(x_test, y_test))


def task_list(names: tuple = TASKS) -> list:
    kinds = {"left": ("multiclass", 10), "right": ("multiclass", 10),
             "left_large": ("binary", None), "projection": ("binary", None)}
    return [keras_mtl.Task(n, kinds[n][0], num_classes=kinds[n][1])
            if kinds[n][1] else keras_mtl.Task(n, kinds[n][0])
            for n in names]


def fit(model: Any, data: tuple, names: tuple, args: Any,
        callbacks: list | None = None) -> Any:
    (x, y), _ = data
    # --quick trains a few steps: eager skips minutes of graph tracing.
    model.compile(keras.optimizers.Adam(1e-3), run_eagerly=args.quick)
    model.fit(x, {n: y[n] for n in names}, epochs=args.epochs,
              batch_size=args.batch_size, verbose=0,
              callbacks=callbacks or [])
    return model


def accuracies(model: Any, data: tuple, names: tuple) -> dict:
    _, (x_test, y_test) = data
    logs = model.evaluate(x_test, {n: y_test[n] for n in names},
                          batch_size=1024, verbose=0)
    return {n: float(logs[f"{n}_accuracy"]) for n in names}


def build(names: tuple, args: Any, **options: Any) -> Any:
    return keras_mtl.build(keras.Input((784,), name="pixels"),
                           task_list(names), trunk=args.trunk, **options)


def run_seed(seed: int, data: tuple, args: Any, plan_groups: Any,
             plan_branches: Any, single_models: dict | None) -> dict:
    keras.utils.set_random_seed(seed)
    scores: dict[str, dict] = {}
    single = {}
    for name in TASKS:
        model = fit(build((name,), args), data, (name,), args)
        single[name] = model
        scores.setdefault("single_task", {}).update(
            accuracies(model, data, (name,)))
    if single_models is not None:
        single_models.update(single)
    model = fit(build(TASKS, args), data, TASKS, args)
    scores["all_shared"] = accuracies(model, data, TASKS)
    if plan_groups is not None:  # TAG: one network per group
        grouped = {}
        for k, group in enumerate(plan_groups.groups):
            model = fit(build(group, args), data, group, args)
            served = tuple(t for t in group
                           if plan_groups.served_by[t] == k)
            grouped.update(accuracies(model, data, served))
        scores["tag_groups"] = grouped
    if plan_branches is not None:
        model = fit(build(TASKS, args, plan=plan_branches), data, TASKS,
                    args)
        scores["branches"] = accuracies(model, data, TASKS)
    model = fit(build(TASKS, args, architecture="soft",
                      relation="learn", strength=args.strength),
                data, TASKS, args)
    scores["soft_learned"] = accuracies(model, data, TASKS)
    scores["_soft_model"] = model
    return scores


def delta(scores: dict, baseline: dict) -> float:
    return keras_mtl.reporting.delta_m(
        {f"{n}_accuracy": v for n, v in scores.items()},
        {f"{n}_accuracy": v for n, v in baseline.items()})


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny data, one seed, one epoch (smoke test)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--num-train", type=int, default=20_000)
    parser.add_argument("--num-test", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--groups", type=int, default=2,
                        help="budget of networks for the grouping")
    parser.add_argument("--branch-budget", type=int, default=5,
                        help="most block instances of the tree (2..8)")
    parser.add_argument("--every-n-steps", type=int, default=10)
    parser.add_argument("--strength", type=float, default=1e-2,
                        help="soft sharing penalty strength")
    parser.add_argument("--out", default=str(
        ROOT / "benchmarks" / "results" / "task_relations"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 1
        args.num_train, args.num_test = 600, 200
    args.trunk = (128, 64)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    data = load(args.num_train, args.num_test)

    # 1. Affinity, measured while an all-shared network trains (seed 0).
    keras.utils.set_random_seed(0)
    callback = relations.TaskAffinity(every_n_steps=args.every_n_steps)
    fit(build(TASKS, args), data, TASKS, args, callbacks=[callback])
    lookahead = callback.affinity("lookahead")
    cosine = callback.affinity("cosine")
    # 2. TAG's grouping under the budget.
    groups = relations.suggest_groups(lookahead, num_groups=args.groups)

    # 3. Seeds: baselines and set-ups; branches from seed 0's singles.
    singles: dict = {}
    first = run_seed(0, data, args, groups, None, singles)
    (x, _), _ = data
    similarity = relations.layer_similarity(singles, x[:1000])
    branches = relations.suggest_branches(similarity,
                                          budget=args.branch_budget)
    keras.utils.set_random_seed(0)
    first["branches"] = accuracies(
        fit(build(TASKS, args, plan=branches), data, TASKS, args),
        data, TASKS)
    runs = [first] + [run_seed(seed, data, args, groups, branches, None)
                      for seed in range(1, args.seeds)]
    soft_model = runs[0].pop("_soft_model")
    for run in runs[1:]:
        run.pop("_soft_model")

    setups = ["all_shared", "tag_groups", "branches", "soft_learned"]
    summary: dict[str, dict] = {}
    for setup in ["single_task"] + setups:
        values = {n: [r[setup][n] for r in runs] for n in TASKS}
        deltas = [delta(r[setup], r["single_task"]) for r in runs]
        summary[setup] = {
            "accuracy_mean": {n: statistics.fmean(v)
                              for n, v in values.items()},
            "accuracy_sd": {n: statistics.stdev(v) if len(v) > 1 else 0.0
                            for n, v in values.items()},
            "delta_m_mean": statistics.fmean(deltas),
            "delta_m_sd": statistics.stdev(deltas) if len(deltas) > 1
            else 0.0,
        }
    learned = relations.relation_matrix(soft_model)
    pictures = {
        "affinity_lookahead": plots.plot_affinity(
            lookahead, out / "affinity_lookahead.png"),
        "affinity_cosine": plots.plot_affinity(
            cosine, out / "affinity_cosine.png"),
        "groups": plots.plot_branches(
            groups.served() if groups.overlapping else groups,
            out / "groups.png"),
        "branches": plots.plot_branches(branches, out / "branches.png"),
        "learned_relation": plots.plot_relation(
            learned, out / "learned_relation.png"),
    }
    result = {
        "command": "python examples/task_relations.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "protocol": {k: v for k, v in vars(args).items() if k != "out"},
        "wall_seconds": round(time.time() - start, 1),
        "affinity": {"lookahead": lookahead.to_json(),
                     "cosine": cosine.to_json(),
                     "measured_steps": callback.measured_steps},
        "groups": {"groups": [list(g) for g in groups.groups],
                   "served_by": groups.served_by, "score": groups.score},
        "branches": {"partitions": [[list(g) for g in p]
                                    for p in branches.partitions],
                     "sharing_depth": branches.sharing_depth(),
                     "cost": branches.cost,
                     "cka": [m.to_json() for m in similarity]},
        "learned_relation": learned.to_json(),
        "summary": summary,
        "runs": runs,
        "pictures": {k: os.path.relpath(v, out) for k, v in
                     pictures.items()},
    }
    (out / "task_relations.json").write_text(json.dumps(result, indent=2))
    (out / "task_relations.md").write_text(markdown(result))
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    protocol = result["protocol"]
    lines = [
        "| set-up | " + " | ".join(TASKS) + " | Δm% (lower is better) |",
        "|---" * (len(TASKS) + 2) + "|",
    ]
    for setup, row in result["summary"].items():
        cells = [f"{row['accuracy_mean'][n]:.4f} ± {row['accuracy_sd'][n]:.4f}"
                 for n in TASKS]
        lines.append(f"| {setup} | " + " | ".join(cells) +
                     f" | {row['delta_m_mean']:+.2f} ± "
                     f"{row['delta_m_sd']:.2f} |")
    return "\n".join([
        f"MultiMNIST, {protocol['num_train']} train / {protocol['num_test']}"
        f" test pairs, {protocol['epochs']} epochs, {protocol['seeds']} "
        f"seed(s), trunk {list(protocol['trunk'])}; test accuracy "
        "(mean ± sd over seeds).",
        "",
        f"TAG groups (budget {protocol['groups']}): "
        f"{result['groups']['groups']}; branches: "
        f"{result['branches']['partitions']}.",
        "",
        *lines,
        "",
        f"Wall time: {result['wall_seconds']} s. Command: "
        f"`{result['command']}`.",
        "",
    ])


if __name__ == "__main__":
    main()
