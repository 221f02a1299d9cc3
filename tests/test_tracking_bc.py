"""The tracking objective's branch and bound by candidates (more slots than candidates, no change
penalties): brute force is the oracle, with pins, exclusions and interchangeable slots; every bound it claims
holds for every plan it covers; a stopped search reports a valid bound."""

import dataclasses
import itertools
import time

import numpy as np
import pytest
from test_tracking_bb import _every_plan, _inputs, _instance, _wide_instance

from stakealloc.slots import SearchOptions, solve, tracking_bb, tracking_bc
from stakealloc.slots.problem import ABS_GAP, REL_GAP
from stakealloc.tolerance import ROUNDING

# 8 slots on 4 candidates, the same with two interchangeable slots, 7 on 6 with a pin and an exclusion, 7 on 5
# (at most 78,125 plans: every claim is checked against all of them)
CASES = [dict(n=8, n_models=4), dict(n=8, n_models=4, equal=True), dict(n=7, n_models=6, pin=True),
         dict(n=7, n_models=5)]
# (KELLEY, REFINE_DEPTH, POOL, WIDTH_SLOTS): as shipped; the pooled lines alone, from the start as given (no
# re-partition); one pooled λ, every depth refined, no re-partition (those two slow: 25 s of claims checked)
KNOBS = [(tracking_bc.KELLEY, tracking_bc.REFINE_DEPTH, tracking_bc.POOL, tracking_bc.WIDTH_SLOTS),
         pytest.param((0, 0, 256, -1), marks=pytest.mark.slow), pytest.param((4, 99, 1, -1), marks=pytest.mark.slow)]


def _knobs(monkeypatch, knobs) -> None:
    for name, v in zip(("KELLEY", "REFINE_DEPTH", "POOL", "WIDTH_SLOTS"), knobs):
        monkeypatch.setattr(tracking_bc, name, v)


def _loads(plans: np.ndarray, stakes, C: int) -> np.ndarray:
    loads = np.zeros((len(plans), C))
    for j, s in enumerate(stakes):
        loads[np.arange(len(plans)), plans[:, j]] += s
    return loads


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("knobs", KNOBS)
def test_every_bound_it_claims_holds_and_it_proves_the_brute_force_optimum(case, seed, knobs, monkeypatch):
    """Each claim (a node's LP or pooled bound, a leaf's value, the loads an interval excludes) against the
    brute-force minimum of the plans it covers: every plan that gives each closed candidate exactly its slots
    (and, for an interval's claim, the candidate a load in the claimed range) and costs less than the cut-off
    costs at least the bound. From a poor start (every slot on its first candidate) the search proves the
    brute-force optimum."""
    pb = _wide_instance(seed, **case)
    unit, g, pens = _inputs(pb)
    assert tracking_bc.applies(pb, pens)
    stakes = [s.stake for s in pb.slots]
    plans, values = _every_plan(pb.allowed, stakes, unit, g)
    loads = _loads(plans, stakes, unit.shape[1])
    claims = []

    def check(closed, bound, cut, load):
        keep = np.ones(len(plans), dtype=bool)
        for c, slots in closed.items():
            keep &= ((plans == c) == np.isin(np.arange(len(stakes)), list(slots))[None, :]).all(axis=1)
        if load is not None:
            c, lo, hi = load
            keep &= (loads[:, c] >= lo) & (loads[:, c] <= hi)
        least = float(values[keep].min()) if keep.any() else np.inf
        claims.append((bound, load is not None))
        # an interval's end is where a line crosses the cut-off: a plan's load there costs it up to rounding
        assert least >= min(bound, cut) - (1e-7 if load else 1e-9), (closed, bound, cut, load, least)

    _knobs(monkeypatch, knobs)
    start = [a[0] for a in pb.allowed]
    res = tracking_bc.search(pb, unit, g, start, time.perf_counter() + 30.0, check)
    best = float(values.min())
    assert res.finished and res.value == pytest.approx(best, abs=ABS_GAP)
    assert res.value - max(ABS_GAP, REL_GAP * res.value) <= res.bound <= res.value + 1e-12
    plan = np.array(res.plan)
    assert all(c in a for c, a in zip(plan, pb.allowed))
    assert float(values[(plans == plan).all(axis=1)][0]) == pytest.approx(res.value, abs=1e-12)
    for group in pb.groups:  # interchangeable slots on non-decreasing candidates
        assert list(plan[group]) == sorted(plan[group])
    assert max(b for b, _ in claims) > 0.0  # exercised, and not all trivial
    if knobs[0]:  # with the ends refined by LPs, some loads are cut off by an interval
        assert any(interval for _, interval in claims)


@pytest.mark.parametrize("case", CASES)
def test_solve_proves_the_optimum_by_candidates(case, monkeypatch):
    """`solve` runs the search by candidates where it applies (the slot-by-slot search is never called) and
    reports its plan as proven."""
    pb = _wide_instance(0, **case)
    unit, g, _ = _inputs(pb)

    def never(*a, **k):
        raise AssertionError("the slot-by-slot search ran")

    monkeypatch.setattr(tracking_bb, "search", never)
    sv = solve(pb, time_limit=30).solver
    assert sv.formulation == "branch-and-bound" and sv.status == "optimal" and "finished" in sv.solver_status
    _, values = _every_plan(pb.allowed, [s.stake for s in pb.slots], unit, g)
    assert sv.objective == pytest.approx(float(values.min()), abs=ABS_GAP)


def test_where_it_applies(monkeypatch):
    """Not with change penalties, not with as many candidates as slots or more, not past MAX_SLOTS; the slot-by-slot
    search, also with the search switched off, stays what solve runs there."""
    def applies(pb):
        return tracking_bc.applies(pb, _inputs(pb)[2])

    assert applies(_instance(0))  # 6 slots, 4 candidates
    assert not applies(_instance(0, penalty=0.3))
    assert not applies(_wide_instance(0))  # 5 slots, 8 candidates
    assert not applies(_wide_instance(0, n=6, n_models=6))
    monkeypatch.setattr(tracking_bc, "MAX_SLOTS", 5)
    assert not applies(_instance(0))
    sv = solve(_instance(0), time_limit=30, options=SearchOptions(tracking_bb=False)).solver
    assert sv.formulation == "tracking"


@pytest.mark.parametrize("ticks", [0, 5, 40, 200, 1000, 5000])
def test_a_stopped_search_reports_a_valid_bound(ticks, monkeypatch):
    """A clock that advances one tick per reading stops the search at every stage (in the re-partition, at
    the root, deep in the tree): the plan is valid and its value true, the bound at most the optimum."""
    pb = _wide_instance(1, n=8, n_models=4, equal=True)
    unit, g, _ = _inputs(pb)
    stakes = [s.stake for s in pb.slots]
    plans, values = _every_plan(pb.allowed, stakes, unit, g)
    clock = itertools.count()
    monkeypatch.setattr(tracking_bc.time, "perf_counter", lambda: float(next(clock)))
    res = tracking_bc.search(pb, unit, g, [a[0] for a in pb.allowed], float(ticks))
    assert res.bound <= float(values.min()) + 1e-12
    assert res.value == pytest.approx(float(values[(plans == np.array(res.plan)).all(axis=1)][0]), abs=1e-12)
    if ticks >= 5000:
        assert res.finished


def test_a_slot_larger_than_every_target_bounds_a_search_stopped_at_its_root(monkeypatch):
    """One slot of 20× its stake: every plan overfills a candidate, which the root LP (0) cannot see; the bound
    with the largest slot placed first can. Stopped at the first node (a clock that advances one tick per
    reading: one for the start, one per candidate while bounding), the search reports that bound: above 0 and at
    most the brute-force optimum."""
    pb = _wide_instance(0, n=8, n_models=4)
    big = max(range(8), key=lambda j: pb.slots[j].stake)
    pb = dataclasses.replace(pb, slots=tuple(dataclasses.replace(s, stake=20 * s.stake) if j == big else s
                                             for j, s in enumerate(pb.slots)))
    unit, g, _ = _inputs(pb)
    _, values = _every_plan(pb.allowed, [s.stake for s in pb.slots], unit, g)
    clock = itertools.count()
    monkeypatch.setattr(tracking_bc.time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr(tracking_bc, "_repartition", lambda unit, goal, stakes, allowed, plan, deadline: plan)
    res = tracking_bc.search(pb, unit, g, [a[0] for a in pb.allowed], 4.5)  # 4 candidates bounded, then stopped
    assert not res.finished and res.lps == 4
    assert 0.1 * float(values.min()) < res.bound <= float(values.min()) + 1e-12


def test_the_same_inputs_give_the_same_plan():
    pb = _wide_instance(2, n=8, n_models=4, equal=True)
    unit, g, _ = _inputs(pb)
    runs = [tracking_bc.search(pb, unit, g, [a[0] for a in pb.allowed], time.perf_counter() + 30.0)
            for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("seed", range(4))
def test_subsets_by_halves_are_every_subset_in_range_with_groups_lowest_first(seed):
    """Against every subset: the listing holds exactly the subsets with a sum in range in which a group's member
    comes only with every lower-indexed member still left; the count is never below the listing."""
    rng = np.random.default_rng(seed)
    stakes = np.round(rng.uniform(100, 900, 9), 2)
    stakes[[2, 5, 7]] = 333.0  # a group spanning both halves
    stakes[[0, 1]] = 700.0  # one inside the first
    groups = [[0, 1], [2, 5, 7]]
    group_of = {j: g for g in groups for j in g}
    ok = np.ones(9, dtype=bool)
    ok[4] = False  # a slot that may not take the candidate
    rest = sorted(range(9), key=lambda j: (-stakes[j], j))
    halves = tracking_bc._Halves(rest, stakes, ok, group_of)
    lo, hi = np.sort(rng.uniform(0, stakes.sum(), 2))
    want = []
    for bits in itertools.product((0, 1), repeat=9):
        chosen = [j for j in range(9) if bits[j]]
        if not all(ok[chosen]) or not lo <= stakes[chosen].sum() <= hi:
            continue
        if any(e < k and e not in chosen for k in chosen for e in group_of.get(k, ())):
            continue
        want.append(sorted(chosen))
    got = [sorted(c) for _, c in halves.listing(lo, hi)]
    assert sorted(got) == sorted(want) and len(got) == len(set(map(tuple, got)))
    assert halves.count(lo, hi) >= len(got)


@pytest.mark.parametrize("seed", range(3))
def test_the_re_partition_never_worsens_and_leaves_no_three_candidates_to_improve(seed):
    pb = _wide_instance(seed, n=8, n_models=5)
    unit, g, _ = _inputs(pb)
    stakes = np.array([s.stake for s in pb.slots])
    allowed = np.ones((8, 5), dtype=bool)
    start = [0] * 8
    plan = tracking_bc._repartition(unit, g, stakes, allowed, start, time.perf_counter() + 30.0)

    def value(p):
        load = np.zeros(5)
        np.add.at(load, np.array(p), stakes)
        return float(np.mean(np.abs(unit @ load - g)))

    assert value(plan) <= value(start)
    for cs in itertools.combinations(range(5), 3):
        ks = [k for k, c in enumerate(plan) if c in cs]
        for asg in itertools.product(cs, repeat=len(ks)):
            other = list(plan)
            for k, c in zip(ks, asg):
                other[k] = c
            assert value(other) >= value(plan) - ROUNDING
