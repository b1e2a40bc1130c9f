"""Loss weighting strategies compared on the synthetic MMoE data.

Two regression tasks from `keras_mtl.data.synthetic_mmoe` (Ma et al., 2018),
with the second task's labels multiplied by `--imbalance` (default 10) so
that its loss is about 100 times larger: with equal weights the shared
layers serve mostly that task. Each strategy trains the same hard-sharing
model from the same initial weights; the script prints each task's test
MSE divided by the task's label variance (1.0 = predicting the mean) and
the final weights, and writes the weight and loss trajectories of every
strategy to one PNG (`--output`, default `results/loss_weighting.png`).

DTP is left out: it needs a KPI in [0, 1] such as accuracy, and these
tasks are regressions.

`TaskWeightLogger` records the per-epoch trajectories (it also writes them
to TensorBoard when a `keras.callbacks.TensorBoard` callback is in the
same `fit`), and `keras_mtl.reporting.plot_task_trajectories` draws them.

`--quick` (or `KERAS_MTL_QUICK=1`) shrinks data and epochs to a smoke test
of a few seconds (the quick runs train eagerly: for a handful of steps that
beats tracing the step once per strategy).

Run: python examples/loss_weighting.py [--quick] [--strategies dwa,famo]
"""

import argparse
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_mtl  # noqa: E402
from keras_mtl import weightings  # noqa: E402
from keras_mtl.reporting import plot_task_trajectories  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

STRATEGIES = {
    "equal": lambda: weightings.EqualWeighting(),
    "uncertainty": lambda: weightings.UncertaintyWeighting(),
    "dwa": lambda: weightings.DWA(temperature=2.0),
    "gradnorm": lambda: weightings.GradNorm(alpha=1.5),
    "rlw": lambda: weightings.RLW(seed=0),
    "gls": lambda: weightings.GLS(),
    "imtl_l": lambda: weightings.IMTLL(),
    "famo": lambda: weightings.FAMO(),
    "stch": lambda: weightings.STCH(),
    "main_first": lambda: weightings.ScheduledWeighting.main_task_first(
        "task_1", warmup=2, ramp=3),
}


def make_data(num_samples: int, imbalance: float, seed: int = 0):
    x, y = keras_mtl.data.synthetic_mmoe(num_samples, correlation=0.5,
                                         seed=seed)
    y["task_2"] = y["task_2"] * imbalance
    split = int(0.8 * num_samples)
    train = (x[:split], {k: v[:split] for k, v in y.items()})
    test = (x[split:], {k: v[split:] for k, v in y.items()})
    return train, test


def train_one(name: str, train, test, epochs: int, run_eagerly: bool):
    """Trains one strategy; returns (normalised test MSE, weights, logs)."""
    keras.utils.set_random_seed(0)
    tasks = [keras_mtl.Task(t, kind="regression", head_units=(16,))
             for t in ("task_1", "task_2")]
    model = keras_mtl.build(keras.Input((train[0].shape[1],)), tasks,
                            trunk=(64, 32), name=f"hard_{name}")
    model.compile(keras.optimizers.Adam(1e-3),
                  weighting=STRATEGIES[name](), run_eagerly=run_eagerly)
    logger = keras_mtl.callbacks.TaskWeightLogger()
    model.fit(*train, epochs=epochs, batch_size=128, verbose=0,
              validation_data=test, callbacks=[logger])
    result = model.evaluate(*test, batch_size=1024, verbose=0)
    scores = {t.name: result[f"{t.name}_loss"] / float(np.var(
        test[1][t.name])) for t in tasks}
    final = {t.name: logger.trajectory[f"{t.name}_weight"][-1]
             for t in tasks}
    return scores, final, logger.trajectory


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated, from {list(STRATEGIES)}")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=None)
    parser.add_argument("--imbalance", type=float, default=10.0)
    parser.add_argument("--output",
                        default=str(ROOT / "results" / "loss_weighting.png"))
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("KERAS_MTL_QUICK") == "1")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; "
                     f"choose from {list(STRATEGIES)}")
    tf.get_logger().setLevel("ERROR")  # one model per strategy: retracing
    epochs = args.epochs or (2 if args.quick else 30)
    num_samples = args.num_samples or (320 if args.quick else 12_000)
    train, test = make_data(num_samples, args.imbalance)
    print(f"{len(train[0])} training / {len(test[0])} test samples, "
          f"{epochs} epochs, task_2 labels x{args.imbalance:g}")

    results, trajectories = {}, {}
    for name in names:
        scores, final, trajectory = train_one(
            name, train, test, epochs, run_eagerly=args.quick)
        results[name] = {"mse": scores, "weights": final}
        trajectories[name] = trajectory

    print(f"\n{'strategy':<13}{'task_1 MSE/var':>16}{'task_2 MSE/var':>16}"
          f"{'w_1':>9}{'w_2':>9}")
    for name, row in results.items():
        print(f"{name:<13}{row['mse']['task_1']:>16.3f}"
              f"{row['mse']['task_2']:>16.3f}"
              f"{row['weights']['task_1']:>9.3g}"
              f"{row['weights']['task_2']:>9.3g}")
    path = plot_task_trajectories(
        trajectories, args.output, loss_scale="log",
        title="Task weights and losses per strategy (synthetic MMoE data)")
    print(f"\nTrajectories written to {path}")
    return {"results": results, "plot": path}


if __name__ == "__main__":
    main()
