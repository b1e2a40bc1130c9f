"""Yeast, 14 binary tasks: the many-task case, where Jacobian methods cost
most. Per-task test AUC, Δm% against single-task and time per epoch.

Data: river's copy of the MULAN Yeast data (2,417 genes, 103 features, 14
functional classes as 14 binary tasks), a seeded 60/20/20 re-split per
seed (the file carries no split; validation rows unused). Needs `pip
install river` (the `yeast` extra).

Model: Dense 64 - Dense 32 shared (ReLU), a Dense(1, sigmoid) head per
task; Adam 1e-3, batch 128.

```
single_task  14 towers Dense 64-32 sharing nothing (= 14 single-task
             models: Adam is per-parameter and the loss a plain sum)
equal        shared trunk, equal weights (one gradient of the sum)
uncertainty  uncertainty weighting (Kendall, Gal, Cipolla 2018)
pcgrad, mgda, upgrad, cagrad, nash_mtl
             the aggregator on the [14, P] Jacobian of the shared variables
```

Run: python benchmarks/yeast.py [--seeds 2] [--epochs 8] [--quick]
"""

import pathlib
import sys

import _results
import keras
import numpy as np

import keras_mtl

NAME = "yeast"
METHODS = ("single_task", "equal", "uncertainty", "pcgrad", "mgda",
           "upgrad", "cagrad", "nash_mtl")
NUM_TASKS = 14
TASKS = tuple(f"class_{i + 1}" for i in range(NUM_TASKS))


def make_model(method: str) -> keras_mtl.MultiTaskModel:
    tasks = [keras_mtl.Task(t, "binary", metrics=["auc"]) for t in TASKS]
    inputs = keras.Input((103,), name="features")
    model = keras_mtl.build(
        inputs, tasks, architecture="hard", trunk=(64, 32),
        sharing_depth=0 if method == "single_task" else 2,
        name=method)
    weighting = "uncertainty" if method == "uncertainty" else None
    aggregator = None if method in ("single_task", "equal",
                                    "uncertainty") else method
    model.compile(keras.optimizers.Adam(1e-3), weighting=weighting,
                  aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None)
    return model


def standardize(x: np.ndarray, x_ref: np.ndarray) -> np.ndarray:
    mean, std = x_ref.mean(0), x_ref.std(0)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype("float32")


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=2, epochs=8)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    try:
        keras_mtl.data.yeast.yeast_path()
    except (ImportError, FileNotFoundError) as error:
        print(f"Skipping Yeast: {error}")
        return []

    log = _results.RunLog(args, NAME)
    out = log.out
    retrainer = _results.Retrainer(make_model)
    for seed in range(0 if args.from_runs else seeds):
        (x, y), (x_test, y_test) = keras_mtl.data.load_yeast(
            split=("train", "test"), seed=seed)
        x, x_test = standardize(x, x), standardize(x_test, x)
        if args.quick:
            x, y = x[:256], {k: v[:256] for k, v in y.items()}
        for method in args.methods:
            if not log.pending(method=method, seed=seed):
                continue
            logs, seconds = _results.fit_and_evaluate(
                retrainer.fresh(method, seed), (x, y), (x_test, y_test),
                batch_size=128, epochs=epochs)
            run = {"method": method, "seed": seed, "epoch_seconds": seconds}
            for task in TASKS:
                run[f"{task}_auc"] = float(logs[f"{task}_auc"])
            run["mean_auc"] = float(np.mean([run[f"{t}_auc"]
                                             for t in TASKS]))
            log.record(run, f"seed {seed} {method:12s} mean AUC "
                       f"{run['mean_auc']:.4f}  "
                       f"{run['epoch_seconds']:.2f}s/epoch")

    runs = log.runs
    _add_delta_m(runs)
    metrics = (["mean_auc", "delta_m", "epoch_seconds"]
               + [f"{t}_auc" for t in TASKS])
    rows = _results.summarize(runs, ["method"], metrics)
    base = next((r for r in rows if r["method"] == "equal"), None)
    for row in rows:
        row["time_vs_equal"] = (row["epoch_seconds_mean"]
                                / base["epoch_seconds_mean"]
                                if base else float("nan"))
    log.write_results(
        rows, seeds=seeds, epochs=epochs,
        protocol=(f"river's Yeast (MULAN), seeded 60/20/20 re-split per "
                  f"seed (1,450 train / 484 test rows), features "
                  f"standardised with train statistics; Dense 64-32 trunk, "
                  f"14 sigmoid heads, Adam 1e-3, batch 128, {epochs} "
                  f"epochs; test AUC per task after the last epoch, mean "
                  f"± sd over {seeds} seeds; Δm% over the 14 AUCs against "
                  f"single_task of the same seed (lower is better); "
                  f"s/epoch is the median epoch wall time, first epoch "
                  f"(tracing) left out, on a shared machine."),
        notes=[("Aggregators run on the [14, P] Jacobian of the shared "
                "variables (14 backward passes per step): time_vs_equal "
                "is the cost of that against one gradient of the sum. "
                "With a 8.7k-parameter trunk and 12 steps per epoch, "
                "per-epoch overhead and the noise of a shared machine "
                "dominate these times (one seed timed, seed 0 traced); "
                "benchmarks/bench_aggregators.py measures step costs."),
               (f"Training is short ({epochs} epochs of batches of 128 "
                "over 1,450 rows) to fit the compute budget: "
                "the shared-trunk models, whose one 32-wide "
                "representation serves 14 tasks, are further from "
                "convergence than the 14 separate towers, so read the "
                "AUC columns as early-training numbers.")])
    _plot(rows, out / f"{NAME}.png")
    _print(rows, seeds, epochs)
    return rows


def _add_delta_m(runs: list[dict]) -> None:
    base = {r["seed"]: r for r in runs if r["method"] == "single_task"}
    keys = [f"{t}_auc" for t in TASKS]
    for run in runs:
        ref = base.get(run["seed"])
        run["delta_m"] = (keras_mtl.reporting.delta_m(
            {k: run[k] for k in keys}, {k: ref[k] for k in keys})
            if ref else float("nan"))


def _print(rows, seeds, epochs) -> None:
    print(f"\nYeast (14 tasks), test AUC, mean ± sd over {seeds} seed(s), "
          f"{epochs} epoch(s)")
    _results.print_table(
        ["method", "mean AUC", "Δm%", "s/epoch", "x equal"],
        [[r["method"], _results.pm(r["mean_auc_mean"], r["mean_auc_sd"]),
          f"{r['delta_m_mean']:+.2f} ± {r['delta_m_sd']:.2f}",
          f"{r['epoch_seconds_mean']:.2f}", f"{r['time_vs_equal']:.1f}"]
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
    axes[1].set_ylabel("Δm% vs single-task (lower is better)")
    fig.suptitle("Yeast, 14 binary tasks", fontsize=9)
    _results.save_figure(fig, path)


if __name__ == "__main__":
    main(sys.argv[1:])
