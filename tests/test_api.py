"""The Python API gives what the CLI gives."""

import json

import pytest
from conftest import BASE_FLEET, run_cli


@pytest.mark.slow
def test_load_fleet_and_plan_equal_the_cli(write_fleet, tmp_path):
    import stakealloc
    from stakealloc import load_fleet, plan
    from stakealloc.report import render

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
    assert render(p).startswith("stakealloc ") and stakealloc.RiskMeasure("CVaR").value == "CVaR"
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


def test_wrong_arguments_are_config_errors_naming_the_argument(write_fleet):
    """The API checks its arguments as the file's keys are checked: a named ConfigError (exit 2 in the CLI),
    never a pandas, pathlib or attribute error, and nothing read as another value."""
    from dataclasses import replace

    import numpy as np

    from stakealloc import backtest, load_fleet, load_scores, plan
    from stakealloc.errors import ConfigError, DataError

    path = write_fleet(BASE_FLEET)
    fleet = load_fleet(path)
    sd = load_scores(fleet)
    for call, needle in [
        (lambda: load_fleet(5), "path: expected the fleet file's path"),
        (lambda: load_fleet([str(path)]), "path: expected"),
        (lambda: plan(str(path)), "fleet: expected what load_fleet returns, got str; load it first"),
        (lambda: plan(fleet, sd.table), "scores: expected what load_scores returns"),
        (lambda: plan(fleet, replace(sd, table=sd.table.to_dict())), "scores.table: expected a pandas DataFrame"),
        (lambda: load_scores(fleet, offline="yes"), "offline: expected True or False"),
        (lambda: backtest(fleet, sd, strategies="MV"), "strategies: expected a list of names"),
        (lambda: backtest(fleet, sd, strategies=[5]), "strategies: 5 is not a name"),
        (lambda: backtest(fleet, sd, strategies=["bogus"]), "strategies: unknown risk measure 'bogus'"),
        (lambda: backtest(fleet, sd, strategies=[]), "strategies: name at least one"),
        (lambda: backtest(fleet, sd, strategies=["MV"], start=1100.5), "start: must be a whole number"),
        (lambda: backtest(fleet, sd, strategies=["MV"], time_limit=0), "time_limit: must be > 0"),
        (lambda: backtest(fleet, sd, strategies=["MV"], time_limit="5"), "time_limit: must be > 0"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            call()
    table = sd.table.copy()
    table.loc[table.index[3], "value"] = np.inf
    with pytest.raises(DataError, match="scores.table: infinite score values"):
        plan(fleet, replace(sd, table=table))
    table = sd.table.copy()
    table.loc[table.index[3], "round"] = 0
    with pytest.raises(DataError, match=r"scores.table: row 4: round '0' is not in 1\.\.100000"):
        plan(fleet, replace(sd, table=table))


def test_strategies_are_read_as_the_cli_reads_them():
    from stakealloc.walkforward import check_strategies

    assert check_strategies(["cvar", "MV", "equal", "CVaR"]) == ["CVaR", "MV", "equal"]
    assert check_strategies(("current",)) == ["current"]


def _cli(capsys, *argv):
    from stakealloc import cli

    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_validate_assign_and_fetch_are_the_cli_commands(capsys, tmp_path):
    """Each of these commands is one API call rendered by `report`: the CLI's output is the record's text."""
    from conftest import ROOT

    from stakealloc import api
    from stakealloc.errors import ConfigError
    from stakealloc.records import Validation
    from stakealloc.report import json_text, validation_text

    v = api.validate(ROOT / "fleet.toml")
    assert isinstance(v, Validation) and v.budget is not None and not v.needs_api
    rc, out, _ = _cli(capsys, "validate", str(ROOT / "fleet.toml"))
    assert rc == 0 and out == validation_text(v)
    fleet = api.load_fleet(ROOT / "examples/forum-2023.toml")
    targets = ROOT / "examples/forum-2023-targets.csv"
    p = api.assign(fleet, targets)
    assert p.solver.objective_kind == "exposure"  # the default objective becomes exposure for given targets
    rc, _, err = _cli(capsys, "assign", str(ROOT / "examples/forum-2023.toml"), "--targets", str(targets),
                      "--json", str(tmp_path / "a.json"))
    assert rc == 0, err
    mine, cli = (json.loads(t) for t in (json_text(p), (tmp_path / "a.json").read_text()))
    for d in (mine, cli):
        d["meta"].pop("created")
        d["solver"].pop("seconds")
    assert mine == cli
    with pytest.raises(ConfigError, match="targets: no such file"):
        api.assign(fleet, tmp_path / "none.csv")
    with pytest.raises(ConfigError, match=r"targets: expected a path \(str or Path\), got 5"):
        api.assign(fleet, 5)
    with pytest.raises(ConfigError, match='fetch downloads from the API; set data.source = "numerai"'):
        api.fetch(fleet)


def test_sweep_is_the_cli_command_and_checks_its_arguments(write_fleet, tmp_path, capsys):
    from stakealloc import api
    from stakealloc.errors import ConfigError
    from stakealloc.records import SweepResult
    from stakealloc.report import sweep_result_text

    path = write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40"))
    fleet = api.load_fleet(path)
    res = api.sweep(fleet, tmp_path / "a", risk_measures=["mv"], lookbacks=[60], step=60, jobs=1)
    assert isinstance(res, SweepResult) and list(res.table["risk_measure"]) == ["MV", "equal", "current"]
    rc, out, err = _cli(capsys, "sweep", str(path), "--out", str(tmp_path / "b"), "--risk-measures", "MV",
                        "--lookbacks", "60", "--step", "60", "--jobs", "1")
    assert rc == 0, err
    assert out == sweep_result_text(res, str(tmp_path / "b"))  # the same cells, computed afresh in one process
    for kw, needle in [
        (dict(risk_measures="MV"), "risk_measures: expected a list, got 'MV'"),
        (dict(risk_measures=["MV"], lookbacks=[1.5]), r"lookbacks: 1\.5 is not a whole number of rounds"),
        (dict(risk_measures=["MV"], linkages=["x"]), "linkages: 'x' is not a linkage"),
        (dict(risk_measures=["MV"], objectives=[]), "objectives: name at least one value"),
        (dict(risk_measures=["MV"], step=0), "step: must be a whole number ≥ 1, got 0"),
        (dict(risk_measures=["MV"], dask=""), "dask: an empty address"),
        (dict(risk_measures=["MV"], dask_timeout=float("nan")), r"dask_timeout: must be in \(0, 30\] seconds"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            api.sweep(fleet, tmp_path / "c", **kw)
    with pytest.raises(ConfigError, match="out: an empty path"):
        api.sweep(fleet, "", risk_measures=["MV"])
    assert not (tmp_path / "c").exists()  # refused before anything is written


def test_a_backtest_decision_has_its_own_bounded_time_limit(write_fleet):
    """Each decision's slot program gets the fleet's solver.time_limit capped at 10 s unless time_limit says
    otherwise; the result states it beside the count of unproven plans."""
    from dataclasses import replace

    from stakealloc import backtest, load_fleet, load_scores
    from stakealloc.report import backtest_text
    from stakealloc.walkforward import DECISION_TIME_LIMIT

    fleet = load_fleet(write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40")))
    sd = load_scores(fleet)
    assert fleet.solver.time_limit > DECISION_TIME_LIMIT  # the fleet's own limit is the plan's, not a decision's
    res = backtest(fleet, sd, strategies=["MV"], step=60, jobs=1)
    assert res.settings.time_limit == DECISION_TIME_LIMIT and res.to_dict()["settings"]["time_limit"] == 10.0
    assert "time limit 10 s per decision; plans not proven optimal: none" in backtest_text(res, "t")
    assert backtest(fleet, sd, strategies=["MV"], step=60, jobs=1, time_limit=1.5).settings.time_limit == 1.5
    short = replace(fleet, solver=replace(fleet.solver, time_limit=2.0))
    assert backtest(short, sd, strategies=["MV"], step=60, jobs=1).settings.time_limit == 2.0
