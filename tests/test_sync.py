"""What a refresh fetches and keeps."""

from stakealloc.numerai import ScoreRow
from stakealloc.regimes import ScoreConfig, ScoreSpec
from stakealloc.sync import newest_with_payout, refresh_rows, rounds_to_fetch


def test_resolved_rows_are_final_and_fresh_rows_replace_the_rest():
    cached = [ScoreRow(1, "mmc", 0.1, True), ScoreRow(2, "mmc", 0.2, False)]
    fresh = [ScoreRow(2, "mmc", 0.25, True), ScoreRow(3, "mmc", 0.3, False)]
    assert refresh_rows(cached, fresh) == [ScoreRow(1, "mmc", 0.1, True), ScoreRow(2, "mmc", 0.25, True),
                                           ScoreRow(3, "mmc", 0.3, False)]


def test_rounds_to_fetch_covers_what_can_still_change():
    assert rounds_to_fetch([], 100) == 400
    assert rounds_to_fetch([ScoreRow(90, "mmc", 0.1, True), ScoreRow(95, "mmc", 0.1, False)], 100) == 6
    assert rounds_to_fetch([ScoreRow(90, "mmc", 0.1, True)], 100) == 10


def test_newest_round_with_payout_configs():
    pay = [ScoreConfig(ScoreSpec("mmc"), True, 2, 2, 2, None, None)]
    none = [ScoreConfig(ScoreSpec("canon_corr"), False, 0, 0, 0, None, None)]
    assert newest_with_payout({10: pay, 12: none, 11: pay}) == 11 and newest_with_payout({1: none}) is None
