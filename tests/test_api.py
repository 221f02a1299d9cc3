"""The Python API gives what the CLI gives."""

import json

import pytest
from conftest import BASE_FLEET, run_cli


@pytest.mark.slow
def test_load_fleet_and_plan_equal_the_cli(write_fleet, tmp_path):
    import stakealloc
    from stakealloc import load_fleet, plan

    path = write_fleet(BASE_FLEET)
    p = plan(load_fleet(path))
    r = run_cli("run", str(path), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    cli = json.loads((tmp_path / "p.json").read_text())
    ours = json.loads(json.dumps(p.to_dict()))
    for d in (cli, ours):
        d["meta"].pop("created")
        d["solver"].pop("seconds")
    assert ours == cli
    assert p.text().startswith("stakealloc ") and stakealloc.RiskMeasure("CVaR").value == "CVaR"
    assert set(stakealloc.__all__) >= {"load_fleet", "load_scores", "plan", "backtest", "RiskMeasure"}


@pytest.mark.slow
def test_backtest_and_load_scores_equal_the_cli(write_fleet, tmp_path):
    from stakealloc import BacktestResult, Fleet, backtest, load_fleet, load_scores

    path = write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40"))
    fleet = load_fleet(path)
    assert isinstance(fleet, Fleet)
    sd = load_scores(fleet)
    res = backtest(fleet, sd, step=40)
    assert isinstance(res, BacktestResult)
    d = json.loads(json.dumps(res.to_dict()))
    assert list(d["strategies"]) == ["MV", "equal", "current"] and d["settings"]["step"] == 40
    r = run_cli("backtest", str(path), "--risk-measures", "MV", "--step", "40", "--json", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    assert d == json.loads((tmp_path / "b.json").read_text())


def test_load_fleet_stops_at_what_the_api_states(write_fleet):
    """A fleet whose stakes come from the API is returned as its checked spec; resolving it needs the stakes."""
    import pytest

    from stakealloc import FleetSpec, load_fleet
    from stakealloc.config import Facts, resolve
    from stakealloc.errors import ConfigError

    text = BASE_FLEET.replace("[data]\n", '[data]\nsource = "numerai"\n')
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("stake"))
    spec = load_fleet(write_fleet(text))
    assert isinstance(spec, FleetSpec) and spec.needs_api and all(s.stake is None for s in spec.slots)
    with pytest.raises(ConfigError, match=r"\.stake: not in the fleet file"):
        resolve(spec)
    stakes = {s.name: 100.0 * (i + 1) for i, s in enumerate(spec.slots)}
    fleet = resolve(spec, Facts(stakes=stakes))
    assert [s.stake for s in fleet.slots] == list(stakes.values()) and fleet.total_stake == sum(stakes.values())
