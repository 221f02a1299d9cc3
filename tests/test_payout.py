"""Payout booking: the formula with per-score factors, missing scores, and the numpy fast path."""

import numpy as np
import pandas as pd
import pytest

from stakealloc.payout import Held, ScoreArrays, slot_payouts


def test_score_arrays_equal_the_frames_and_absent_rounds_are_nan():
    wide = {"mmc": pd.DataFrame({"a": [0.1, np.nan], "b": [0.3, 0.4]}, index=[5, 7])}
    arr = ScoreArrays(wide)
    np.testing.assert_array_equal(arr.series("mmc", "b", [7, 5]), [0.4, 0.3])
    v = arr.series("mmc", "a", [5, 6, 7])
    assert v[0] == 0.1 and np.isnan(v[1]) and np.isnan(v[2])


def test_a_slot_missing_a_paying_score_pays_zero_and_short_negates():
    wide = {"x": pd.DataFrame({"a": [0.02, np.nan]}, index=[1, 2]), "y": pd.DataFrame({"a": [0.01, 0.01]}, index=[1,
                                                                                                                  2])}
    pay = slot_payouts(wide, [1, 2], [Held("a", "short", {"x": 1.0, "y": 1.0}, 100.0)], {"x": 1.0, "y": 1.0}, 0.25)
    assert pay[0, 0] == pytest.approx(-3.0) and pay[1, 0] == 0.0
    # a zero multiplier does not make a missing score count
    pay = slot_payouts(wide, [2], [Held("a", "long", {"x": 0.0, "y": 2.0}, 100.0)], {"x": 1.0, "y": 0.5}, 0.25)
    assert pay[0, 0] == pytest.approx(100 * 0.5 * 2.0 * 0.01)
