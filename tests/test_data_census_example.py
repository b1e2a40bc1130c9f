"""Smoke test of examples/census_income.py (skips without ../shared/data)."""

from example_scripts import load_script


def test_census_income_example_runs(shared_data):
    sample = shared_data / "census_income" / "census-income.sample"
    result = load_script("census_income").main(
        ["--quick", "--data", str(sample)])
    assert result["info"]["protocol"] == "resplit"
    assert set(result["results"]) == {"mmoe"}
    for row in result["results"].values():
        assert 0.0 <= row["income_auc"] <= 1.0
        assert row["params"] > 0
