"""The Python API gives what the CLI gives."""

import json

from conftest import BASE_FLEET, run_cli


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


def test_backtest_and_load_scores(write_fleet):
    from stakealloc import backtest, load_fleet, load_scores

    fleet = load_fleet(write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40")))
    sd = load_scores(fleet)
    res = backtest(fleet, sd, step=40)
    d = res.to_dict()
    assert list(d["strategies"]) == ["MV", "equal", "current"] and d["settings"]["step"] == 40
