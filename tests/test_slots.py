"""The slot program: brute force on small instances, obvious optima, regimes and per-slot rules."""

import itertools

import numpy as np
import pytest

from stakealloc.config import Ref, SolverName
from stakealloc.regimes import PRESETS, custom_regime
from stakealloc.slots import SlotInput, evaluate, solve
from stakealloc.targets import Target

SOLVERS = [SolverName.HIGHS, SolverName.CBC]


def brute_force(slots, targets, regime, refs, change_penalty=0.0):
    """Minimum objective over every assignment (model/side × combination per slot), vectorised."""
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    P = np.array(regime.combinations)  # P × K
    best = np.inf
    for models in itertools.product(range(len(refs)), repeat=len(slots)):
        # exposure of every slot for every combination: slot j combo p -> stake_j * P[p]
        grids = np.meshgrid(*[np.arange(len(P))] * len(slots), indexing="ij")
        combos = np.stack([g.ravel() for g in grids], axis=1)  # N × S
        total = np.zeros(len(combos))
        for ci, ref in enumerate(refs):
            members = [j for j, m in enumerate(models) if m == ci]
            for ki, k in enumerate(regime.scores):
                a = sum(slots[j].stake * P[combos[:, j], ki] for j in members) if members else np.zeros(len(combos))
                total += np.abs(a - tg.get((ref.model, ref.side, k), 0.0))
        if change_penalty:
            for j, s in enumerate(slots):
                changed = np.ones(len(combos), dtype=bool)
                if s.current is not None and refs[models[j]] == s.current:
                    changed = np.zeros(len(combos), dtype=bool) if s.current_combo is None else combos[:, j] != s.current_combo
                total += change_penalty * changed
        best = min(best, float(total.min()))
    return best


def check_invariants(plan, slots, targets, regime):
    assert len(plan.choices) == len(slots)
    for c in plan.choices:
        assert 0 <= c.combo < len(regime.combinations)
    dev, pen = evaluate(slots, list(plan.choices), targets, regime, 0.0)
    assert plan.deviation == pytest.approx(dev, abs=1e-9)
    assert plan.solver.objective == pytest.approx(plan.deviation + plan.penalty, abs=1e-9)
    assert plan.solver.bound <= plan.solver.objective + 1e-9


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(4))
def test_one_combination_six_slots_equals_brute_force(solver, seed):
    rng = np.random.default_rng(seed)
    regime = PRESETS["classic-2024"]
    stakes = np.round(rng.lognormal(np.log(1000), 0.6, size=6), 2)
    slots = [SlotInput(f"s{j}", float(s)) for j, s in enumerate(stakes)]
    refs = [Ref("a", "long"), Ref("b", "short"), Ref("c", "long")]
    w = rng.dirichlet(np.ones(3))
    total = stakes.sum()
    targets = tuple(Target(r.model, r.side, k, total * wi * p) for r, wi in zip(refs, w)
                    for k, p in zip(regime.scores, regime.combinations[0]))
    plan = solve(slots, targets, regime, ("a", "b", "c"), solver=solver, time_limit=30)
    check_invariants(plan, slots, targets, regime)
    best = brute_force(slots, targets, regime, refs)
    assert plan.solver.status == "optimal"
    assert plan.solver.objective == pytest.approx(best, abs=0.01)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(3))
def test_2023_regime_four_slots_21_combinations_equals_brute_force(solver, seed):
    rng = np.random.default_rng(100 + seed)
    regime = PRESETS["classic-2023"]
    assert len(regime.combinations) == 21
    stakes = np.round(rng.lognormal(np.log(1000), 0.5, size=4), 2)
    slots = [SlotInput(f"s{j}", float(s)) for j, s in enumerate(stakes)]
    refs = [Ref("a", "long"), Ref("b", "short")]
    total = stakes.sum()
    w = rng.dirichlet(np.ones(4))
    targets = (Target("a", "long", "corr", 2 * total * w[0]), Target("a", "long", "tc", 2 * total * w[1]),
               Target("b", "short", "corr", 2 * total * w[2]), Target("b", "short", "tc", 2 * total * w[3]))
    plan = solve(slots, targets, regime, ("a", "b"), solver=solver, time_limit=60)
    check_invariants(plan, slots, targets, regime)
    best = brute_force(slots, targets, regime, refs)
    assert plan.solver.objective == pytest.approx(best, abs=0.01)
    assert plan.solver.status == "optimal"


@pytest.mark.parametrize("solver", SOLVERS)
def test_obvious_optimum_exact_hit(solver):
    # stakes 100, 200, 300; targets a = 300 (= 100 + 200), b = 300: deviation 0.
    regime = custom_regime(["corr"], [[1.0]])
    slots = [SlotInput("x", 100.0), SlotInput("y", 200.0), SlotInput("z", 300.0)]
    targets = (Target("a", "long", "corr", 300.0), Target("b", "short", "corr", 300.0))
    plan = solve(slots, targets, regime, ("a", "b"), solver=solver)
    assert plan.deviation == pytest.approx(0.0, abs=1e-9)
    assert [c.ref.label for c in plan.choices] in (["a", "a", "short_b"], ["short_b", "short_b", "a"])
    assert plan.solver.status == "optimal"


@pytest.mark.parametrize("solver", SOLVERS)
def test_r589_tc_only_with_2x_corr(solver):
    regime = PRESETS["classic-2023-r589"]
    assert set(regime.combinations) == {(0, 0), (0.5, 0), (1, 0), (1.5, 0), (2, 0), (2, 0.5), (2, 1)}
    # A pure TC target of 100 on a 100 NMR slot: (0, 1) is not allowed; best is (2, 1) with 200 corr over,
    # or (0, 0) with 100 under. The optimum is idle: deviation 100.
    slots = [SlotInput("x", 100.0)]
    plan = solve(slots, (Target("a", "long", "tc", 100.0),), regime, ("a",), solver=solver)
    assert plan.deviation == pytest.approx(100.0)
    assert regime.combinations[plan.choices[0].combo] in ((0.0, 0.0), (2.0, 1.0))
    # corr 200 + tc 100 on 100 NMR: exactly (2, 1)
    plan = solve(slots, (Target("a", "long", "corr", 200.0), Target("a", "long", "tc", 100.0)), regime, ("a",), solver=solver)
    assert regime.combinations[plan.choices[0].combo] == (2.0, 1.0) and plan.deviation == pytest.approx(0.0)


def test_pin_and_exclude():
    regime = PRESETS["classic-2024"]
    slots = [SlotInput("x", 100.0, pin=Ref("b", "short")), SlotInput("y", 100.0, exclude=("a",))]
    targets = (Target("a", "long", "corr", 100.0), Target("a", "long", "mmc", 400.0))
    plan = solve(slots, targets, regime, ("a", "b"))
    assert plan.choices[0].ref == Ref("b", "short")
    assert plan.choices[1].ref.model != "a"


def test_change_penalty_keeps_current_when_gain_is_small():
    regime = custom_regime(["corr"], [[1.0]])
    # Moving x from a to b improves deviation by 2 × 10 = 20 NMR.
    slots = [SlotInput("x", 100.0, current=Ref("a", "long"), current_combo=0), SlotInput("y", 100.0)]
    targets = (Target("a", "long", "corr", 90.0), Target("b", "long", "corr", 110.0))
    free = solve(slots, targets, regime, ("a", "b"), change_penalty=0.0)
    assert free.deviation == pytest.approx(20.0)
    sticky = solve(slots, targets, regime, ("a", "b"), change_penalty=25.0)
    assert sticky.choices[0].ref == Ref("a", "long") and sticky.changed[0] is False
    assert sticky.changed[1] is True  # y has no current: always a to-do
    assert sticky.penalty == pytest.approx(25.0)
    cheap = solve(slots, targets, regime, ("a", "b"), change_penalty=5.0)
    assert cheap.solver.objective == pytest.approx(cheap.deviation + 5.0 * sum(cheap.changed))


@pytest.mark.parametrize("solver", SOLVERS)
def test_change_penalty_equals_brute_force(solver):
    regime = PRESETS["classic-2023"]
    slots = [SlotInput("x", 500.0, current=Ref("a", "long"), current_combo=3),
             SlotInput("y", 300.0, current=Ref("b", "short"), current_combo=20), SlotInput("z", 200.0)]
    targets = (Target("a", "long", "corr", 400.0), Target("a", "long", "tc", 1000.0), Target("b", "short", "tc", 700.0))
    plan = solve(slots, targets, regime, ("a", "b"), solver=solver, change_penalty=30.0)
    best = brute_force(slots, targets, regime, [Ref("a", "long"), Ref("b", "short")], change_penalty=30.0)
    assert plan.solver.objective == pytest.approx(best, abs=0.01)


def test_default_solvers_are_available():
    import pulp

    from stakealloc.config import Solver

    assert Solver().name is SolverName.HIGHS
    assert pulp.HiGHS().available()
    assert pulp.PULP_CBC_CMD().available()


def test_time_limited_solve_reports_feasible_with_gap():
    """A hard 2023-regime instance stopped after 1 s is not claimed optimal."""
    rng = np.random.default_rng(5)
    regime = PRESETS["classic-2023"]
    stakes = np.round(rng.lognormal(np.log(1000), 0.5, size=14), 2)
    slots = [SlotInput(f"s{j}", float(s)) for j, s in enumerate(stakes)]
    models = tuple(f"m{i}" for i in range(8))
    w = rng.dirichlet(np.ones(16))
    total = stakes.sum()
    targets = tuple(Target(m, "long", k, 2 * total * w[2 * i + j]) for i, m in enumerate(models) for j, k in enumerate(("corr", "tc")))
    plan = solve(slots, targets, regime, models, solver=SolverName.HIGHS, time_limit=1)
    check_invariants(plan, slots, targets, regime)
    if plan.solver.status == "feasible":
        assert plan.solver.gap > max(0.01, 1e-4 * plan.solver.objective)
    else:
        assert plan.solver.gap <= max(0.01, 1e-4 * plan.solver.objective)


def test_unreachable_targets_are_reported():
    from stakealloc.slots import capacity_notes

    regime = PRESETS["classic-2023"]
    slots = [SlotInput("x", 100.0), SlotInput("y", 50.0)]
    # corr pays at most 1x: 150 NMR of stake carries at most 150 NMR of corr
    notes = capacity_notes(slots, (Target("a", "long", "corr", 120.0), Target("b", "long", "corr", 80.0),
                                   Target("a", "long", "tc", 100.0)), regime)
    assert len(notes) == 1 and notes[0]["score"] == "corr"
    assert notes[0]["unreachable"] == pytest.approx(50.0)
    assert "at most 150.0 NMR of corr" in notes[0]["why"]
    plan = solve(slots, (Target("a", "long", "corr", 120.0), Target("b", "long", "corr", 80.0)), regime, ("a", "b"))
    assert plan.deviation >= 50.0 - 1e-9  # at least the unreachable part
