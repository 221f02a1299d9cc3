"""`stakealloc accept`: the weekly routine run → apply → accept leaves a fleet file whose next plan changes
nothing, with its comments and layout kept; a plan of another version of the file is refused."""

import json
import shutil

import pytest
from conftest import ROOT, run_cli

from stakealloc.accept import accept
from stakealloc.api import load_fleet
from stakealloc.errors import ConfigError
from stakealloc.pipeline import plan
from stakealloc.report import json_text
from stakealloc.scores import from_snapshot


def _plan_json(path, tmp_path, name="plan.json"):
    fleet = load_fleet(path).with_overrides(objective="exposure")
    p = plan(fleet, from_snapshot(fleet).table, origin="bundled")
    out = tmp_path / name
    out.write_text(json_text(p))
    return p, out


@pytest.mark.parametrize("example", ["fleet.toml", "examples/classic-2024.toml"])
def test_accept_then_the_next_plan_changes_nothing(tmp_path, example):
    fleet = tmp_path / "fleet.toml"
    shutil.copy(ROOT / example, fleet)
    before = fleet.read_text()
    first, pj = _plan_json(fleet, tmp_path)
    assert sum(s.changed for s in first.slots) > 0
    path, n = accept(pj)
    assert path == fleet.resolve() and n == sum(s.changed for s in first.slots)
    after = fleet.read_text()
    comments = [ln.split("#", 1)[1] for ln in before.splitlines() if "#" in ln]
    assert comments == [ln.split("#", 1)[1] for ln in after.splitlines() if "#" in ln]  # every comment kept
    second, _ = _plan_json(fleet, tmp_path, "next.json")
    assert [s.changed for s in second.slots] == [False] * len(second.slots)
    assert [(s.label, s.stake) for s in second.slots] == [(s.label, s.stake) for s in first.slots]
    f = load_fleet(fleet)
    if f.staking.per_round_system:
        assert [s.current_stake for s in f.slots] == [s.stake for s in first.slots]
    # the plan was made from the file as it was: accepting it again is refused, the file untouched
    with pytest.raises(ConfigError, match="made from another version of"):
        accept(pj)
    assert fleet.read_text() == after


def test_accept_refuses_what_is_not_a_plan(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"slots": []}))
    with pytest.raises(ConfigError, match="not a plan written by"):
        accept(bad)
    with pytest.raises(ConfigError, match="no such file"):
        accept(tmp_path / "none.json")


@pytest.mark.parametrize("edit", [
    lambda s: s.update(side="sideways"), lambda s: s.pop("model"), lambda s: s.update(per_round_stake="NaN"),
    lambda s: s.update(per_round_stake=float("inf")), lambda s: s.update(per_round_stake=-5.0),
    lambda s: s.update(model="not a model"), lambda s: s.clear(),
])
def test_accept_refuses_a_plan_edited_into_nonsense_and_writes_nothing(tmp_path, edit):
    """A plan's slots edited by hand: refused with exit 2's error naming the plan, the fleet file unchanged,
    never an internal error and never a fleet file its own parser rejects."""
    fleet = tmp_path / "fleet.toml"
    shutil.copy(ROOT / "fleet.toml", fleet)
    before = fleet.read_bytes()
    _, pj = _plan_json(fleet, tmp_path)
    doc = json.loads(pj.read_text())
    edit(doc["slots"][0])
    pj.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"^plan: "):
        accept(pj)
    assert fleet.read_bytes() == before


@pytest.mark.slow
def test_cli_weekly_routine(tmp_path):
    fleet = tmp_path / "fleet.toml"
    shutil.copy(ROOT / "fleet.toml", fleet)
    r = run_cli("run", str(fleet), "--json", str(tmp_path / "p.json"), "--objective", "exposure")
    assert r.returncode == 0 and "10 of 10 slots to change" in r.stdout, r.stderr
    r = run_cli("accept", str(tmp_path / "p.json"))
    assert r.returncode == 0 and "10 slot(s) updated" in r.stdout, r.stderr
    r = run_cli("run", str(fleet), "--objective", "exposure")
    assert r.returncode == 0 and "0 of 10 slots to change" in r.stdout
    r = run_cli("accept", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "stakealloc: error: plan: it was made from another version" in r.stderr
