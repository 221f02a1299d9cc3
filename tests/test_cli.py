"""`stakealloc run` on the example fleet: the JSON plan's invariants, CSV, determinism, exit codes."""

import csv
import io
import json

import pytest
from conftest import BASE_FLEET, COLUMNS, run_cli


@pytest.fixture(scope="module")
def example_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    r = run_cli("run", "fleet.toml", "--json", str(d / "plan.json"), "--csv", str(d / "plan.csv"),
                env={"PYTHONHASHSEED": "1"})
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads((d / "plan.json").read_text()), (d / "plan.csv").read_text()


def check_plan_invariants(plan: dict) -> None:
    regime = plan["regime"]
    combos = [tuple(c) for c in regime["combinations"]]
    slots = plan["slots"]
    assert len({s["slot"] for s in slots}) == len(slots)  # every slot once
    assert plan["total_stake"] == pytest.approx(sum(s["stake"] for s in slots), abs=1e-9)
    achieved = {}
    for s in slots:
        assert s["side"] in ("long", "short")
        assert tuple(s["multipliers"][k] for k in regime["scores"]) in combos
        for k in regime["scores"]:
            assert s["exposure"][k] == pytest.approx(s["stake"] * s["multipliers"][k], abs=1e-9)
            key = (s["model"], s["side"], k)
            achieved[key] = achieved.get(key, 0.0) + s["exposure"][k]
    rows = {(t["model"], t["side"], t["score"]): t for t in plan["targets"]}
    for key, a in achieved.items():
        if a > 0:
            assert rows[key]["achieved"] == pytest.approx(a, abs=1e-9)
    for key, t in rows.items():
        assert t["target"] > 0 or t["achieved"] > 0
        assert t["achieved"] == pytest.approx(achieved.get(key, 0.0), abs=1e-9)
    assert plan["deviation"] == pytest.approx(sum(abs(t["achieved"] - t["target"]) for t in rows.values()), abs=1e-6)
    w = plan["weights"]
    if w:
        assert all(v >= 0 for v in w.values()) and sum(w.values()) == pytest.approx(1.0, abs=1e-9)
    lev = plan["leverage"]["desired"]
    single = len(combos) == 1
    expect = {}
    for name, wi in w.items():
        short = name.startswith("short_")
        base = name[len("short_"):] if short else name
        # score names may hold underscores (displayNames): split on the score the name ends with
        score = next(k for k in [*regime["scores"], "payout"] if base.endswith("_" + k))
        model = base[: -len(score) - 1]
        side = "short" if short else "long"
        if single:
            assert score == "payout"
            for k, p in zip(regime["scores"], combos[0]):
                if p:
                    expect[(model, side, k)] = expect.get((model, side, k), 0) + plan["total_stake"] * wi * p
        else:
            expect[(model, side, score)] = lev * plan["total_stake"] * wi
    for key, t in rows.items():
        if w:  # `assign` plans carry given targets, not weights
            assert t["target"] == pytest.approx(expect.get(key, 0.0), abs=1e-6)
    ach_lev = sum(s["stake"] * sum(s["multipliers"].values()) for s in slots) / plan["total_stake"]
    assert plan["leverage"]["achieved"] == pytest.approx(ach_lev)
    sv = plan["solver"]
    assert sv["status"] in ("optimal", "feasible")
    assert sv["gap"] == pytest.approx(sv["objective"] - sv["bound"], abs=1e-9)
    if sv["status"] == "optimal":
        assert sv["gap"] <= max(0.01, 1e-4 * sv["objective"])


@pytest.mark.slow
def test_example_plan_invariants(example_plan):
    text, plan, _ = example_plan
    check_plan_invariants(plan)
    # stdout is the plan and nothing else (HiGHS prints a banner below Python unless silenced)
    assert text.startswith("stakealloc ") and "Running HiGHS" not in text


def test_example_plan_states_its_rules_and_column_substitution(example_plan):
    text, plan, _ = example_plan
    assert plan["regime"]["columns"] == {"v2_corr20": "canon_corr", "mmc": "canon_mmc"}
    assert plan["regime"]["source"] == "preset" and plan["regime"]["round"] is None
    assert plan["regime"]["identity"] == [{"displayName": "v2_corr20", "name": None, "version": None},
                                          {"displayName": "mmc", "name": None, "version": None}]
    assert plan["regime"]["payout_factors"] == {"v2_corr20": 1.0, "mmc": 1.0} and plan["regime"]["clip"] == 0.05
    assert ("substituted: v2_corr20 is read from the data column canon_corr; mmc is read from the data column "
            "canon_mmc (stated in [data] columns)") in text
    assert set(plan) >= {"meta", "risk_measure", "leverage", "total_stake", "regime", "weights", "deviation",
                         "slots", "targets", "solver", "data"}
    assert set(plan["meta"]) >= {"version", "fleet_sha256", "created"}
    assert set(plan["solver"]) >= {"name", "status", "objective", "bound", "gap", "seconds"}
    assert set(plan["data"]) >= {"source", "first_round", "last_round", "rounds", "instruments", "dropped"}
    assert plan["solver"]["status"] == "optimal"
    assert plan["leverage"]["desired"] == 2.5 == pytest.approx(plan["leverage"]["achieved"])
    assert plan["data"]["last_round"] == 1177
    dropped = {d["instrument"]: d["reason"] for d in plan["data"]["dropped"]}
    assert dropped["short_v5_lgbm_ct_blend_payout"].startswith("duplicate of short_v5_example_preds_payout")
    assert "Slots (* = differs from current" in text and "optimal (proven)" in text


def test_csv_matches_json(example_plan):
    _, plan, text = example_plan
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["slot", "model", "side", "stake", "changed", "current", "v2_corr20_mult", "mmc_mult",
                             "v2_corr20_exposure", "mmc_exposure"]
    for r, s in zip(rows, plan["slots"]):
        assert r["slot"] == s["slot"] and r["model"] == s["model"] and r["side"] == s["side"]
        assert r["current"] == (s["current"] or "")
        assert float(r["mmc_exposure"]) == s["exposure"]["mmc"]
        assert r["changed"] == str(s["changed"]).lower()


def test_to_do_marks_agree_with_current(example_plan):
    _, plan, _ = example_plan
    for s in plan["slots"]:
        label = ("short_" if s["side"] == "short" else "") + s["model"]
        assert s["changed"] == (s["current"] != label)


@pytest.mark.slow
def test_same_plan_under_other_hash_seeds(example_plan, tmp_path):
    _, plan, _ = example_plan
    r = run_cli("run", "fleet.toml", "--json", str(tmp_path / "p.json"), env={"PYTHONHASHSEED": "12345"})
    assert r.returncode == 0
    other = json.loads((tmp_path / "p.json").read_text())
    for key in ("slots", "targets", "weights", "deviation", "data"):
        assert other[key] == plan[key]


@pytest.mark.slow
def test_risk_measure_override_and_bad_one(tmp_path):
    r = run_cli("run", "fleet.toml", "--risk-measure", "MDD", "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "p.json").read_text())["risk_measure"] == "MDD"
    r = run_cli("run", "fleet.toml", "--risk-measure", "MDDD")
    assert r.returncode == 2 and "--risk-measure: unknown risk measure 'MDDD'" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("combinations", [
    "[[0, 0], [0.5, 0], [1, 0], [0, 1], [0.5, 1], [1, 1], [0, 2], [1, 2]]",  # a 2023-like grid on corr/mmc
    "[[0, 0], [1, 0], [2, 0], [2, 0.5], [2, 1]]",  # r589-like coupling: mmc only with 2x corr
])
def test_multi_combination_regimes_end_to_end(write_fleet, tmp_path, combinations):
    """The bundled data has canon_corr and canon_mmc (no TC), so the 2023 shapes run as custom regimes on those,
    named as the data names them (no column substitution)."""
    text = BASE_FLEET.replace('regime = "classic-2024"',
                              f'regime = "custom"\nscores = ["canon_corr", "canon_mmc"]\ncombinations = {combinations}')
    text = text.replace(COLUMNS, "")
    text = text.replace('risk_measure = "MV"', 'risk_measure = "MV"\nleverage = 1.5').replace("time_limit = 20",
                                                                                              "time_limit = 5")
    r = run_cli("run", str(write_fleet(text)), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    check_plan_invariants(plan)
    assert plan["leverage"]["desired"] == 1.5
    assert all(n.endswith(("_canon_corr", "_canon_mmc")) for n in plan["weights"])
    assert plan["regime"]["source"] == "custom" and plan["regime"]["columns"] == {"canon_corr": "canon_corr",
                                                                                  "canon_mmc": "canon_mmc"}


@pytest.mark.slow
def test_snapshot_csv_source_and_data_error(write_fleet, tmp_path):
    (tmp_path / "s.csv").write_text("round,model,score,value\n1,fearindex,corr,oops\n")
    fleet = write_fleet(BASE_FLEET.replace("[data]\n", '[data]\nsnapshot = "s.csv"\n'))
    r = run_cli("run", str(fleet), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 3 and "value 'oops' is not a number" in r.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.slow
def test_assign_maps_given_targets(write_fleet, tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("model,side,score,target\nfearindex,long,v2_corr20,500\nfearindex,long,mmc,2000\n"
                 "jos_stack,long,v2_corr20,300\njos_stack,long,mmc,1200\nreputation,short,v2_corr20,200\n"
                 "reputation,short,mmc,800\n")
    r = run_cli("assign", str(write_fleet()), "--targets", str(t), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    # stakes 1000/600/400 at 0.5/2: 1000 -> fearindex, 600 -> jos_stack, 400 -> short reputation: exact
    assert plan["deviation"] == pytest.approx(0.0, abs=1e-9)
    assert [s["model"] for s in plan["slots"]] == ["fearindex", "jos_stack", "reputation"]
    assert plan["weights"] == {} and plan["solver"]["status"] == "optimal"
    check_plan_invariants(plan)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["CBC", "HiGHS"])
def test_assign_proves_the_forum_case(write_fleet, tmp_path, solver):
    """The forum post's 9 slots and targets under classic-2023 (stakes from benchmarks/slots.py, draw 0),
    given as a targets CSV: `assign` proves the optimum both solvers agree on (137.08 NMR, benchmarks)."""
    stakes = {"degerhan_s_01": 1000.0, "degerhan_s_05": 824.0, "degerhan_s_03": 500.0, "degerhan_p_01": 222.63,
              "degerhan_s_02": 804.24, "degerhan_s_07": 424.9, "degerhan_s_08": 459.9, "degerhan_s_04": 1667.74,
              "degerhan_s_06": 496.63}
    models = ["degerhan_r1_03", "degerhan_r1_04", "degerhan_r1_04b", "degerhan_r1_06", "degerhan_r4_04",
              "paul_the_0ct0pus"]
    slots = "".join(f'\n[[slots]]\nname = "{n}"\nstake = {s}\n' for n, s in stakes.items())
    fleet = write_fleet(f'models = {models!r}\n\n[payout]\nregime = "classic-2023"\n\n[solver]\nname = "{solver}"\n'
                        f'time_limit = 30\n{slots}'.replace("'", '"'))
    t = tmp_path / "t.csv"
    t.write_text("model,side,score,target\ndegerhan_r1_03,short,v2_corr20,1333.5\ndegerhan_r1_03,short,tc,4163.1\n"
                 "degerhan_r1_04,short,tc,1896.1\ndegerhan_r1_04b,short,tc,1923.7\ndegerhan_r1_06,short,tc,817.9\n"
                 "degerhan_r4_04,short,tc,1371.3\npaul_the_0ct0pus,long,v2_corr20,1294.8\n")
    r = run_cli("assign", str(fleet), "--targets", str(t), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    sv = plan["solver"]
    assert (sv["name"], sv["status"], sv["formulation"]) == (solver, "optimal", "partition")
    assert plan["deviation"] == pytest.approx(137.08, abs=0.005) and sv["gap"] <= 0.01
    assert "optimal (proven)" in r.stdout
    check_plan_invariants(plan)
