"""Smoke test of examples/esmm.py (skips without ../shared/data)."""

import importlib.util
import math
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_auc_matches_hand_computed_values():
    auc = _load("esmm").auc
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert math.isnan(auc([1, 1], [0.2, 0.3]))


def test_esmm_example_runs(shared_data):
    sample = shared_data / "census_income" / "census-income.sample"
    result = _load("esmm").main(["--quick", "--data", str(sample)])
    assert result["info"]["protocol"] == "resplit"
    (row,) = result["rows"]
    for key, value in row.items():
        assert math.isnan(value) or value >= 0.0, key
    assert 0.0 <= row["esmm_ctr_auc"] <= 1.0
