"""Continual-learning metrics against hand-computed values."""
from __future__ import annotations

import pytest

from ftstudio.engine.cl_metrics import continual_metrics

R = [
    [0.70, 0.30, 0.20],  # after task 0
    [0.75, 0.80, 0.25],  # after task 1
    [0.60, 0.70, 0.85],  # after task 2
]
BASE = [0.50, 0.20, 0.10]


def test_full_matrix():
    m = continual_metrics(R, BASE)
    assert m["acc"] == pytest.approx((0.60 + 0.70 + 0.85) / 3)
    assert m["bwt"] == pytest.approx(((0.60 - 0.70) + (0.70 - 0.80)) / 2)  # -0.1
    assert m["fwt"] == pytest.approx(((0.30 - 0.20) + (0.25 - 0.10)) / 2)  # 0.125
    # forgetting uses the best earlier value (0.75 after task 1), not R[0][0]
    assert m["forgetting"] == pytest.approx([0.75 - 0.60, 0.80 - 0.70])
    assert m["mean_forgetting"] == pytest.approx(0.125)


def test_partial_after_task_1():
    m = continual_metrics(R[:2], BASE)
    assert m["acc"] == pytest.approx((0.75 + 0.80) / 2)  # tasks seen so far only
    assert m["bwt"] == pytest.approx(0.05)  # positive: backward transfer
    assert m["fwt"] == pytest.approx(0.125)  # R[1][2] is already measured
    assert m["forgetting"] == pytest.approx([0.70 - 0.75])


def test_after_first_task():
    m = continual_metrics(R[:1], BASE)
    assert m["acc"] == pytest.approx(0.70)
    assert m["bwt"] is None
    assert m["fwt"] == pytest.approx(0.10)
    assert m["forgetting"] == [] and m["mean_forgetting"] is None


def test_missing_values_are_skipped():
    m = continual_metrics([[0.5, None], [0.4, 0.9]], None)
    assert m["acc"] == pytest.approx(0.65)
    assert m["bwt"] == pytest.approx(-0.1)
    assert m["fwt"] is None  # no baseline
    assert continual_metrics([], [])["acc"] is None
