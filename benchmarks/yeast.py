"""Yeast, 14 binary tasks: the many-task case, where Jacobian methods cost
most. Per-task test AUC, Δm% against single-task and time per epoch.

Data: river's copy of the MULAN Yeast data (2,417 genes, 103 features, 14
functional classes as 14 binary tasks; Elisseeff & Weston, NeurIPS 2001),
a seeded 60/20/20 train/validation/test re-split per seed (the file
carries no split). Needs `pip install river` (the `yeast` extra).

Model: Dense 64 - Dense 32 shared (ReLU), a Dense(1, sigmoid) head per
task; Adam 1e-3, batch 128. Each run trains to convergence: until the
mean of the 14 validation AUCs has not improved for `--patience` epochs
(at most `--epochs`), then the best epoch's weights are tested
(`_convergence.fit_to_convergence`).

Why Yeast: it is the real many-task case (T = 14) on which a Jacobian
method's cost per task shows. No multi-task-learning paper we know of
reports per-task AUCs of these methods on Yeast, so the table has no
published column; the multi-label literature reports ranking metrics on
MULAN's fixed 1,500/917 split, a different protocol.

```
single_task  14 towers Dense 64-32 sharing nothing (= 14 single-task
             models: Adam is per-parameter and the loss a plain sum)
equal        shared trunk, equal weights (one gradient of the sum)
uncertainty  uncertainty weighting (Kendall, Gal, Cipolla 2018)
dwa          dynamic weight average (Liu, Johns, Davison 2019)
pcgrad, mgda, upgrad, cagrad, nash_mtl
             the aggregator on the [14, P] Jacobian of the shared variables
```

Run: python benchmarks/yeast.py [--seeds 5] [--epochs 200] [--patience 15]
     [--quick]
"""

import pathlib
import sys

import _convergence
import _results
import _stats
import keras
import numpy as np

import keras_mtl

NAME = "yeast"
METHODS = ("single_task", "equal", "uncertainty", "dwa", "pcgrad", "mgda",
           "upgrad", "cagrad", "nash_mtl")
WEIGHTINGS = ("uncertainty", "dwa")
NUM_TASKS = 14
TASKS = tuple(f"class_{i + 1}" for i in range(NUM_TASKS))


def make_model(method: str) -> keras_mtl.MultiTaskModel:
    tasks = [keras_mtl.Task(t, "binary", metrics=["auc"]) for t in TASKS]
    inputs = keras.Input((103,), name="features")
    model = keras_mtl.build(
        inputs, tasks, architecture="hard", trunk=(64, 32),
        sharing_depth=0 if method == "single_task" else 2,
        name=method)
    weighting = method if method in WEIGHTINGS else None
    aggregator = None if method in ("single_task", "equal",
                                    *WEIGHTINGS) else method
    model.compile(keras.optimizers.Adam(1e-3), weighting=weighting,
                  aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None)
    return model


def standardize(x: np.ndarray, x_ref: np.ndarray) -> np.ndarray:
    mean, std = x_ref.mean(0), x_ref.std(0)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype("float32")


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=5, epochs=200)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--patience", type=int, default=None,
                   help="epochs without a better mean validation AUC "
                        "before stopping (default 15; --quick: 1)")
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    patience = args.patience or (1 if args.quick else 15)
    try:
        keras_mtl.data.yeast.yeast_path()
    except (ImportError, FileNotFoundError) as error:
        print(f"Skipping Yeast: {error}")
        return []

    log = _results.RunLog(args, NAME)
    out = log.out
    retrainer = _results.Retrainer(make_model)
    monitor = [f"val_{t}_auc" for t in TASKS]
    for seed in range(0 if args.from_runs else seeds):
        (x, y), (x_val, y_val), (x_test, y_test) = (
            keras_mtl.data.load_yeast(seed=seed))
        x, x_val, x_test = (standardize(x, x), standardize(x_val, x),
                            standardize(x_test, x))
        if args.quick:
            x, y = x[:256], {k: v[:256] for k, v in y.items()}
        for method in args.methods:
            if not log.pending(method=method, seed=seed):
                continue
            result = _convergence.fit_to_convergence(
                retrainer.fresh(method, seed), (x, y), (x_val, y_val),
                (x_test, y_test), monitor_keys=monitor, mode="max",
                batch_size=128, max_epochs=epochs, patience=patience)
            logs = result["logs"]
            run = {"method": method, "seed": seed,
                   "epoch_seconds": result["epoch_seconds"],
                   "epochs": result["epochs"],
                   "best_epoch": result["best_epoch"]}
            for task in TASKS:
                run[f"{task}_auc"] = float(logs[f"{task}_auc"])
            run["mean_auc"] = float(np.mean([run[f"{t}_auc"]
                                             for t in TASKS]))
            log.record(run, f"seed {seed} {method:12s} mean AUC "
                       f"{run['mean_auc']:.4f}  best epoch "
                       f"{run['best_epoch']}/{run['epochs']}  "
                       f"{run['epoch_seconds']:.2f}s/epoch")

    runs = log.runs
    _stats.add_delta_m(runs, [f"{t}_auc" for t in TASKS])
    metrics = (["mean_auc", "delta_m", "best_epoch", "epoch_seconds"]
               + [f"{t}_auc" for t in TASKS])
    rows = _stats.summarize_ci(runs, ["method"], metrics)
    base = next((r for r in rows if r["method"] == "equal"), None)
    differences = {}
    for row in rows:
        row["time_vs_equal"] = (row["epoch_seconds_mean"]
                                / base["epoch_seconds_mean"]
                                if base else float("nan"))
        d = _stats.paired_difference(runs, "mean_auc", row["method"],
                                     "equal")
        row["vs_equal_mean_auc"] = d["mean"]
        row["vs_equal_mean_auc_ci95"] = d["half_width"]
        if row["method"] != "equal" and d["pairs"]:
            differences[row["method"]] = d
    verdict = _stats.verdict(differences, metric_text="mean test AUC",
                             baseline="equal", digits=4)
    log.write_results(
        rows, seeds=seeds, epochs=epochs,
        protocol=(f"river's Yeast (MULAN), seeded 60/20/20 train/"
                  f"validation/test re-split per seed (1,450 / 483 / 484 "
                  f"rows), features standardised with train statistics; "
                  f"Dense 64-32 trunk, 14 sigmoid heads, Adam 1e-3, batch "
                  f"128; trained until the mean of the 14 validation AUCs "
                  f"has not improved for {patience} epochs (at most "
                  f"{epochs}), the best epoch's weights tested; test AUC "
                  f"per task, mean ± 95% interval over {seeds} seeds; Δm% "
                  f"over the 14 AUCs against single_task of the same seed "
                  f"(negative = better than single-task); s/epoch is the "
                  f"median epoch wall time with validation, first epoch "
                  f"(tracing) left out."),
        reference=("No published per-task AUCs of these multi-task methods "
                   "on Yeast; MULAN-split multi-label results use ranking "
                   "metrics, a different protocol"),
        notes=[verdict,
               ("Aggregators run on the [14, P] Jacobian of the shared "
                "variables (14 backward passes per step); "
                "benchmarks/bench_aggregators.py measures step costs.")])
    _plot(rows, out / f"{NAME}.png")
    _print(rows, seeds)
    print(verdict)
    return rows


def _print(rows, seeds) -> None:
    print(f"\nYeast (14 tasks), test AUC, mean ± 95% interval over {seeds} "
          "seed(s), trained to convergence")
    _results.print_table(
        ["method", "mean AUC", "Δm%", "vs equal", "best epoch", "s/epoch",
         "x equal"],
        [[r["method"],
          _stats.interval_text(r["mean_auc_mean"], r["mean_auc_ci95"], 4),
          _stats.interval_text(r["delta_m_mean"], r["delta_m_ci95"]),
          _stats.interval_text(r["vs_equal_mean_auc"],
                               r["vs_equal_mean_auc_ci95"], 4),
          f"{r['best_epoch_mean']:.0f}", f"{r['epoch_seconds_mean']:.2f}",
          f"{r['time_vs_equal']:.1f}"]
         for r in rows])


def _plot(rows, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    names = [r["method"] for r in rows]
    for i, r in enumerate(rows):
        axes[0].plot(range(1, NUM_TASKS + 1),
                     [r[f"{t}_auc_mean"] for t in TASKS], marker=".",
                     label=r["method"], alpha=0.8)
    axes[0].set_xlabel("task (class)")
    axes[0].set_ylabel("test AUC")
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].scatter([r["epoch_seconds_mean"] for r in rows],
                    [r["delta_m_mean"] for r in rows])
    for r, name in zip(rows, names):
        axes[1].annotate(name, (r["epoch_seconds_mean"], r["delta_m_mean"]),
                         fontsize=7, xytext=(3, 3),
                         textcoords="offset points")
    axes[1].set_xlabel("seconds per epoch")
    axes[1].set_ylabel("Δm% vs single-task (negative = better)")
    fig.suptitle("Yeast, 14 binary tasks", fontsize=9)
    _results.save_figure(fig, path)


if __name__ == "__main__":
    main(sys.argv[1:])
