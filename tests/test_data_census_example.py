"""Smoke test of examples/census_income.py (skips without ../shared/data)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_census_income_example_runs(shared_data):
    sample = shared_data / "census_income" / "census-income.sample"
    result = _load("census_income").main(
        ["--quick", "--data", str(sample)])
    assert result["info"]["protocol"] == "resplit"
    assert set(result["results"]) == {"mmoe"}
    for row in result["results"].values():
        assert 0.0 <= row["income_auc"] <= 1.0
        assert row["params"] > 0
