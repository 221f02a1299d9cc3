"""The tracking objective's branch and bound (one-combination regimes): brute force is the oracle, with change
penalties, pins, exclusions and interchangeable slots; a stopped search reports a valid bound."""

import itertools
import time

import numpy as np
import pytest

from stakealloc.payout import ScoreCube
from stakealloc.regimes import PRESETS
from stakealloc.slots import SearchOptions, SlotInput, SlotProblem, is_changed, solve, tracking_bb, tracking_bc
from stakealloc.slots.problem import ABS_GAP, Choice
from stakealloc.targets import Target
from stakealloc.tracking import plan_payout, target_payout
from stakealloc.types import Objective, Ref

REGIME = PRESETS["classic-2024"]  # one combination: 0.5 × corr + 2 × mmc
MODELS = ("a", "b", "c", "d")


def _instance(seed: int, *, penalty: float = 0.0, pin: bool = False, exclude: bool = False, equal: bool = False,
              some: bool = False):
    """6 slots, 4 candidates, 30 rounds; `penalty`: every slot holds a current candidate (`some`: every other
    slot), changing it costs `penalty` NMR per round."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.02, 30)
    st = ScoreCube.from_streams(tuple(range(1, 31)), {(m, k): 0.5 * common + rng.normal(0.002, 0.02, 30)
                                                      for m in MODELS for k in REGIME.scores})
    stakes = np.round(rng.lognormal(np.log(500), 0.5, 6), 2)
    if equal:
        stakes[3] = stakes[4] = stakes[5] = 400.0
    refs = [Ref("a", "long"), Ref("b", "short"), Ref("c", "long"), Ref("d", "long")]
    held = [bool(penalty) and not (some and j % 2) for j in range(len(stakes))]
    slots = [SlotInput(f"s{j}", float(s), current=refs[j % 4] if held[j] else None,
                       current_combo=0 if held[j] else None, pin=refs[2] if pin and j == 1 else None,
                       exclude=("a",) if exclude and j == 2 else ())
             for j, s in enumerate(stakes)]
    w = rng.dirichlet(np.ones(4))
    total = float(stakes.sum())
    targets = tuple(Target(r.model, r.side, k, total * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(REGIME.scores, REGIME.combinations[0]))
    return SlotProblem.build(slots, targets, REGIME, MODELS, objective=Objective.TRACKING, streams=st,
                             change_penalty=penalty)


def _brute_force(pb: SlotProblem) -> float:
    g = target_payout(pb.streams, pb.targets)
    best = np.inf
    for plan in itertools.product(*pb.allowed):
        held = [(pb.refs[c].model, pb.refs[c].side, REGIME.as_dict(0), s.stake) for s, c in zip(pb.slots, plan)]
        pen = pb.change_penalty * sum(is_changed(s, Choice(pb.refs[c], 0)) for s, c in zip(pb.slots, plan))
        best = min(best, float(np.mean(np.abs(plan_payout(pb.streams, held) - g))) + pen)
    return best


@pytest.mark.parametrize("case", [dict(), dict(penalty=0.3), dict(pin=True, exclude=True), dict(equal=True),
                                  dict(penalty=0.2, equal=True, exclude=True)])
@pytest.mark.parametrize("seed", range(3))
def test_the_search_proves_the_brute_force_optimum(case, seed, monkeypatch):
    pb = _instance(seed, **case)
    assert tracking_bb.applies(pb)
    plan = solve(pb, time_limit=30)
    sv = plan.solver
    assert sv.formulation == "branch-and-bound" and sv.status == "optimal" and "finished" in sv.solver_status
    best = _brute_force(pb)
    assert sv.objective == pytest.approx(best, abs=ABS_GAP)
    assert sv.objective - ABS_GAP <= sv.bound <= sv.objective + 1e-12
    for s, ch in zip(pb.slots, plan.choices):
        if s.pin is not None:
            assert ch.ref == s.pin
        assert ch.ref.model not in s.exclude
    # from a poor start (every slot on its first candidate) the search itself must find the optimum, also
    # branching down to the last slot (no exact tail): every node then is bounded by its LP and reduced costs
    for tail in (tracking_bb.TAIL_PLANS, 1):
        monkeypatch.setattr(tracking_bb, "TAIL_PLANS", tail)
        res = tracking_bb.search(pb, *_inputs(pb), [a[0] for a in pb.allowed], deadline=time.perf_counter() + 30.0)
        assert res.finished and res.value == pytest.approx(best, abs=ABS_GAP) and res.bound <= res.value + 1e-12
    # the MIP, the proof of last resort, reaches the same optimum
    mip = solve(pb, time_limit=30, options=SearchOptions(tracking_bb=False)).solver
    assert mip.formulation == "tracking" and mip.objective == pytest.approx(sv.objective, abs=ABS_GAP)


def _every_plan(allowed, stakes, unit: np.ndarray, g: np.ndarray, pens=None) -> tuple[np.ndarray, np.ndarray]:
    """Every plan (candidate per slot, in itertools.product's order) and its f, vectorised."""
    plans = np.array(list(itertools.product(*allowed)))
    loads = np.zeros((len(plans), unit.shape[1]))
    for j, s in enumerate(stakes):
        loads[np.arange(len(plans)), plans[:, j]] += s
    values = np.mean(np.abs(loads @ unit.T - g[None, :]), axis=1)
    if pens is not None:
        values += sum(np.asarray(pens[j])[plans[:, j]] for j in range(len(stakes)))
    return plans, values


def _within(plans: np.ndarray, within) -> np.ndarray:
    """The plans a claim covers by their candidates: `within` None (all), or (allow, need) masks: only
    candidates of allow, each of need at least once."""
    if within is None:
        return np.ones(len(plans), dtype=bool)
    allow, need = within
    keep = allow[plans].all(axis=1)
    for c in np.flatnonzero(need):
        keep &= (plans == c).any(axis=1)
    return keep


def _inputs(pb: SlotProblem):
    """The search's inputs as solve_tracking makes them: unit streams, the target payout, penalties by candidate."""
    g = target_payout(pb.streams, pb.targets)
    unit = np.array([plan_payout(pb.streams, [(r.model, r.side, REGIME.as_dict(0), 1.0)]) for r in pb.refs]).T
    pens = [np.array([pb.change_penalty * is_changed(s, Choice(r, 0)) for r in pb.refs]) for s in pb.slots]
    return unit, g, pens


@pytest.mark.parametrize("case", [dict(), dict(penalty=0.3), dict(penalty=0.3, some=True),
                                  dict(pin=True, exclude=True)])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("tails", [(1, 1), (1, 64), (64, tracking_bb.TAIL_AFTER),
                                   (tracking_bb.TAIL_PLANS, tracking_bb.TAIL_AFTER)])
@pytest.mark.parametrize("pool", [(0, 0), (tracking_bb.POOL, tracking_bb.POOL_ROWS), (tracking_bb.POOL, 2)])
def test_every_bound_the_search_claims_holds_for_every_plan_it_covers(case, seed, tails, pool, monkeypatch):
    """Each bound the search uses (a node's, a child's, a dropped candidate's, an exact tail's completions', a
    pooled λ's on a node or on a child), against the brute-force minimum of the plans it covers: every plan that
    keeps the bound's fixed slots and costs less than the incumbent's cut-off costs at least the bound. Distinct
    stakes: no symmetry ordering. Without the pool every cut-off comes from the node's own LP; tails (1, 64)
    evaluate the last three slots exactly once the pool holds λ; a pool of which the tails try 2 λ exercises
    the choice of those."""
    pb = _instance(seed, **case)
    assert not pb.groups
    unit, g, pens = _inputs(pb)
    plans, values = _every_plan(pb.allowed, [s.stake for s in pb.slots], unit, g, pens)
    claims = []

    def check(fixed, bound, cut, within):
        keep = _within(plans, within)
        for j, c in fixed.items():
            keep &= plans[:, j] == c
        covered = values[keep]
        least = float(covered.min()) if len(covered) else np.inf
        claims.append(bound)
        assert least >= min(bound, cut) - 1e-9, (fixed, bound, cut, least)

    monkeypatch.setattr(tracking_bb, "TAIL_PLANS", tails[0])
    monkeypatch.setattr(tracking_bb, "TAIL_AFTER", tails[1])
    monkeypatch.setattr(tracking_bb, "POOL", pool[0])
    monkeypatch.setattr(tracking_bb, "POOL_ROWS", pool[1])
    monkeypatch.setattr(tracking_bb, "POOL_TAIL", 0)  # the pool on every exact tail's partial completions
    res = tracking_bb.search(pb, unit, g, pens, [a[-1] for a in pb.allowed], time.perf_counter() + 30.0, check)
    assert res.finished and res.value == pytest.approx(float(values.min()), abs=ABS_GAP)
    assert max(claims) > 0.0 and (tails != (1, 1) or len(claims) > 10)  # exercised, and not all trivial


def _wide_instance(seed: int, *, penalty: float = 0.0, pin: bool = False, equal: bool = False, n: int = 5,
                   n_models: int = 8):
    """`n` slots, `n_models` candidates (at least 1.5× the slots: the search may split by candidates), 30
    rounds; `penalty`: every other slot holds a current candidate; `pin`: slot 1 pinned, slot 2 excluding one
    model; `equal`: slots 3 and 4 interchangeable."""
    rng = np.random.default_rng(100 + seed)
    models = tuple("abcdefgh"[:n_models])
    common = rng.normal(0.0, 0.02, 30)
    st = ScoreCube.from_streams(tuple(range(1, 31)), {(m, k): 0.5 * common + rng.normal(0.002, 0.02, 30)
                                                      for m in models for k in REGIME.scores})
    stakes = np.round(rng.lognormal(np.log(500), 0.5, n), 2)
    if equal:
        stakes[3] = stakes[4] = 450.0
    refs = [Ref(m, "short" if m in "cf" else "long") for m in models]
    slots = [SlotInput(f"s{j}", float(s), current=refs[(2 * j) % n_models] if penalty and j % 2 == 0 else None,
                       current_combo=0 if penalty and j % 2 == 0 else None,
                       pin=refs[5] if pin and j == 1 else None, exclude=("a",) if pin and j == 2 else ())
             for j, s in enumerate(stakes)]
    w = rng.dirichlet(np.ones(n_models))
    total = float(stakes.sum())
    targets = tuple(Target(r.model, r.side, k, total * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(REGIME.scores, REGIME.combinations[0]))
    return SlotProblem.build(slots, targets, REGIME, models, objective=Objective.TRACKING, streams=st,
                             change_penalty=penalty)


def _distinct_start(pb: SlotProblem) -> list[int]:
    """Every slot on a candidate of its own (the first of its allowed ones not taken by an earlier slot)."""
    plan: list[int] = []
    for a in pb.allowed:
        plan.append(next(c for c in a if c not in plan))
    return plan


@pytest.mark.parametrize("case", [dict(), dict(penalty=0.3), dict(pin=True), dict(equal=True),
                                  dict(penalty=0.2, pin=True, equal=True)])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("after", [0, 3, None])
def test_a_search_split_by_candidates_proves_the_optimum_and_every_bound_it_claims(case, seed, after, monkeypatch):
    """More candidates than slots: split by the candidates the plans use at once (after 0 LPs), after a few LPs
    of the plain search (a restart), or never. Every bound claimed, also a split's over the plans within its
    candidates, against the brute-force minimum of the plans it covers; the search from a poor start (every slot
    on a candidate of its own, as a split needs) proves the brute-force optimum, also branching to the last
    slot."""
    pb = _wide_instance(seed, **case)
    unit, g, pens = _inputs(pb)
    assert unit.shape[1] == 8 and len(pb.slots) == 5
    plans, values = _every_plan(pb.allowed, [s.stake for s in pb.slots], unit, g, pens)
    splits = []

    def check(fixed, bound, cut, within):
        keep = _within(plans, within)
        if within is not None and not fixed:
            splits.append(bound)
        for j, c in fixed.items():
            keep &= plans[:, j] == c
        covered = values[keep]
        assert (float(covered.min()) if len(covered) else np.inf) >= min(bound, cut) - 1e-9, (fixed, bound, cut)

    monkeypatch.setattr(tracking_bb, "SPLIT_AFTER", after)
    for tail in (tracking_bb.TAIL_PLANS, 1):
        monkeypatch.setattr(tracking_bb, "TAIL_PLANS", tail)
        res = tracking_bb.search(pb, unit, g, pens, _distinct_start(pb), time.perf_counter() + 30.0, check)
        assert res.finished and res.value == pytest.approx(float(values.min()), abs=ABS_GAP)
        assert res.bound <= res.value + 1e-12
        assert pb.evaluate([Choice(pb.refs[c], 0) for c in res.plan])[0] >= 0  # a plan of the problem's options
        for j, c in enumerate(res.plan):
            assert c in pb.allowed[j]
    if after != 3:  # after 3 LPs the plain search may have finished
        assert bool(splits) == (after == 0)  # the split ran where asked, and only there


@pytest.mark.parametrize("case", [dict(), dict(penalty=0.3), dict(pin=True)])
@pytest.mark.parametrize("seed", range(4))
def test_a_search_split_by_candidates_covers_every_plan(case, seed, monkeypatch):
    """Completeness, not only the optimum: branching to the last slot, every plan must be cut off by a claimed
    bound (at least the cut-off) or lie in a last slot's evaluated tail (a claim fixing all slots but one).
    4 slots, 7 candidates, split at once."""
    pb = _wide_instance(seed, n=4, n_models=7, **case)
    unit, g, pens = _inputs(pb)
    plans, values = _every_plan(pb.allowed, [s.stake for s in pb.slots], unit, g, pens)
    covered = np.zeros(len(plans), dtype=bool)

    def check(fixed, bound, cut, within):
        if bound >= cut or len(fixed) >= len(pb.slots) - 1:
            keep = _within(plans, within)
            for j, c in fixed.items():
                keep &= plans[:, j] == c
            covered[keep] = True

    monkeypatch.setattr(tracking_bb, "SPLIT_AFTER", 0)
    monkeypatch.setattr(tracking_bb, "TAIL_PLANS", 1)
    monkeypatch.setattr(tracking_bb, "TAIL_AFTER", 1)
    splits = []
    res = tracking_bb.search(pb, unit, g, pens, _distinct_start(pb), time.perf_counter() + 30.0,
                             lambda f, b, c, w: (check(f, b, c, w), splits.append(w is not None)))
    assert res.finished and any(splits) and covered.all(), plans[~covered][:5]
    assert res.value == pytest.approx(float(values.min()), abs=ABS_GAP)


def test_the_split_is_kept_for_wide_fleets_whose_best_plan_gives_every_slot_its_own_candidate(monkeypatch):
    """Fewer candidates than one and a half times the slots, or a best plan known that puts two slots on one
    candidate: no split, whatever the LPs. Where it splits, the value equals the plain search's."""
    monkeypatch.setattr(tracking_bb, "SPLIT_AFTER", 0)
    narrow, shared = _wide_instance(0, n_models=7), _wide_instance(0)
    for pb, start in [(narrow, _distinct_start(narrow)),  # 5 slots, 7 candidates
                      (shared, [a[0] for a in shared.allowed])]:  # 5 slots on one of 8 candidates
        seen = []
        res = tracking_bb.search(pb, *_inputs(pb), start, time.perf_counter() + 30.0,
                                 lambda f, b, c, w, seen=seen: seen.append(w))
        assert res.finished and seen and all(w is None for w in seen)
    for seed in range(3):
        pb = _wide_instance(seed)
        start = _distinct_start(pb)
        monkeypatch.setattr(tracking_bb, "SPLIT_AFTER", 0)
        split = tracking_bb.search(pb, *_inputs(pb), start, time.perf_counter() + 30.0)
        monkeypatch.setattr(tracking_bb, "SPLIT_AFTER", None)
        plain = tracking_bb.search(pb, *_inputs(pb), start, time.perf_counter() + 30.0)
        assert split.finished and plain.finished and split.value == pytest.approx(plain.value, abs=ABS_GAP)


def test_with_more_slots_than_candidates_the_search_gets_a_tenth_of_the_limit(monkeypatch):
    """The search's deadline (not its duration): slot by slot, 0.1 of the limit with more slots than candidates
    (there with change penalties, so that the search by candidates does not apply), where the MIP was measured to
    reach better plans with the rest, else 0.85; by candidates 0.85. All proven here, by the search."""
    seen = []
    for module in (tracking_bb, tracking_bc):
        def spy(pb, unit, goal, *rest, real=module.search, module=module):
            seen.append((module, rest[-1] - time.perf_counter()))
            return real(pb, unit, goal, *rest)

        monkeypatch.setattr(module, "search", spy)
    # 6 slots on 4 candidates with penalties; 5 on 8; 6 on 4
    for pb, module, share in ((_instance(0, penalty=0.3), tracking_bb, 0.1), (_wide_instance(0), tracking_bb, 0.85),
                              (_instance(0), tracking_bc, 0.85)):
        plan = solve(pb, time_limit=1000.0)
        assert seen[-1][0] is module and share * 1000.0 - 20.0 < seen[-1][1] <= share * 1000.0
        assert plan.solver.formulation == "branch-and-bound" and plan.solver.status == "optimal"


@pytest.mark.parametrize("seed", range(3))
def test_an_exact_tail_evaluated_in_blocks_finds_the_same_plan(seed, monkeypatch):
    """Blocks of 3 completions (every tail split, the last block short) against one block: the same plan and
    value, the brute-force optimum; with change penalties, so each block's penalties must be its own."""
    pb = _instance(seed, penalty=0.3)
    unit, g, pens = _inputs(pb)
    start = [a[-1] for a in pb.allowed]
    monkeypatch.setattr(tracking_bb, "TAIL_PLANS", 10**6)  # the whole search one exact tail
    whole = tracking_bb.search(pb, unit, g, pens, start, time.perf_counter() + 30.0)
    monkeypatch.setattr(tracking_bb, "EVAL_ROWS", 3)
    blocks = tracking_bb.search(pb, unit, g, pens, start, time.perf_counter() + 30.0)
    assert whole.lps == blocks.lps == 0 and whole.finished and blocks.finished
    assert blocks.plan == whole.plan and blocks.value == whole.value
    assert blocks.value == pytest.approx(_brute_force(pb), abs=ABS_GAP)


def test_a_search_stopped_at_its_deadline_keeps_its_start_and_a_valid_bound():
    pb = _instance(5)
    start = [a[0] for a in pb.allowed]
    res = tracking_bb.search(pb, *_inputs(pb), start, deadline=time.perf_counter() - 1.0)
    assert not res.finished and list(res.plan) == start and res.bound == 0.0
    done = tracking_bb.search(pb, *_inputs(pb), start, deadline=time.perf_counter() + 30.0)
    assert done.finished and done.value == pytest.approx(_brute_force(pb), abs=ABS_GAP) and done.bound <= done.value


def test_regimes_with_a_choice_of_multipliers_keep_the_mip():
    pb = _instance(1)
    from dataclasses import replace

    assert not tracking_bb.applies(replace(pb, regime=PRESETS["classic-2023"]))


def test_reduced_cost_pruning_keeps_the_optimum_on_a_larger_instance(monkeypatch):
    """7 slots × 6 candidates, some over-funded by any single large slot (their reduced costs then prune):
    the search from a poor start, branching to the last slot, finds the vectorised brute force's optimum."""
    rng = np.random.default_rng(11)
    models = tuple("abcdef")
    common = rng.normal(0.0, 0.02, 40)
    st = ScoreCube.from_streams(tuple(range(1, 41)), {(m, k): 0.4 * common + rng.normal(0.002, 0.02, 40)
                                                      for m in models for k in REGIME.scores})
    stakes = [2400.0, 1300.0, 700.0, 420.0, 260.0, 150.0, 90.0]
    slots = [SlotInput(f"s{j}", s) for j, s in enumerate(stakes)]
    w = np.array([0.34, 0.22, 0.16, 0.12, 0.1, 0.06])
    refs = [Ref(m, "long") for m in models]
    targets = tuple(Target(r.model, r.side, k, sum(stakes) * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(REGIME.scores, REGIME.combinations[0]))
    pb = SlotProblem.build(slots, targets, REGIME, models, objective=Objective.TRACKING, streams=st)
    unit, g, pens = _inputs(pb)
    plans, values = _every_plan([range(len(refs))] * len(slots), stakes, unit, g)
    best = float(values.min())
    monkeypatch.setattr(tracking_bb, "TAIL_PLANS", 1)
    res = tracking_bb.search(pb, unit, g, pens, [len(refs) - 1] * len(slots), deadline=time.perf_counter() + 60.0)
    assert res.finished and res.value == pytest.approx(best, abs=ABS_GAP) and res.bound <= res.value + 1e-12
    assert res.lps < len(plans) / 10  # the bounds prune: far fewer LPs than plans


def test_random_fleets_agree_with_the_mip():
    """40 seeded random fleets (1-6 slots, 1-5 models, 1-24 rounds, zero streams, shorts, currents with change
    penalties, pins and exclusions): the search's plan is proven and no worse than the MIP's, and its bound
    never exceeds its objective."""
    from stakealloc.regimes import custom_regime

    rng = np.random.default_rng(123)
    for case in range(40):
        regime = REGIME if case % 2 else custom_regime(["v2_corr20"], [[1.5]])
        n = int(rng.integers(1, 6))
        models = tuple(f"m{i}" for i in range(n))
        T = int(rng.integers(1, 25))
        st = ScoreCube.from_streams(tuple(range(1, T + 1)), {
            (m, k): rng.normal(0, 0.02, T) if rng.random() > 0.1 else np.zeros(T) for m in models
            for k in regime.scores})
        stakes = rng.choice([100.0, 250.0, 400.0, 1000.0], int(rng.integers(1, 7)))
        refs = [Ref(m, "short" if rng.random() < 0.3 else "long") for m in models]
        slots = []
        for j, s in enumerate(stakes):
            cur = refs[int(rng.integers(n))] if rng.random() < 0.6 else None
            pin = refs[int(rng.integers(n))] if rng.random() < 0.15 else None
            ex = tuple(m for m in models if rng.random() < 0.2 and (pin is None or m != pin.model))[:n - 1]
            slots.append(SlotInput(f"s{j}", float(s), current=cur, current_combo=0 if cur else None, pin=pin,
                                   exclude=ex))
        w = rng.dirichlet(np.ones(n))
        tg = tuple(Target(r.model, r.side, k, float(stakes.sum()) * wi * p) for r, wi in zip(refs, w)
                   for k, p in zip(regime.scores, regime.combinations[0]))
        pb = SlotProblem.build(slots, tg, regime, models, objective=Objective.TRACKING, streams=st,
                               change_penalty=float(rng.choice([0.0, 0.0, 0.5, 3.0])))
        ours = solve(pb, time_limit=20).solver
        mip = solve(pb, time_limit=20, options=SearchOptions(tracking_bb=False)).solver
        assert ours.formulation == "branch-and-bound" and ours.status == "optimal", case
        assert ours.objective <= mip.objective + ABS_GAP and ours.bound <= ours.objective + 1e-12, case


def test_the_pools_bounds_are_each_lambdas_lagrangian():
    """_Pool.bounds folds penalty-free slots with the same candidates into one max and takes r·λ from the pool's
    U·λ and λ·P_target: each value must equal the Lagrangian r·λ + Σ_k min_c (pen_k(c) − s_k U_c·λ) computed
    directly, also for a subset of the pool; `best` must name the λ whose value it returns, also from its `top`
    most recently useful ones."""
    rng = np.random.default_rng(3)
    T, C, n = 12, 5, 7
    unit, goal = rng.normal(0.0, 0.02, (T, C)), rng.normal(0.0, 30.0, T)
    pool = tracking_bb._Pool(unit, goal, 5)
    lams = [rng.uniform(-1.0 / T, 1.0 / T, T) for _ in range(n)]
    for lam in lams:  # 7 into 5 places: the two least recently useful are replaced
        pool.add(lam)
    kept = lams[5:] + lams[2:5]  # replaced in order of use: places 0 and 1 hold the 6th and 7th λ
    assert pool.size == 5
    load = rng.uniform(0.0, 500.0, C)
    mask = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 1, 1, 0, 1]], dtype=bool)
    stakes = rng.uniform(100.0, 900.0, (5, 1))
    pens = np.zeros((5, C))
    pens[3] = rng.uniform(0.0, 2.0, C)  # one slot with penalties beside penalty-free ones sharing its mask

    def direct(lam):
        r = goal - unit @ load
        terms = np.where(mask, pens - stakes * (unit.T @ lam)[None, :], np.inf)
        return float(r @ lam + terms.min(axis=1).sum())

    want = np.array([direct(lam) for lam in kept])
    assert np.allclose(pool.bounds(load, mask, pens, stakes), want, rtol=0, atol=1e-9)
    cols = np.array([1, 3])
    assert np.allclose(pool.bounds(load, mask, pens, stakes, cols), want[cols], rtol=0, atol=1e-9)
    fixed = np.array([[0], [2], [4]])  # a further slot of 300 NMR on candidates 0, 2, 4
    pool.used(4)
    pool.used(2)  # the two most recently useful: places 2 and 4
    for top in (0, 2):
        vals, which = pool.best(load, fixed, [300.0], mask, pens, stakes, top)
        for (c,), v, w in zip(fixed, vals, which):
            assert v == pytest.approx(direct(kept[w]) - 300.0 * float(unit[:, c] @ kept[w]), abs=1e-9)
            if top:
                assert w in (2, 4)
            else:
                assert v == pytest.approx(max(direct(lam) - 300.0 * float(unit[:, c] @ lam) for lam in kept),
                                          abs=1e-9)
