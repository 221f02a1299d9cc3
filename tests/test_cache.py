"""The on-disk cache: format 2 by tournament, checksums, round rules, legacy files never read."""

import json

import pytest

from stakealloc.cache import Cache, Corrupt
from stakealloc.errors import DataError
from stakealloc.numerai import ScoreRow
from stakealloc.regimes import ScoreConfig, ScoreSpec


def test_scores_and_rules_round_trip_per_tournament(tmp_path):
    c8, c11 = Cache(tmp_path, 8), Cache(tmp_path, 11)
    rows = [ScoreRow(2, "v2_corr20", 0.1, True, "2"), ScoreRow(1, "mmc", -0.2, False, None)]
    c8.save_scores("m", "id-m", rows)
    assert c8.load_scores("m") == ("id-m", sorted(rows, key=lambda r: (r.round, r.score)))
    assert c11.load_scores("m") is None  # another tournament, another key
    rules = {1200: [ScoreConfig(ScoreSpec("mmc", "mmc", "1", 20, 2, 1), True, 2.0, 2.0, 2.0, 0.05, None)]}
    c8.save_rules(rules)
    assert c8.load_rules() == rules and c11.load_rules() == {}


def test_edited_file_is_corrupt_and_legacy_files_are_only_reported(tmp_path):
    c = Cache(tmp_path, 8)
    c.save_scores("m", "id-m", [ScoreRow(1, "mmc", 0.1, True)])
    p = c.path_of("m")
    doc = json.loads(p.read_text())
    doc["payload"]["rows"][0][2] = 0.9
    p.write_text(json.dumps(doc))
    with pytest.raises(Corrupt, match="checksum mismatch"):
        c.load_scores("m")
    (tmp_path / "scores-old.json").write_text("{}")
    assert c.legacy_path("old") is not None and c.load_scores("old") is None
    c.drop_legacy("old")
    assert c.legacy_path("old") is None


def test_cache_root_that_is_a_file_is_a_data_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is not a directory"):
        Cache(f, 8).load_scores("m")
    with pytest.raises(DataError, match="cannot write"):
        Cache(f, 8).save_facts({})


def test_a_valid_checksum_does_not_make_valid_values(tmp_path):
    """Round Infinity, a multiplier 'abc': the file's checksum holds, its values do not: Corrupt (fetched
    again online, exit 3 offline), never an internal error."""
    from stakealloc.cache import Cache, Corrupt
    from stakealloc.numerai import ScoreRow

    c = Cache(tmp_path, 8)
    c._write(c._path("scores", "m"), {"model": "m", "model_id": "id", "rows": [[float("inf"), "corr", 0.1, True,
                                                                                  None]]})
    with pytest.raises(Corrupt, match="malformed"):
        c.load_scores("m")
    c.save_scores("m", "id", [ScoreRow(5, "corr", 0.1, True)])
    assert c.load_scores("m")[1][0].round == 5
    spec = {"display_name": "corr", "name": None, "version": None, "total_score_days": 20, "returns_lag_days": 2,
            "data_delay_days": 1}
    bad = {"spec": spec, "is_payout": True, "min_multiplier": "abc", "max_multiplier": 1.0, "default_multiplier": 1.0,
           "clip": None, "payout_factor": None}
    c._write(c._path("rules", "rounds"), {"rounds": [[5, [bad]]]})
    with pytest.raises(Corrupt, match="malformed"):
        c.load_rules()
