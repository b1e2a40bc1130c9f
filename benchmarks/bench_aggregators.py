"""Steps per second of keras_mtl's aggregators against plain fit and the floor.

The peers' workload (`_lenet.py`): LeNet trunk, T heads, batch 256,
random 28x28x1 inputs, two threads. For each T (default 2, 3, 5, 10, 14)
the configurations are:

- `plain fit`: plain Keras `fit` on the same Functional graph and losses;
- `floor`: a bare Keras/TF loop (`_lenet.FloorLoop`): one forward pass,
  `T` `tape.gradient` calls, their mean applied with the same optimizer,
  in one `tf.function`. No Jacobian method can cost less;
- keras_mtl's Mean, PCGrad, MGDA, UPGrad, CAGrad and Nash-MTL in Jacobian
  mode, UPGrad and MGDA in representation mode, all with the default
  `on_nonfinite` policy.

Whole rounds stall at random on these machines (benchmarks/README.md), so
each configuration runs many short rounds, interleaved round-robin, and
the table shows its fastest round, its 20th-percentile round and the
spread (slowest, median, fastest). Ratios (`x plain`, `x floor`) compare
fastest rounds: `2.0x floor` = half the floor's steps per second. The
machine's speed also drifts between rounds (other tenants of the host),
so the `paired` ratios are medians over rounds of the ratio within one
round. The first call of each configuration (tracing plus one step) is
printed too.

    python benchmarks/bench_aggregators.py            # ~15 minutes alone
    python benchmarks/bench_aggregators.py --quick    # T=2, seconds
    python benchmarks/bench_aggregators.py --tasks 10 14 --rounds 12
"""

import argparse
import pathlib
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import _lenet
import _results
import numpy as np

JACOBIAN = ("mean", "pcgrad", "mgda", "upgrad", "cagrad", "nash_mtl")
REPRESENTATION = ("upgrad", "mgda")
TASKS = (2, 3, 5, 10, 14)


def configurations(num_tasks: int) -> dict[str, Callable[[], Any]]:
    """`{name: factory}` for every configuration, in table order."""
    made: dict[str, Callable[[], Any]] = {
        "plain fit": lambda: _lenet.plain_model(num_tasks),
        "floor": lambda: _lenet.FloorLoop(num_tasks),
    }
    for name in JACOBIAN:
        made[f"{name} jacobian"] = (
            lambda n=name: _lenet.multitask_model(
                num_tasks, aggregator=n, aggregation_mode="jacobian"))
    for name in REPRESENTATION:
        made[f"{name} representation"] = (
            lambda n=name: _lenet.multitask_model(
                num_tasks, aggregator=n, aggregation_mode="representation"))
    return made


def _first_call(model: Any, x: Any, y: dict) -> tuple[Callable, float]:
    """Traces `model`'s step with one batch; returns `(one round, seconds)`.

    A round runs `len(x) / BATCH` steps and returns the steps per second
    of all but the first two (fit's start-up is left out)."""
    start = time.perf_counter()
    if isinstance(model, _lenet.FloorLoop):
        batches = model.batches(x, y)
        model.step(*batches[0]).numpy()
        return (lambda: model.steps_per_second(batches),
                time.perf_counter() - start)
    model.fit(x[:_lenet.BATCH], {k: v[:_lenet.BATCH] for k, v in y.items()},
              batch_size=_lenet.BATCH, epochs=1, verbose=0)
    return (lambda: _lenet.steps_per_second(model, x, y, skip=1),
            time.perf_counter() - start)


def _paired_ratio(rates: dict[str, list], reference: str,
                 name: str) -> float:
    """Median over rounds of `reference`'s rate over `name`'s in the same
    round: the machine's speed drifts between rounds (other tenants of
    the host), and a drift slower than a round cancels in it."""
    if reference not in rates:
        return float("nan")
    return float(np.median([ref / own for ref, own in zip(
        rates[reference], rates[name])]))


def measure(num_tasks: int, rounds: int, steps: int,
            names: Sequence[str] | None = None) -> list[dict]:
    """Runs the configurations in `rounds` interleaved rounds of `steps`
    timed steps each; one result dict per configuration."""
    x, y = _lenet.data(num_tasks, steps + 2)
    runners, traces = {}, {}
    for name, factory in configurations(num_tasks).items():
        if names is None or name in names:
            runners[name], traces[name] = _first_call(factory(), x, y)
    rates: dict[str, list] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():  # round-robin
            rates[name].append(run())
    best = {name: max(r) for name, r in rates.items()}
    results = []
    for name, r in rates.items():
        results.append({
            "tasks": num_tasks, "config": name, "rounds": len(r),
            "fastest": best[name],
            "p20": float(np.percentile(r, 80)),  # 20% of rounds as fast
            "slowest": min(r), "median": float(np.median(r)),
            "x_plain": (best["plain fit"] / best[name]
                        if "plain fit" in best else float("nan")),
            "x_floor": (best["floor"] / best[name]
                        if "floor" in best else float("nan")),
            "x_plain_paired": _paired_ratio(rates, "plain fit", name),
            "x_floor_paired": _paired_ratio(rates, "floor", name),
            "first_call_s": traces[name],
        })
    return results


def expected_seconds(task_counts: Sequence[int], rounds: int,
                     steps: int) -> float:
    """A rough run length from earlier measurements on 2 cores: plain fit
    ~20 steps/s, a Jacobian step ~(1 + 0.38 T) plain steps, ~0.4 s of
    fit start-up per round, and a first call of ~(3 + 0.5 T) s."""
    total = 0.0
    for t in task_counts:
        jacobian = 1.0 + 0.38 * t
        per_round = (3 + 7 * jacobian) * (steps + 2) / 20.0 + 9 * 0.4
        total += rounds * per_round + 10 * (3.0 + 0.5 * t)
    return total


JACOBIAN_TARGET = 1.10  # x floor, issue 16
REPRESENTATION_TARGET = 1.05  # x plain fit, issue 16


def target_notes(results: list[dict]) -> list[str]:
    """One sentence per target of issue 16, read off `results`: where it
    is met and, by name and value, where it is missed."""
    notes = []
    for mode, key, target, against in (
            ("jacobian", "x_floor", JACOBIAN_TARGET, "the floor"),
            ("representation", "x_plain", REPRESENTATION_TARGET,
             "plain fit")):
        rows = [r for r in results if r["config"].endswith(f" {mode}")]
        if not rows:
            continue
        missed = [f"{r['config'].split()[0]} at T = {r['tasks']} "
                  f"({r[key]:.2f}x)" for r in rows if r[key] > target]
        tasks = sorted({r["tasks"] for r in rows})
        where = ", ".join(str(t) for t in tasks)
        verdict = ("met by every configuration" if not missed
                   else "missed by " + ", ".join(missed))
        notes.append(
            f"Target (issue 16): {mode} mode within {target:.2f}x of "
            f"{against} (fastest rounds) at T = {where}: {verdict}.")
    return notes


def print_table(results: list[dict]) -> None:
    print(f"\nT = {results[0]['tasks']} ({results[0]['rounds']} rounds; "
          "steps/s: fastest, 20th-percentile round, slowest/median; "
          "ratios of fastest rounds)")
    print(f"  {'configuration':26s} {'fastest':>8s} {'p20':>7s} "
          f"{'slowest':>8s} {'median':>7s} {'x plain':>8s} {'x floor':>8s} "
          f"{'paired x plain / x floor':>25s} {'first call':>10s}")
    for r in results:
        print(f"  {r['config']:26s} {r['fastest']:8.2f} {r['p20']:7.2f} "
              f"{r['slowest']:8.2f} {r['median']:7.2f} "
              f"{r['x_plain']:7.3f}x {r['x_floor']:7.3f}x "
              f"{r['x_plain_paired']:11.3f}x / {r['x_floor_paired']:6.3f}x "
              f"{r['first_call_s']:9.1f}s")


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="T=2, 2 rounds of 2 steps: a smoke test")
    parser.add_argument("--tasks", type=int, nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per round")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="a subset of the configuration names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", default=None,
                        help="also write every row to this CSV file "
                             "(default: benchmarks/results/"
                             "bench_aggregators.csv; none with --quick)")
    args = parser.parse_args(argv)
    task_counts = args.tasks or ([2] if args.quick else list(TASKS))
    rounds = args.rounds or (2 if args.quick else 8)
    steps = args.steps or (2 if args.quick else 6)
    known = list(configurations(2))
    for name in args.configs or ():
        if name not in known:
            raise ValueError(f"Unknown configuration {name!r}; choose from "
                             f"{known}.")
    try:
        _lenet.set_threads(args.threads)
    except RuntimeError:  # TensorFlow already started (e.g. under pytest)
        print("(thread counts left as TensorFlow started with)")
    print(f"batch {_lenet.BATCH}, {args.threads} threads, T in "
          f"{task_counts}, {rounds} interleaved rounds of {steps} timed "
          f"steps; expected run length ~"
          f"{expected_seconds(task_counts, rounds, steps) / 60:.0f} min "
          "alone on 2 cores")
    start = time.perf_counter()
    results = []
    for num_tasks in task_counts:
        table = measure(num_tasks, rounds, steps, args.configs)
        print_table(table)
        print(f"  (elapsed {time.perf_counter() - start:.0f} s)")
        results.extend(table)
    print(f"took {time.perf_counter() - start:.0f} s")
    for note in target_notes(results):
        print(note)
    path = args.csv or (None if args.quick else str(
        _results.RESULTS / "bench_aggregators.csv"))
    if path:
        path = pathlib.Path(path)
        _results.write_csv(path, results)
        _results.write_meta(
            path.with_suffix(".json"), name="bench_aggregators",
            quick=args.quick, wall_seconds=round(
                time.perf_counter() - start, 1),
            protocol=(f"LeNet trunk (`benchmarks/_lenet.py`), batch "
                      f"{_lenet.BATCH}, SGD, random 28x28x1 inputs, "
                      f"{args.threads} threads; T in {task_counts}; "
                      f"{rounds} interleaved rounds of {steps} timed steps "
                      "per configuration; default on_nonfinite policy"),
            notes=target_notes(results))
        print(f"wrote {path} and its .json")
    return results


if __name__ == "__main__":
    main()
