"""The slot program (a package, one module per concept): give every staking slot one (model, side) and one allowed
multiplier combination so the achieved exposures come as close to the targets as possible.

    minimise  Σ_(model,side,score) |achieved − target|  +  change_penalty · #changed slots   (NMR)

Two formulations, both solved by the named PuLP solver with explicit gap tolerances:

- Set partitioning (partition.py, columns.py) for small fleets (up to 10 slots) in separable
  regimes (classic-2023, classic-2024, custom products): one column per (candidate, group of slots) with
  the group's exact best multipliers. A subset DP over the columns finds the optimum in milliseconds and
  is the starting plan; the solver proves it on the columns that survive a per-column floor.
- Compact (compact.py) otherwise: one binary w[j,c,p] per slot j, candidate c = (model, side) and
  allowed combination p, exactly one per slot; achieved exposure A[c,k] = Σ_j,p s_j·p_k·w[j,c,p]; |A − t|
  through bounded over/under variables. Only candidates with a positive target (plus pins, and currents
  when a change penalty is set) enter, and the all-zero combination (an idle slot) exists once per slot,
  with the slot's idle candidate. Interchangeable slots (equal stake, same constraints) are ordered by
  (candidate, combination) index to break symmetry. Measured and dropped (benchmarks/README.md): separate
  model and combination binaries (a much weaker relaxation) and chord cuts through the nearest reachable
  exposures around each target (slower proofs on 9 of 10 instances).

Time limit T with the compact program: greedy + local search (at most 0.2 T); below lns_min_slots slots (SearchOptions),
the full program with the rest. From lns_min_slots slots on: a first attempt at the full program
(0.15 T, up to probe_max_binaries); unless that proves the optimum, a large-neighbourhood search that
re-solves small sub-problems exactly (the column DP in separable regimes, the compact program otherwise;
until 0.55 T or no neighbourhood improves), then the full program again with the rest, HiGHS started
from the searched plan (CBC gets no starting plan: with one it claimed false optima). The heuristic plan
is also the fallback, so the result is never worse than it.

Ties between equally good plans are broken by the solver on a model built in a fixed order (slots as
in the fleet file, candidates in target order) plus the symmetry ordering, from a starting plan chosen
by a fixed rule; objectives are summed in a fixed order, so rounding does not depend on PYTHONHASHSEED.
Both solvers are deterministic for a fixed model, so the same inputs give the same plan when it is proven
optimal. A plan that stops at the time limit (status `feasible`) depends on how far the search got, so
on machine speed.

Modules: problem (SlotProblem, plans, evaluation), heuristics (greedy + local search), compact,
columns and partition (set partitioning), neighbourhood (the search), backends (running a solver),
tracking (the tracking objective's solver). `solve` and the time budget are here.
"""

from __future__ import annotations

import time

from ..tolerance import IMPROVEMENT
from ..types import Formulation, Objective, PlanSource, SolverName
from . import columns, exposure
from .compact import solve_compact
from .heuristics import greedy
from .neighbourhood import improve
from .partition import DP_STATUS, solve_partition
from .problem import (
    ABS_GAP,
    REL_GAP,
    Choice,
    PerRound,
    SearchOptions,
    SlotInput,
    SlotPlan,
    SlotProblem,
    SolveResult,
    SolverInfo,
    achieved,
    is_changed,
    solver_info,
)

__all__ = ["ABS_GAP", "REL_GAP", "Choice", "DEFAULT_OPTIONS", "PerRound", "SearchOptions", "SlotInput", "SlotPlan",
           "SlotProblem", "SolveResult", "SolverInfo", "achieved", "is_changed", "solve"]

DEFAULT_OPTIONS = SearchOptions()


def solve(pb: SlotProblem, *, solver: SolverName = SolverName.HIGHS, time_limit: float = 60.0,
          options: SearchOptions = DEFAULT_OPTIONS) -> SlotPlan:
    """Best plan for `pb` by its objective within `time_limit` seconds (plus at most options.solve_grace);
    status carries whether it is proven optimal.

    With options.exact_dp, a fleet in the set-partitioning formulation takes the exact subset DP's optimum
    as proven (`solver.source` "dp"); without, the named solver proves it (tests use both)."""
    if pb.per_round is not None:
        from .perround import solve_per_round

        return solve_per_round(pb, solver=solver, time_limit=time_limit, options=options)
    if pb.objective is Objective.TRACKING:
        from .tracking_mip import solve_tracking

        return solve_tracking(pb, solver=solver, time_limit=time_limit, options=options)
    o = options
    slots = pb.slots
    t0 = time.perf_counter()
    heur = greedy(pb, t0 + o.greedy_share * time_limit)
    first: SolveResult | None = None
    result: SolveResult | None = None  # the program's answer, once no further program is to be run
    formulation = Formulation.PARTITION if columns.applies(pb, o.partition_max_slots) else Formulation.COMPACT
    if formulation is Formulation.PARTITION:
        left = time_limit - (time.perf_counter() - t0)
        result = solve_partition(pb, solver, max(left, 1.0), heur, exact_dp=o.exact_dp, grace=o.solve_grace)
    elif len(slots) >= o.lns_min_slots:
        # A short first attempt at the full program: many mid-size fleets prove within it, and then the
        # neighbourhood search would only delay the answer. Not for very large programs: they never proved
        # in it, and handing PuLP's model to the solver alone took seconds of the search's time.
        if pb.binaries <= o.probe_max_binaries:
            first = solve_compact(pb, solver, o.probe_share * time_limit, grace=o.solve_grace)
            if exposure.proves(pb, first):
                result = first
            if first.plan is not None and exposure.value(pb, first.plan) < exposure.value(pb, heur):
                heur = list(first.plan)
        if result is None:
            # Kicks only where the full program is unlikely to close the gap in its remaining time: they
            # use the whole search window, which delayed proofs (classic-2024 50 × 6: 3.6 s instead of
            # 1.8 s) where the first attempt had already come within options.kick_min_gap.
            gap = None
            if first is not None and first.plan is not None:
                fo = exposure.value(pb, first.plan)
                gap = (fo - first.bound) / fo if fo > 0 else 0.0
            kicks = o.lns_kicks if gap is None or gap > o.kick_min_gap else 0
            heur = improve(pb, solver, heur, t0 + o.lns_share * time_limit, o, kicks)
    warm = pb.order_groups(heur)
    warm_choices = pb.choices(warm)
    warm_obj = sum(pb.evaluate(warm_choices))
    if result is not None:
        plan, bound, status_text, said_optimal = result.plan, result.bound, result.status_text, result.said_optimal
    else:
        left = time_limit - (time.perf_counter() - t0)
        searched = len(slots) >= o.lns_min_slots
        binaries = pb.binaries
        if searched and binaries * o.build_seconds_per_binary > left:
            # PuLP alone would take longer to hand this program over than the time left (measured: 4 s for
            # 105k binaries): the searched plan stands, with the first attempt's bound if there was one.
            plan, bound, said_optimal = None, first.bound if first is not None else 0.0, False
            status_text = f"not run: {binaries:,} binaries cannot be built in the {max(left, 0):.1f} s left"
        else:
            res = solve_compact(pb, solver, max(left, 1.0), warm if searched else None, grace=o.solve_grace)
            plan, bound, status_text, said_optimal = res.plan, res.bound, res.status_text, res.said_optimal
            if first is not None:
                bound = max(bound, first.bound)  # both bounds are valid for the same program
    source = PlanSource.DP if status_text == DP_STATUS else PlanSource.SOLVER
    if plan is None:
        choices = warm_choices
        source = PlanSource.HEURISTIC
    else:
        choices = pb.choices(plan)
        obj = sum(pb.evaluate(choices))
        if warm_obj < obj - IMPROVEMENT:
            choices, source = warm_choices, PlanSource.HEURISTIC
    dev, pen = pb.evaluate(choices)
    info = solver_info(solver, objective=dev + pen, bound=bound, said_optimal=said_optimal, t0=t0,
                       solver_status=status_text, source=source, formulation=formulation,
                       objective_kind=Objective.EXPOSURE, time_limit=time_limit)
    return SlotPlan(choices=tuple(choices), changed=tuple(is_changed(s, c) for s, c in zip(slots, choices)),
                    deviation=dev, penalty=pen, solver=info)
