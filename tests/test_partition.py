"""The set-partitioning program's pieces against brute force: nearest subset sums, exact column costs
(with change penalties), the subset DP, and whole plans with pins, excludes and idle slots."""

import itertools

import numpy as np
import pytest

from stakealloc.config import Ref, SolverName
from stakealloc.regimes import PRESETS, custom_regime
from stakealloc.slots import (
    Choice,
    SearchOptions,
    SlotInput,
    SlotProblem,
    group_costs,
    is_changed,
    solve,
)
from stakealloc.targets import Target


def test_separable_values():
    assert group_costs.separable_values(PRESETS["classic-2023"]) == ((0.0, 0.5, 1.0),
                                                                     (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0))
    assert group_costs.separable_values(PRESETS["classic-2024"]) == ((0.5,), (2.0,))
    assert group_costs.separable_values(PRESETS["classic-2023-r589"]) is None  # TC only with 2x corr
    assert group_costs.separable_values(custom_regime(["v2_corr20", "tc"], [[0, 0], [1, 0], [0, 1]])) is None
    assert group_costs.separable_values(custom_regime(["v2_corr20", "tc"], [[1, 0], [1, 2]])) == ((1.0,), (0.0, 2.0))


@pytest.mark.parametrize("seed", range(6))
def test_nearest_sums_for_every_subset_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    stakes = [float(round(x, 2)) for x in rng.uniform(50, 900, size=n)]
    values = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0) if seed % 2 else (0.5, 1.0)
    targets = np.array([0.0, float(rng.uniform(0, 3 * sum(stakes))), 10 * sum(stakes)])
    got = group_costs.nearest_all(stakes, values, targets)
    for mask in range(1 << n):
        members = [stakes[i] for i in range(n) if mask >> i & 1]
        sums = [sum(s * v for s, v in zip(members, pick)) for pick in itertools.product(values, repeat=len(members))]
        for q, t in enumerate(targets):
            assert got[q, mask] == pytest.approx(min(abs(x - t) for x in sums), abs=1e-9)
        d, pick = group_costs.nearest_choice(members, values, float(targets[1]))
        assert d == pytest.approx(got[1, mask], abs=1e-9)
        assert abs(sum(s * values[i] for s, i in zip(members, pick)) - targets[1]) == pytest.approx(d, abs=1e-9)


def column_brute_force(slots, ref, group, regime, targets, lam):
    """min over combinations per slot of the group on `ref` of deviation on ref + penalties of the group."""
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    best = np.inf
    for combos in itertools.product(range(len(regime.combinations)), repeat=len(group)):
        dev = sum(abs(sum(slots[j].stake * regime.combinations[p][k] for j, p in zip(group, combos))
                      - tg.get((ref.model, ref.side, key), 0.0)) for k, key in enumerate(regime.scores))
        pen = lam * sum(is_changed(slots[j], Choice(ref, p)) for j, p in zip(group, combos))
        best = min(best, dev + pen)
    return best


@pytest.mark.slow
def test_column_costs_with_keepers_equal_brute_force():
    """Slots on their current candidate with known multipliers (keepers), with unknown multipliers, on
    another candidate, and without a current: every group's exact cost on both candidates."""
    regime = custom_regime(["v2_corr20", "tc"], [[c, t] for c in (0, 0.5, 1) for t in (0, 1, 2)])
    a, b = Ref("a", "long"), Ref("b", "short")
    slots = [SlotInput("k1", 300.0, current=a, current_combo=4), SlotInput("k2", 250.0, current=a, current_combo=8),
             SlotInput("u", 200.0, current=a), SlotInput("o", 150.0, current=b, current_combo=2),
             SlotInput("n", 120.0)]
    targets = (Target("a", "long", "v2_corr20", 500.0), Target("a", "long", "tc", 900.0),
               Target("b", "short", "tc", 400.0))
    refs = (a, b)
    for lam in (0.0, 40.0):
        pb = SlotProblem(tuple(slots), targets, regime, refs, ((0, 1),) * len(slots), (0,) * len(slots), lam)
        cols = group_costs.column_costs(pb)
        for c, ref in enumerate(refs):
            assert cols.members[c] == list(range(len(slots)))
            for mask in range(1 << len(slots)):
                group = [j for j in range(len(slots)) if mask >> j & 1]
                want = column_brute_force(slots, ref, group, regime, targets, lam)
                assert cols.cost[c][mask] == pytest.approx(want, abs=1e-9), (lam, c, group)
                cost, combos = group_costs.group_choice(pb, c, group)
                assert cost == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_subset_dp_equals_brute_force_over_groups(seed):
    rng = np.random.default_rng(seed)
    n, C = 6, 3
    costs = [rng.uniform(0, 100, size=1 << n) for _ in range(C)]
    members = [list(range(n)), [0, 2, 3, 5], list(range(n))]  # candidate 1 may not take slots 1 and 4
    costs[1] = costs[1][: 1 << 4]
    cols = group_costs.Columns(members, costs)
    g = group_costs.global_costs(cols, n)
    best = min(sum(g[c][sum(1 << j for j in range(n) if owner[j] == c)] for c in range(C))
               for owner in itertools.product(range(C), repeat=n))
    opt, masks = group_costs.best_partition(cols, n)
    assert opt == pytest.approx(best)
    assert sum(g[c][m] for c, m in enumerate(masks)) == pytest.approx(opt)
    assert sorted(j for m in masks for j in range(n) if m >> j & 1) == list(range(n))  # each slot once
    assert masks[1] & (1 << 1 | 1 << 4) == 0


@pytest.mark.slow
@pytest.mark.parametrize("solver", [SolverName.HIGHS, SolverName.CBC])
def test_partition_plan_with_pins_excludes_and_idle_slots(solver):
    """Five slots, 21 combinations: the plan is the brute-force optimum, respects pins and excludes, and
    an idle slot (all-zero multipliers) sits on its idle candidate."""
    regime = PRESETS["classic-2023"]
    slots = [SlotInput("p", 400.0, pin=Ref("b", "short")), SlotInput("e", 700.0, exclude=("a",)),
             SlotInput("x", 900.0), SlotInput("y", 350.0), SlotInput("z", 5000.0)]
    targets = (Target("a", "long", "v2_corr20", 600.0), Target("a", "long", "tc", 1500.0),
               Target("b", "short", "v2_corr20", 300.0), Target("b", "short", "tc", 800.0))
    plan = solve(SlotProblem.build(slots, targets, regime, ("a", "b")), solver=solver, time_limit=30)
    assert plan.solver.formulation == "partition" and plan.solver.status == "optimal"
    assert plan.choices[0].ref == Ref("b", "short") and plan.choices[1].ref.model != "a"
    # Brute force with the same pins and excludes: enumerate only allowed candidates per slot.
    pb = SlotProblem.build(slots, targets, regime, ("a", "b"))
    refs, allowed, idle = pb.refs, pb.allowed, pb.idle
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    best = np.inf
    P = np.array(regime.combinations)
    for owners in itertools.product(*allowed):
        grids = np.meshgrid(*[np.arange(len(P))] * len(slots), indexing="ij")
        combos = np.stack([gr.ravel() for gr in grids], axis=1)
        total = np.zeros(len(combos))
        for ci, ref in enumerate(refs):
            on = [j for j, o in enumerate(owners) if o == ci]
            for ki, k in enumerate(regime.scores):
                a = sum(slots[j].stake * P[combos[:, j], ki] for j in on) if on else 0.0
                total += np.abs(a - tg.get((ref.model, ref.side, k), 0.0))
        best = min(best, float(total.min()))
    assert plan.solver.objective == pytest.approx(best, abs=1e-6)
    assert sum(pb.evaluate(list(plan.choices))) == pytest.approx(best, abs=1e-6)
    zero = regime.zero_combination()
    for j, ch in enumerate(plan.choices):
        if ch.combo == zero:
            assert ch.ref == refs[idle[j]]
    assert plan.choices[4].combo == zero  # 5000 NMR would overshoot every target


def test_applies_only_within_its_limits():
    regime = PRESETS["classic-2023"]
    tg = (Target("a", "long", "v2_corr20", 100.0), Target("a", "long", "tc", 300.0))
    small = [SlotInput(f"s{j}", 100.0 + j) for j in range(4)]
    limit = SearchOptions().partition_max_slots
    assert group_costs.applies(SlotProblem.build(small, tg, regime, ("a",)), limit)
    big = [SlotInput(f"s{j}", 100.0 + j) for j in range(limit + 1)]
    assert not group_costs.applies(SlotProblem.build(big, tg, regime, ("a",)), limit)
    assert not group_costs.applies(SlotProblem.build(small, tg, PRESETS["classic-2023-r589"], ("a",)), limit)


@pytest.mark.parametrize("seed", range(3))
def test_strict_groups_keep_the_optimum(seed):
    """Where slots may idle for free, the best plan over strict groups only (set packing, idle slots in
    no group) equals the optimum over all groups, and strip() never raises a group's cost."""
    rng = np.random.default_rng(300 + seed)
    regime = PRESETS["classic-2023"]
    stakes = [float(x) for x in np.round(rng.lognormal(np.log(1000), 0.5, size=5), 2)]
    slots = [SlotInput(f"s{j}", s) for j, s in enumerate(stakes)]
    total = sum(stakes)
    w = rng.dirichlet(np.ones(4))
    targets = (Target("a", "long", "v2_corr20", total * w[0]), Target("a", "long", "tc", 2 * total * w[1]),
               Target("b", "long", "v2_corr20", 0.3 * total * w[2]), Target("b", "long", "tc", total * w[3]))
    cols = group_costs.column_costs(SlotProblem.build(slots, targets, regime, ("a", "b")))
    strict = group_costs.strict_columns(cols)
    opt, _ = group_costs.best_partition(cols, 5)
    best_strict = np.inf
    for owner in itertools.product(range(3), repeat=5):  # 2 = idle, in no group
        m = [sum(1 << j for j in range(5) if owner[j] == c) for c in range(2)]
        if all(strict[c][m[c]] for c in range(2)):
            best_strict = min(best_strict, cols.cost[0][m[0]] + cols.cost[1][m[1]])
    assert best_strict == pytest.approx(opt, abs=1e-9)
    for c in range(2):
        for m in range(32):
            s = group_costs.strip(cols.cost[c], m)
            assert s & ~m == 0 and strict[c][s] and cols.cost[c][s] <= cols.cost[c][m]
