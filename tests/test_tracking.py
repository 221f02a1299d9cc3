"""The tracking objective: brute force on small instances, what it buys over nominal exposure, the JSON's
tracking error recomputed by hand, determinism, and the backtest's out-of-sample tracking error."""

import itertools
import json

import numpy as np
import pytest
from conftest import BASE_FLEET, run_cli, run_process

from stakealloc import tracking
from stakealloc.config import Objective, Ref, SolverName
from stakealloc.payout import ScoreCube
from stakealloc.regimes import PRESETS, custom_regime
from stakealloc.slots import SlotInput, SlotProblem, solve
from stakealloc.targets import Target

SOLVERS = [SolverName.HIGHS, SolverName.CBC]


def streams_of(rng, models, scores, T):
    values = {(m, k): rng.normal(0.002, 0.02, T) for m in models for k in scores}
    return ScoreCube.from_streams(tuple(range(1, T + 1)), values)


def brute_force(slots, targets, regime, refs, st, change_penalty=0.0):
    """Minimum over every assignment (candidate × combination per slot) of mean_t |P_plan − P_target|."""
    g = tracking.target_payout(st, targets)
    options = [(c, p) for c in range(len(refs)) for p in range(len(regime.combinations))]
    vec = {}
    for j, s in enumerate(slots):
        for c, p in options:
            v = np.zeros(len(st.rounds))
            for k, m in zip(regime.scores, regime.combinations[p]):
                v += s.stake * m * st.signed(refs[c].model, refs[c].side, k)
            vec[j, c, p] = v
    best = np.inf
    half = len(slots) // 2
    first = [sum((vec[j, c, p] for j, (c, p) in enumerate(a)), np.zeros(len(g))) for a in
             itertools.product(options, repeat=half)]
    rest = np.array([sum((vec[half + j, c, p] for j, (c, p) in enumerate(b)), np.zeros(len(g))) for b in
                     itertools.product(options, repeat=len(slots) - half)])
    for f in first:
        best = min(best, float(np.min(np.mean(np.abs(f[None, :] + rest - g[None, :]), axis=1))))
    return best


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(3))
def test_six_slots_one_combination_equals_brute_force(solver, seed):
    rng = np.random.default_rng(seed)
    regime = PRESETS["classic-2024"]
    slots = [SlotInput(f"s{j}", float(s)) for j, s in enumerate(np.round(rng.lognormal(np.log(800), 0.6, 6), 2))]
    refs = [Ref("a", "long"), Ref("b", "short"), Ref("c", "long")]
    st = streams_of(rng, ("a", "b", "c"), regime.scores, 15)
    total = sum(s.stake for s in slots)
    w = rng.dirichlet(np.ones(3))
    targets = tuple(Target(r.model, r.side, k, total * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(regime.scores, regime.combinations[0]))
    plan = solve(SlotProblem.build(slots, targets, regime, ("a", "b", "c"), objective=Objective.TRACKING,
                                   streams=st), solver=solver, time_limit=30)
    assert plan.solver.status == "optimal" and plan.solver.objective_kind == "tracking"
    assert plan.solver.objective == pytest.approx(brute_force(slots, targets, regime, refs, st), abs=0.01)
    held = [(c.ref.model, c.ref.side, regime.as_dict(c.combo), s.stake) for s, c in zip(slots, plan.choices)]
    te = tracking.tracking_error(tracking.plan_payout(st, held), tracking.target_payout(st, targets))
    assert te == pytest.approx(plan.solver.objective, abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
def test_four_slots_2023_regime_equals_brute_force(solver):
    rng = np.random.default_rng(11)
    regime = PRESETS["classic-2023"]
    slots = [SlotInput(f"s{j}", float(s)) for j, s in enumerate((900.0, 650.0, 420.0, 300.0))]
    refs = [Ref("a", "long"), Ref("b", "short")]
    st = streams_of(rng, ("a", "b"), regime.scores, 12)
    total = sum(s.stake for s in slots)
    w = rng.dirichlet(np.ones(4))
    targets = (Target("a", "long", "v2_corr20", total * w[0]), Target("a", "long", "tc", 2 * total * w[1]),
               Target("b", "short", "v2_corr20", total * w[2]), Target("b", "short", "tc", 2 * total * w[3]))
    plan = solve(SlotProblem.build(slots, targets, regime, ("a", "b"), objective=Objective.TRACKING, streams=st),
                 solver=solver, time_limit=60)
    assert plan.solver.status == "optimal"
    assert plan.solver.objective == pytest.approx(brute_force(slots, targets, regime, refs, st), abs=0.01)


def test_identical_streams_carry_each_others_target_only_under_tracking():
    """a and b score identically: the tracking plan puts a's target on b at no cost; exposure cannot."""
    rng = np.random.default_rng(4)
    r_a = rng.normal(0.0, 0.02, 20)
    st = ScoreCube.from_streams(tuple(range(20)), {("a", "x"): r_a, ("b", "x"): r_a.copy(),
                                             ("c", "x"): rng.normal(0.0, 0.02, 20)})
    regime = custom_regime(["x"], [[1.0]])
    slots = [SlotInput("big", 600.0, exclude=("a",)), SlotInput("small", 400.0)]
    # b is a candidate through a token target of 1 NMR (candidates are the exposure objective's)
    targets = (Target("a", "long", "x", 600.0), Target("b", "long", "x", 1.0), Target("c", "long", "x", 400.0))
    tr = solve(SlotProblem.build(slots, targets, regime, ("a", "b", "c"), objective=Objective.TRACKING, streams=st))
    ex = solve(SlotProblem.build(slots, targets, regime, ("a", "b", "c")))
    # tracking: b carries a's 600 exactly; what is left is the token target: mean |r_a| × 1 NMR
    assert [c.ref.model for c in tr.choices] == ["b", "c"]
    assert tr.solver.objective == pytest.approx(float(np.mean(np.abs(r_a))), abs=1e-12)
    # exposure: b's exposure counts as a full miss of a's target, so c and a (200 + 1 + 200 NMR)
    assert [c.ref.model for c in ex.choices] == ["c", "a"] and ex.deviation == pytest.approx(401.0)
    held = [(c.ref.model, c.ref.side, {"x": 1.0}, s.stake) for s, c in zip(slots, ex.choices)]
    assert tracking.tracking_error(tracking.plan_payout(st, held), tracking.target_payout(st, targets)) > 1.0


def test_change_penalty_in_nmr_per_round_equals_brute_force():
    rng = np.random.default_rng(8)
    regime = PRESETS["classic-2024"]
    slots = [SlotInput("s0", 700.0, current=Ref("a", "long")), SlotInput("s1", 500.0, current=Ref("b", "short")),
             SlotInput("s2", 300.0)]
    refs = [Ref("a", "long"), Ref("b", "short"), Ref("c", "long")]
    st = streams_of(rng, ("a", "b", "c"), regime.scores, 10)
    targets = tuple(Target(r.model, r.side, k, 500 * p) for r in refs for k, p in zip(regime.scores, (0.5, 2.0)))
    lam = 2.0
    plan = solve(SlotProblem.build(slots, targets, regime, ("a", "b", "c"), change_penalty=lam,
                                   objective=Objective.TRACKING, streams=st))
    g = tracking.target_payout(st, targets)
    best = np.inf
    for owners in itertools.product(range(3), repeat=3):
        held = [(refs[c].model, refs[c].side, regime.as_dict(0), s.stake) for s, c in zip(slots, owners)]
        pen = lam * sum(s.current != refs[c] for s, c in zip(slots, owners))
        best = min(best, tracking.tracking_error(tracking.plan_payout(st, held), g) + pen)
    assert plan.solver.status == "optimal" and plan.solver.objective == pytest.approx(best, abs=0.01)


TRACK_FLEET = BASE_FLEET.replace('objective = "exposure"', 'objective = "tracking"')
assert TRACK_FLEET != BASE_FLEET


@pytest.mark.slow
def test_cli_tracking_plan_json_tracking_error_by_hand(write_fleet, tmp_path, bundled):
    r = run_cli("run", str(write_fleet(TRACK_FLEET)), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    assert plan["solver"]["objective_kind"] == "tracking" and plan["solver"]["status"] == "optimal"
    assert plan["solver"]["objective"] == pytest.approx(plan["tracking_error"], abs=1e-9)
    assert "tracking error: mean |plan payout − target payout|" in r.stdout and "(the objective)" in r.stdout
    # by hand from the bundled scores (v2_corr20 = canon_corr, mmc = canon_mmc), missing scores as 0
    rounds = plan["tracking_rounds"]
    cols = plan["regime"]["columns"]
    t = bundled.set_index(["round", "model", "score"])["value"]

    def score(model, k, rnd):
        return float(t.get((rnd, model, cols[k]), 0.0))

    diffs = []
    for rnd in rounds:
        p_plan = sum(s["stake"] * m * (-1 if s["side"] == "short" else 1) * score(s["model"], k, rnd)
                     for s in plan["slots"] for k, m in s["multipliers"].items())
        p_tgt = sum(x["target"] * (-1 if x["side"] == "short" else 1) * score(x["model"], x["score"], rnd)
                    for x in plan["targets"])
        diffs.append(abs(p_plan - p_tgt))
    assert plan["tracking_error"] == pytest.approx(float(np.mean(diffs)), rel=1e-12, abs=1e-9)
    # the exposure plan reports its tracking error too, never smaller than the tracking optimum
    run_cli("run", str(write_fleet(BASE_FLEET, "e.toml")), "--json", str(tmp_path / "e.json"))
    ex = json.loads((tmp_path / "e.json").read_text())
    assert ex["solver"]["objective_kind"] == "exposure" and ex["tracking_error"] >= plan["tracking_error"] - 0.01
    assert ex["deviation"] <= plan["deviation"] + 0.01


@pytest.mark.slow
def test_tracking_plans_do_not_depend_on_the_hash_seed(write_fleet, tmp_path):
    fleet = write_fleet(TRACK_FLEET)
    plans = []
    for seed in ("1", "77"):
        r = run_process("run", str(fleet), "--json", str(tmp_path / f"p{seed}.json"), env={"PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
        plans.append(json.loads((tmp_path / f"p{seed}.json").read_text()))
    assert plans[0]["slots"] == plans[1]["slots"] and plans[0]["tracking_error"] == plans[1]["tracking_error"]


@pytest.mark.slow
def test_assign_with_tracking_is_bad_input(write_fleet, tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("model,side,score,target\nfearindex,long,v2_corr20,500\nfearindex,long,mmc,2000\n")
    r = run_cli("assign", str(write_fleet(TRACK_FLEET)), "--targets", str(t))
    assert r.returncode == 2 and "solver.objective" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_backtest_tracking_error_out_of_sample(bundled, write_fleet):
    from stakealloc import walkforward
    from stakealloc.api import load_fleet

    fleet = load_fleet(write_fleet(TRACK_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40")))
    cut = bundled[bundled["round"] <= 975]
    res = walkforward.run(fleet, cut, ["MV", "equal", "current"], step=5)
    assert res.settings.objective == "tracking"
    assert res.strategies["current"].tracking_error is None
    for s in ("MV", "equal"):
        assert res.strategies[s].tracking_error > 0
    ex = walkforward.run(fleet.with_overrides(objective=Objective.EXPOSURE),
                      cut, ["MV", "equal", "current"], step=5)
    assert ex.settings.objective == "exposure" and ex.strategies["MV"].tracking_error > 0
