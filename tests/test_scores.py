"""The bundled snapshot is the shared real data in long form; CSV snapshots are validated."""

import csv
import hashlib
import re
from pathlib import Path

import pytest

import stakealloc.scores
from stakealloc.errors import DataError
from stakealloc.scores import read_snapshot

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "numerai-classic-r843-r1197"


def test_bundled_shape(bundled):
    assert bundled["round"].min() == 843 and bundled["round"].max() == 1197
    assert bundled["model"].nunique() == 32
    assert (bundled["model"] == bundled["model"].str.lower()).all()
    assert set(bundled["score"]) == {"canon_corr", "canon_mmc"}  # Classic's canonical 20-day scores (README)
    unresolved = sorted(bundled.loc[~bundled["resolved"], "round"].unique())
    assert unresolved == list(range(1178, 1198))
    assert bundled.loc[bundled["round"] < 1178, "resolved"].all()
    assert not bundled["value"].isna().any()


DATA = Path(stakealloc.scores.__file__).resolve().parent / "data"  # the installed package's own data


def _recorded() -> dict[str, str]:
    """File name -> sha256, as the bundled data's README records them."""
    text = (DATA / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^- (\S+\.csv) ([0-9a-f]{64})$", text, re.M))


def test_bundled_file_is_the_one_checked_against_the_source_files():
    """Runs everywhere: the file the package bundles is byte for byte the one whose every value was compared
    with the public source files (below, where they are at hand)."""
    rec = _recorded()
    assert set(rec) == {"classic_r843_r1197.csv", "daily_data_corr_abs.csv", "daily_data_mmc_abs.csv"}
    assert hashlib.sha256((DATA / "classic_r843_r1197.csv").read_bytes()).hexdigest() == rec["classic_r843_r1197.csv"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not beside the checkout")
def test_source_files_are_the_recorded_ones():
    rec = _recorded()
    for name in ("daily_data_corr_abs.csv", "daily_data_mmc_abs.csv"):
        assert hashlib.sha256((SHARED / name).read_bytes()).hexdigest() == rec[name]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not beside the checkout")
def test_bundled_values_equal_the_source_files(bundled):
    idx = bundled.set_index(["round", "model", "score"])["value"]
    n = 0
    for score, name in (("canon_corr", "daily_data_corr_abs.csv"), ("canon_mmc", "daily_data_mmc_abs.csv")):
        with open(SHARED / name, newline="") as f:
            rows = list(csv.reader(f))
        models = [m.lower() for m in rows[0][1:]]
        for rec in rows[1:]:
            for m, v in zip(models, rec[1:]):
                key = (int(rec[0]), m, score)
                if v == "NA":
                    assert key not in idx.index
                else:
                    assert idx[key] == float(v)
                    n += 1
    assert n == len(bundled)


def test_near_constant_series_is_real(bundled):
    swmm = bundled[(bundled["model"] == "numerai_swmm") & (bundled["score"] == "canon_mmc")]["value"]
    assert swmm.abs().max() < 1e-15


def test_read_snapshot_csv(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("round,model,score,value,resolved\n2,A,corr,0.1,true\n1,a,mmc,NA,false\n1,a,corr,-0.2,FALSE\n")
    t = read_snapshot(p)
    assert list(t["round"]) == [1, 2] and list(t["model"]) == ["a", "a"]
    assert list(t["resolved"]) == [False, True]


@pytest.mark.parametrize("text,needle", [
    ("round,model,value\n1,a,0.1\n", "missing column(s) score"),
    ("round,model,score,value\nx,a,corr,0.1\n", "row 1: round 'x' is not a whole number"),
    ("round,model,score,value\n1,a,corr,abc\n", "row 1: value 'abc' is not a number"),
    # text that reads as blank (" NA ", "nan") is a missing value; the first other text is named by its row
    ("round,model,score,value\n1,a,corr, NA \n2,a,corr,nan\n3,a,corr,0.1\n4,a,corr,x1\n",
     "row 4: value 'x1' is not a number"),
    ("round,model,score,value\n1,a,my score,0.1\n", "row 1: score 'my score' is not a score name"),
    ("round,model,score,value,resolved\n1,a,corr,0.1,maybe\n", "resolved 'maybe' is not true/false"),
    ("round,model,score,value\n1,a,corr,0.1\n1,A,corr,0.2\n", "appears more than once"),
    ("round,model,score,value\n1,a,corr,inf\n", "infinite score values"),
    # rounds range-checked like the API's (1e20 became a negative round in the plan)
    ("round,model,score,value\ninf,a,corr,0.1\n", "round 'inf' is not a whole number"),
    ("round,model,score,value\n1e20,a,corr,0.1\n", "round '1e+20' is not in 1..100000"),
    ("round,model,score,value\n0,a,corr,0.1\n", "round '0' is not in 1..100000"),
    ("round,model,score,value\n-5,a,corr,0.1\n", "round '-5' is not in 1..100000"),
])
def test_bad_snapshot(tmp_path, text, needle):
    p = tmp_path / "s.csv"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        read_snapshot(p)
    assert needle in str(e.value)


def test_any_display_name_is_a_score_and_keeps_its_identity(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("round,model,score,value\n1,a,alpha,0.1\n1,a,mpc,0.2\n1,a,v2_corr20,0.3\n1,a,MMC,0.4\n")
    assert list(read_snapshot(p)["score"]) == ["MMC", "alpha", "mpc", "v2_corr20"]  # no alias, no case folding


def test_payout_table_substitutes_only_stated_columns(bundled):
    from stakealloc.errors import ConfigError
    from stakealloc.regimes import PRESETS
    from stakealloc.scores import payout_table

    regime = PRESETS["classic-2024"]
    t = payout_table(bundled, regime, {"v2_corr20": "canon_corr", "mmc": "canon_mmc"}, "bundled")
    assert set(t["score"]) == {"v2_corr20", "mmc"} and len(t) == len(bundled)
    a = t[t["score"] == "v2_corr20"].set_index(["round", "model"])["value"]
    b = bundled[bundled["score"] == "canon_corr"].set_index(["round", "model"])["value"]
    assert a.equals(b)
    with pytest.raises(ConfigError, match=r"payout score 'v2_corr20' of regime 'classic-2024' has no column 'v2_corr20'"
                                          r" in bundled \(its scores: canon_corr, canon_mmc\); map it explicitly"):
        payout_table(bundled, regime, {}, "bundled")
