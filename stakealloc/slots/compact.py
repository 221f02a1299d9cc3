"""The compact program: one binary w[j,c,p] per slot j, candidate c = (model, side) and allowed
combination p, exactly one per slot; achieved exposure A[c,k] = Σ_j,p s_j·p_k·w[j,c,p]; |A − t| through
bounded over/under variables.

Only candidates with a positive target (plus pins, and currents when a change penalty is set) enter, and
the all-zero combination (an idle slot) exists once per slot, with the slot's idle candidate.
Interchangeable slots (equal stake, same constraints) are ordered by (candidate, combination) index to
break symmetry. Measured and dropped (benchmarks/README.md): separate model and combination binaries (a
much weaker relaxation) and chord cuts through the nearest reachable exposures around each target (slower
proofs on 9 of 10 instances).
"""

from __future__ import annotations

import math
import time

from ..types import SolverName
from .backends import run, symmetry_rows, warm_start
from .problem import PlanCP, SlotProblem, SolveResult


def solve_compact(pb: SlotProblem, solver: SolverName, time_limit: float, warm: PlanCP | None = None, *,
                  grace: float = 2.0) -> SolveResult:
    """Build and solve the compact program for `pb` within `time_limit` seconds.

    `warm` is handed to HiGHS as a starting plan (CBC ignores it, see `backends.run`).
    """
    import pulp

    slots, refs, allowed, idle, regime = pb.slots, pb.refs, pb.allowed, pb.idle, pb.regime
    change_penalty = pb.change_penalty

    deadline = time.perf_counter() + time_limit
    S, C, P = len(slots), len(refs), len(regime.combinations)
    K = range(len(regime.scores))
    pmax = [max(c[k] for c in regime.combinations) for k in K]
    zero = pb.zero
    prob = pulp.LpProblem("slots", pulp.LpMinimize)
    # One binary per (slot, candidate, combination); the all-zero combination only with the slot's idle
    # candidate, since an idle slot's model does not matter.
    per_slot: list[list[tuple[int, int, object]]] = []
    for j in range(S):
        per_slot.append([(c, p, pulp.LpVariable(f"w_{j}_{c}_{p}", cat="Binary"))
                         for c in allowed[j] for p in range(P) if p != zero or c == idle[j]])
    tg = pb.target_map
    expo: dict[tuple[int, int], list] = {(c, k): [] for c in range(C) for k in K}
    for j in range(S):
        for c, p, v in per_slot[j]:
            for k in K:
                m = regime.combinations[p][k]
                if m:
                    expo[c, k].append((v, slots[j].stake * m))
    for j in range(S):
        prob += pulp.lpSum(v for _, _, v in per_slot[j]) == 1, f"one_choice_{j}"
    dev_terms = []
    total_cap = [sum(sl.stake for sl in slots) * pmax[k] for k in K]
    for c in range(C):
        for k in K:
            key = (refs[c].model, refs[c].side, regime.scores[k])
            t = tg.get(key, 0.0)
            if not expo[c, k] and t == 0:
                continue
            up = pulp.LpVariable(f"over_{c}_{k}", lowBound=0, upBound=max(total_cap[k] - t, 0.0))
            dn = pulp.LpVariable(f"under_{c}_{k}", lowBound=0, upBound=t)
            a_ck = pulp.LpAffineExpression(expo[c, k])
            prob += a_ck - t == up - dn, f"dev_{c}_{k}"
            dev_terms += [up, dn]
    pen_terms = []
    # Penalties every plan pays (slots with no current, or whose current cannot be kept) stay out of the
    # program: PuLP does not hand the objective's constant to the solvers, so the bound they report would
    # lack it (measured: a 3-slot case reported as unproven by exactly one penalty). It is added back below.
    constant = 0.0
    if change_penalty > 0:
        for j, sl in enumerate(slots):
            c0 = refs.index(sl.current) if sl.current in refs else None
            keep = [v for c, p, v in per_slot[j] if c == c0 and (sl.current_combo is None or p == sl.current_combo)]
            if sl.current is None or not keep:
                constant += change_penalty
                continue
            ch = pulp.LpVariable(f"changed_{j}", lowBound=0, upBound=1)
            prob += ch >= 1 - pulp.lpSum(keep), f"chg_{j}"
            pen_terms.append(change_penalty * ch)
    prob += pulp.lpSum(dev_terms) + pulp.lpSum(pen_terms)
    options = [[((c, p), v) for c, p, v in opts] for opts in per_slot]
    symmetry_rows(prob, pb.groups, options, P)
    warm_start(options, warm, solver)
    bound, status_text, said_optimal, sol_ok = run(prob, solver, deadline, warm=warm is not None, grace=grace)
    bound = (bound if math.isfinite(bound) else 0.0) + constant
    if not sol_ok:
        return SolveResult(None, bound, status_text, False)
    plan = []
    for j in range(S):
        c, p, _v = max(per_slot[j], key=lambda cpv: cpv[2].value() or 0.0)
        plan.append((c, p))
    return SolveResult(tuple(plan), bound, status_text, said_optimal)
