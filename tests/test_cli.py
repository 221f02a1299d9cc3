"""`stakealloc run` on the example fleet: the JSON plan's invariants, CSV, determinism, exit codes."""

import csv
import io
import json

import pytest
from conftest import BASE_FLEET, COLUMNS, run_cli, run_process


@pytest.fixture(scope="module")
def example_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    # a process of its own: the hash seed is a process's (and this is the console entry point's smoke test)
    r = run_process("run", "examples/classic-2024.toml", "--json", str(d / "plan.json"), "--csv",
                    str(d / "plan.csv"), env={"PYTHONHASHSEED": "1"})
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
    r = run_process("run", "examples/classic-2024.toml", "--json", str(tmp_path / "p.json"),
                    env={"PYTHONHASHSEED": "12345"})
    assert r.returncode == 0
    other = json.loads((tmp_path / "p.json").read_text())
    for key in ("slots", "targets", "weights", "deviation", "data"):
        assert other[key] == plan[key]


@pytest.mark.slow
def test_risk_measure_override_and_bad_one(tmp_path):
    r = run_cli("run", "examples/classic-2024.toml", "--risk-measure", "MDD", "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "p.json").read_text())["risk_measure"] == "MDD"
    r = run_cli("run", "examples/classic-2024.toml", "--risk-measure", "MDDD")
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


# --- the example fleet: today's Classic game, per-round stakes ----------------------------------------------


@pytest.fixture(scope="module")
def per_round_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("pr")
    r = run_cli("run", "fleet.toml", "--json", str(d / "plan.json"), "--changes", str(d / "changes.csv"),
                "--csv", str(d / "plan.csv"))
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads((d / "plan.json").read_text()), (d / "changes.csv").read_text(), \
        (d / "plan.csv").read_text()


@pytest.mark.slow
def test_example_fleet_is_a_proven_per_round_plan_whose_stakes_sum_to_the_budget(per_round_plan):
    text, plan, _, _ = per_round_plan
    check_plan_invariants(plan)
    st = plan["staking"]
    assert st == {"system": "per-round", "nmr": 16000.0, "per_round_budget": 250.0, "open_rounds": 64,
                  "stake_step": 0.01, "min_stake": 0.0, "mode": "fixed", "locked_at_full": 16000.0,
                  "locked_now": None}  # offline: the API states what is locked
    assert plan["regime"]["name"] == "classic-r1343" and plan["regime"]["columns"] == {
        "corr60": "canon_corr", "mmc60": "canon_mmc"}
    assert plan["solver"]["status"] == "optimal" and plan["solver"]["formulation"] == "per-round"
    stakes = [s["per_round_stake"] for s in plan["slots"]]
    assert sum(stakes) == pytest.approx(250.0, abs=1e-9) and plan["total_stake"] == 250.0
    assert all(abs(x * 100 - round(x * 100)) < 1e-6 for x in stakes)  # on the 0.01 grid
    for s in plan["slots"]:
        assert s["stake"] == s["per_round_stake"] and s["current_stake"] is not None
        label = ("short_" if s["side"] == "short" else "") + s["model"]
        moved = abs(s["per_round_stake"] - s["current_stake"]) > 1e-9
        assert s["changed"] == (moved or (s["per_round_stake"] > 0 and label != s["current"]))
    # 10 slots, fewer than the eligible instruments: the program chose what to fund
    assert len(plan["slots"]) == 10 < len(plan["data"]["instruments"])
    assert "corr60 is read from the data column canon_corr; mmc60 is read from the data column canon_mmc" in text
    assert "per-round budget B = 250.00 NMR (nmr 16,000.00 / 64 open rounds" in text
    assert "Σ per-round stakes = 250.00 NMR" in text and "all of it after 64" in text
    assert "optimal (proven)" in text


@pytest.mark.slow
def test_example_changes_and_csv_list_what_to_enter(per_round_plan):
    _, plan, changes, table = per_round_plan
    rows = list(csv.DictReader(io.StringIO(changes)))
    changed = [s for s in plan["slots"] if s["changed"]]
    assert [r["model"] for r in rows] == [s["slot"] for s in changed] and rows
    for r, s in zip(rows, changed):
        assert float(r["per_round_stake"]) == pytest.approx(s["per_round_stake"]) and r["mode"] == "fixed"
        assert r["submit"] == ("short_" if s["side"] == "short" else "") + s["model"]
    full = list(csv.DictReader(io.StringIO(table)))
    assert [r["slot"] for r in full] == [s["slot"] for s in plan["slots"]]
    assert all(r["current_stake"] and r["mode"] == "fixed" for r in full)


@pytest.mark.slow
def test_json_on_stdout_is_the_document_alone(tmp_path):
    r = run_process("run", "fleet.toml", "--json", "-", "--objective", "exposure")  # a real stdout
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)  # nothing after the document
    assert plan["staking"]["system"] == "per-round" and "Slots (" in r.stderr


PER_ROUND = BASE_FLEET.replace('regime = "classic-2024"', 'regime = "classic-r1343"').replace(
    'columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
    'columns = { corr60 = "canon_corr", mmc60 = "canon_mmc" }'
).replace("stake = 1000.0", "current_stake = 10.0").replace("stake = 600.0\n", "").replace("stake = 400.0\n", "") + (
    "\n[staking]\nnmr = 6400\n")


def test_per_round_fleet_parses_with_the_budget_and_grid(write_fleet):
    from stakealloc.api import load_fleet

    f = load_fleet(write_fleet(PER_ROUND))
    assert f.staking.per_round_system and f.staking.budget == 100.0 and f.total_stake == 100.0
    assert [s.current_stake for s in f.slots] == [10.0, None, None]
    f = load_fleet(write_fleet(PER_ROUND.replace("nmr = 6400", "nmr = 6400.5\nstake_step = 0.5\nopen_rounds = 7")))
    assert f.staking.budget == 914.0  # 6400.5 / 7 = 914.357…, rounded down to the 0.5 grid


@pytest.mark.parametrize("change,needle", [
    (("current_stake = 10.0", "stake = 10.0"), 'slots[0] (slot_a).stake: under system = "per-round" the plan sets'),
    (("nmr = 6400", ""), "staking.nmr: system = \"per-round\" needs the NMR committed"),
    (("nmr = 6400", "nmr = 6400\nper_round = 100"), "exactly one of them"),
    (("nmr = 6400", "nmr = 6400\nmin_stake = 0.005"), "staking.min_stake: 0.005 is not a whole multiple of "
                                                        "stake_step = 0.01"),
    (("nmr = 6400", "nmr = 6400\nmin_stake = 200"), "staking.min_stake: 200 NMR is more than the per-round budget"),
    (("nmr = 6400", "nmr = 6400\nmode = \"compund\""), "staking.mode: 'compund' is not one of fixed, compound; "
                                                        "did you mean 'compound'?"),
    (("nmr = 6400", "nmr = 6400\nsystem = \"fixed\""), "staking.nmr: only used with system = \"per-round\""),
    (("current_stake = 10.0", "current_stake = 10.0\nmax_stake = 0.003"), "max_stake: 0.003 is not a whole "
                                                                            "multiple of staking.stake_step"),
    (("nmr = 6400", "nmr = 0.5"), "staking: the per-round budget rounds down to 0 NMR"),
    (("nmr = 6400", "per_round = 100"), None),
])
def test_staking_errors_name_the_key(write_fleet, change, needle):
    from stakealloc.api import load_fleet
    from stakealloc.errors import ConfigError

    text = PER_ROUND.replace(*change)
    if needle is None:
        assert load_fleet(write_fleet(text)).staking.budget == 100.0
        return
    with pytest.raises(ConfigError) as e:
        load_fleet(write_fleet(text))
    assert needle in str(e.value)


def test_caps_below_the_budget_are_refused(write_fleet):
    from stakealloc.api import load_fleet
    from stakealloc.errors import ConfigError

    text = PER_ROUND
    for slot in ("slot_a", "slot_b", "slot_c"):
        text = text.replace(f'name = "{slot}"', f'name = "{slot}"\nmax_stake = 10')
    with pytest.raises(ConfigError, match="the slots' max_stake add up to 30 NMR per round, less than the per-round "
                                          r"budget \(100 NMR\)"):
        load_fleet(write_fleet(text))


def _main(capsys, *argv):
    from stakealloc import cli

    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_flag_errors_speak_the_users_terms(capsys, write_fleet, tmp_path):
    fleet = str(write_fleet())
    rc, _, err = _main(capsys, "sweep", fleet, "--out", str(tmp_path / "s"), "--lookbacks", "60,x")
    assert rc == 2 and err.strip() == "stakealloc: error: --lookbacks: 'x' is not a whole number of rounds"
    rc, _, err = _main(capsys, "sweep", fleet, "--out", str(tmp_path / "s"), "--objectives", "expo")
    assert rc == 2 and "'expo' is not an objective (exposure, tracking)" in err and "Objective" not in err
    rc, _, err = _main(capsys, "sweep", fleet, "--out", str(tmp_path / "s"), "--lookbacks", "30")
    assert rc == 2 and err.startswith("stakealloc: error: --lookbacks: 30 rounds cannot hold portfolio.min_rounds")
    for cmd in (["backtest", fleet], ["sweep", fleet, "--out", str(tmp_path / "s")]):
        rc, _, err = _main(capsys, *cmd, "--time-limit", "0")
        assert rc == 2 and err.strip() == "stakealloc: error: --time-limit: must be > 0 and ≤ 86400 seconds, got 0", cmd
    assert not (tmp_path / "s").exists()  # refused before the sweep's directory is made


def test_assign_takes_objective_and_prints_only_what_it_has(capsys, tmp_path):
    from conftest import ROOT

    t = tmp_path / "t.csv"
    t.write_text("model,side,score,target\nfearindex,long,v2_corr20,500\nfearindex,long,mmc,2000\n")
    fleet = str(ROOT / "examples" / "classic-2024.toml")  # states objective = "tracking"
    rc, _, err = _main(capsys, "assign", fleet, "--targets", str(t))
    assert rc == 2 and "run assign with --objective exposure" in err
    rc, out, _ = _main(capsys, "assign", fleet, "--targets", str(t), "--objective", "exposure")
    assert rc == 0 and "optimal (proven)" in out
    assert "None" not in out and "targets given: no scores, window or risk measure" in out
