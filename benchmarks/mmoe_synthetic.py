"""MMoE synthetic correlation sweep: shared-bottom vs MMoE vs gradient
aggregators as the two tasks' correlation falls.

Data: `keras_mtl.data.synthetic_mmoe` (Ma et al. 2018, section 3.2): two
regression tasks on 100 Gaussian inputs whose weight vectors have cosine
rho; fresh train and test draws per (rho, seed). Methods:

```
shared_bottom   Dense 16 shared, towers Dense 8, equal weights
mmoe            8 experts of Dense 16, one softmax gate per task, towers 8
pcgrad          shared_bottom + PCGrad (Yu et al. 2020), Jacobian mode
upgrad          shared_bottom + UPGrad (Quinton & Rey 2024), Jacobian mode
cagrad          shared_bottom + CAGrad (Liu et al. 2021), Jacobian mode
```

Metric: test MSE averaged over the two tasks (lower is better), after a
fixed number of Adam epochs. The paper's finding to check: MMoE's loss
grows less than shared-bottom's as rho falls.

Run: python benchmarks/mmoe_synthetic.py [--seeds 2] [--epochs 15] [--quick]
"""

import pathlib
import sys

import _results
import keras

import keras_mtl

NAME = "mmoe_synthetic"
RHOS = (-0.5, 0.0, 0.5, 0.9, 1.0)
METHODS = ("shared_bottom", "mmoe", "pcgrad", "upgrad", "cagrad")
TASKS = ("task_1", "task_2")


def make_model(method: str) -> keras_mtl.MultiTaskModel:
    tasks = [keras_mtl.Task(t, "regression") for t in TASKS]
    inputs = keras.Input((100,), name="x")
    if method == "mmoe":
        model = keras_mtl.build(inputs, tasks, architecture="mmoe",
                                num_experts=8, expert_units=(16,),
                                trunk=(8,), sharing_depth=0)
    else:
        model = keras_mtl.build(inputs, tasks, architecture="hard",
                                trunk=(16, 8), sharing_depth=1)
    aggregator = None if method in ("shared_bottom", "mmoe") else method
    model.compile(keras.optimizers.Adam(1e-3), aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None,
                  steps_per_execution=8)
    return model


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=2, epochs=15)
    p.add_argument("--train", type=int, default=None,
                   help="training samples per (rho, seed) (default 4000)")
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--rhos", type=float, nargs="*", default=list(RHOS))
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    num_train = args.train or (512 if args.quick else 4000)
    num_test = 256 if args.quick else args.test

    log = _results.RunLog(args, NAME)
    out = log.out
    retrainer = _results.Retrainer(make_model)
    for rho in ([] if args.from_runs else args.rhos):
        for seed in range(seeds):
            x, y = keras_mtl.data.synthetic_mmoe(
                num_train + num_test, rho, seed=1000 * seed + 7)
            x_test = x[num_train:]
            y_test = {k: v[num_train:] for k, v in y.items()}
            x, y = x[:num_train], {k: v[:num_train] for k, v in y.items()}
            for method in args.methods:
                if not log.pending(rho=rho, method=method, seed=seed):
                    continue
                logs, _ = _results.fit_and_evaluate(
                    retrainer.fresh(method, seed), (x, y), (x_test, y_test),
                    batch_size=128, epochs=epochs)
                losses = [logs[f"{t}_loss"] for t in TASKS]
                run = {"rho": rho, "method": method, "seed": seed,
                       "test_loss": sum(losses) / len(losses),
                       "task_1_loss": losses[0], "task_2_loss": losses[1]}
                log.record(run, f"rho {rho:+.1f} seed {seed} {method:14s} "
                           f"test loss {run['test_loss']:.4f}")

    runs = log.runs
    rows = _results.summarize(runs, ["method", "rho"],
                              ["test_loss", "task_1_loss", "task_2_loss"])
    verdict = _verdict(runs, args.rhos)
    log.write_results(
        rows, seeds=seeds, epochs=epochs,
        protocol=(f"synthetic_mmoe, 100 inputs, {num_train} train / "
                  f"{num_test} test samples per (rho, seed), batch 128, "
                  f"Adam 1e-3, {epochs} epochs, mean test MSE of the two "
                  f"tasks, mean ± sd over {seeds} seeds. Shared bottom "
                  "Dense 16 + towers 8; MMoE 8 experts of 16 + towers 8; "
                  "aggregators on the shared bottom, Jacobian mode."),
        notes=[verdict, _aggregator_note(runs)])
    _plot(rows, args.rhos, out / f"{NAME}.png")
    _print(rows, args.rhos, seeds, epochs)
    print(verdict)
    print(_aggregator_note(runs))
    return rows


def _verdict(runs, rhos) -> str:
    """What the sweep shows about MMoE vs shared-bottom, in words.

    Per seed (same data for both models), the growth of the test loss
    from the highest to the lowest rho; the paired difference of the
    growths is called a difference only when its mean exceeds its
    standard deviation over seeds.
    """
    hi, lo = max(rhos), min(rhos)
    loss = {(r["method"], r["rho"], r["seed"]): r["test_loss"] for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    try:
        grow = {m: [loss[(m, lo, s)] - loss[(m, hi, s)] for s in seeds]
                for m in ("shared_bottom", "mmoe")}
    except KeyError:
        return "MMoE vs shared-bottom: not measured in this run."
    diff_mean, diff_sd = _results.mean_sd(
        [a - b for a, b in zip(grow["shared_bottom"], grow["mmoe"])])
    sb, _ = _results.mean_sd(grow["shared_bottom"])
    mmoe, _ = _results.mean_sd(grow["mmoe"])
    pairs = [(rho, s) for rho in rhos for s in seeds]
    lower = sum(loss[("mmoe", rho, s)] < loss[("shared_bottom", rho, s)]
                for rho, s in pairs)
    if len(seeds) > 1 and abs(diff_mean) <= diff_sd:
        finding = ("no measurable difference in how the two degrade "
                   "(the paired difference is within the seed noise)")
    elif diff_mean > 0:
        finding = "MMoE degrades less than shared-bottom"
    else:
        finding = "MMoE does NOT degrade less than shared-bottom"
    return (f"From rho={hi:g} to rho={lo:g} the test loss grows by "
            f"{sb:+.4f} for shared-bottom and {mmoe:+.4f} for MMoE "
            f"(mean over {len(seeds)} seed(s); paired difference "
            f"{diff_mean:+.4f} ± {diff_sd:.4f}): {finding} in this run. "
            f"MMoE's test loss is below shared-bottom's at {lower} of "
            f"{len(pairs)} (rho, seed) pairs.")


def _aggregator_note(runs) -> str:
    """Paired change of each aggregator's loss against shared-bottom."""
    base = {(r["rho"], r["seed"]): r["test_loss"] for r in runs
            if r["method"] == "shared_bottom"}
    parts = []
    for method in ("pcgrad", "upgrad", "cagrad"):
        diffs = [r["test_loss"] - base[(r["rho"], r["seed"])] for r in runs
                 if r["method"] == method and (r["rho"], r["seed"]) in base]
        if diffs:
            mean, sd = _results.mean_sd(diffs)
            parts.append(f"{method} {mean:+.4f} ± {sd:.4f}")
    if not parts:
        return "Aggregators vs shared-bottom: not measured in this run."
    return ("Test loss minus shared-bottom's on the same (rho, seed), mean "
            "± sd over all pairs (negative = the aggregator helps): "
            + ", ".join(parts) + ".")


def _print(rows, rhos, seeds, epochs) -> None:
    print(f"\nSynthetic (MMoE paper), mean test MSE over the two tasks, mean "
          f"± sd over {seeds} seed(s), {epochs} epoch(s)")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["method"], r["rho"]): r for r in rows}
    _results.print_table(
        ["method"] + [f"rho={rho:g}" for rho in rhos],
        [[m] + [_results.pm(cell[(m, rho)]["test_loss_mean"],
                            cell[(m, rho)]["test_loss_sd"], 3)
                if (m, rho) in cell else "-" for rho in rhos]
         for m in methods])


def _plot(rows, rhos, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["rho"], r["test_loss_mean"], r["test_loss_sd"])
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
