"""Where one step of keras_mtl spends its time, stage by stage.

The peers' LeNet workload (`_lenet.py`, batch 256) at T tasks, with an
aggregator in Jacobian mode (default UPGrad; `--mode representation`:
the stages of `_profile_representation.py`) and the default `on_nonfinite`
policy. Each stage is its own `tf.function`, fed with real tensors from
the model, warmed, then timed as the fastest of several rounds (a stall
only slows a round, benchmarks/README.md). Stages:

- `forward`: the model and the task losses;
- `backward task t`: one `tape.gradient` of task t's loss to the shared
  and task variables (minus `forward (one task)`: the model and one
  task's loss);
- `stack`: the per-task gradients of each shared variable into `[T, ...]`;
- `flatten + screen`: reshape and cast to `[T, n_v]` float32, the
  non-finite row screen (`GradientEngine._aggregate`'s first half);
- `gramian`, `solver` (`weights_from_gramian`), `scatter` (`αᵀ J_v` back
  into each variable's shape);
- `aggregate (engine)`: `GradientEngine._aggregate` itself, as the step
  runs it (flatten, screen, Gramian, solver, scatter together);
- `guard`: the transaction (snapshot, verify, rollback_if) and
  `nonfinite.judge`;
- `full step`: `model.train_step` as `fit` runs it;
- `floor step`: the bare loop's step on a twin model (`_lenet.FloorLoop`:
  forward, `T` `tape.gradient` calls, mean, apply), for comparison.

Each stage also reports its op count in the traced graph (nodes of the
graph plus those of the functions it calls: while-loop bodies, gradient
functions), the ops one call runs and its while-loop iterations (one
call under the TensorFlow profiler, `_executed_ops.py`: a loop body counts
once per iteration, a `cond` one branch). Op counts are deterministic and
do not depend on the load of the machine, so they stay meaningful on a
shared one; the times do not.

    python benchmarks/profile_step.py --tasks 10
    python benchmarks/profile_step.py --tasks 5 10 14 --aggregator mgda
    python benchmarks/profile_step.py --tasks 5 10 14 --mode representation
    python benchmarks/profile_step.py --quick          # T=2, ops only
"""

import argparse
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import _executed_ops
import _lenet
import _profile_representation
import tensorflow as tf

from keras_mtl.training import nonfinite
from keras_mtl.training.engine import GradientEngine
from keras_mtl.training.nonfinite import dense_gradient
from keras_mtl.training.ownership import Ownership
from keras_mtl.training.transaction import Snapshot
from keras_mtl.training.transaction import step_state


def op_count(function: Any, *args: Any) -> int:
    """Ops in the traced graph of `function(*args)`, nested functions
    included."""
    graph_def = function.get_concrete_function(*args).graph.as_graph_def()
    return len(graph_def.node) + sum(
        len(f.node_def) for f in graph_def.library.function)


def fastest(function: Callable, args: tuple, rounds: int,
            calls: int) -> float:
    """Seconds per call: the fastest of `rounds` rounds of `calls`."""
    tf.nest.map_structure(lambda t: t, function(*args))  # warm
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            out = function(*args)
        tf.nest.map_structure(
            lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def guard_stage(model: Any) -> tuple[Callable, tuple]:
    """`(function, args)`: the transaction (snapshot, verify, rollback_if)
    and `nonfinite.judge` on zero gradients."""
    ownership = Ownership.of(model)
    grads = [tf.zeros_like(v) for v in ownership.variables]
    state = step_state(model, (model.weighting, model.aggregator))
    ok = tf.ones([len(model.task_names)], tf.bool)

    def guard(grads):
        snapshot = Snapshot.take(state)
        checked, verdict = nonfinite.judge(
            model._hidden.policy, grads, ownership, ok, ok, False, None)
        written = snapshot.verify()
        snapshot.rollback_if(tf.logical_not(
            tf.logical_and(verdict.apply, written)))
        return checked

    return guard, (grads,)


def stages(model: Any, x: Any, y: dict) -> list[tuple[str, Any, tuple]]:
    """`(name, tf.function, args)` for every stage of the step."""
    ownership = Ownership.of(model)
    shared = ownership.shared
    names = list(model.task_names)
    loss = tf.keras.losses.SparseCategoricalCrossentropy()
    engine = GradientEngine(model.aggregator, "jacobian")

    def forward(x, y):
        out = model(x, training=True)
        return tf.add_n([loss(y[k], out[k]) for k in names])

    def forward_one(x, y):  # the baseline of each backward stage
        out = model(x, training=True)
        return loss(y[names[0]], out[names[0]])

    def backward(t):
        own = list(ownership.by_task.values())[t]

        def run(x, y):
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                task_loss = loss(y[names[t]], out[names[t]])
            return tape.gradient(task_loss, shared + list(own))
        return run

    # Real per-task gradients of the shared variables, as stage inputs.
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        losses = [loss(y[k], out[k]) for k in names]
    rows = [tape.gradient(task_loss, shared) for task_loss in losses]
    del tape
    num_tasks = len(names)

    def stack(rows):
        return [tf.stack([dense_gradient(r[i], v) for r in rows])
                for i, v in enumerate(shared)]

    stacks = tf.function(stack)(rows)

    def flatten_screen(stacks):
        flat = [tf.cast(tf.reshape(s, [num_tasks, -1]), tf.float32)
                for s in stacks]
        sums = tf.add_n([tf.reduce_sum(tf.square(f), axis=1) for f in flat])
        ok = tf.math.is_finite(sums)
        return [tf.where(ok[:, None], f, tf.zeros_like(f)) for f in flat]

    flat = tf.function(flatten_screen)(stacks)

    def gramian(flat):
        return tf.add_n([tf.matmul(f, f, transpose_b=True) for f in flat])

    g = tf.function(gramian)(flat)

    def solver(g):
        return model.aggregator.weights_from_gramian(g)

    alpha = tf.cast(tf.function(solver)(g), tf.float32)

    def scatter(alpha, flat):
        return [tf.reshape(tf.matmul(alpha[None], f), v.shape)
                for f, v in zip(flat, shared)]

    def aggregate(stacks):
        return engine._aggregate(stacks, 1.0, (True, None))[0]

    guard = guard_stage(model)

    def full(x, y):
        return model.train_step((x, y))

    floor = _lenet.FloorLoop(num_tasks)

    found = [("forward", forward, (x, y)),
             ("forward (one task)", forward_one, (x, y))]
    found += [(f"backward task {t}", backward(t), (x, y))
              for t in range(num_tasks)]
    found += [("stack", stack, (rows,)),
              ("flatten + screen", flatten_screen, (stacks,)),
              ("gramian", gramian, (flat,)), ("solver", solver, (g,)),
              ("scatter", scatter, (alpha, flat)),
              ("aggregate (engine)", aggregate, (stacks,)),
              ("guard", *guard), ("full step", full, (x, y)),
              ("floor step", floor._step, (x, y))]
    return [(name, tf.function(f), args) for name, f, args in found]


def profile(num_tasks: int, aggregator: str, rounds: int, calls: int,
            timed: bool, mode: str = "jacobian") -> list[dict]:
    model = _lenet.multitask_model(num_tasks, aggregator=aggregator,
                                   aggregation_mode=mode)
    x, y = _lenet.data(num_tasks, 1)
    model.fit(x, y, batch_size=_lenet.BATCH, epochs=1, verbose=0)  # build
    x = tf.constant(x)
    y = {k: tf.constant(v) for k, v in y.items()}
    if mode == "representation":
        baseline = _lenet.multitask_model(num_tasks)
        plain = _lenet.plain_model(num_tasks)
        for other in (baseline, plain):
            other.fit(x, y, batch_size=_lenet.BATCH, epochs=1, verbose=0)
        found = _profile_representation.stages(
            model, baseline, plain, x, y, guard_stage(model))
        found = [(name, tf.function(f), args) for name, f, args in found]
    else:
        found = stages(model, x, y)
    results = []
    forward = {"ops": 0, "run": 0, "seconds": 0.0}
    for name, function, args in found:
        start = time.perf_counter()
        ops = op_count(function, *args)
        trace_s = time.perf_counter() - start
        seconds = fastest(function, args, rounds, calls) if timed else None
        run, loops = (_executed_ops.executed(function, *args)
                      if _executed_ops.available() else (None, {}))
        if name == "forward (one task)":
            forward = {"ops": ops, "run": run or 0, "seconds": seconds or 0.0}
        elif name.startswith("backward"):  # the forward pass subtracted
            ops -= forward["ops"]
            run = None if run is None else run - forward["run"]
            seconds = (None if seconds is None
                       else seconds - forward["seconds"])
        results.append({"tasks": num_tasks, "mode": mode, "stage": name,
                        "ops": ops, "run_ops": run,
                        "loop_iterations": sum(loops.values()),
                        "ms": None if seconds is None else 1e3 * seconds,
                        "trace_s": trace_s})
    return results


def print_profile(results: list[dict], aggregator: str) -> None:
    print(f"\nT = {results[0]['tasks']}, {aggregator} "
          f"({results[0]['mode']}), default policy; ops = in the traced "
          "graph, run = ops run by one call (profiler), loop = while-loop "
          "iterations in that call; ms = fastest round per call; backward "
          "= minus forward (one task)")
    print(f"  {'stage':26s} {'ops':>6s} {'run':>6s} {'loop':>5s} "
          f"{'ms':>8s} {'trace s':>8s}")
    for r in results:
        ms = "-" if r["ms"] is None else f"{r['ms']:.2f}"
        run = "-" if r["run_ops"] is None else str(r["run_ops"])
        print(f"  {r['stage']:26s} {r['ops']:6d} {run:>6s} "
              f"{r['loop_iterations']:5d} {ms:>8s} {r['trace_s']:8.1f}")


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="T=2, op counts only (no timing)")
    parser.add_argument("--tasks", type=int, nargs="+", default=None)
    parser.add_argument("--aggregator", default="upgrad")
    parser.add_argument("--mode", default="jacobian",
                        choices=["jacobian", "representation"],
                        help="aggregation_mode of the profiled step")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--ops-only", action="store_true",
                        help="op counts and trace times only")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        _lenet.set_threads(args.threads)
    except RuntimeError:  # TensorFlow already started (e.g. under pytest)
        print("(thread counts left as TensorFlow started with)")
    task_counts = args.tasks or ([2] if args.quick else [5, 10, 14])
    results = []
    for num_tasks in task_counts:
        table = profile(num_tasks, args.aggregator, args.rounds, args.calls,
                        timed=not (args.quick or args.ops_only),
                        mode=args.mode)
        print_profile(table, args.aggregator)
        results.extend(table)
    return results


if __name__ == "__main__":
    main()
