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
