"""MMoE synthetic correlation sweep: shared-bottom vs MMoE as the two
tasks' correlation falls (Ma et al. 2018, KDD, Sections 3.2 and 5.2).

Data: `keras_mtl.data.synthetic_mmoe` (Section 3.2; see its docstring
for the paper's values and what we chose where the paper is silent): two
regression tasks on 100 Gaussian inputs whose weight vectors have cosine
rho; fresh train and test draws per (rho, seed), the same draw for every
method at a (rho, seed), so methods are compared paired by seed.

Models, sized as in the paper's synthetic experiment (Section 5.2: the
experts are single 16-unit layers, 8 of them, towers single 8-unit
layers; the shared bottom is a single layer of 113 units so that it has
about as many parameters, 100*16*8 + 16*8*2 = 13056 ≈ 113*(100+8*2);
sizes as recalled from the paper, whose text was not reachable when this
was written: re-check against Section 5.2):

```
shared_bottom   Dense 113 shared, towers Dense 8, equal weights
mmoe            8 experts of Dense 16, one softmax gate per task, towers 8
pcgrad, upgrad, cagrad  (opt-in with --methods) shared_bottom + that
                aggregator, Jacobian mode
```

Training: Adam, batch 128, until the validation loss (a separate 10%
draw) has not fallen for --patience epochs (default 5, cap --epochs 60),
best weights restored; test MSE on a separate 2,000-sample draw.

Where we differ from the paper: the paper grid-searches Adam's learning
rate in {1e-4, 1e-3, 1e-2} and averages 200 repeats; we fix 1e-2 from
that grid (one probe, rho = 0.5, seed 0: with 1e-3 and 20 epochs MMoE
was still at test MSE 0.63 against shared-bottom's 0.35; with 1e-2 and
early stopping 0.24 and 0.27) and use --seeds repeats (default 8: 80
early-stopped fits fit the 12-minute budget). The paper plots
training-loss curves for rho in {1.0, 0.9, 0.5} (Figure 4) and reads the
finding off the curves;
we report the final test MSE and its paired-by-seed intervals.

Metric: test MSE averaged over the two tasks (lower is better). The
finding to check: MMoE's loss grows less than shared-bottom's as rho
falls (paired, per seed: growth(shared_bottom) - growth(mmoe) > 0).

Run: python benchmarks/mmoe_synthetic.py [--seeds 8] [--epochs 60]
     [--quick]
"""

import itertools
import pathlib
import sys

import _convergence
import _results
import _stats
import keras
import numpy as np

import keras_mtl

NAME = "mmoe_synthetic"
RHOS = (1.0, 0.9, 0.8, 0.5, 0.0)
METHODS = ("shared_bottom", "mmoe")
AGGREGATORS = ("pcgrad", "upgrad", "cagrad")
TASKS = ("task_1", "task_2")


def make_model(method: str,
               learning_rate: float = 1e-2) -> keras_mtl.MultiTaskModel:
    tasks = [keras_mtl.Task(t, "regression") for t in TASKS]
    inputs = keras.Input((100,), name="x")
    if method == "mmoe":
        model = keras_mtl.build(inputs, tasks, architecture="mmoe",
                                num_experts=8, expert_units=(16,),
                                trunk=(8,), sharing_depth=0)
    else:
        model = keras_mtl.build(inputs, tasks, architecture="hard",
                                trunk=(113, 8), sharing_depth=1)
    aggregator = None if method in ("shared_bottom", "mmoe") else method
    model.compile(keras.optimizers.Adam(learning_rate), aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None,
                  steps_per_execution=8)
    return model


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=8, epochs=60)
    p.add_argument("--train", type=int, default=None,
                   help="training samples per (rho, seed) (default 10000)")
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--rhos", type=float, nargs="*", default=list(RHOS))
    p.add_argument("--learning-rate", type=float, default=1e-2)
    p.add_argument("--patience", type=int, default=5,
                   help="epochs without a lower validation loss before "
                        "stopping (--epochs is the cap)")
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    num_train = args.train or (512 if args.quick else 10000)
    num_test = 256 if args.quick else args.test
    num_val = num_train // 10

    log = _results.RunLog(args, NAME)
    out = log.out
    retrainer = _results.Retrainer(
        lambda method: make_model(method, args.learning_rate))
    for rho in ([] if args.from_runs else args.rhos):
        for seed in range(seeds):
            x, y = keras_mtl.data.synthetic_mmoe(
                num_train + num_val + num_test, rho, seed=1000 * seed + 7)
            cut = (0, num_train, num_train + num_val, len(x))
            train, val, test = (
                (x[a:b], {k: v[a:b] for k, v in y.items()})
                for a, b in itertools.pairwise(cut))
            label_corr = float(np.corrcoef(train[1]["task_1"][:, 0],
                                           train[1]["task_2"][:, 0])[0, 1])
            for method in args.methods:
                if not log.pending(rho=rho, method=method, seed=seed):
                    continue
                logs, epoch_seconds, best, ran = _fit(
                    retrainer.fresh(method, seed), train, val, test,
                    epochs=epochs, patience=args.patience)
                losses = [logs[f"{t}_loss"] for t in TASKS]
                run = {"rho": rho, "method": method, "seed": seed,
                       "test_loss": sum(losses) / len(losses),
                       "task_1_loss": losses[0], "task_2_loss": losses[1],
                       "epoch_seconds": epoch_seconds, "best_epoch": best,
                       "epochs_run": ran, "label_correlation": label_corr}
                log.record(run, f"rho {rho:+.1f} seed {seed} {method:14s} "
                           f"test loss {run['test_loss']:.4f}  best epoch "
                           f"{best} of {ran}")

    runs = log.runs
    rows = _stats.summarize_ci(runs, ["method", "rho"],
                               ["test_loss", "task_1_loss", "task_2_loss",
                                "best_epoch", "epochs_run",
                                "label_correlation"])
    _add_paired(rows, runs)
    verdict = _verdict(runs, args.rhos)
    log.write_results(
        rows, seeds=seeds, epochs=epochs,
        protocol=(f"synthetic_mmoe, 100 inputs, {num_train} train / "
                  f"{num_val} validation / {num_test} test samples per "
                  f"(rho, seed), batch 128, Adam {args.learning_rate:g}, "
                  f"early stopping on the validation loss (patience "
                  f"{args.patience}, at most {epochs} epochs, best weights "
                  "restored), mean test MSE of the two "
                  f"tasks, mean ± 95% t-interval over {seeds} seeds; "
                  "differences paired by seed. Shared bottom Dense 113 + "
                  "towers 8; MMoE 8 experts of 16 + towers 8 (the sizes "
                  "of Ma et al. 2018, Section 5.2); aggregators (if run) "
                  "on the shared bottom, Jacobian mode. Paper: Adam with "
                  "a learning-rate grid {1e-4, 1e-3, 1e-2} and 200 "
                  f"repeats; ours: Adam {args.learning_rate:g} and "
                  f"{seeds} repeats."),
        notes=[verdict, _aggregator_note(runs)])
    _plot(rows, args.rhos, out / f"{NAME}.png")
    _print(rows, args.rhos, seeds, epochs)
    print(verdict)
    print(_aggregator_note(runs))
    return rows


def _fit(model, train, val, test, *, epochs: int, patience: int):
    """Adam until the validation loss stops falling (best weights
    restored); returns (test logs, s/epoch, best epoch, epochs run)."""
    fitted = _convergence.fit_to_convergence(
        model, train, val, test, monitor_keys=["val_loss"], mode="min",
        batch_size=128, max_epochs=epochs, patience=patience)
    return (fitted["logs"], fitted["epoch_seconds"], fitted["best_epoch"],
            fitted["epochs"])


def _add_paired(rows, runs) -> None:
    """Adds `diff_vs_shared_bottom_mean/_ci95` (this method's test loss
    minus shared-bottom's on the same (rho, seed)) to each row."""
    for row in rows:
        d = _stats.paired_difference(
            runs, "test_loss", row["method"], "shared_bottom",
            where={"rho": row["rho"]})
        row["diff_vs_shared_bottom_mean"] = d["mean"]
        row["diff_vs_shared_bottom_ci95"] = d["half_width"]


def _growth(loss, method, hi, lo, seeds) -> list[float]:
    return [loss[(method, lo, s)] - loss[(method, hi, s)] for s in seeds]


def _verdict(runs, rhos) -> str:
    """What the sweep shows about MMoE vs shared-bottom, in words.

    Per seed (same data for both models), the growth of the test loss
    from the highest to the lowest rho; the paired difference of the
    growths (shared-bottom minus MMoE) is called real only when its 95%
    t-interval excludes 0. Also MMoE minus shared-bottom at each rho.
    """
    hi, lo = max(rhos), min(rhos)
    loss = {(r["method"], float(r["rho"]), r["seed"]): float(r["test_loss"])
            for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    try:
        grow = {m: _growth(loss, m, hi, lo, seeds)
                for m in ("shared_bottom", "mmoe")}
    except KeyError:
        return "MMoE vs shared-bottom: not measured in this run."
    diff, half = _stats.mean_ci(
        [a - b for a, b in zip(grow["shared_bottom"], grow["mmoe"])])
    sb, sb_half = _stats.mean_ci(grow["shared_bottom"])
    mmoe, mmoe_half = _stats.mean_ci(grow["mmoe"])
    real = len(seeds) > 1 and abs(diff) > half
    if not real:
        finding = ("no difference beyond the seed noise in how the two "
                   "degrade (the paired 95% interval includes 0)")
    elif diff > 0:
        finding = "MMoE degrades less than shared-bottom (the paper's finding)"
    else:
        finding = "MMoE degrades MORE than shared-bottom (against the paper)"
    pairs = [(rho, s) for rho in rhos for s in seeds]
    lower = sum(loss[("mmoe", rho, s)] < loss[("shared_bottom", rho, s)]
                for rho, s in pairs)
    per_rho = []
    for rho in sorted(rhos, reverse=True):
        d = _stats.paired_difference(runs, "test_loss", "mmoe",
                                     "shared_bottom", where={"rho": rho})
        per_rho.append(f"rho={rho:g}: "
                       + _stats.interval_text(d["mean"], d["half_width"], 4)
                       + (" (real)" if d["real"] else " (noise)"))
    t = _stats.interval_text
    return (f"From rho={hi:g} to rho={lo:g} the test loss grows by "
            f"{t(sb, sb_half, 4)} for shared-bottom and "
            f"{t(mmoe, mmoe_half, 4)} for MMoE (95% intervals over "
            f"{len(seeds)} seed(s)); shared-bottom's growth minus MMoE's, "
            f"paired by seed: {t(diff, half, 4)}: {finding}. "
            "MMoE minus shared-bottom test loss, paired by seed: "
            + "; ".join(per_rho) + f". MMoE's test loss is below "
            f"shared-bottom's at {lower} of {len(pairs)} (rho, seed) pairs."
            + ("" if real or abs(sb) > sb_half else _NO_TREND))


# Why the paper's trend can fail to show here (said only when it does).
_NO_TREND = (
    " Why the paper's trend does not show: shared-bottom's own loss does "
    "not grow as rho falls (its interval above includes 0), so there is "
    "no degradation for MMoE to soften. The paper reads its finding off "
    "training-loss curves at equal steps (Figure 4); we train each model "
    "to its early-stopped best and compare test MSE, where a 113-unit "
    "bottom on 100 inputs has room for both label directions. Whether "
    "the paper's gap is one of trainability (curves at equal steps) we "
    "did not test.")


def _aggregator_note(runs) -> str:
    """Paired change of each aggregator's loss against shared-bottom."""
    base = {(r["rho"], r["seed"]): r["test_loss"] for r in runs
            if r["method"] == "shared_bottom"}
    parts = []
    for method in AGGREGATORS:
        diffs = [float(r["test_loss"]) - float(base[(r["rho"], r["seed"])])
                 for r in runs
                 if r["method"] == method and (r["rho"], r["seed"]) in base]
        if diffs:
            mean, half = _stats.mean_ci(diffs)
            parts.append(f"{method} {_stats.interval_text(mean, half, 4)}")
    if not parts:
        return ("Aggregators vs shared-bottom: not run (opt in with "
                "--methods shared_bottom mmoe pcgrad upgrad cagrad).")
    return ("Test loss minus shared-bottom's on the same (rho, seed), mean "
            "± 95% interval over all pairs (negative = the aggregator "
            "helps): "
            + ", ".join(parts) + ".")


def _print(rows, rhos, seeds, epochs) -> None:
    print(f"\nSynthetic (MMoE paper), mean test MSE over the two tasks, mean "
          f"± 95% CI over {seeds} seed(s), {epochs} epoch(s)")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["method"], r["rho"]): r for r in rows}
    _results.print_table(
        ["method"] + [f"rho={rho:g}" for rho in rhos],
        [[m] + [_stats.interval_text(cell[(m, rho)]["test_loss_mean"],
                                     cell[(m, rho)]["test_loss_ci95"], 3)
                if (m, rho) in cell else "-" for rho in rhos]
         for m in methods])


def _plot(rows, rhos, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["rho"], r["test_loss_mean"],
                         0.0 if r["test_loss_ci95"] != r["test_loss_ci95"]
                         else r["test_loss_ci95"])
                        for r in rows if r["method"] == method)
        ax.errorbar([p[0] for p in points], [p[1] for p in points],
                    yerr=[p[2] for p in points], marker="o", capsize=2,
                    label=method)
    ax.set_xlabel("task correlation rho")
    ax.set_ylabel("test MSE (mean of 2 tasks)")
    ax.set_xticks(sorted(rhos))
    ax.legend(fontsize=7)
    ax.set_title("MMoE synthetic sweep", fontsize=9)
    _results.save_figure(fig, path)


if __name__ == "__main__":
    main(sys.argv[1:])
