"""The per-round slot program (Atomic Blockchain Staking): every slot gets a reference (model, side) and a
per-round stake s_j (0, or min_stake ≤ s_j ≤ its cap, a whole multiple of stake_step) with Σ s_j = B.

    exposure:  minimise Σ_(model,side,score) |Σ_j s_j·p_k − target|            + change_penalty · #changed
    tracking:  minimise (1/T) Σ_t |Σ_j s_j·r_(ref_j)(t) − P_target(t)|          + change_penalty · #changed

(NMR per round), r_(c)(t) = Σ_k p_k · signed score, as in `stakealloc/tracking.py`.

Formulation. Slots that are interchangeable (same candidates, cap and pin, and with a change penalty the
same current reference and stake) form a type g of n_g slots. Per type and option o = (candidate,
combination): an integer x[g,o], the slots of g on o, and an integer u[g,o], their stake in steps, with
min·x ≤ u ≤ cap·x and Σ_o x[g,o] ≤ n_g (the rest idle). Any such (x, u) splits back into per-slot stakes on
the grid (as evenly as possible: each between min and cap, since both are whole steps), so the program is
exact; the naive per-slot form is the same program with one type per slot (`SearchOptions.per_round_types`
False; benchmarks/perround.py compares them). A change penalty counts, per type, the slots k_g that keep
their current reference and stake: k_g ≤ x[g,o0], and the rest of u[g,o0] fits the other x − k slots.

Solved by the named solver (`solve_per_round`: exposure on the grid at once; tracking first with continuous
stakes, whose bound holds for the grid, then on the grid only where the rounded plan is not within the proof
tolerance). A greedy plan (targets in decreasing order, one slot each, stakes rounded to the grid and the
budget closed) and, for tracking, a relax-and-fix plan are the fallback; neither beats a proven plan. Ties:
the model is built in a fixed order (types in slot order, options in candidate order), and HiGHS and CBC
are deterministic for a fixed model; a plan is split back onto slots in slot order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import OptimizationError
from ..payout import held_exposures, linear_payout
from ..tolerance import IMPROVEMENT
from ..tracking import target_payout
from ..types import Formulation, PlanSource, Ref, SolverName
from .backends import run
from .problem import ABS_GAP, REL_GAP, Choice, PerRound, SearchOptions, SlotPlan, SlotProblem, solver_info

__all__ = ["PerRound", "evaluate", "is_changed", "solve_per_round"]


def is_changed(pb: SlotProblem, j: int, ref: Ref, combo: int, stake: float) -> bool:
    """A slot is unchanged when it keeps its current stake and, staking, its current reference (and
    multipliers where known); an idle slot that stays idle is unchanged whatever it submits."""
    pr = pb.per_round
    assert pr is not None
    s = pb.slots[j]
    cur = pr.current_stakes[j]
    if cur is None or abs(cur - stake) > IMPROVEMENT:
        return True
    if stake == 0:
        return False
    if s.current is None or ref != s.current:
        return True
    return s.current_combo is not None and combo != s.current_combo


def evaluate(pb: SlotProblem, plan: list[tuple[int, int, float]]) -> tuple[float, float, float]:
    """(deviation Σ|achieved − target| in NMR per round, tracking error in NMR per round (0 without
    streams), penalty) of a plan given as (candidate, combination, stake) per slot."""
    regime = pb.regime
    ach: dict[tuple[str, str, str], float] = {}
    for c, p, s in plan:
        for k, m in zip(regime.scores, regime.combinations[p]):
            if m and s:
                key = (pb.refs[c].model, pb.refs[c].side, k)
                ach[key] = ach.get(key, 0.0) + s * m
    tg = pb.target_map
    dev = sum(abs(ach.get(key, 0.0) - tg.get(key, 0.0)) for key in sorted(set(ach) | set(tg)))
    te = 0.0
    if pb.streams is not None:
        st = pb.streams
        pay = linear_payout(st, [e for c, p, s in plan if s for e in held_exposures(
            pb.refs[c].model, pb.refs[c].side, regime.as_dict(p), s)])
        te = float(np.mean(np.abs(pay - target_payout(st, pb.targets)))) if len(st.rounds) else 0.0
    pen = pb.change_penalty * sum(is_changed(pb, j, pb.refs[c], p, s) for j, (c, p, s) in enumerate(plan))
    return dev, te, pen


def objective_value(pb: SlotProblem, objective, plan: list[tuple[int, int, float]]) -> float:
    """The plan's value by `objective` (a `slots.objective` implementation), NMR per round."""
    dev, te, pen = evaluate(pb, plan)
    return objective.per_round_value(dev, te) + pen


@dataclass(frozen=True)
class _Type:
    slots: tuple[int, ...]  # slot indices, in slot order
    options: tuple[tuple[int, int], ...]  # (candidate, combination) it may take
    cap: int  # steps
    current: tuple[int, int, int] | None  # (option index, stake steps) of a keepable current, or None;
    # (-1, -1, 0) for a current that is idle (stake 0)


def _types(pb: SlotProblem, grouped: bool) -> list[_Type]:
    pr = pb.per_round
    assert pr is not None
    zero = pb.zero
    combos = [p for p in range(len(pb.regime.combinations)) if p != zero]
    out: dict[tuple, list[int]] = {}
    for j, s in enumerate(pb.slots):
        cur = pr.current_stakes[j] if pb.change_penalty > 0 else None
        key = (pb.allowed[j], pr.units(pr.caps[j]), s.pin,
               (s.current, s.current_combo, cur) if pb.change_penalty > 0 else None, s.exclude)
        out.setdefault(key if grouped else (j,), []).append(j)
    types = []
    for js in out.values():
        j = js[0]
        opts = tuple((c, p) for c in pb.allowed[j] for p in combos)
        cap = pr.units(pr.caps[j])
        current = None
        cs = pr.current_stakes[j]
        if pb.change_penalty > 0 and cs is not None:
            su = pr.units(cs)
            on_grid = abs(su * pr.step - cs) <= IMPROVEMENT
            s = pb.slots[j]
            if cs == 0:
                current = (-1, -1, 0)
            elif on_grid and pr.units(pr.min_stake) <= su <= cap and s.current is not None:
                ci = pb.refs.index(s.current) if s.current in pb.refs else None
                p0 = s.current_combo if s.current_combo is not None else (combos[0] if len(combos) == 1 else None)
                if ci is not None and p0 is not None and (ci, p0) in opts:
                    current = (opts.index((ci, p0)), su, 0)
        types.append(_Type(tuple(js), opts, cap, current))
    return types


def _greedy(pb: SlotProblem) -> list[tuple[int, int, float]] | None:
    """Targets by stake in decreasing order, one slot each (largest cap first), stakes rounded to the grid
    within [min, cap], then the budget closed on the slots with room; None where that leaves it unmet."""
    pr = pb.per_round
    assert pr is not None
    zero = pb.zero
    combos = [p for p in range(len(pb.regime.combinations)) if p != zero]
    p0 = max(combos, key=lambda p: (sum(pb.regime.combinations[p]), -p))
    lev = sum(pb.regime.combinations[p0])
    want: dict[int, float] = {}
    for t in pb.targets:
        c = pb.refs.index(Ref(t.model, t.side)) if Ref(t.model, t.side) in pb.refs else None
        if c is not None:
            want[c] = want.get(c, 0.0) + t.target / lev
    n = len(pb.slots)
    N, lo = pr.units(pr.budget), pr.units(pr.min_stake)
    order = sorted(range(n), key=lambda j: (-pr.caps[j], j))
    plan: list[list] = [[pb.idle[j], p0, 0] for j in range(n)]
    free = list(order)
    for j in order:  # pins first
        if pb.slots[j].pin is not None:
            c = pb.allowed[j][0]
            plan[j] = [c, p0, min(max(pr.units(want.get(c, 0.0)), lo), pr.units(pr.caps[j]))]
            want.pop(c, None)
            free.remove(j)
    for c in sorted(want, key=lambda c: (-want[c], c)):
        j = next((j for j in free if c in pb.allowed[j]), None)
        if j is None:
            continue
        free.remove(j)
        plan[j] = [c, p0, min(max(pr.units(want[c]), lo), pr.units(pr.caps[j]))]
    total = sum(x[2] for x in plan)
    # close the budget: add to (or take from) staking slots, largest first, within [min, cap]
    for j in order:
        if total == N:
            break
        c, _, s = plan[j]
        if total < N and (s > 0 or lo <= N - total):
            add = min(pr.units(pr.caps[j]) - s, N - total)
            if s == 0 and add < lo:
                continue
            plan[j][2] += add
            total += add
        elif total > N and s > 0:
            cut = min(s - lo, total - N)
            plan[j][2] -= cut
            total -= cut
    if total != N:
        return None
    return [(c, p, s * pr.step) for c, p, s in plan]


def _warm(types: list[_Type], plan: list[tuple[int, int, float]], pr: PerRound, x: dict, u: dict, y: dict,
          keep: dict) -> None:
    """Set the program's variables to `plan` (counts and steps per type and option) for a warm start."""
    where = {j: g for g, ty in enumerate(types) for j in ty.slots}
    cnt: dict = {}
    stk: dict = {}
    for j, (c, p, sv) in enumerate(plan):
        if sv > 0:
            g = where[j]
            o = types[g].options.index((c, p))
            cnt[g, o] = cnt.get((g, o), 0) + 1
            stk[g, o] = stk.get((g, o), 0) + pr.units(sv)
    for key in x:
        x[key].varValue = cnt.get(key, 0)
        u[key].varValue = stk.get(key, 0)
        if y[key] is not x[key]:
            y[key].varValue = 1 if cnt.get(key, 0) else 0
    for g in keep:  # no slot counted as kept: valid for any plan (the penalty is then charged in full)
        keep[g].varValue = 0


def _build(pb: SlotProblem, objective, types: list[_Type], start, integral: bool):
    """The program over types and options: (problem, x, u, y, keep, the objective's constant). `integral`
    False: stakes continuous (a relaxation of the grid; counts stay integer). With `start`, the variables
    hold that plan for a warm start."""
    import pulp

    pr = pb.per_round
    assert pr is not None
    N, lo = pr.units(pr.budget), pr.units(pr.min_stake)
    prob = pulp.LpProblem("per_round", pulp.LpMinimize)
    x, u, y = {}, {}, {}
    for g, ty in enumerate(types):
        n = len(ty.slots)
        # One slot of a type whose cap covers the budget carries any stake an option can take, so without a
        # change penalty a second one on the same option is never needed: the count is then 0 or 1.
        most = 1 if ty.cap >= N and pb.change_penalty == 0 else n
        for o, _opt in enumerate(ty.options):
            x[g, o] = pulp.LpVariable(f"x_{g}_{o}", 0, most, cat="Integer")
            u[g, o] = pulp.LpVariable(f"u_{g}_{o}", 0, min(most * ty.cap, N),
                                      cat="Integer" if integral else "Continuous")
            y[g, o] = x[g, o] if most == 1 else pulp.LpVariable(f"y_{g}_{o}", cat="Binary")  # funded
            if most > 1:
                prob += x[g, o] <= most * y[g, o]
                prob += y[g, o] <= x[g, o]
                prob += u[g, o] <= N * y[g, o]
            if lo > 0:
                prob += u[g, o] >= lo * x[g, o]
            prob += u[g, o] <= min(ty.cap, N) * x[g, o]
        prob += pulp.lpSum(x[g, o] for o in range(len(ty.options))) <= n
    prob += pulp.lpSum(u.values()) == N
    # The objective's constant is kept out of the model (PuLP's HiGHS interface drops it, so the bound would
    # be off by it) and added to the bound after the solve.
    const = 0.0
    penalty = []
    keep = {}
    if pb.change_penalty > 0:
        for g, ty in enumerate(types):
            n = len(ty.slots)
            const += pb.change_penalty * n
            if ty.current is None:
                continue
            k = keep[g] = pulp.LpVariable(f"k_{g}", 0, n, cat="Integer")
            o0, s0, _ = ty.current
            if o0 < 0:  # currently idle: kept by staying idle
                prob += k <= n - pulp.lpSum(x[g, o] for o in range(len(ty.options)))
            else:
                prob += k <= x[g, o0]
                prob += u[g, o0] - s0 * k >= lo * (x[g, o0] - k)
                prob += u[g, o0] - s0 * k <= ty.cap * (x[g, o0] - k)
            penalty.append(-pb.change_penalty * k)
    # the objective's rows over the stake each option carries (NMR per round per step of u)
    stake_on = [(ty.options[o], pr.step, u[g, o], y[g, o]) for (g, o) in u for ty in [types[g]]]
    expr, extra = objective.per_round_rows(pb, prob, stake_on, start)
    prob += expr + pulp.lpSum(penalty)
    if start is not None:
        _warm(types, start, pr, x, u, y, keep)
    const += extra
    return prob, x, u, y, keep, const


def solve_per_round(pb: SlotProblem, objective, *, solver: SolverName, time_limit: float,
                    options: SearchOptions) -> SlotPlan:
    """The proven (or best found) per-round plan: choices and per-round stakes, with status, bound and gap.

    Tracking first solves the program with continuous stakes (integer counts; measured 3× faster on the
    example than integral stakes): its bound is valid for the grid, and its plan rounded to the grid (largest
    remainder, within every bound) is proven when it comes within the proof tolerance of that bound. Else,
    and for the exposure objective, the program with stakes in whole steps runs (from that plan)."""
    pr = pb.per_round
    assert pr is not None
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    types = _types(pb, options.per_round_types)
    start = None
    plan, bound, status_text, said_optimal = None, 0.0, "not run", False
    if objective.relax_first:
        # No starting plan: measured on the example, HiGHS proved in 0.59 s without one, 0.81 s from the
        # relax-and-fix plan (which stays the fallback)
        prob, x, u, y, keep, const = _build(pb, objective, types, None, integral=False)
        b0, status_text, said_optimal, sol_ok = run(prob, solver, deadline, grace=options.solve_grace)
        if sol_ok:
            bound = b0 + const
            plan = _split(pb, types, *_on_grid(types, x, u, keep, pr))
            obj = objective_value(pb, objective, plan)
            if said_optimal and obj - bound <= max(ABS_GAP, REL_GAP * obj):
                status_text = f"{status_text} (stakes continuous; the grid plan is within the proof tolerance)"
            else:
                start = objective.per_round_start(pb)
                start = plan if start is None or obj < objective_value(pb, objective, start) else start
                plan = None
                said_optimal = False
        else:
            start = objective.per_round_start(pb)
    if plan is None and time.perf_counter() < deadline:
        # HiGHS starts from the rounded plan (CBC gets none: with one it claimed false optima, backends.py)
        prob, x, u, y, keep, const = _build(pb, objective, types, start, integral=True)
        b1, status_text, said_optimal, sol_ok = run(prob, solver, deadline, warm=start is not None,
                                                    grace=options.solve_grace)
        bound = max(bound, b1 + const)  # both are valid lower bounds of the grid program
        if sol_ok:
            plan = _split(pb, types, {key: int(round(v.varValue or 0)) for key, v in x.items()},
                          {key: int(round(v.varValue or 0)) for key, v in u.items()},
                          {g: int(round(v.varValue or 0)) for g, v in keep.items()})
    if plan is None and start is None:
        start = objective.per_round_start(pb)
    heur = _greedy(pb)
    if start is not None and (heur is None or objective_value(pb, objective, start)
                              < objective_value(pb, objective, heur)):
        heur = start
    source = PlanSource.SOLVER
    if plan is None or (heur is not None
                        and objective_value(pb, objective, heur) < objective_value(pb, objective, plan) - IMPROVEMENT):
        if heur is None:
            raise OptimizationError(f"per-round plan: {solver.value} found no plan ({status_text}) and the "
                                    "greedy plan cannot meet the budget within min_stake and max_stake")
        plan, source = heur, PlanSource.HEURISTIC
    dev, te, pen = evaluate(pb, plan)
    # the searched plan is not proven by a bound of the on-grid program the solver was given
    info = solver_info(solver, objective=objective.per_round_value(dev, te) + pen,
                       bound=bound if math.isfinite(bound) else 0.0,
                       said_optimal=said_optimal and source is PlanSource.SOLVER, t0=t0, solver_status=status_text,
                       source=source, formulation=Formulation.PER_ROUND, objective_kind=pb.objective,
                       time_limit=time_limit)
    choices = tuple(Choice(pb.refs[c], p) for c, p, _ in plan)
    changed = tuple(is_changed(pb, j, pb.refs[c], p, s) for j, (c, p, s) in enumerate(plan))
    return SlotPlan(choices=choices, changed=changed, deviation=dev, penalty=pen, solver=info,
                    stakes=tuple(s for _, _, s in plan))


def _on_grid(types: list[_Type], x: dict, u: dict, keep: dict, pr: PerRound) -> tuple[dict, dict, dict]:
    """Integer counts and steps from a solution with continuous steps: each option's steps floored, then the
    largest remainders rounded up until the budget is met; floors and ceilings stay within the integral
    bounds (min × count, cap × count, the kept slots' share)."""
    N = pr.units(pr.budget)
    xs = {key: int(round(v.varValue or 0)) for key, v in x.items()}
    raw = {key: max(float(v.varValue or 0.0), 0.0) for key, v in u.items()}
    us = {key: int(math.floor(v + 1e-9)) for key, v in raw.items()}
    for key in sorted(raw, key=lambda k: (-(raw[k] - us[k]), k))[:max(N - sum(us.values()), 0)]:
        us[key] += 1
    ks = {g: int(round(v.varValue or 0)) for g, v in keep.items()}
    return xs, us, ks


def _split(pb: SlotProblem, types: list[_Type], x: dict, u: dict, keep: dict) -> list[tuple[int, int, float]]:
    """Per-slot (candidate, combination, stake) from the type-level solution, in slot order: kept slots first
    on their current option at their current stake, the rest of an option's steps as evenly as possible."""
    pr = pb.per_round
    assert pr is not None
    zero = pb.zero
    idle_combo = zero if zero is not None else 0
    plan: list[tuple[int, int, float] | None] = [None] * len(pb.slots)
    for g, ty in enumerate(types):
        slots = list(ty.slots)
        k = keep.get(g, 0)
        if ty.current is not None and ty.current[0] >= 0 and k:
            o0, s0, _ = ty.current
            # kept slots first; the type's slots share their current (the change penalty is in the type key)
            kept, slots = slots[:k], slots[k:]
            c, p = ty.options[o0]
            for j in kept:
                plan[j] = (c, p, s0 * pr.step)
            rest_x, rest_u = x[g, o0] - k, u[g, o0] - k * s0
            q, r = divmod(rest_u, rest_x) if rest_x else (0, 0)
            for i in range(rest_x):
                j = slots.pop(0)
                plan[j] = (c, p, (q + (i < r)) * pr.step)
            done = {o0}
        else:
            done = set()
        if ty.current is not None and ty.current[0] < 0 and k:
            idle_kept, slots = slots[:k], slots[k:]  # currently idle slots stay idle: they go last
            slots = slots + idle_kept
        for o, (c, p) in enumerate(ty.options):
            if o in done or not x[g, o]:
                continue
            q, r = divmod(u[g, o], x[g, o])
            for i in range(x[g, o]):
                j = slots.pop(0)
                plan[j] = (c, p, (q + (i < r)) * pr.step)
        for j in slots:
            plan[j] = (pb.idle[j], idle_combo, 0.0)
    assert all(v is not None for v in plan)
    return [v for v in plan if v is not None]
