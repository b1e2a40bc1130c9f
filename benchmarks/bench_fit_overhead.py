"""What the multi-task step and its safety cost, from one run.

Pairs (baseline -> variant), each trained on the same graph with the same
losses and metrics:

- `lenet` / `mlp`: plain Keras `fit` -> `MultiTaskModel.fit` with the
  default policy (`on_nonfinite="drop_task"`: loss screen, gradient
  check, transactional snapshot and verification) and no aggregator.
  Target <= 1.03x. The LeNet workload is the peers' (`_lenet.py`, batch
  256); the MLP (100 -> 128 -> 64, batch 256) is where fixed per-step
  costs weigh most;
- `mlp policy`: `MultiTaskModel` with `on_nonfinite=None` -> the default
  policy: the price of safety alone on the MLP;
- `upgrad policy`: UPGrad, Jacobian mode, 3 tasks, LeNet, with
  `on_nonfinite=None` -> the same with the default policy. Target <= 1.05x;
- `mlp guard floor` / `lenet guard floor` (reference, no target): plain
  Keras `fit` -> the same model with only a bare transactional guard
  added to Keras's own step (`_guard_floor.py`): what any step that
  snapshots, checks and can roll back costs, before keras_mtl's per-task
  work;
- `representation`: plain Keras `fit` -> UPGrad in representation mode
  (MGDA-UB) with the default policy, LeNet. Target <= 1.00x.

Whole epochs stall at random on shared 2-core machines (PITFALLS.md), and
a stall only ever slows a round down, so every variant runs many short
rounds, interleaved, and the ratio compares the *fastest* round of each
(`cost = baseline steps/s / variant steps/s`). The `p75 cost` column is
the ratio of the 75th-percentile rates (a typical good round); a cost
whose percentile ratio is far from the fastest one was measured on a
noisy machine. The machine's speed also drifts between rounds (other
tenants of the host), which the fastest rounds of two configurations
measured minutes apart do not cancel, so each round runs baseline,
variant, variant, baseline back to back and `paired` is the median over
rounds of that round's seconds-per-step ratio (with its interquartile
range): a drift within a round cancels in it.

    python benchmarks/bench_fit_overhead.py            # ~5 minutes
    python benchmarks/bench_fit_overhead.py --quick    # smoke test
"""

import argparse
import time
from typing import Any
from typing import Sequence

import _lenet
import keras
import numpy as np
from _guard_floor import GuardedKerasModel

import keras_mtl

MLP_BATCH = 256


def mlp_graph(num_tasks: int) -> tuple:
    task_list = _lenet.tasks(num_tasks)
    inputs = keras.Input((100,), name="features")
    h = keras.layers.Dense(128, activation="relu")(inputs)
    h = keras.layers.Dense(64, activation="relu", name="shared_top")(h)
    h = keras.layers.Identity(name="shared_representation")(h)
    outputs = {t.name: t.build_head(h) for t in task_list}
    return inputs, outputs, task_list


def plain(graph_fn: Any, num_tasks: int,
          model_class: type = keras.Model) -> keras.Model:
    inputs, outputs, task_list = graph_fn(num_tasks)
    model = model_class(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.01),
        loss={t.name: "sparse_categorical_crossentropy" for t in task_list},
        metrics={t.name: ["accuracy"] for t in task_list})
    return model


def multitask(graph_fn: Any, num_tasks: int, **compile_args: Any):
    inputs, outputs, task_list = graph_fn(num_tasks)
    model = keras_mtl.MultiTaskModel(
        inputs, outputs, tasks=task_list,
        representation="shared_representation")
    model.compile(keras.optimizers.SGD(0.01), **compile_args)
    return model


def pairs(num_tasks: int) -> list[tuple]:
    """`(name, workload, baseline factory, variant factory, target)`."""
    lenet, mlp = _lenet.graph, mlp_graph
    return [
        ("lenet", "lenet", lambda: plain(lenet, num_tasks),
         lambda: multitask(lenet, num_tasks), 1.03),
        ("mlp", "mlp", lambda: plain(mlp, num_tasks),
         lambda: multitask(mlp, num_tasks), 1.03),
        ("mlp policy", "mlp",
         lambda: multitask(mlp, num_tasks, on_nonfinite=None),
         lambda: multitask(mlp, num_tasks), 1.03),
        ("upgrad policy", "lenet",
         lambda: multitask(lenet, num_tasks, aggregator="upgrad",
                           aggregation_mode="jacobian", on_nonfinite=None),
         lambda: multitask(lenet, num_tasks, aggregator="upgrad",
                           aggregation_mode="jacobian"), 1.05),
        ("mlp guard floor", "mlp", lambda: plain(mlp, num_tasks),
         lambda: plain(mlp, num_tasks, GuardedKerasModel), None),
        ("lenet guard floor", "lenet", lambda: plain(lenet, num_tasks),
         lambda: plain(lenet, num_tasks, GuardedKerasModel), None),
        ("representation", "lenet", lambda: plain(lenet, num_tasks),
         lambda: multitask(lenet, num_tasks, aggregator="upgrad",
                           aggregation_mode="representation"), 1.00),
    ]


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(num_tasks: int, rounds: int, steps: int,
            mlp_steps: int) -> list[dict]:
    """Runs every pair's two models in interleaved short rounds."""
    rng = np.random.default_rng(0)
    data = {
        "lenet": _lenet.data(num_tasks, steps),
        "mlp": (rng.normal(size=(MLP_BATCH * mlp_steps, 100)).astype(
            "float32"), {f"task_{i}": rng.integers(
                0, 10, MLP_BATCH * mlp_steps).astype("int32")
                for i in range(num_tasks)}),
    }
    models = []
    for name, workload, make_base, make_variant, target in pairs(num_tasks):
        x, y = data[workload]
        built = (make_base(), make_variant())
        for model in built:  # trace the step before timing
            model.fit(x[:2 * _lenet.BATCH],
                      {k: v[:2 * _lenet.BATCH] for k, v in y.items()},
                      batch_size=_lenet.BATCH, epochs=1, verbose=0)
        models.append((name, workload, built, target))
    rates: dict[tuple, list] = {(n, i): [] for n, *_ in models
                                for i in (0, 1)}
    paired: dict[str, list] = {n: [] for n, *_ in models}
    for _ in range(rounds):
        for name, workload, built, _target in models:
            x, y = data[workload]
            # baseline, variant, variant, baseline: a drift in the
            # machine's speed during the round cancels in the ratio.
            seconds = {0: 0.0, 1: 0.0}
            for i in (0, 1, 1, 0):
                rate = _lenet.steps_per_second(built[i], x, y, skip=1)
                rates[(name, i)].append(rate)
                seconds[i] += 1.0 / rate
            paired[name].append(seconds[1] / seconds[0])
    results = []
    for name, workload, _built, target in models:
        base, variant = rates[(name, 0)], rates[(name, 1)]
        results.append({
            "cost_paired": float(np.median(paired[name])),
            "cost_paired_iqr": (_percentile(paired[name], 25),
                                _percentile(paired[name], 75)),
            "pair": name, "workload": workload, "target": target,
            "rounds": len(paired[name]),
            "baseline": max(base), "variant": max(variant),
            "cost": max(base) / max(variant),
            "cost_p75": _percentile(base, 75) / _percentile(variant, 75),
            "spread": (min(variant) / max(variant), min(base) / max(base)),
        })
    return results


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 12)
    steps, mlp_steps = (3, 3) if args.quick else (8, 30)
    try:
        _lenet.set_threads(args.threads)
    except RuntimeError:  # TensorFlow already started (e.g. under pytest)
        print("(thread counts left as TensorFlow started with)")
    start = time.perf_counter()
    results = measure(args.tasks, rounds, steps, mlp_steps)
    print(f"T = {args.tasks}, batch {_lenet.BATCH}, {args.threads} threads, "
          f"{rounds} interleaved rounds, fastest round of each; cost = "
          "baseline steps/s / variant steps/s")
    print(f"  {'pair':17s} {'baseline':>9s} {'variant':>9s} {'cost':>7s} "
          f"{'p75 cost':>9s} {'paired':>7s} {'paired IQR':>13s} "
          f"{'target':>7s}  slowest/fastest (var, base)")
    for r in results:
        target = "" if r["target"] is None else f"{r['target']:6.2f}x"
        verdict = "reference" if r["target"] is None else (
            "ok" if r["cost"] <= r["target"] else "OVER")
        print(f"  {r['pair']:17s} {r['baseline']:9.2f} {r['variant']:9.2f} "
              f"{r['cost']:6.3f}x {r['cost_p75']:8.3f}x "
              f"{r['cost_paired']:6.3f}x {r['cost_paired_iqr'][0]:5.3f}-"
              f"{r['cost_paired_iqr'][1]:5.3f}x {target:>7s} "
              f" {r['spread'][0]:.2f}, {r['spread'][1]:.2f}  {verdict}")
    print(f"took {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
