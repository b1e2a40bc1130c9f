"""Smoke test of examples/task_relations.py (--quick)."""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_task_relations_example_quick(tmp_path, shared_data):
    assert (shared_data / "mnist").is_dir()
    spec = importlib.util.spec_from_file_location(
        "task_relations", ROOT / "examples" / "task_relations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--out", str(tmp_path)])
    tasks = ["left", "right", "left_large", "projection"]
    assert result["affinity"]["lookahead"]["tasks"] == tasks
    assert result["affinity"]["measured_steps"] >= 1
    assert set(result["summary"]) == {"single_task", "all_shared",
                                      "tag_groups", "branches",
                                      "soft_learned"}
    assert result["summary"]["single_task"]["delta_m_mean"] == 0.0
    for row in result["summary"].values():
        assert set(row["accuracy_mean"]) == set(tasks)
    served = sorted(result["groups"]["served_by"])
    assert served == sorted(tasks)
    for name in result["pictures"].values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "task_relations.json").read_text())
    assert saved["summary"] == result["summary"]
    assert (tmp_path / "task_relations.md").read_text().count("|") > 20


def test_bench_affinity_quick(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its helpers
    spec = importlib.util.spec_from_file_location(
        "bench_affinity", ROOT / "benchmarks" / "bench_affinity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--tasks", "2"])
    assert result["plain fit"]["ratio"] == 1.0
    for row in result.values():
        assert row["fastest_epoch_s"] > 0
        low, middle, high = row["ratio_spread"]
        assert low <= middle <= high
