"""Steps per second of keras_mtl's aggregators, as ratios to plain fit.

The peers' workload (`_lenet.py`): LeNet trunk, T = 2, 3, 5 heads, batch
256, random 28x28x1 inputs, two threads. For each T, in one run: plain
Keras `fit` on the same Functional graph, `MultiTaskModel` without an
aggregator, and Mean, PCGrad, MGDA, UPGrad, CAGrad in Jacobian and in
representation mode. Repetitions are interleaved and the medians printed,
as cost ratios (plain steps/s divided by the variant's, paired within
each round of the repetitions: 2.0 = half as fast).

    python benchmarks/bench_aggregators.py            # full run
    python benchmarks/bench_aggregators.py --quick    # T=2, short
"""

import argparse

import _lenet

AGGREGATORS = ("mean", "pcgrad", "mgda", "upgrad", "cagrad")
MODES = ("jacobian", "representation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="T=2 only, few steps, one repetition")
    parser.add_argument("--tasks", type=int, nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--aggregators", nargs="*", default=AGGREGATORS)
    args = parser.parse_args()
    task_counts = args.tasks or ([2] if args.quick else [2, 3, 5])
    steps = args.steps or (6 if args.quick else 8)
    repeats = args.repeats or (1 if args.quick else 7)
    _lenet.set_threads(args.threads)

    print(f"batch {_lenet.BATCH}, {steps} timed steps per sample, median of "
          f"{repeats}, {args.threads} threads; cost = plain steps/s / "
          "variant steps/s")
    for num_tasks in task_counts:
        x, y = _lenet.data(num_tasks, steps + 2)
        models = {"plain keras fit": _lenet.plain_model(num_tasks),
                  "MultiTaskModel, no aggregator":
                      _lenet.multitask_model(num_tasks)}
        for name in args.aggregators:
            for mode in MODES:
                models[f"{name} ({mode})"] = _lenet.multitask_model(
                    num_tasks, aggregator=name, aggregation_mode=mode)
        for model in models.values():  # trace every step function first
            model.fit(x[:_lenet.BATCH],
                      {k: v[:_lenet.BATCH] for k, v in y.items()},
                      batch_size=_lenet.BATCH, epochs=1, verbose=0)
        samples = _lenet.interleaved(
            {name: (lambda m=model, x=x, y=y:
                    _lenet.steps_per_second(m, x, y))
             for name, model in models.items()}, repeats)
        results = _lenet.summarize(samples, "plain keras fit")
        print(f"\nT = {num_tasks}")
        print(f"  {'variant':34s} {'steps/s':>8s} {'cost':>6s}")
        for name, (rate, cost) in results.items():
            print(f"  {name:34s} {rate:8.2f} {cost:6.2f}x")


if __name__ == "__main__":
    main()
