"""The printed plan: long displayNames keep the columns aligned; substitutions and identities are shown."""

from stakealloc.records import DataSummary, Plan, SlotRow
from stakealloc.regimes import Regime, ScoreSpec
from stakealloc.report import render
from stakealloc.slots import SolverInfo


def plan(**kw):
    regime = Regime("live", ("v2_corr20", "mmc"), ((0.75, 2.25),),
                    (ScoreSpec("v2_corr20", "corr20", "2"), ScoreSpec("mmc", "mmc", "2")), origin="api", round=1300)
    base = dict(fleet_sha256="0" * 64, fleet_path="f.toml", risk_measure="CVaR", leverage_desired=3.0,
                leverage_achieved=3.0, total_stake=100.0, regime=regime, weights={"a_payout": 1.0}, deviation=0.0,
                change_penalty=0.0, penalty=0.0,
                slots=(SlotRow(slot="s", stake=100.0, model="a", side="long", label="a",
                               multipliers={"v2_corr20": 0.75, "mmc": 2.25}, exposure={"v2_corr20": 75.0, "mmc": 225.0},
                               changed=True, current=None),),
                targets=(), solver=SolverInfo(name="HiGHS", status="optimal", objective=0.0, bound=0.0, gap=0.0,
                                              seconds=0.1, solver_status="Optimal", source="solver",
                                              formulation="partition", objective_kind="exposure", time_limit=10),
                data=DataSummary("x", first_round=1, last_round=2, rounds=2, window_rounds=2,
                                 instruments=("a_payout",), missing="none"),
                columns={"v2_corr20": "canon_corr", "mmc": "mmc"}, payout_factors={"v2_corr20": 1.0, "mmc": 1.0},
                clip=0.05)
    base.update(kw)
    return Plan(**base)


def test_render_shows_rules_identity_substitution_and_aligned_columns():
    text = render(plan())
    assert "regime live (the API's rules for round 1300): every slot pays 0.75×v2_corr20 + 2.25×mmc" in text
    assert "v2_corr20 (name corr20, version 2); mmc (name mmc, version 2)" in text
    assert "substituted: v2_corr20 is read from the data column canon_corr" in text
    head, row = [ln for ln in text.splitlines() if ln.lstrip("* ").startswith(("slot ", "s "))][:2]
    assert head.index("v2_corr20 x") + len("v2_corr20 x") == row.index("0.75") + len("0.75")


def test_json_carries_the_regime_record():
    d = plan().to_dict()
    assert d["regime"]["source"] == "api" and d["regime"]["round"] == 1300
    assert d["regime"]["identity"][0] == {"displayName": "v2_corr20", "name": "corr20", "version": "2"}
    assert d["regime"]["columns"]["v2_corr20"] == "canon_corr" and d["regime"]["clip"] == 0.05


def test_sweep_table_lists_top_cells_and_baselines_with_intervals():
    import pandas as pd

    from stakealloc.report import sweep_text

    frame = pd.DataFrame([
        {"risk_measure": "MV", "lookback": 60, "linkage": "single", "objective": "exposure", "sharpe": 1.0,
         "mean_pct": 0.5, "sharpe_vs_current": -0.5, "sharpe_vs_current_lo": -0.9, "sharpe_vs_current_hi": -0.1},
        {"risk_measure": "CVaR", "lookback": 60, "linkage": "single", "objective": "exposure", "sharpe": 1.2,
         "mean_pct": 0.6, "sharpe_vs_current": -0.3, "sharpe_vs_current_lo": -0.7, "sharpe_vs_current_hi": 0.2},
        {"risk_measure": "current", "lookback": None, "linkage": None, "objective": None, "sharpe": 1.5,
         "mean_pct": 0.7, "sharpe_vs_current": None, "sharpe_vs_current_lo": None, "sharpe_vs_current_hi": None}])
    text = sweep_text(frame, top=1)
    lines = text.splitlines()
    assert lines[1].strip() == "top 1 of 2 cells" and "CVaR lookback 60 single exposure" in lines[2]
    assert "[-0.700, +0.200]" in lines[2] and "MV lookback" not in text
    assert lines[3].strip() == "baselines" and lines[4].split() == ["current", "1.500", "0.700"]
