"""Overhead of `MultiTaskModel.fit` (no aggregator) over plain Keras fit.

Both train the same Functional graph with the same losses and metrics
(sparse categorical cross-entropy and accuracy per task); the multi-task
model adds its masked per-task losses, weighting and per-task logs.
Target: within 5% (cost ratio <= 1.05). Two workloads: the peers' LeNet
(`_lenet.py`, batch 256) and a small MLP, where fixed per-step costs
weigh most. Repetitions are interleaved; medians are printed (the cost
is the median of the ratios paired within each round).

    python benchmarks/bench_fit_overhead.py [--quick]
"""

import argparse

import _lenet
import keras
import numpy as np

import keras_mtl


def mlp_graph(num_tasks: int) -> tuple:
    task_list = _lenet.tasks(num_tasks)
    inputs = keras.Input((100,), name="features")
    h = keras.layers.Dense(128, activation="relu")(inputs)
    h = keras.layers.Dense(64, activation="relu")(h)
    outputs = {t.name: t.build_head(h) for t in task_list}
    return inputs, outputs, task_list


def models(graph_fn, num_tasks: int) -> dict:
    inputs, outputs, task_list = graph_fn(num_tasks)
    multitask = keras_mtl.MultiTaskModel(inputs, outputs, tasks=task_list)
    multitask.compile(keras.optimizers.SGD(0.01))
    inputs, outputs, task_list = graph_fn(num_tasks)
    plain = keras.Model(inputs, outputs)
    plain.compile(
        keras.optimizers.SGD(0.01),
        loss={t.name: "sparse_categorical_crossentropy" for t in task_list},
        metrics={t.name: ["accuracy"] for t in task_list})
    return {"plain keras fit": plain, "MultiTaskModel fit": multitask}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 9)
    _lenet.set_threads(args.threads)
    rng = np.random.default_rng(0)
    workloads = {
        "lenet": (_lenet.graph, _lenet.data(args.tasks,
                                             6 if args.quick else 16)),
        "mlp": (mlp_graph, (
            rng.normal(size=(256 * 40, 100)).astype("float32"),
            {f"task_{i}": rng.integers(0, 10, 256 * 40).astype("int32")
             for i in range(args.tasks)})),
    }
    print(f"T = {args.tasks}, batch {_lenet.BATCH}, median of {repeats}, "
          f"{args.threads} threads; cost = plain steps/s / MultiTaskModel "
          "steps/s (target <= 1.05)")
    for name, (graph_fn, (x, y)) in workloads.items():
        pair = models(graph_fn, args.tasks)
        for model in pair.values():
            model.fit(x[:_lenet.BATCH],
                      {k: v[:_lenet.BATCH] for k, v in y.items()},
                      batch_size=_lenet.BATCH, epochs=1, verbose=0)
        samples = _lenet.interleaved(
            {k: (lambda m=m, x=x, y=y: _lenet.steps_per_second(m, x, y))
             for k, m in pair.items()}, repeats)
        results = _lenet.summarize(samples, "plain keras fit")
        plain = results["plain keras fit"][0]
        multitask, cost = results["MultiTaskModel fit"]
        print(f"  {name:6s} plain {plain:8.2f} steps/s   MultiTaskModel "
              f"{multitask:8.2f} steps/s   cost {cost:.3f}x")


if __name__ == "__main__":
    main()
