"""Smoke test of examples/esmm.py (skips without ../shared/data)."""

import math

from example_scripts import load_script


def test_auc_matches_hand_computed_values():
    auc = load_script("esmm").auc
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert math.isnan(auc([1, 1], [0.2, 0.3]))


def test_esmm_example_runs(shared_data):
    sample = shared_data / "census_income" / "census-income.sample"
    result = load_script("esmm").main(["--quick", "--data", str(sample)])
    assert result["info"]["protocol"] == "resplit"
    (row,) = result["rows"]
    for key, value in row.items():
        assert math.isnan(value) or value >= 0.0, key
    assert 0.0 <= row["esmm_ctr_auc"] <= 1.0
