"""How many ops one call of a `tf.function` runs, and its loops' iterations.

The traced graph's op count (`profile_step.op_count`) counts a
`while_loop` body once and both branches of a `cond`. What a call costs on
these CPUs, where a small op's dispatch (a few microseconds) outweighs its
arithmetic, is the number of ops it *runs*: each loop body once per
iteration, one branch of each `cond`. That count comes from one call
under the TensorFlow profiler's host tracer (every kernel run is an
event); it depends on the data (loop iterations, branches taken) but not
on the load of the machine, so it stays meaningful on a shared one.

Loop iterations come from the same trace: a `while_loop`'s condition runs
once per iteration plus once to stop, each time running all of its ops.
"""

import collections
import glob
import re
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import tensorflow as tf

try:  # TensorFlow's own copy of the profiler's protobuf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
except ImportError:  # pragma: no cover - other TensorFlow builds
    xplane_pb2 = None


# `<loop>/cond/_<n>/...`: the ops of a while_loop's condition (a tf.cond's
# branches are `<name>/then/_<n>` and `<name>/else/_<n>`).
_LOOP_CONDITION = re.compile(r"^(.*?)/cond/_\d+/")


def available() -> bool:
    return xplane_pb2 is not None


def _op_events(logdir: str) -> list[str]:
    """`name:type` of every op run recorded under `logdir`."""
    paths = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    names = []
    for plane in space.planes:
        metadata = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_"):  # executor threads
                continue
            for event in line.events:
                name = metadata[event.metadata_id].name
                if ":" in name and not name.startswith(
                        ("Threadpool", "Executor")):
                    names.append(name)
    return names


def executed(function: Callable, *args: Any) -> tuple[int, dict[str, int]]:
    """`(ops run, {loop: iterations})` of one call of `function(*args)`
    (already traced and warmed by the caller)."""
    logdir = tempfile.mkdtemp()
    options = tf.profiler.experimental.ProfilerOptions(
        host_tracer_level=2, python_tracer_level=0, device_tracer_level=0)
    try:
        tf.profiler.experimental.start(logdir, options=options)
        out = function(*args)
        tf.nest.map_structure(
            lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        tf.profiler.experimental.stop()
        names = _op_events(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    runs: dict[str, int] = collections.Counter()
    distinct: dict[str, set] = collections.defaultdict(set)
    for name in names:
        match = _LOOP_CONDITION.match(name)
        if match:  # an op of a while_loop's condition function
            runs[match.group(1)] += 1
            distinct[match.group(1)].add(name)
    loops = {loop: runs[loop] // len(distinct[loop]) - 1 for loop in runs}
    return len(names), loops
