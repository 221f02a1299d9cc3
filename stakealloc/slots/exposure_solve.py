"""The exposure objective's fixed-stake solve: greedy and local search, then the set-partitioning program
(small separable fleets) or the compact program, with a first attempt and a large-neighbourhood search
for large fleets (the time budget: `slots/__init__.py`)."""

from __future__ import annotations

import time

from ..tolerance import IMPROVEMENT
from ..types import Formulation, PlanSource, SolverName
from . import exposure, group_costs
from .compact import solve_compact
from .heuristics import greedy
from .neighbourhood import improve
from .partition import DP_STATUS, solve_partition
from .problem import SearchOptions, SlotPlan, SlotProblem, SolveResult, is_changed, solver_info


def solve_exposure(pb: SlotProblem, *, solver: SolverName, time_limit: float, options: SearchOptions) -> SlotPlan:
    """Best fixed-stake plan for the exposure objective within `time_limit` seconds; NMR.

    With options.exact_dp, a fleet in the set-partitioning formulation takes the exact subset DP's optimum
    as proven (`solver.source` "dp"); without, the named solver proves it (tests use both)."""
    o = options
    slots = pb.slots
    t0 = time.perf_counter()
    heur = greedy(pb, t0 + o.greedy_share * time_limit)
    first: SolveResult | None = None
    result: SolveResult | None = None  # the program's answer, once no further program is to be run
    formulation = Formulation.PARTITION if group_costs.applies(pb, o.partition_max_slots) else Formulation.COMPACT
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
                       objective_kind=exposure.KEY, time_limit=time_limit)
    return SlotPlan(choices=tuple(choices), changed=tuple(is_changed(s, c) for s, c in zip(slots, choices)),
                    deviation=dev, penalty=pen, solver=info)
