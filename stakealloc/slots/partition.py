"""The slot program as set partitioning (group_costs.py) for small fleets in separable regimes: one column per
(candidate, group of slots) with the group's exact best multipliers. A subset DP over the columns finds
the optimum in milliseconds; it stands as proven, or (exact_dp off) the named solver proves it on the
columns that survive a per-column floor. The same DP solves the neighbourhoods of the search exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

from ..tolerance import CAPACITY_SLACK, IMPROVEMENT
from ..types import SolverName
from . import exposure, group_costs
from .backends import run
from .problem import PlanCP, SlotProblem, SolveResult

DP_STATUS = "exact: the subset DP over every column (no solver call)"


def solve_partition(pb: SlotProblem, solver: SolverName, time_limit: float, heur: PlanCP, *,
                    exact_dp: bool = True, grace: float = 2.0) -> SolveResult:
    """The set-partitioning program (group_costs.py) within `time_limit` seconds.

    `group_costs.column_costs` enumerates every column exactly and `group_costs.best_partition` is an exact
    DP over all of them, so its optimum is the program's: with `exact_dp` it stands as proven (bound =
    its objective, status text DP_STATUS) and no solver runs. Without, the named solver proves it:

    Columns that cannot be in a plan better than the starting plan are left out: a column (c, M) whose
    floor, cost(c, M) + Σ_(c' ≠ c) min over M' outside M of cost(c', M'), is above the starting plan's
    objective (`group_costs.column_floor`). Every optimal plan
    keeps its columns, so the optimum and any bound the solver proves are those of the full program;
    the starting plan's own columns are always kept, so the program stays feasible. The starting plan is
    the better of `heur` and the subset DP's (`group_costs.best_partition`).
    """
    import numpy as np
    import pulp

    slots, idle, change_penalty = pb.slots, pb.idle, pb.change_penalty
    deadline = time.perf_counter() + time_limit
    cols = group_costs.column_costs(pb)
    upper = exposure.value(pb, heur)
    zero = pb.zero
    start = []
    for c, members in enumerate(cols.members):
        pos = {j: i for i, j in enumerate(members)}
        start.append(sum(1 << pos[j] for j, (hc, p) in enumerate(heur)
                             if (hc if p != zero else idle[j]) == c and j in pos))
    # The subset DP over the same columns is exact and takes milliseconds; its plan is the starting plan
    # and its objective the cut-off for columns, so the program below only has to prove it.
    dp_obj, dp_masks = group_costs.best_partition(cols, len(slots))
    if exact_dp and math.isfinite(dp_obj):
        plan = group_plan(pb, [[j for j in range(len(slots)) if m >> j & 1] for m in dp_masks])
        for j, x in enumerate(plan):
            if x is None or x[1] == zero:
                plan[j] = (idle[j], zero)  # an idle slot goes to its idle candidate (as below)
        return SolveResult(tuple(plan), dp_obj, DP_STATUS, True)  # type: ignore[arg-type]
    if dp_obj <= upper + IMPROVEMENT * max(1.0, upper):  # on a tie the DP's plan, whatever the rounding
        upper = dp_obj
        start = [sum(1 << i for i, j in enumerate(members) if m >> j & 1)
                     for members, m in zip(cols.members, dp_masks)]
    floor = group_costs.column_floor(cols, len(slots))
    # Set packing over strict groups where a slot can idle at no cost (group_costs.strict_columns).
    packing = zero is not None and change_penalty == 0
    if packing:
        strict = group_costs.strict_columns(cols)
        start = [group_costs.strip(cost, m) for cost, m in zip(cols.cost, start)]
    slack = CAPACITY_SLACK * max(1.0, upper)
    prob = pulp.LpProblem("partition", pulp.LpMinimize)
    per_slot: list[list] = [[] for _ in slots]
    chosen: list[list[tuple[int, object]]] = []
    terms = []
    for c, (members, cost) in enumerate(zip(cols.members, cols.cost)):
        keep = np.nonzero((floor[c] <= upper + slack) & (strict[c] if packing else True))[0].tolist()
        if start[c] not in keep:
            keep.append(start[c])
        col = []
        for m in sorted(keep):
            v = pulp.LpVariable(f"y_{c}_{m}", cat="Binary")
            v.setInitialValue(1 if m == start[c] else 0)
            col.append((m, v))
            terms.append((v, float(cost[m])))
            for i, j in enumerate(members):
                if m >> i & 1:
                    per_slot[j].append(v)
        prob += pulp.lpSum(v for _, v in col) == 1, f"cand_{c}"
        chosen.append(col)
    for j, vs in enumerate(per_slot):
        if packing:
            if vs:
                prob += pulp.lpSum(vs) <= 1, f"slot_{j}"
        else:
            prob += pulp.lpSum(vs) == 1, f"slot_{j}"
    prob += pulp.LpAffineExpression(terms)
    # HiGHS's presolve (probing thousands of columns) took half its time on the 9-slot forum case and
    # removed ~10 % of the columns; off, the forum draws prove in about half the time (benchmarks/README.md).
    bound, status_text, said_optimal, sol_ok = run(prob, solver, deadline, warm=solver is SolverName.HIGHS,
                                                   presolve=False, grace=grace)
    bound = bound if math.isfinite(bound) else 0.0
    if not sol_ok:
        return SolveResult(None, bound, status_text, False)
    groups = []
    for c, col in enumerate(chosen):
        m = max(col, key=lambda mv: mv[1].value() or 0.0)[0]
        groups.append([j for i, j in enumerate(cols.members[c]) if m >> i & 1])
    plan = group_plan(pb, groups)
    for j, x in enumerate(plan):
        if x is None:
            if not packing:
                return SolveResult(None, bound, status_text + "; a slot was left without a column", False)
            plan[j] = (idle[j], zero)  # in no group: idle
        elif x[1] == zero:
            # An idle slot goes to its idle candidate: same exposure, never a larger change penalty.
            plan[j] = (idle[j], zero)
    return SolveResult(tuple(plan), bound, status_text, said_optimal)  # type: ignore[arg-type]


def group_plan(pb: SlotProblem, groups: list[list[int]]) -> list[tuple[int, int] | None]:
    """(candidate index, combination) per slot from one group of slot indices per candidate (index into
    refs), each group with its best multipliers (`group_costs.group_choice`); None for slots in no group."""
    plan: list[tuple[int, int] | None] = [None] * len(pb.slots)
    for c, group in enumerate(groups):
        if group:
            _cost, combos = group_costs.group_choice(pb, c, group)
            for j, p in zip(group, combos):
                plan[j] = (c, p)
    return plan


def sub_partition(pb: SlotProblem, group: list[int]) -> PlanCP | None:
    """Exact best re-assignment of `pb`'s slots among the candidates `group` (indices into pb.refs) by the
    column DP (group_costs.py), against `pb.targets` (what is left for those candidates once the slots outside
    the neighbourhood are counted), as (candidate index into pb.refs, combination) per slot; None when the
    formulation does not apply (too many keeper variants)."""
    local = tuple(tuple(i for i, c in enumerate(group) if c in a) for a in pb.allowed)
    sub = replace(pb, refs=tuple(pb.refs[c] for c in group), allowed=local, idle=tuple(a[0] for a in local))
    if group_costs.column_work(sub) is None:
        return None
    cols = group_costs.column_costs(sub)
    opt, masks = group_costs.best_partition(cols, len(sub.slots))
    if not math.isfinite(opt):
        return None
    groups = [[j for j in range(len(sub.slots)) if m >> j & 1] for m in masks]
    plan = group_plan(sub, groups)
    return [(group[c], p) for c, p in plan]  # type: ignore[misc]  # every slot is in a group
