import math

import pytest

from keras_mtl import reporting


def test_delta_m_hand_computed_lower_is_better():
    value = reporting.delta_m(
        {"val_income_auc": 0.93, "val_age_loss": 0.40, "extra": 5.0},
        baselines={"val_income_auc": 0.90, "val_age_loss": 0.50})
    expected = 100 * (-(0.93 - 0.90) / 0.90 + (0.40 - 0.50) / 0.50) / 2
    assert value == pytest.approx(expected)
    assert value < 0  # better than the baselines on both: negative


def test_delta_m_libmtl_sign_is_the_opposite():
    args = ({"a_auc": 0.8, "b_mae": 2.0}, {"a_auc": 0.9, "b_mae": 1.0})
    ours = reporting.delta_m(*args)
    libmtl = reporting.delta_m(*args, sign="libmtl")
    assert ours == pytest.approx(100 * ((0.1 / 0.9) + 1.0) / 2)
    assert libmtl == pytest.approx(-ours)
    assert ours > 0  # worse on both: positive under lower_is_better


def test_delta_m_parity_is_zero_and_explicit_directions_win():
    same = {"a_score": 3.0, "b_loss": 2.0}
    assert reporting.delta_m(
        same, same, higher_is_better={"a_score": True}) == 0.0
    # Saying the loss is "higher is better" flips its term.
    value = reporting.delta_m(
        {"b_loss": 3.0}, {"b_loss": 2.0}, higher_is_better={"b_loss": True})
    assert value == pytest.approx(-50.0)


def test_delta_m_negative_baseline_keeps_sign_meaning():
    # R² from -0.5 to -0.25 is an improvement: Δm must be negative.
    value = reporting.delta_m({"r2_score": -0.25}, {"r2_score": -0.5})
    assert value == pytest.approx(-50.0)


@pytest.mark.parametrize("metrics_, baselines, kwargs, match", [
    ({"a_auc": 1.0}, {"a_auc": 0.0}, {}, "non-zero"),
    ({"a_auc": 1.0}, {"a_auc": math.nan}, {}, "finite"),
    ({}, {"a_auc": 0.5}, {}, "no value"),
    ({"a_custom": 1.0}, {"a_custom": 0.5}, {}, "higher_is_better"),
    ({"a_auc": 1.0}, {"a_auc": 0.5}, {"sign": "up"}, "sign"),
    ({"a_auc": 1.0}, {}, {}, "empty"),
    ({"a_auc": 1.0}, {"a_auc": 0.5},
     {"higher_is_better": {"b": True}}, "no baseline"),
])
def test_delta_m_errors(metrics_, baselines, kwargs, match):
    with pytest.raises(ValueError, match=match):
        reporting.delta_m(metrics_, baselines, **kwargs)


@pytest.mark.parametrize("name, direction", [
    ("val_income_auc", "max"),
    ("val_age_loss", "min"),
    ("loss", "min"),
    ("val_loss", "min"),
    ("task_1_rmse", "min"),
    ("val_task_2_mae", "min"),
    ("left_sparse_categorical_accuracy", "max"),
    ("val_income_auc_1", "max"),
    ("val_income_precision", "max"),
    ("val_income_weight", None),
    ("val_income_custom_score", None),
])
def test_metric_direction(name, direction):
    assert reporting.metric_direction(name) == direction
