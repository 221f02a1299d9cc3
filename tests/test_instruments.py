"""Eligibility, sides, duplicates and the missing-data policy, on small tables and the real data."""

import numpy as np
import pandas as pd
import pytest

from stakealloc.config import Missing, Portfolio
from stakealloc.errors import DataError
from stakealloc.instruments import build
from stakealloc.regimes import PRESETS, custom_regime
from stakealloc.types import SidePolicy as Side

CORR_MMC = custom_regime(["corr", "mmc"], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def P(**kw):
    base = dict(leverage=1.0, lookback=100, min_rounds=3, max_stale=2)
    base.update(kw)
    return Portfolio(**base)


def table(series: dict, score="corr", resolved=None):
    rows = []
    for model, values in series.items():
        for r, v in enumerate(values, start=1):
            if v is not None:
                rows.append((r, model, score, float(v), True if resolved is None else resolved(r)))
    return pd.DataFrame(rows, columns=["round", "model", "score", "value", "resolved"])


def reasons(s):
    return {d.instrument: d.reason for d in s.dropped}


def test_side_rule_keeps_the_side_with_nonnegative_mean():
    t = table({"a": [0.1, 0.2, -0.05, 0.1], "b": [-0.1, 0.02, -0.03, -0.01]})
    s = build(t, ("a", "b"), CORR_MMC, P())
    assert s.eligible == ("a_corr", "short_b_corr")
    np.testing.assert_array_equal(s.returns["short_b_corr"].to_numpy(), [0.1, -0.02, 0.03, 0.01])
    r = reasons(s)
    assert "mean +0.087500 ≥ 0" in r["short_a_corr"] and "mean -0.030000 < 0" in r["b_corr"]
    assert "no resolved scores" in r["a_mmc"]


def test_side_long_and_both_and_mirrors_are_not_duplicates():
    t = table({"a": [0.1, 0.2, -0.05, 0.1], "b": [-0.1, 0.02, -0.03, -0.01]})
    assert build(t, ("a", "b"), CORR_MMC, P(side=Side.LONG)).eligible == ("a_corr", "b_corr")
    both = build(t, ("a", "b"), CORR_MMC, P(side=Side.BOTH))
    assert both.eligible == ("a_corr", "short_a_corr", "b_corr", "short_b_corr")


def test_min_rounds_stale_constant():
    t = table({"few": [None, None, 0.1, 0.2, None, None, 0.3, 0.1],
               "stale": [0.1, 0.2, 0.3, 0.1, 0.2, 0.1, None, None],
               "flat": [0.01] * 8, "ok": [0.1, -0.1, 0.2, 0.1, 0.0, 0.1, 0.2, 0.1]})
    s = build(t, ("few", "stale", "flat", "ok"), CORR_MMC, P(min_rounds=5, max_stale=2))
    r = reasons(s)
    assert r["few_corr"] == r["short_few_corr"] == "only 4 scored rounds in the window, min_rounds = 5"
    assert r["stale_corr"].startswith("stale: no score in the newest 2 resolved rounds (last scored round 6)")
    assert r["flat_corr"].startswith("constant: std")
    assert s.eligible == ("ok_corr",)


def test_duplicate_of_an_earlier_model_is_dropped_later_one():
    x = [0.1, -0.2, 0.3, 0.05, -0.1]
    t = table({"first": x, "copy": [v * 1.0000001 for v in x], "other": [0.1, 0.1, -0.2, 0.3, 0.0]})
    s = build(t, ("first", "copy", "other"), CORR_MMC, P())
    assert "copy_corr" in reasons(s) and reasons(s)["copy_corr"].startswith("duplicate of first_corr")
    s2 = build(t, ("copy", "first", "other"), CORR_MMC, P())  # order decides which one stays
    assert reasons(s2)["first_corr"].startswith("duplicate of copy_corr")


def test_missing_policy_drop_rounds_and_zero():
    t = table({"a": [0.1, None, 0.3, 0.2, -0.1], "b": [0.2, 0.1, None, 0.1, 0.3]})
    d = build(t, ("a", "b"), CORR_MMC, P(min_rounds=3, missing=Missing.DROP_ROUNDS))
    assert list(d.returns.index) == [1, 4, 5]
    assert d.missing_note.startswith("drop-rounds: 2 of 5 rounds dropped")
    z = build(t, ("a", "b"), CORR_MMC, P(min_rounds=3, missing=Missing.ZERO))
    assert list(z.returns.index) == [1, 2, 3, 4, 5] and z.returns.loc[2, "a_corr"] == 0.0
    assert z.missing_note.startswith("zero: 2 missing scores counted as 0")
    with pytest.raises(DataError, match="leaves 3 rounds < min_rounds = 4"):
        build(t, ("a", "b"), CORR_MMC, P(min_rounds=4))


def test_unresolved_rounds_never_enter_and_lookback_counts_resolved():
    t = table({"a": [0.1, -0.1, 0.2, 0.3, 0.4, 9.0]}, resolved=lambda r: r <= 5)
    s = build(t, ("a",), CORR_MMC, P(lookback=3, min_rounds=2))
    assert s.window == (3, 4, 5)
    assert 9.0 not in s.returns.to_numpy()


def test_a_round_with_any_paying_score_unresolved_stays_out():
    t = pd.concat([table({"a": [0.1, -0.1, 0.2, 0.3, 0.4]}), table({"a": [0.2, 0.1, 0.0, 0.1, 0.3]}, score="mmc",
                                                                   resolved=lambda r: r != 4)])
    s = build(t, ("a",), CORR_MMC, P(lookback=10, min_rounds=2))
    assert s.window == (1, 2, 3, 5)  # round 4's CORR is final, its MMC is not


def test_one_combination_regime_uses_the_payout_stream(bundled):
    from stakealloc.scores import payout_table

    p = P(lookback=100, min_rounds=60, max_stale=5)
    regime = PRESETS["classic-2024"]
    mapped = payout_table(bundled, regime, {"v2_corr20": "canon_corr", "mmc": "canon_mmc"}, "bundled")
    s = build(mapped, ("fearindex", "nb_example_model"), regime, p)
    assert s.eligible == ("fearindex_payout", "short_nb_example_model_payout")
    b = bundled[bundled["resolved"]].pivot_table(index="round", columns=["model", "score"], values="value")
    r = s.returns.index
    expect = 0.5 * b[("fearindex", "canon_corr")].loc[r] + 2 * b[("fearindex", "canon_mmc")].loc[r]
    np.testing.assert_allclose(s.returns["fearindex_payout"].to_numpy(), expect.to_numpy(), rtol=0, atol=1e-15)
    assert s.window[-1] == 1177  # 1178–1197 are unresolved in the snapshot


def test_real_data_traps(bundled):
    """Near-duplicates, the ~1e-18 series and ragged starts, on the real snapshot."""
    models = ("numerai_swmm", "v5_example_preds", "v5_lgbm_ct_blend", "v52_lgbm_jasper20", "fearindex")
    canon = custom_regime(["canon_corr", "canon_mmc"], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = build(bundled, models, canon, P(lookback=100, min_rounds=60, max_stale=5, side=Side.BOTH))
    r = reasons(s)
    assert r["numerai_swmm_canon_mmc"].startswith("constant")
    assert r["v5_lgbm_ct_blend_canon_corr"].startswith("duplicate of v5_example_preds_canon_corr")
    assert r["short_v5_lgbm_ct_blend_canon_mmc"].startswith("duplicate of short_v5_example_preds_canon_mmc")
    assert "only 44 scored rounds" in r["v52_lgbm_jasper20_canon_corr"]
    assert "numerai_swmm_canon_corr" in s.eligible and "short_numerai_swmm_canon_corr" in s.eligible
    assert not s.returns.isna().to_numpy().any()
