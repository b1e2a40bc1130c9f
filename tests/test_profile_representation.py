"""`benchmarks/profile_step.py --mode representation`: every stage of a
representation-mode step traced, its ops counted and run once under the
profiler (the real run is the lead's, alone on the machine)."""

import importlib
import pathlib
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _profile_step():
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("profile_step")


def test_representation_profile_counts_ops_and_solver_iterations(capsys):
    # T = 7: beyond the enumeration, so MGDA's min-norm point comes from
    # the active set, on the Gramian of the LeNet heads' real gradients.
    # The cold start took T + 1 = 8 iterations there; the guessed support
    # (every task) is right, so one.
    results = _profile_step().main(
        ["--tasks", "7", "--mode", "representation", "--aggregator", "mgda",
         "--ops-only"])
    stages = {r["stage"]: r for r in results}
    assert list(stages)[:3] == ["forward", "forward (one task)",
                                "backward heads (7 passes)"]
    assert list(stages)[-4:] == ["guard", "full step", "no-aggregator step",
                                 "plain fit step"]
    for r in results:
        assert r["mode"] == "representation" and r["ms"] is None, r
        assert r["ops"] > 0, r
    assert stages["solver"]["loop_iterations"] == 1
    assert stages["aggregate (engine)"]["loop_iterations"] == 1
    assert stages["full step"]["loop_iterations"] == 1
    if stages["full step"]["run_ops"] is not None:  # profiler available
        # The aggregation is what the representation step adds to the
        # step without an aggregator.
        extra = (stages["full step"]["run_ops"]
                 - stages["no-aggregator step"]["run_ops"])
        assert 0 < extra <= 2 * stages["aggregate (engine)"]["run_ops"]
    assert "representation" in capsys.readouterr().out
