"""Shared plumbing of the result benchmarks: flags, seeds, CSVs, plots.

Every result script (`census_income.py`, `mmoe_synthetic.py`,
`multimnist.py`, `yeast.py`) trains a list of methods over several seeds,
then writes three files into `benchmarks/results/` (or `--out`):

```
<name>.csv        one row per method: mean and sd over seeds per metric
<name>_runs.csv   one row per (method, seed, ...): the raw numbers
<name>.json       the protocol, the command, the wall time and notes
```

`make_readme_results.py` builds the README's results section from these
files only, so a number in the README always comes from a CSV that a
command wrote.
"""

import argparse
import csv
import json
import math
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"


def parser(description: str, seeds: int,
           epochs: int) -> argparse.ArgumentParser:
    """The flags every result script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny data and one short run per method (seconds): "
                        "a smoke test, not a result")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"number of seeds 0..N-1 (default {seeds}; "
                        "--quick: 1)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {epochs}; --quick: 1)")
    p.add_argument("--out", default=str(RESULTS),
                   help="folder for the CSV, JSON and PNG files")
    p.add_argument("--threads", type=int, default=2,
                   help="TensorFlow intra/inter-op threads")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs in <name>_runs.csv and train only "
                        "the missing (method, seed, ...) combinations")
    p.add_argument("--prior-seconds", type=float, default=0.0,
                   help="wall seconds of an interrupted earlier run whose "
                        "runs --resume kept, added to the recorded time")
    p.add_argument("--from-runs", action="store_true",
                   help="no training: rebuild the table, CSV and plot from "
                        "the <name>_runs.csv of an earlier run in --out")
    p.set_defaults(default_seeds=seeds, default_epochs=epochs)
    return p


def resolve(args: argparse.Namespace) -> tuple[int, int]:
    """`(seeds, epochs)` from the flags and the quick switch."""
    seeds = args.seeds or (1 if args.quick else args.default_seeds)
    epochs = args.epochs or (1 if args.quick else args.default_epochs)
    if seeds < 1 or epochs < 1:
        raise SystemExit(
            f"--seeds and --epochs must be >= 1. Received: seeds={seeds}, "
            f"epochs={epochs}.")
    return seeds, epochs


def set_threads(threads: int) -> None:
    """Caps TensorFlow's thread pools (a no-op once TF has started, as
    when a test calls `main` in a process that already ran TF)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


def command_line() -> str:
    """The command that reproduces the results, relative to the
    repository root (bookkeeping flags such as `--resume` left out)."""
    script = pathlib.Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg in ("--resume", "--from-runs"):
            continue
        if arg == "--prior-seconds":
            skip = True
            continue
        if arg.startswith("--prior-seconds="):
            continue
        argv.append(shlex.quote(arg))
    return " ".join(["python", script_text] + argv)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), sd


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_csv(path: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def read_csv(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_meta(path: pathlib.Path, **meta: Any) -> None:
    meta.setdefault("command", command_line())
    meta.setdefault("machine", f"{os.cpu_count()} CPU cores, "
                               f"{platform.machine()}, Python "
                               f"{platform.python_version()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


def pm(mean: float, sd: float, digits: int = 4) -> str:
    """`mean ± sd` as text."""
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def print_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


class EpochTimer:
    """A Keras callback recording each epoch's wall time (seconds)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self._start = 0.0

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def epoch_seconds(timer: Any) -> float:
    """Seconds per epoch, leaving out the first (tracing) when possible."""
    seconds = timer.seconds[1:] or timer.seconds
    return statistics.median(seconds)


def save_figure(fig: Any, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


class Retrainer:
    """Trains a model built by `make(key)` many times, tracing it once.

    Tracing a multi-task step (a Jacobian loop over the tasks included)
    costs seconds of CPU, more than training these small models, so each
    `key` keeps its first compiled model; later runs copy in the initial
    weights of a fresh, seeded build of the same model (not traced) and
    restore the optimizer, weighting and aggregator state to their
    values before the first step. A run is therefore the same as training
    a freshly built model with that seed.
    """

    def __init__(self, make: Any) -> None:
        self.make = make
        self.models: dict[Any, tuple[Any, list, list]] = {}

    def fresh(self, key: Any, seed: int) -> Any:
        import keras

        keras.utils.set_random_seed(seed)
        new = self.make(key)
        if key not in self.models:
            new.optimizer.build(new.trainable_variables)
            state = _state_variables(new)
            self.models[key] = (new, state, [v.numpy() for v in state])
            return new
        model, state, values = self.models[key]
        if len(model.weights) != len(new.weights):
            # State created by the first step (e.g. Nash-MTL's warm
            # start) has no fresh value to copy: train the new build.
            return new
        model.set_weights(new.get_weights())
        for variable, value in zip(state, values):
            variable.assign(value)
        return model


def _state_variables(model: Any) -> list:
    state = list(model.optimizer.variables)
    for name in ("weighting", "aggregator"):
        layer = getattr(model, name, None)
        if layer is not None:
            state += [v for v in layer.variables
                      if all(v is not s for s in state)]
    return state


def has_run(runs: list[dict[str, Any]], **key: Any) -> bool:
    """Whether `runs` holds a run with these values (for `--resume`)."""
    return any(all(str(r.get(k)) == str(v) for k, v in key.items())
               for r in runs)


def load_runs(path: pathlib.Path) -> list[dict[str, Any]]:
    """Reads a `<name>_runs.csv` back (numbers as int/float)."""
    runs = []
    for row in read_csv(path):
        run: dict[str, Any] = {}
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                run[key] = value
                continue
            run[key] = int(number) if key == "seed" else number
        runs.append(run)
    return runs


def wall_seconds(args: argparse.Namespace, clock: Stopwatch,
                 meta_path: pathlib.Path) -> float:
    """This run's wall time, or the recorded one with `--from-runs`."""
    prior = float(getattr(args, "prior_seconds", 0.0) or 0.0)
    if getattr(args, "from_runs", False) and meta_path.is_file():
        recorded = float(json.loads(meta_path.read_text())["wall_seconds"])
        return round(recorded + prior, 1)
    return round(clock.seconds + prior, 1)



class RunLog:
    """One benchmark run: its output folder, wall clock and raw runs.

    Starting it caps TensorFlow's threads (`--threads`) and the clock.
    With `--resume` or `--from-runs` it starts from the runs already in
    `<out>/<name>_runs.csv`; `record` appends a run and rewrites that file
    at once, so an interrupted benchmark keeps every finished run.
    """

    def __init__(self, args: argparse.Namespace, name: str) -> None:
        set_threads(args.threads)
        self.args = args
        self.name = name
        self.out = pathlib.Path(args.out)
        self.clock = Stopwatch()
        self.path = self.out / f"{name}_runs.csv"
        self.runs: list[dict[str, Any]] = (
            load_runs(self.path) if args.from_runs or args.resume else [])

    def pending(self, **key: Any) -> bool:
        """False when `--resume` found a run with these values."""
        return not (self.args.resume and has_run(self.runs, **key))

    def record(self, run: dict[str, Any], message: str) -> None:
        self.runs.append(run)
        write_csv(self.path, self.runs)
        print(message, flush=True)

    def write_results(self, rows: list[dict[str, Any]], *, seeds: int,
                      epochs: int, **meta: Any) -> None:
        """Writes `<name>.csv` (the summary `rows`), `<name>_runs.csv`
        and `<name>.json` (the protocol `meta`, the wall time so far and
        the command)."""
        write_csv(self.out / f"{self.name}.csv", rows)
        write_csv(self.path, self.runs)
        meta_path = self.out / f"{self.name}.json"
        write_meta(meta_path, name=self.name, quick=self.args.quick,
                   seeds=seeds, epochs=epochs,
                   wall_seconds=wall_seconds(self.args, self.clock,
                                             meta_path), **meta)


def fit_and_evaluate(model: Any, train: tuple, test: tuple, *,
                     batch_size: int, epochs: int,
                     eval_batch_size: int = 1024) -> tuple[dict, float]:
    """Trains `model` on `train = (x, y)` and evaluates it on `test`.

    Returns the evaluation logs (a dict) and the seconds per epoch
    (`epoch_seconds`: the median, first epoch left out when possible).
    """
    timer = EpochTimer()
    model.fit(*train, batch_size=batch_size, epochs=epochs, verbose=0,
              callbacks=[timer])
    logs = model.evaluate(*test, batch_size=eval_batch_size, verbose=0,
                          return_dict=True)
    return logs, epoch_seconds(timer)
