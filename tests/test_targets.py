"""Targets: leverage × total stake × weight, or total × weight × multiplier in one-combination regimes."""

import pandas as pd
import pytest

from stakealloc.errors import ConfigError
from stakealloc.instruments import Instrument
from stakealloc.regimes import PRESETS
from stakealloc.targets import compute, parse_csv


def test_multi_combination_targets():
    info = {"a_corr": Instrument("a_corr", "a", "long", "corr"), "short_b_tc": Instrument("short_b_tc", "b",
                                                                                          "short", "tc")}
    t = compute(pd.Series({"a_corr": 0.25, "short_b_tc": 0.75}), info, PRESETS["classic-2023"], 2.0, 1000.0)
    assert [(x.model, x.side, x.score, x.target) for x in t] == [("a", "long", "corr", 500.0), ("b", "short", "tc",
                                                                                                1500.0)]


def test_one_combination_targets():
    info = {"a_payout": Instrument("a_payout", "a", "long", None)}
    t = compute(pd.Series({"a_payout": 0.4}), info, PRESETS["classic-2024"], 2.5, 1000.0)
    assert [(x.score, x.target) for x in t] == [("v2_corr20", 200.0), ("mmc", 800.0)]


def test_parse_targets_csv():
    t = parse_csv("model,side,score,target\nA,long,v2_corr20,100\nb,short,mmc,50.5\n", "t.csv",
                  PRESETS["classic-2024"], ("a", "b"))
    assert [(x.model, x.side, x.score, x.target) for x in t] == [("a", "long", "v2_corr20", 100.0), ("b", "short",
                                                                                                     "mmc", 50.5)]
    for bad, needle in [("model,side,score,target\nz,long,v2_corr20,1\n", "unknown model 'z'"),
                        ("model,side,score,target\na,up,v2_corr20,1\n", "side 'up'"),
                        ("model,side,score,target\na,long,tc,1\n", "score 'tc' is not paid"),
                        ("model,side,score,target\na,long,v2_corr20,-1\n", "must be a finite number ≥ 0"),
                        ("model,side,score,target\na,long,v2_corr20,x\n", "target 'x' is not a number")]:
        with pytest.raises(ConfigError, match="^targets: t.csv: row 2") as e:
            parse_csv(bad, "t.csv", PRESETS["classic-2024"], ("a", "b"))
        assert needle in str(e.value) and e.value.key == "targets"  # the CLI names its flag instead
