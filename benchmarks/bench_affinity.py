"""Overhead of the `TaskAffinity` callback over plain `MultiTaskModel.fit`.

The same model (MLP trunk 128-64 on 100 features, T tasks, batch 256)
trains with and without `keras_mtl.relations.TaskAffinity` at its default
frequency (`every_n_steps=10`) and, for reference, at every step. Rounds
are interleaved (plain, callback, every-step, plain, ...); each round is
one `fit` of `1 + epochs` epochs whose first epoch (graph tracing: the
callback wraps the step at `on_train_begin`) is dropped, and whose other
epochs are timed one by one. Printed: the fastest round's epoch time of
each set-up and its ratio to plain fit, with the spread of the paired
per-round ratios (min / median / max): whole epochs stall at random on
these machines, so the fastest rounds are the comparable ones.

    python benchmarks/bench_affinity.py [--quick] [--rounds 15]
"""

import argparse
import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _results  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_mtl  # noqa: E402
from keras_mtl.relations import TaskAffinity  # noqa: E402


def make_model(num_tasks: int, seed: int) -> keras_mtl.MultiTaskModel:
    keras.utils.set_random_seed(seed)
    tasks = [keras_mtl.Task(f"task_{i}", "multiclass", num_classes=10)
             for i in range(num_tasks)]
    model = keras_mtl.build(keras.Input((100,)), tasks, trunk=(128, 64))
    model.compile(keras.optimizers.SGD(0.01))
    return model


def one_round(model, callback, x, y, epochs: int, batch: int) -> float:
    """Fastest timed epoch of one fit (its first epoch dropped)."""
    timer = _results.EpochTimer()
    callbacks = [timer] + ([callback] if callback is not None else [])
    model.fit(x, y, batch_size=batch, epochs=1 + epochs, verbose=0,
              callbacks=callbacks)
    return min(timer.seconds[1:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny data, 1 round (a smoke test)")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per round (after one dropped)")
    parser.add_argument("--steps", type=int, default=40,
                        help="steps per epoch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs, args.steps = 1, 1, 4
    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    except RuntimeError:  # TensorFlow already ran in this process
        print(f"Note: --threads {args.threads} not applied (TensorFlow was "
              "already initialised in this process); using its setting.")
    batch = 256
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch * args.steps, 100)).astype("float32")
    y = {f"task_{i}": rng.integers(0, 10, len(x)).astype("int32")
         for i in range(args.tasks)}
    setups = {
        "plain fit": (make_model(args.tasks, 0), lambda: None),
        "TaskAffinity (every 10 steps, default)": (
            make_model(args.tasks, 0), lambda: TaskAffinity()),
        "TaskAffinity (every step)": (
            make_model(args.tasks, 0),
            lambda: TaskAffinity(every_n_steps=1)),
    }
    times: dict[str, list[float]] = {k: [] for k in setups}
    for _ in range(args.rounds):
        for name, (model, callback) in setups.items():
            times[name].append(one_round(model, callback(), x, y,
                                         args.epochs, batch))
    plain = times["plain fit"]
    print(f"T = {args.tasks}, batch {batch}, {args.steps} steps/epoch, "
          f"{args.rounds} interleaved rounds, {args.threads} threads; "
          "epoch time of the fastest round, ratio to plain fit, and the "
          "spread (min / median / max) of the per-round ratios")
    result = {}
    for name, values in times.items():
        ratios = [v / p for v, p in zip(values, plain)]
        fastest = min(values) / min(plain)
        result[name] = {"fastest_epoch_s": min(values), "ratio": fastest,
                        "ratio_spread": (min(ratios),
                                         statistics.median(ratios),
                                         max(ratios))}
        print(f"  {name:40s} {min(values) * 1000:8.1f} ms/epoch   "
              f"{fastest:5.3f}x   spread {min(ratios):.3f} / "
              f"{statistics.median(ratios):.3f} / {max(ratios):.3f}")
    return result


if __name__ == "__main__":
    main()
