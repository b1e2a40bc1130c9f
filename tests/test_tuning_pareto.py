import math

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_mtl.tuning import pareto_front
from keras_mtl.tuning import pareto_table
from keras_mtl.tuning import plot_pareto

RESULTS = [
    {"a": 1.0, "b": 5.0},   # 0 front (best a)
    {"a": 2.0, "b": 3.0},   # 1 front
    {"a": 2.0, "b": 4.0},   # 2 dominated by 1
    {"a": 3.0, "b": 3.0},   # 3 dominated by 1 (tie on b)
    {"a": 4.0, "b": 1.0},   # 4 front (best b)
    {"a": 2.0, "b": 3.0},   # 5 duplicate of 1: neither dominates
    {"a": 5.0, "b": 6.0},   # 6 dominated by all
]


def test_front_of_a_hand_made_set_is_exact():
    assert pareto_front(RESULTS, {"a": "min", "b": "min"}) == [0, 1, 4, 5]


def test_directions_are_respected():
    # Maximising b turns the order of b around: only the best b on each
    # a survives.
    front = pareto_front(RESULTS, {"a": "min", "b": "max"})
    assert front == [0, 6]
    assert pareto_front(RESULTS, {"a": "max", "b": "max"}) == [6]
    # One metric: every result with the best value.
    assert pareto_front(RESULTS, {"b": "min"}) == [4]
    assert pareto_front(RESULTS, {"a": "min"}) == [0]


def test_three_metrics():
    results = [
        {"x": 1, "y": 1, "z": 9},
        {"x": 1, "y": 1, "z": 8},   # dominates 0
        {"x": 0, "y": 9, "z": 9},
        {"x": 9, "y": 0, "z": 9},
        {"x": 2, "y": 2, "z": 8},   # dominated by 1
    ]
    directions = {"x": "min", "y": "min", "z": "min"}
    assert pareto_front(results, directions) == [1, 2, 3]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)),
                min_size=1, max_size=25))
def test_two_metrics_match_a_sweep(points):
    results = [{"a": float(a), "b": float(b)} for a, b in points]
    # Independent 2-D check: a point is on the front iff no point has a
    # smaller-or-equal a with a smaller b, or a smaller a with equal b.
    expected = [
        i for i, (a, b) in enumerate(points)
        if not any((a2 <= a and b2 < b) or (a2 < a and b2 <= b)
                   for a2, b2 in points)]
    assert pareto_front(results, {"a": "min", "b": "min"}) == expected


@pytest.mark.parametrize("results, directions, match", [
    ([{"a": 1.0}], {"a": "min", "b": "min"}, "no value"),
    ([{"a": math.nan}], {"a": "min"}, "NaN"),
    ([{"a": 1.0}], {"a": "lower"}, "'min' or 'max'"),
    ([{"a": 1.0}], {}, "empty"),
])
def test_errors(results, directions, match):
    with pytest.raises(ValueError, match=match):
        pareto_front(results, directions)


def test_table_lists_the_front_best_first():
    rows = [dict(r, trial_id=str(i), hyperparameters={"depth": i % 3})
            for i, r in enumerate(RESULTS)]
    table = pareto_table(rows, {"a": "min", "b": "min"})
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["#", "trial", "a", "(min)"]
    assert "depth" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1", "5", "4"]


def test_plot_writes_png(tmp_path):
    rows = [dict(r, c=float(i)) for i, r in enumerate(RESULTS)]
    path = plot_pareto(rows, {"a": "min", "b": "min"}, tmp_path / "f.png",
                       title="front")
    data = (tmp_path / "f.png").read_bytes()
    assert path.endswith("f.png") and data[:8] == b"\x89PNG\r\n\x1a\n"
    plot_pareto(rows, {"a": "min", "b": "min", "c": "max"},
                tmp_path / "sub" / "g.png")
    assert (tmp_path / "sub" / "g.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="two metrics"):
        plot_pareto(rows, {"a": "min"}, tmp_path / "h.png")
