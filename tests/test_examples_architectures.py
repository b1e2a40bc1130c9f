"""Smoke test of examples/mmoe_vs_shared_bottom.py (quick settings)."""

import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mmoe_vs_shared_bottom_quick(capsys):
    path = ROOT / "examples" / "mmoe_vs_shared_bottom.py"
    spec = importlib.util.spec_from_file_location("mmoe_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--num-train", "128"])
    assert [(r["correlation"], r["model"]) for r in rows] == [
        (0.5, "shared_bottom"), (0.5, "mmoe"),
        (0.9, "shared_bottom"), (0.9, "mmoe")]
    for row in rows:
        assert row["params"] > 0
        assert all(np.isfinite(row[t][0]) for t in ("task_1", "task_2"))
    printed = capsys.readouterr().out
    assert "task_1 MSE" in printed and "mmoe" in printed
