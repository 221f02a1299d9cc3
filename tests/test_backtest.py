"""Walk-forward backtest: no look-ahead, payout formula and metrics by hand, baselines, CLI and notebook."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import BASE_FLEET, ROOT, run_cli
from stakealloc import backtest
from stakealloc.config import load_fleet
from stakealloc.payout import slot_payouts, summary
from stakealloc.regimes import PRESETS


def test_payout_formula_by_hand_with_clip():
    regime = PRESETS["classic-2024"]
    wide = {"corr": pd.DataFrame({"a": [0.02, 0.04, np.nan]}, index=[1, 2, 3]),
            "mmc": pd.DataFrame({"a": [0.01, 0.03, 0.01]}, index=[1, 2, 3])}
    pay = slot_payouts(wide, [1, 2, 3], [("a", "long", (0.5, 2.0), 100.0), ("a", "short", (0.5, 2.0), 50.0)],
                       regime, payout_factor=1.0, clip=0.05)
    # round 1: 0.5×0.02 + 2×0.01 = 0.03 -> 3.0 NMR; short: -0.03 × 50 = -1.5
    # round 2: 0.02 + 0.06 = 0.08 -> clipped to 0.05 -> 5.0; short: -0.05 × 50 = -2.5
    # round 3: corr missing -> the model has no full score -> 0
    np.testing.assert_allclose(pay, [[3.0, -1.5], [5.0, -2.5], [0.0, 0.0]], atol=1e-12)
    half = slot_payouts(wide, [2], [("a", "long", (0.5, 2.0), 100.0)], regime, payout_factor=0.5, clip=0.05)
    assert half[0, 0] == pytest.approx(4.0)  # 0.5 × 0.08 = 0.04 < clip


def test_metrics_by_hand():
    s = summary(np.array([1.0, -2.0, 3.0, -1.0]), stake=10.0)
    assert s["total"] == 1.0 and s["mean"] == 0.25 and s["mean_pct"] == pytest.approx(2.5)
    r = np.array([0.1, -0.2, 0.3, -0.1])
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1))
    assert s["max_drawdown"] == pytest.approx(2.0)  # cumulative 1, -1, 2, 1: from 1 down to -1
    assert s["cvar5"] == pytest.approx(2.0)  # ⌈0.05 × 4⌉ = 1 worst round: -2
    s = summary(np.array([-1.0] * 3 + [1.0] * 37), stake=1.0)
    assert s["cvar5"] == pytest.approx(1.0)  # ⌈2⌉ worst = -1, -1
    m = backtest.metrics(pd.Series(np.arange(45.0)), 1.0, 0.5)
    assert m["non_overlapping"]["rounds"] == 3 and m["non_overlapping"]["total"] == 0 + 20 + 40


@pytest.fixture(scope="module")
def small_fleet(tmp_path_factory):
    p = tmp_path_factory.mktemp("bt") / "fleet.toml"
    p.write_text(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40"))
    return load_fleet(p)


def _decisions(res, strategy):
    return {d.round: d for d in res.decisions if d.strategy == strategy}


def test_no_look_ahead(bundled, small_fleet):
    lag, step = 25, 5
    rounds = sorted(bundled.loc[bundled["resolved"], "round"].unique())
    first = rounds[small_fleet.portfolio.min_rounds - 1] + lag + 1
    target = first + 11 * step  # a decision round whose round R + 1 every model scored (reputation misses 933)
    R = target - lag - 1
    cut = bundled[bundled["round"] <= R + 30]
    changed = cut.copy()
    after = changed["round"] > R
    changed.loc[after, "value"] = -changed.loc[after, "value"] * 3
    a = backtest.run(small_fleet, cut, ["MV"], step=step, lag=lag)
    b = backtest.run(small_fleet, changed, ["MV"], step=step, lag=lag)
    da, db = _decisions(a, "MV"), _decisions(b, "MV")
    assert target in da
    for d in da:
        if d <= R + lag + 1:
            assert da[d].weights == db[d].weights and da[d].slots == db[d].slots
    # one round less of lag lets round R + 1 in at decision R + lag + 1: the test can fail
    a2 = _decisions(backtest.run(small_fleet, cut, ["MV"], step=step, lag=lag - 1, start=target), "MV")
    b2 = _decisions(backtest.run(small_fleet, changed, ["MV"], step=step, lag=lag - 1, start=target), "MV")
    assert a2[target].weights != b2[target].weights


def test_baselines(bundled, small_fleet):
    cut = bundled[bundled["round"] <= 980]
    res = backtest.run(small_fleet, cut, ["MV", "equal", "current"], step=5, lag=25)
    for d in _decisions(res, "current").values():
        assert d.slots[0][1:3] == ("fearindex", "long")
        assert d.slots[1][1] == "" and d.slots[2][1] == ""  # no current, not a source model: pays 0
    eq = next(iter(_decisions(res, "equal").values()))
    assert len(set(eq.weights.values())) == 1 and sum(eq.weights.values()) == pytest.approx(1)
    assert res.strategies["current"]["turnover"] == 0
    # the current baseline's payout is fearindex's payout stream on 1000 NMR, clipped
    pay = res.payouts["current"]
    t = cut[cut["model"] == "fearindex"].pivot(index="round", columns="score", values="value")
    r = pay.index[0]
    expect = 1000 * float(np.clip(0.5 * t.loc[r, "corr"] + 2 * t.loc[r, "mmc"], -0.05, 0.05))
    assert pay.iloc[0] == pytest.approx(expect)
    assert set(res.in_sample) == {"MV", "equal", "current"}


NB = ROOT / "notebooks" / "risk_measure_sensitivity.ipynb"
NB_MEASURES = "MV,MAD,CVaR,EVaR,WR,MDD,CDaR,UCI"


@pytest.fixture(scope="module")
def cli_backtest(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bt.json"
    r = run_cli("backtest", "fleet.toml", "--risk-measures", NB_MEASURES, "--step", "5", "--lag", "25", "--json", str(out))
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(out.read_text())


def test_cli_backtest_table_and_json(cli_backtest):
    text, res = cli_backtest
    assert "out of sample (walk forward)" in text and "in sample (weights fitted on all rounds: look-ahead)" in text
    assert "payout factor 1 is a stated constant" in text
    assert set(res) >= {"strategies", "decisions", "payouts"}
    names = NB_MEASURES.split(",") + ["equal", "current"]
    assert list(res["strategies"]) == names
    d = res["decisions"][0]
    assert set(d) >= {"round", "strategy", "slots"} and set(d["slots"][0]) == {"slot", "model", "side", "multipliers"}
    p = res["payouts"][0]
    assert set(p) == {"round", "strategy", "payout"}
    for name in names:
        total = sum(x["payout"] for x in res["payouts"] if x["strategy"] == name)
        assert total == pytest.approx(res["strategies"][name]["total"])
    assert res["settings"]["decisions"] >= 40


def test_notebook_runs_clean_and_matches_cli(cli_backtest):
    import nbclient
    import nbformat

    nb = nbformat.read(NB, as_version=4)
    nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(NB.parent)}}).execute()
    cell = next(c for c in nb.cells if "oos-json" in c.get("metadata", {}).get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    nb_res = json.loads(text)
    _, cli = cli_backtest
    assert nb_res["settings"] == cli["settings"]
    assert nb_res["strategies"] == cli["strategies"]
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 2
