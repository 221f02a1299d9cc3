"""Walk-forward backtest: no look-ahead, payout formula and metrics by hand, baselines, CLI and notebook."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_FLEET, ROOT, run_cli

from stakealloc import walkforward
from stakealloc.api import load_fleet
from stakealloc.payout import Held, RoundRules, ScoreCube, slot_payouts, summary
from stakealloc.records import Comparison, Metrics
from stakealloc.regimes import PRESETS, ScoreConfig, ScoreSpec

ONE = {"v2_corr20": 1.0, "mmc": 1.0}


def test_payout_formula_by_hand_with_clip():
    wide = {"v2_corr20": pd.DataFrame({"a": [0.02, 0.04, np.nan]}, index=[1, 2, 3]),
            "mmc": pd.DataFrame({"a": [0.01, 0.03, 0.01]}, index=[1, 2, 3])}
    wide = ScoreCube.from_wide(wide)
    m = {"v2_corr20": 0.5, "mmc": 2.0}
    pay = slot_payouts(wide, [1, 2, 3], [Held("a", "long", m, 100.0), Held("a", "short", m, 50.0)], ONE, clip=0.05)
    # round 1: 0.5×0.02 + 2×0.01 = 0.03 -> 3.0 NMR; short: -0.03 × 50 = -1.5
    # round 2: 0.02 + 0.06 = 0.08 -> clipped to 0.05 -> 5.0; short: -0.05 × 50 = -2.5
    # round 3: corr missing -> the model has no full score -> 0
    np.testing.assert_allclose(pay, [[3.0, -1.5], [5.0, -2.5], [0.0, 0.0]], atol=1e-12)
    half = slot_payouts(wide, [2], [Held("a", "long", m, 100.0)], {"v2_corr20": 0.5, "mmc": 0.5}, clip=0.05)
    assert half[0, 0] == pytest.approx(4.0)  # 0.5 × 0.08 = 0.04 < clip
    # factors per score: 2 × 0.5 × 0.04 + 0.25 × 2 × 0.03 = 0.055, inside the clip of 0.06
    per = slot_payouts(wide, [2], [Held("a", "long", m, 100.0)], {"v2_corr20": 2.0, "mmc": 0.25}, clip=0.06)
    assert per[0, 0] == pytest.approx(100 * (2 * 0.5 * 0.04 + 0.25 * 2 * 0.03))


def _cfg(name, lo, hi=None, *, default=None, clip=0.05, factor=None, days=20):
    hi = lo if hi is None else hi
    return ScoreConfig(ScoreSpec(name, None, "1", days, 2, 1), True, lo, hi, lo if default is None else default,
                       clip, factor)


def test_round_rules_rebook_clamps_to_the_round_and_uses_its_factors_and_clip():
    rr = RoundRules.of(7, [_cfg("v2_corr20", 0.75), _cfg("mmc", 2.25, factor=0.5, clip=0.1),
                           ScoreConfig(ScoreSpec("canon_corr"), False, 0, 0, 0, None, None)])
    assert rr.scores == ("v2_corr20", "mmc")  # the non-payout score is not booked
    h = rr.rebook(Held("a", "short", {"v2_corr20": 0.5, "mmc": 2.0}, 10.0))
    assert h.multipliers == {"v2_corr20": 0.75, "mmc": 2.25} and h.side == "short"
    grid = RoundRules.of(8, [_cfg("v2_corr20", 0.0, 1.0), _cfg("tc", 0.0, 3.0, default=1.0)])
    assert grid.rebook(Held("a", "long", {"v2_corr20": 0.5, "mmc": 2.0}, 1.0)).multipliers == {"v2_corr20": 0.5,
                                                                                             "tc": 1.0}
    assert rr.factors(1.0) == {"v2_corr20": 1.0, "mmc": 0.5}


def test_default_lag_from_the_payout_scores_horizons():
    from stakealloc.regimes import custom_regime, regime_from_configs

    assert walkforward.default_lag(PRESETS["classic-2024"], {}, {})[0] == 25
    sixty = regime_from_configs([_cfg("v2_corr60", 3.0, days=60), _cfg("mmc60", 15.0, days=60)], 1343, step=0.5)
    assert walkforward.default_lag(sixty, {}, {})[0] == 65
    mixed = regime_from_configs([_cfg("v2_corr20", 0.75), _cfg("mmc60", 2.0, days=60)], 1343, step=0.5)
    assert walkforward.default_lag(mixed, {}, {})[0] == 65  # the slower score decides
    custom = custom_regime(["x", "y"], [[1.0, 1.0]])
    lag, how = walkforward.default_lag(custom, {}, {})
    assert lag == 25 and how.startswith("assumed: the horizon of x, y is unknown")
    from stakealloc.scores import BUNDLED_COLUMNS

    lag, how = walkforward.default_lag(custom, {"x": "canon_corr", "y": "canon_mmc"}, BUNDLED_COLUMNS)
    assert lag == 25 and how.startswith("derived")


def test_metrics_by_hand():
    s = summary(np.array([1.0, -2.0, 3.0, -1.0]), stake=10.0)
    assert s.total == 1.0 and s.mean == 0.25 and s.mean_pct == pytest.approx(2.5)
    r = np.array([0.1, -0.2, 0.3, -0.1])
    assert s.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert s.max_drawdown == pytest.approx(2.0)  # cumulative 1, -1, 2, 1: from 1 down to -1
    assert s.cvar5 == pytest.approx(2.0)  # ⌈0.05 × 4⌉ = 1 worst round: -2
    s = summary(np.array([-1.0] * 3 + [1.0] * 37), stake=1.0)
    assert s.cvar5 == pytest.approx(1.0)  # ⌈2⌉ worst = -1, -1
    m = walkforward.metrics(pd.Series(np.arange(45.0)), 1.0, 0.5)
    assert m.non_overlapping.rounds == 3 and m.non_overlapping.total == 0 + 20 + 40


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
    a = walkforward.run(small_fleet, cut, ["MV"], step=step, lag=lag)
    b = walkforward.run(small_fleet, changed, ["MV"], step=step, lag=lag)
    da, db = _decisions(a, "MV"), _decisions(b, "MV")
    assert target in da
    for d in da:
        if d <= R + lag + 1:
            assert da[d].weights == db[d].weights and da[d].slots == db[d].slots
    # one round less of lag lets round R + 1 in at decision R + lag + 1: the test can fail
    a2 = _decisions(walkforward.run(small_fleet, cut, ["MV"], step=step, lag=lag - 1, start=target), "MV")
    b2 = _decisions(walkforward.run(small_fleet, changed, ["MV"], step=step, lag=lag - 1, start=target), "MV")
    assert a2[target].weights != b2[target].weights


def test_baselines(bundled, small_fleet):
    cut = bundled[bundled["round"] <= 980]
    res = walkforward.run(small_fleet, cut, ["MV", "equal", "current"], step=5, lag=25)
    for d in _decisions(res, "current").values():
        assert (d.slots[0].model, d.slots[0].side) == ("fearindex", "long") and not d.slots[0].changed
        assert d.slots[1].model == "" and d.slots[2].model == ""  # no current, not a source model: pays 0
        assert d.slots[1].exposure == {"v2_corr20": 0.0, "mmc": 0.0}
    eq = next(iter(_decisions(res, "equal").values()))
    assert len(set(eq.weights.values())) == 1 and sum(eq.weights.values()) == pytest.approx(1)
    assert res.strategies["current"].turnover == 0
    # the current baseline's payout is fearindex's payout stream on 1000 NMR, clipped
    pay = res.payouts["current"]
    t = cut[cut["model"] == "fearindex"].pivot(index="round", columns="score", values="value")
    r = pay.index[0]
    expect = 1000 * float(np.clip(0.5 * t.loc[r, "canon_corr"] + 2 * t.loc[r, "canon_mmc"], -0.05, 0.05))
    assert pay.iloc[0] == pytest.approx(expect)
    assert set(res.in_sample) == {"MV", "equal", "current"}
    assert res.settings.own_rules_rounds == 0


def test_each_round_booked_under_its_own_rules(bundled, small_fleet):
    """Rounds from 960 on pay 0.75×CORR + 2.25×MMC with factor 0.5 on MMC and clip 0.1: the held plan is
    booked under them, the earlier rounds under the plan's 0.5/2 and clip 0.05."""
    cut = bundled[bundled["round"] <= 980]
    new = [_cfg("v2_corr20", 0.75, clip=0.1), _cfg("mmc", 2.25, factor=0.5, clip=0.1)]
    rules = {r: new for r in range(960, 981)}
    res = walkforward.run(small_fleet, cut, ["current"], step=5, lag=25, rules=rules)
    pay = res.payouts["current"]
    t = cut[cut["model"] == "fearindex"].pivot(index="round", columns="score", values="value")
    old_r, new_r = int(pay.index[0]), 970
    assert old_r < 960
    assert pay.loc[old_r] == pytest.approx(1000 * float(np.clip(0.5 * t.loc[old_r, "canon_corr"]
                                                                 + 2 * t.loc[old_r, "canon_mmc"], -0.05, 0.05)))
    assert pay.loc[new_r] == pytest.approx(1000 * float(np.clip(0.75 * t.loc[new_r, "canon_corr"]
                                                                 + 0.5 * 2.25 * t.loc[new_r, "canon_mmc"], -0.1, 0.1)))
    assert res.settings.own_rules_rounds == len([r for r in pay.index if r >= 960]) > 0
    from stakealloc.report import backtest_text

    assert "rounds booked under their own rules" in backtest_text(res, "t")


NB = ROOT / "notebooks" / "risk_measure_sensitivity.ipynb"
NB_MEASURES = "MV,MAD,CVaR,EVaR,WR,MDD,CDaR,UCI"


CLI_MEASURES = "MV,CDaR"  # the CLI re-runs two of the notebook's measures; each strategy's figures stand alone


@pytest.fixture(scope="session")
def notebook_run():
    """The notebook executed once per session (its 8-measure backtest is the suite's most expensive result):
    (the executed notebook, its out-of-sample JSON)."""
    import nbclient
    import nbformat

    nb = nbformat.read(NB, as_version=4)
    nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(NB.parent)}}).execute()
    cell = next(c for c in nb.cells if "oos-json" in c.get("metadata", {}).get("tags", []))
    return nb, json.loads("".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream"))


@pytest.fixture(scope="module")
def cli_backtest(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bt.json"
    r = run_cli("backtest", "examples/classic-2024.toml", "--risk-measures", CLI_MEASURES, "--step", "5",
                "--objective", "exposure", "--json", str(out))
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_cli_backtest_table_and_json(cli_backtest):
    text, res = cli_backtest
    assert "out of sample (walk forward)" in text and "in sample (weights fitted on all rounds: look-ahead)" in text
    assert "no round's own payout rules are known (the current ones were used)" in text
    assert "lag 25 (derived: 23 days until the payout scores resolve + 2 rounds)" in text
    assert res["settings"]["lag"] == 25
    assert set(res) >= {"strategies", "decisions", "payouts"}
    names = CLI_MEASURES.split(",") + ["equal", "current"]
    assert list(res["strategies"]) == names
    d = res["decisions"][0]
    assert set(d) >= {"round", "strategy", "slots"} and set(d["slots"][0]) == {"slot", "model", "side", "multipliers"}
    cur = res["strategies"]["CDaR"]["vs_current"]
    assert set(cur) == {"mean_diff", "mean_diff_ci", "sharpe_diff", "sharpe_diff_ci"}
    assert cur["mean_diff_ci"][0] < cur["mean_diff_ci"][1] and cur["sharpe_diff_ci"][0] < cur["sharpe_diff_ci"][1]
    assert res["settings"]["bootstrap"] == {"block": 20, "samples": 2000, "seed": 0, "level": 0.9}
    assert "verdict: " in text and res["settings"]["verdict"] in text
    p = res["payouts"][0]
    assert set(p) == {"round", "strategy", "payout"}
    for name in names:
        total = sum(x["payout"] for x in res["payouts"] if x["strategy"] == name)
        assert total == pytest.approx(res["strategies"][name]["total"])
    assert res["settings"]["decisions"] >= 40


@pytest.mark.slow
def test_notebook_runs_clean_and_matches_cli(notebook_run, cli_backtest):
    """The notebook's backtest (through the Python API) equals the CLI's for the measures both ran."""
    nb, nb_res = notebook_run
    _, cli = cli_backtest
    assert set(nb_res["strategies"]) == set(NB_MEASURES.split(",") + ["equal", "current"])
    for k in cli["strategies"]:
        assert nb_res["strategies"][k] == cli["strategies"][k], k
        assert nb_res["settings"]["unproven"].get(k) == cli["settings"]["unproven"].get(k)
    # the verdict names the leader among the strategies each ran
    strip = lambda s: {k: v for k, v in s.items() if k not in ("unproven", "verdict")}  # noqa: E731
    assert strip(nb_res["settings"]) == strip(cli["settings"])
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 3


@pytest.mark.slow
def test_notebook_prose_states_the_tables_best_strategy(notebook_run):
    """The notebook's reading is computed from its results: the best strategy it names is the table's."""
    nb, nb_res = notebook_run
    cell = next(c for c in nb.cells if "reading" in c.get("metadata", {}).get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    stated = text.split("stated-best: ", 1)[1].split()[0]
    sharpe = {k: m["sharpe"] for k, m in nb_res["strategies"].items()}
    assert stated == max(sharpe, key=lambda k: (sharpe[k], k))
    md = "".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
    assert f"the best Sharpe is {stated}'s" in md and nb_res["settings"]["verdict"] in md
    assert not any("ADD" in "".join(c.source) for c in nb.cells if c.cell_type == "markdown")  # never run here


def test_parallel_decisions_equal_one_process(bundled, small_fleet):
    """--jobs 2 (joblib worker processes over runs of decisions) gives the same decisions and payouts as one
    process; every plan here is proven optimal."""
    cut = bundled[bundled["round"] <= 1010]
    one = walkforward.run(small_fleet, cut, ["MV", "CDaR", "equal", "current"], step=5, jobs=1)
    two = walkforward.run(small_fleet, cut, ["MV", "CDaR", "equal", "current"], step=5, jobs=2)
    assert one.settings.decisions >= 8
    assert one.decisions == two.decisions
    pd.testing.assert_frame_equal(one.payouts, two.payouts)
    assert one.strategies == two.strategies and one.in_sample == two.in_sample


def test_shared_clustering_equals_per_measure_hrp(bundled, small_fleet):
    """The backtest clusters a window once for all measures: the weights equal HRP run measure by measure."""
    from stakealloc import hrp, instruments
    from stakealloc.pipeline import regime_table

    t = regime_table(small_fleet, bundled[bundled["round"] <= 1000], "bundled")
    inst = instruments.build(t[t["resolved"]], small_fleet.models, small_fleet.payout.regime, small_fleet.portfolio)
    tree = hrp.build_tree(inst.returns)
    for rm in ("MV", "CVaR", "EDaR", "UCI"):
        a = hrp.hrp(inst.returns, hrp.RiskMeasure(rm), tree=tree).weights
        b = hrp.hrp(inst.returns, hrp.RiskMeasure(rm)).weights
        pd.testing.assert_series_equal(a, b)


def test_bootstrap_compare_is_paired_seeded_and_sees_a_clear_lead():
    """A strategy that pays a constant 1 NMR per round more than `current` has that lead with an interval that
    excludes 0; two identical strategies differ by exactly 0; the same inputs give the same intervals."""
    rng = np.random.default_rng(3)
    base = rng.normal(5.0, 3.0, 240)
    pay = pd.DataFrame({"A": base + 1.0, "B": base.copy(), "current": base.copy(), "equal": base - 2.0})
    out = walkforward.compare(pay, 100.0, 20)
    a = out["A"]["vs_current"]
    assert a.mean_diff == pytest.approx(1.0) and a.mean_diff_ci == pytest.approx((1.0, 1.0))
    assert a.sharpe_diff > 0 and a.sharpe_diff_ci[0] > 0
    assert out["B"]["vs_current"].mean_diff == 0 and out["B"]["vs_current"].sharpe_diff_ci == (0.0, 0.0)
    assert out["A"]["vs_equal"].mean_diff == pytest.approx(3.0)
    assert walkforward.compare(pay, 100.0, 20) == out

    def metrics(sharpe: float, **vs) -> Metrics:
        return Metrics(rounds=240, total=0.0, mean=0.0, mean_pct=0.0, sharpe=sharpe, max_drawdown=0.0, cvar5=0.0,
                       **vs)

    text = walkforward.verdict({k: metrics(float(pay[k].mean() / pay[k].std()), **out.get(k, {})) for k in pay})
    assert text.startswith("A leads by out-of-sample Sharpe") and "distinguishable from noise" in text
    assert "not distinguishable" not in text
    noisy = walkforward.verdict({"A": metrics(1.0, vs_current=Comparison(0.0, (0.0, 0.0), 0.1, (-0.2, 0.4))),
                                 "current": metrics(0.9)})
    assert "not distinguishable from noise" in noisy
    assert walkforward.verdict({"A": metrics(0.5), "current": metrics(0.9)}).startswith("current (every")


def test_the_api_arguments_are_checked_like_flags(bundled, small_fleet):
    """jobs=2.5 was accepted silently; a string step a raw TypeError."""
    from stakealloc.errors import ConfigError

    for kw, needle in [({"jobs": 2.5}, "jobs: must be a whole number, got 2.5"),
                       ({"step": "5"}, "step: must be a whole number, got '5'"),
                       ({"lag": True}, "lag: must be a whole number, got True")]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            walkforward.run(small_fleet, bundled, ["MV"], **kw)
