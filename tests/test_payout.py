"""Payout booking: the formula with per-score factors, missing scores, and the numpy fast path."""

import numpy as np
import pandas as pd
import pytest

from stakealloc.payout import (
    Held,
    ScoreCube,
    held_exposures,
    linear_payout,
    slot_payouts,
    target_exposures,
    wide_scores,
)
from stakealloc.targets import Target
from stakealloc.types import Side


def test_the_cube_equals_the_frames_and_absent_rounds_are_nan():
    wide = {"mmc": pd.DataFrame({"a": [0.1, np.nan], "b": [0.3, 0.4]}, index=[5, 7])}
    cube = ScoreCube.from_wide(wide)
    assert cube.values.shape == (2, 2, 1) and cube.rounds == (5, 7) and cube.models == ("a", "b")
    np.testing.assert_array_equal(cube.series("b", "mmc", [7, 5]), [0.4, 0.3])
    v = cube.series("a", "mmc", [5, 6, 7])
    assert v[0] == 0.1 and np.isnan(v[1]) and np.isnan(v[2])
    assert np.isnan(cube.series("zz", "mmc", [5])).all() and np.isnan(cube.series("a", "tc")).all()
    np.testing.assert_array_equal(cube.signed("a", Side.SHORT, "mmc"), [-0.1, 0.0])


def test_the_cube_of_a_long_table_is_the_one_pivot():
    table = pd.DataFrame({"round": [1, 1, 2, 2, 3], "model": ["a", "b", "a", "b", "a"],
                          "score": ["x", "x", "x", "y", "x"], "value": [0.1, 0.2, 0.3, 0.4, 0.5],
                          "resolved": [True, True, True, True, False]})
    cube = ScoreCube.of(table, ("a", "b"), ("x", "y"))
    wide = wide_scores(table, ("a", "b"), ("x", "y"))
    assert cube.rounds == (1, 2)  # resolved rounds only, as the pivot
    for k in ("x", "y"):
        np.testing.assert_array_equal(cube.values[:, :, cube.scores.index(k)], wide[k].to_numpy())


def test_wide_scores_places_each_value_by_label_in_the_rounds_order_given():
    table = pd.DataFrame({"round": [3, 1, 2, 1, 3, 2], "model": ["b", "a", "a", "b", "a", "zz"],
                          "score": ["x", "x", "y", "y", "x", "x"], "value": [0.5, 0.1, 0.2, 0.3, 0.4, 9.0],
                          "resolved": [False, True, True, True, True, True]})
    wide = wide_scores(table, ("a", "b"), ("y", "x"), [3, 7, 1])  # a round with no rows, a model not asked
    assert list(wide) == ["y", "x"]
    for w in wide.values():
        assert list(w.index) == [3, 7, 1] and list(w.columns) == ["a", "b"] and w.dtypes.eq(float).all()
    np.testing.assert_array_equal(wide["x"].to_numpy(), [[0.4, 0.5], [np.nan, np.nan], [0.1, np.nan]])
    np.testing.assert_array_equal(wide["y"].to_numpy(), [
        [np.nan, np.nan], [np.nan, np.nan], [np.nan, 0.3]])
    resolved = wide_scores(table, ("a", "b"), ("x",))  # resolved values only, on their rounds
    assert list(resolved["x"].index) == [1, 3] and np.isnan(resolved["x"].loc[3, "b"])
    with pytest.raises(ValueError, match="more than once"):
        wide_scores(pd.concat([table, table.iloc[[1]]]), ("a", "b"), ("x",))
    with pytest.raises(ValueError, match="rounds repeat"):
        wide_scores(table, ("a",), ("x",), [1, 1])


def test_linear_payout_by_hand():
    """P(t) = Σ exposure × signed score, unclipped, no factor, a missing score as 0."""
    cube = ScoreCube.from_streams((1, 2), {("a", "x"): np.array([0.02, np.nan]), ("a", "y"): np.array([0.01, 0.03]),
                                           ("b", "x"): np.array([-0.01, 0.04])})
    held = held_exposures("a", Side.LONG, {"y": 2.0, "x": 0.5, "z": 0.0}, 100.0)
    assert held == [("a", Side.LONG, "y", 200.0), ("a", Side.LONG, "x", 50.0)]  # as given, zeros dropped
    np.testing.assert_allclose(linear_payout(cube, held), [50 * 0.02 + 200 * 0.01, 200 * 0.03])
    short = held_exposures("b", Side.SHORT, {"x": 1.0}, 10.0)
    np.testing.assert_allclose(linear_payout(cube, short), [0.1, -0.4])
    np.testing.assert_allclose(linear_payout(cube, short, [2, 9]), [-0.4, 0.0])  # a round not held: 0
    tg = (Target("b", "short", "x", 10.0), Target("a", "long", "y", 1.0))
    assert [e[0] for e in target_exposures(tg)] == ["a", "b"]
    np.testing.assert_allclose(linear_payout(cube, target_exposures(tg)), [0.01 + 0.1, 0.03 - 0.4])


def test_a_slot_missing_a_paying_score_pays_zero_and_short_negates():
    wide = {"x": pd.DataFrame({"a": [0.02, np.nan]}, index=[1, 2]), "y": pd.DataFrame({"a": [0.01, 0.01]}, index=[1,
                                                                                                                  2])}
    wide = ScoreCube.from_wide(wide)
    pay = slot_payouts(wide, [1, 2], [Held("a", "short", {"x": 1.0, "y": 1.0}, 100.0)], {"x": 1.0, "y": 1.0}, 0.25)
    assert pay[0, 0] == pytest.approx(-3.0) and pay[1, 0] == 0.0
    # a zero multiplier does not make a missing score count
    pay = slot_payouts(wide, [2], [Held("a", "long", {"x": 0.0, "y": 2.0}, 100.0)], {"x": 1.0, "y": 0.5}, 0.25)
    assert pay[0, 0] == pytest.approx(100 * 0.5 * 2.0 * 0.01)
