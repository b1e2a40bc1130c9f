"""Cost of `import keras_mtl` against `import keras`, in fresh processes.

Each measurement is a new Python process that times one import statement
with `time.perf_counter` (interpreter start-up excluded). The two
statements alternate within each round (the order flips every round), so
that load on the machine hits both alike. Target (issue 19): the ratio of
the fastest runs is at most 1.2. Both run with the caller's environment,
without `KERAS_BACKEND` unless the caller sets it (keras_mtl does not).

    python benchmarks/bench_import.py [--rounds 7] [--quick]
"""

import argparse
import os
import statistics
import subprocess
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROGRAM = (
    "import time\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "print(time.perf_counter() - start)\n"
)
MODULES = ("keras", "keras_mtl")


def time_import(module: str) -> float:
    """Seconds one fresh process takes to run `import module`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(module=module)],
        env=env, capture_output=True, text=True, check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds (a smoke run, not a measurement)")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    times: dict[str, list[float]] = {m: [] for m in MODULES}
    ratios = []
    for r in range(rounds):
        order = MODULES if r % 2 == 0 else MODULES[::-1]
        got = {m: time_import(m) for m in order}
        for m in MODULES:
            times[m].append(got[m])
        ratios.append(got["keras_mtl"] / got["keras"])
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"import {m} {got[m]:.2f} s" for m in MODULES)
            + f", ratio {ratios[-1]:.3f}", flush=True)
    for m in MODULES:
        print(f"import {m:9s} min {min(times[m]):.2f} s, median "
              f"{statistics.median(times[m]):.2f} s, max "
              f"{max(times[m]):.2f} s")
    best = min(times["keras_mtl"]) / min(times["keras"])
    print(f"ratio keras_mtl / keras: fastest runs {best:.3f}, median of "
          f"paired ratios {statistics.median(ratios):.3f} "
          f"(target <= 1.2)")


if __name__ == "__main__":
    main()
