"""HRP: hand-computed cases, equality with riskfolio's HCPortfolio, and the degenerate inputs."""

import warnings

import numpy as np
import pandas as pd
import pytest

from stakealloc.errors import OptimizationError
from stakealloc.hrp import RiskMeasure, hrp, prune, riskfolio_hrp


def frame(**cols):
    return pd.DataFrame(cols)


def test_two_instruments_mv_by_hand():
    # var(a) = 4/3, var(b) = 16/3: HRP = inverse variance, w_a = 16 / (4 + 16) = 0.8
    r = hrp(frame(a=[1.0, -1, 1, -1], b=[2.0, 2, -2, -2]), RiskMeasure.MV)
    assert r.weights["a"] == pytest.approx(0.8, abs=1e-12)
    assert r.weights["b"] == pytest.approx(0.2, abs=1e-12)
    assert list(r.weights.index) == ["a", "b"] and r.notes == ()


def test_two_instruments_cvar_by_hand():
    # 20 rounds at alpha 5 %: CVaR is minus the single worst round: 0.1 and 0.3 -> w_a = 0.3 / 0.4
    a = [0.01] * 19 + [-0.1]
    b = [0.02] * 18 + [-0.3, 0.05]
    r = hrp(frame(a=a, b=b), RiskMeasure.CVaR)
    assert r.weights["a"] == pytest.approx(0.75, abs=1e-12)


def test_two_instruments_mdd_by_hand():
    # cumulative: a 1.1, 0.9, 0.95, 1.0 -> MDD 0.2; b 0.6, 0.8, 0.9, 1.1 -> MDD 0.4; w_a = 0.4 / 0.6
    r = hrp(frame(a=[0.1, -0.2, 0.05, 0.05], b=[-0.4, 0.2, 0.1, 0.2]), RiskMeasure.MDD)
    assert r.weights["a"] == pytest.approx(2 / 3, abs=1e-12)


def test_three_instruments_mv_by_hand():
    rng = np.random.default_rng(7)
    base = rng.normal(size=200)
    a = base + 0.1 * rng.normal(size=200)
    b = 2 * base + 0.1 * rng.normal(size=200)  # a and b cluster together
    c = 0.5 * rng.normal(size=200)
    X = frame(a=a, b=b, c=c)
    r = hrp(X, RiskMeasure.MV)
    order = list(r.order)
    assert abs(order.index("a") - order.index("b")) == 1
    # Bisection of 3 leaves: [first] vs [second, third]; the pair then splits 1 vs 1.
    S = X.cov()
    first, pair = order[0], order[1:]
    if first == "c":
        iv = 1 / np.diag(S.loc[pair, pair])
        wp = iv / iv.sum()
        v_pair = wp @ S.loc[pair, pair].to_numpy() @ wp
        a1 = 1 - S.loc["c", "c"] / (S.loc["c", "c"] + v_pair)
        va, vb = S.loc[pair[0], pair[0]], S.loc[pair[1], pair[1]]
        expect = {"c": a1, pair[0]: (1 - a1) * vb / (va + vb), pair[1]: (1 - a1) * va / (va + vb)}
    else:  # [a|b, the other, c]: first alone vs (other, c)
        iv = 1 / np.diag(S.loc[pair, pair])
        wp = iv / iv.sum()
        v_pair = wp @ S.loc[pair, pair].to_numpy() @ wp
        a1 = 1 - S.loc[first, first] / (S.loc[first, first] + v_pair)
        v0, v1 = S.loc[pair[0], pair[0]], S.loc[pair[1], pair[1]]
        expect = {first: a1, pair[0]: (1 - a1) * v1 / (v0 + v1), pair[1]: (1 - a1) * v0 / (v0 + v1)}
    for k, v in expect.items():
        assert r.weights[k] == pytest.approx(v, abs=1e-12)


@pytest.fixture(scope="module")
def real_window(bundled):
    from conftest import ROOT

    from stakealloc.api import load_fleet
    from stakealloc.instruments import build
    from stakealloc.pipeline import regime_table

    f = load_fleet(ROOT / "examples" / "classic-2024.toml")
    return build(regime_table(f, bundled, "bundled"), f.models, f.payout.regime, f.portfolio).returns


@pytest.mark.slow
@pytest.mark.parametrize("rm", ["MV", "CVaR", "MDD", "MAD", "CDaR", "UCI", "vol", "WR", "FLPM", "SLPM", "ADD"])
def test_equals_riskfolio_hcportfolio_on_real_data(real_window, rm):
    ours = hrp(real_window, RiskMeasure(rm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = riskfolio_hrp(real_window, RiskMeasure(rm))
    assert ref.notna().all() and (ref >= 0).all()  # riskfolio's weights valid here
    assert list(ours.weights.index) == list(ref.index)
    assert float((ours.weights - ref).abs().max()) <= 1e-9


@pytest.mark.parametrize("linkage,codep", [("ward", "pearson"), ("average", "spearman"), ("complete", "abs_pearson")])
def test_equals_riskfolio_for_other_clusterings(real_window, linkage, codep):
    ours = hrp(real_window, RiskMeasure.MV, linkage=linkage, codependence=codep)
    ref = riskfolio_hrp(real_window, RiskMeasure.MV, linkage=linkage, codependence=codep)
    assert float((ours.weights - ref).abs().max()) <= 1e-9


def test_never_losing_series_under_mdd_is_floored_not_nan():
    X = frame(up=[0.1, 0.2, 0.05, 0.1], b=[-0.4, 0.2, 0.1, 0.2], c=[0.1, -0.2, 0.05, 0.05])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # riskfolio's own HRP: 1/MDD = inf, then NaN weights or a ValueError
            ref = riskfolio_hrp(X, RiskMeasure.MDD)
            broken = not np.isfinite(ref.to_numpy()).all() or bool((ref < 0).any())
        except ValueError:
            broken = True
    assert broken
    r = hrp(X, RiskMeasure.MDD)
    w = r.weights
    assert np.isfinite(w).all() and (w >= 0).all() and w.sum() == pytest.approx(1, abs=1e-12)
    assert any("MDD = 0 for up (never lost in the window); floored at 0.2" in n for n in r.notes)
    # floored to c's MDD (0.2): up and c weigh the same against b's 0.4 inside their cluster
    assert w["up"] > w["b"]


def test_negative_cvar_is_floored():
    n = 40
    X = frame(pos=[0.01 + 0.001 * i for i in range(n)], a=[0.02 * ((-1) ** i) for i in range(n)],
              b=[0.05 * ((-1) ** i) + 0.001 for i in range(n)])
    r = hrp(X, RiskMeasure.CVaR)
    assert (r.weights >= 0).all() and np.isfinite(r.weights).all()
    assert any(n.startswith("CVaR = -0.0") and "floored" in n for n in r.notes)


def test_no_positive_risk_gives_equal_weights():
    r = hrp(frame(a=[0.1, 0.2, 0.3], b=[0.2, 0.1, 0.3]), RiskMeasure.MDD)
    assert list(r.weights) == [0.5, 0.5]
    assert "equal weights" in r.notes[0]


def test_single_instrument_and_errors():
    assert hrp(frame(a=[0.1, 0.2]), RiskMeasure.MV).weights["a"] == 1.0
    with pytest.raises(OptimizationError, match="NaN"):
        hrp(frame(a=[0.1, np.nan, 0.3], b=[0.1, 0.2, 0.3]), RiskMeasure.MV)
    with pytest.raises(OptimizationError, match="no eligible"):
        hrp(pd.DataFrame(index=[1, 2]), RiskMeasure.MV)


def test_prune_min_weight():
    w = pd.Series({"a": 0.7, "b": 0.28, "c": 0.02})
    p, gone = prune(w, 0.05)
    assert gone == ("c",) and p["c"] == 0 and p.sum() == pytest.approx(1)
    assert p["a"] == pytest.approx(0.7 / 0.98)
    with pytest.raises(OptimizationError, match="prunes every instrument"):
        prune(pd.Series({"a": 0.5, "b": 0.5}), 0.6)


ALL_MEASURES = [r.value for r in RiskMeasure]
LINKAGES = ["single", "complete", "average", "weighted", "centroid", "median", "ward"]
ENTROPIC = {"EVaR", "EDaR"}


def _compare(window, rm, **kw):
    """Our weights against riskfolio's HCPortfolio where riskfolio's result is valid: finite, ≥ 0, and on a
    well-posed input (no risk ≤ 0, which riskfolio inverts as it is and we floor, with a note). Ours are
    always valid weights."""
    res = hrp(window, RiskMeasure(rm), **kw)
    ours = res.weights
    assert np.isfinite(ours).all() and (ours >= 0).all() and ours.sum() == pytest.approx(1, abs=1e-12)
    if res.notes:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref = riskfolio_hrp(window, RiskMeasure(rm), **kw)
        except (ValueError, ZeroDivisionError):
            return None
    if not (np.isfinite(ref.to_numpy()).all() and (ref >= 0).all()):
        return None
    assert list(ours.index) == list(ref.index)
    tol = 1e-6 if rm in ENTROPIC else 1e-9
    diff = float((ours - ref).abs().max())
    assert diff <= tol, (rm, kw, diff)
    return diff


@pytest.mark.slow
@pytest.mark.parametrize("linkage", LINKAGES)
def test_every_measure_equals_riskfolio_for_every_linkage(real_window, linkage):
    """All 22 codes × the seven linkages, 15 instruments × 80 rounds of the example fleet's window."""
    compared = [rm for rm in ALL_MEASURES if _compare(real_window, rm, linkage=linkage) is not None]
    assert len(compared) >= 19, set(ALL_MEASURES) - set(compared)  # well-posed nearly everywhere here


@pytest.fixture(scope="module")
def wide_window(bundled):
    """A second size: 24 models' CORR and MMC streams (48 instruments, both sides off) × 100 rounds."""
    from stakealloc.config import Portfolio
    from stakealloc.instruments import build
    from stakealloc.regimes import custom_regime

    models = tuple(sorted(bundled["model"].unique()))[:24]
    regime = custom_regime(["canon_corr", "canon_mmc"], [[1.0, 0.0], [0.0, 1.0]])
    p = Portfolio(leverage=1.0, lookback=100, min_rounds=60, missing="zero", max_correlation=0.999)
    from stakealloc.config import Missing

    p = Portfolio(**{**p.__dict__, "missing": Missing.ZERO})
    return build(bundled, models, regime, p).returns


@pytest.mark.slow
@pytest.mark.parametrize("rm", ["MV", "CVaR", "MDD", "CDaR", "EDaR", "EVaR", "MAD", "UCI"])
def test_main_measures_equal_riskfolio_at_a_second_size(wide_window, rm):
    assert wide_window.shape[1] >= 30
    assert _compare(wide_window, rm) is not None


def test_native_measures_by_hand():
    from stakealloc import risk

    a = np.array([0.1, -0.2, 0.05, 0.05])
    # cumulative from 1: 1.1, 0.9, 0.95, 1.0; drawdowns 0, 0.2, 0.15, 0.1
    assert risk.max_drawdown(a) == pytest.approx(0.2)
    assert risk.average_drawdown(a) == pytest.approx((0.2 + 0.15 + 0.1) / 4)
    assert risk.ulcer_index(a) == pytest.approx(np.sqrt((0.04 + 0.0225 + 0.01) / 4))
    b = np.array([0.01] * 19 + [-0.1])
    assert risk.cvar(b, 0.05) == pytest.approx(0.1) and risk.var(b, 0.05) == pytest.approx(0.1)
    assert risk.worst(b) == pytest.approx(0.1)
    # EVaR lies between the mean loss and the worst loss, and is CVaR's upper bound
    c = np.random.default_rng(3).normal(0.001, 0.02, 200)
    assert risk.cvar(c, 0.05) <= risk.evar(c, 0.05) <= risk.worst(c)


@pytest.mark.slow
def test_a_plan_never_imports_riskfolio(tmp_path):
    """riskfolio is off the weekly run's path: only gerber/distance codependences and tests import it."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys\nfrom stakealloc import cli\nrc = cli.main(['run', 'fleet.toml'])\n"
            "assert rc == 0\nassert 'riskfolio' not in sys.modules, 'riskfolio imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
