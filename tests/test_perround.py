"""The per-round slot program: invariants, brute force on small instances (both objectives, min_stake, caps,
pins, a change penalty), the rounding-only bound, and the naive per-slot formulation giving the same optimum."""

import itertools

import numpy as np
import pytest

from stakealloc.payout import ScoreCube
from stakealloc.regimes import PRESETS
from stakealloc.slots import PerRound, SearchOptions, SlotInput, SlotProblem, solve
from stakealloc.targets import Target
from stakealloc.types import Objective, Ref, SolverName

R1343 = PRESETS["classic-r1343"]  # one combination: 3×corr60 + 15×mmc60


def _instance(rng, n_slots, n_models, budget, *, step=1.0, min_stake=0.0, caps=None, T=30, shorts=True):
    models = tuple(f"m{i}" for i in range(n_models))
    refs = [Ref(m, "short" if shorts and i % 3 == 2 else "long") for i, m in enumerate(models)]
    w = rng.dirichlet(np.ones(n_models))
    targets = tuple(Target(r.model, r.side, k, budget * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(R1343.scores, R1343.combinations[0]))
    values = {(m, k): rng.normal(0.01, 0.02, T) for m in models for k in R1343.scores}
    st = ScoreCube.from_streams(tuple(range(1, T + 1)), values)
    caps = caps or [budget] * n_slots
    slots = [SlotInput(f"s{j}", caps[j]) for j in range(n_slots)]
    pr = PerRound(budget=budget, step=step, min_stake=min_stake, caps=tuple(caps),
                  current_stakes=tuple([None] * n_slots))
    return slots, targets, models, st, pr


def _cost(pb, plan):
    """Independent of the program: (exposure deviation, tracking error, penalty) of (ref, stake) per slot."""
    ach = {}
    pay = np.zeros(len(pb.streams.rounds)) if pb.streams is not None else None
    for ref, s in plan:
        for k, p in zip(pb.regime.scores, pb.regime.combinations[0]):
            ach[(ref.model, ref.side, k)] = ach.get((ref.model, ref.side, k), 0.0) + s * p
            if pay is not None:
                pay = pay + s * p * pb.streams.signed(ref.model, ref.side, k)
    tg = {(t.model, t.side, t.score): t.target for t in pb.targets}
    dev = sum(abs(ach.get(key, 0.0) - tg.get(key, 0.0)) for key in set(ach) | set(tg))
    te = 0.0
    if pay is not None:
        goal = sum(t.target * pb.streams.signed(t.model, t.side, t.score) for t in pb.targets)
        te = float(np.mean(np.abs(pay - goal)))
    pen = 0.0
    for (ref, s), slot, cur in zip(plan, pb.slots, pb.per_round.current_stakes):
        changed = cur is None or abs(cur - s) > 1e-9 or (s > 0 and ref != slot.current)
        pen += pb.change_penalty * changed
    return dev, te, pen


def brute_force(pb):
    """The best objective over every plan: stakes 0 or in [min, cap] on the grid, summing to B; every
    staking slot on any candidate it may take (an idle slot's candidate does not matter)."""
    pr = pb.per_round
    N, lo = pr.units(pr.budget), pr.units(pr.min_stake)
    choices = [[0] + list(range(max(lo, 1), pr.units(c) + 1)) for c in pr.caps]
    best = np.inf
    for stakes in itertools.product(*choices):
        if sum(stakes) != N:
            continue
        staking = [j for j, s in enumerate(stakes) if s]
        for refs in itertools.product(*[[pb.refs[c] for c in pb.allowed[j]] for j in staking]):
            plan = [(pb.refs[pb.idle[j]], 0.0) for j in range(len(stakes))]
            for j, r in zip(staking, refs):
                plan[j] = (r, stakes[j] * pr.step)
            dev, te, pen = _cost(pb, plan)
            best = min(best, (te if pb.objective is Objective.TRACKING else dev) + pen)
    return best


def check_invariants(plan, pb):
    pr = pb.per_round
    assert len(plan.choices) == len(pb.slots) == len(plan.stakes)  # every slot assigned once
    assert sum(plan.stakes) == pytest.approx(pr.budget, abs=1e-9)  # stakes sum to the budget
    for j, s in enumerate(plan.stakes):
        assert s == 0 or pr.min_stake - 1e-9 <= s <= pr.caps[j] + 1e-9
        assert abs(s / pr.step - round(s / pr.step)) < 1e-9  # on the grid
        assert pb.refs.index(plan.choices[j].ref) in pb.allowed[j]
    dev, te, pen = _cost(pb, [(c.ref, s) for c, s in zip(plan.choices, plan.stakes)])
    obj = (te if pb.objective is Objective.TRACKING else dev) + pen
    assert plan.solver.objective == pytest.approx(obj, abs=1e-6)  # reported = recomputed from the plan
    assert plan.deviation == pytest.approx(dev, abs=1e-6)
    assert plan.solver.bound <= plan.solver.objective + 1e-9


CASES = [  # (slots, models, budget, min_stake, caps, seed)
    (3, 5, 8.0, 0.0, None, 1),
    (4, 5, 8.0, 2.0, None, 2),
    pytest.param(4, 6, 8.0, 0.0, [3.0, 3.0, 8.0, 2.0], 3, marks=pytest.mark.slow),
    pytest.param(5, 7, 6.0, 1.0, [2.0, 2.0, 2.0, 6.0, 6.0], 4, marks=pytest.mark.slow),  # 5 slots × 7: 15 s
    (2, 7, 8.0, 0.0, None, 5),  # fewer slots than instruments: the program chooses what to fund
]


@pytest.mark.parametrize("objective", [Objective.EXPOSURE, Objective.TRACKING])
@pytest.mark.parametrize("n,k,budget,lo,caps,seed", CASES)
def test_small_cases_equal_brute_force(n, k, budget, lo, caps, seed, objective):
    rng = np.random.default_rng(seed)
    slots, targets, models, st, pr = _instance(rng, n, k, budget, min_stake=lo, caps=caps)
    pb = SlotProblem.build(slots, targets, R1343, models, objective=objective,
                           streams=st if objective is Objective.TRACKING else None, per_round=pr)
    plan = solve(pb, solver=SolverName.HIGHS, time_limit=30)
    check_invariants(plan, pb)
    assert plan.solver.status == "optimal" and plan.solver.formulation == "per-round"
    assert plan.solver.objective == pytest.approx(brute_force(pb), abs=0.011)


@pytest.mark.parametrize("objective", [Objective.EXPOSURE, Objective.TRACKING])
def test_pins_excludes_and_change_penalty_equal_brute_force(objective):
    rng = np.random.default_rng(7)
    slots, targets, models, st, pr = _instance(rng, 4, 5, 8.0, min_stake=1.0)
    slots[0] = SlotInput("s0", 8.0, current=Ref("m0", "long"), current_combo=0)
    slots[1] = SlotInput("s1", 8.0, current=Ref("m3", "long"), current_combo=0, pin=Ref("m3", "long"))
    slots[2] = SlotInput("s2", 8.0, current=Ref("m1", "long"), current_combo=0, exclude=("m0", "m1"))
    pr = PerRound(budget=8.0, step=1.0, min_stake=1.0, caps=(8.0,) * 4, current_stakes=(3.0, 2.0, 3.0, 0.0))
    pb = SlotProblem.build(slots, targets, R1343, models, objective=objective, change_penalty=0.5,
                           streams=st if objective is Objective.TRACKING else None, per_round=pr)
    plan = solve(pb, solver=SolverName.HIGHS, time_limit=30)
    check_invariants(plan, pb)
    assert plan.choices[1].ref == Ref("m3", "long") and plan.choices[2].ref.model not in ("m0", "m1")
    assert plan.solver.status == "optimal"
    assert plan.solver.objective == pytest.approx(brute_force(pb), abs=0.011)


def test_enough_slots_deviation_is_rounding_only():
    """With at least as many slots as funded instruments and nothing binding, the stakes follow the targets to
    the grid: per candidate |Σ stake − target stake| ≤ one step, so deviation ≤ step × Σ_k p_k per slot."""
    rng = np.random.default_rng(11)
    for n_models, n_slots in ((6, 6), (9, 12), (15, 20)):
        slots, targets, models, st, pr = _instance(rng, n_slots, n_models, 250.0, step=0.01)
        pb = SlotProblem.build(slots, targets, R1343, models, per_round=pr)
        plan = solve(pb, solver=SolverName.HIGHS, time_limit=30)
        check_invariants(plan, pb)
        lev = sum(R1343.combinations[0])
        assert plan.solver.status == "optimal"
        assert plan.deviation <= 0.01 * lev * n_slots + 1e-6
        assert plan.deviation <= 0.01 * lev * n_models + 1e-6  # one step per funded instrument, in fact


@pytest.mark.slow
@pytest.mark.parametrize("objective", [Objective.EXPOSURE, Objective.TRACKING])
def test_naive_formulation_gives_the_same_optimum(objective):
    rng = np.random.default_rng(13)
    slots, targets, models, st, pr = _instance(rng, 6, 9, 100.0, step=0.5, min_stake=5.0)
    kw = dict(objective=objective, streams=st if objective is Objective.TRACKING else None, per_round=pr)
    agg = solve(SlotProblem.build(slots, targets, R1343, models, **kw), time_limit=30)
    naive = solve(SlotProblem.build(slots, targets, R1343, models, **kw), time_limit=30,
                  options=SearchOptions(per_round_types=False))
    assert agg.solver.status == naive.solver.status == "optimal"
    assert agg.solver.objective == pytest.approx(naive.solver.objective, abs=0.011)


def test_same_plan_every_run():
    rng = np.random.default_rng(17)
    slots, targets, models, st, pr = _instance(rng, 8, 12, 250.0, step=0.01)
    pb = SlotProblem.build(slots, targets, R1343, models, objective=Objective.TRACKING, streams=st, per_round=pr)
    a, b = solve(pb, time_limit=30), solve(pb, time_limit=30)
    assert (a.choices, a.stakes) == (b.choices, b.stakes)
