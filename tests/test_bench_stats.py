"""The result tables' statistics (benchmarks/_stats.py)."""

import math
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]
                       / "benchmarks"))
import _stats  # noqa: E402


def test_mean_ci_matches_the_t_interval():
    mean, half = _stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    # sd = sqrt(2.5), t(0.975, 4) = 2.776
    assert half == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5))


def test_one_value_has_no_interval_rather_than_zero():
    mean, half = _stats.mean_ci([0.7])
    assert mean == 0.7 and math.isnan(half)
    assert _stats.interval_text(mean, half) == "0.70 ± n/a"


def test_t_quantile_refuses_zero_degrees_of_freedom():
    with pytest.raises(ValueError, match="Degrees of freedom"):
        _stats.t_quantile(0)


def _runs():
    runs = []
    for seed, (a, b) in enumerate([(90.0, 91.0), (88.0, 89.2), (92.0, 92.9),
                                   (85.0, 86.1), (89.0, 90.0)]):
        runs += [{"method": "equal", "seed": seed, "acc": a},
                 {"method": "upgrad", "seed": seed, "acc": b}]
    return runs


def test_pairing_removes_the_shared_seed_noise():
    runs = _runs()
    unpaired = _stats.mean_ci([r["acc"] for r in runs
                               if r["method"] == "upgrad"])[1]
    d = _stats.paired_difference(runs, "acc", "upgrad", "equal")
    assert d["pairs"] == 5
    assert d["mean"] == pytest.approx(1.04)
    assert d["half_width"] < unpaired / 5
    assert d["real"]


def test_pairs_only_count_seeds_both_methods_ran():
    runs = _runs()[:-1]  # seed 4 of upgrad missing
    d = _stats.paired_difference(runs, "acc", "upgrad", "equal")
    assert d["pairs"] == 4


def test_verdict_names_real_and_noise_differences():
    text = _stats.verdict(
        {"upgrad": {"mean": 1.0, "half_width": 0.2, "real": True},
         "mgda": {"mean": -0.1, "half_width": 0.5, "real": False},
         "dwa": {"mean": -2.0, "half_width": 0.5, "real": True}},
        metric_text="accuracy (points)", baseline="equal")
    assert "better beyond noise: `upgrad` (+1.00 ± 0.20)" in text
    assert "worse beyond noise: `dwa`" in text
    assert "within noise: `mgda`" in text


def test_summarize_ci_leaves_seed_zero_out_of_timings():
    runs = [{"method": "m", "seed": s, "acc": float(s), "epoch_seconds": t}
            for s, t in enumerate([30.0, 2.0, 2.0, 2.0])]
    (row,) = _stats.summarize_ci(runs, ["method"], ["acc", "epoch_seconds"])
    assert row["seeds"] == 4
    assert row["epoch_seconds_mean"] == 2.0
    assert row["acc_mean"] == 1.5
    assert row["acc_ci95"] > 0
