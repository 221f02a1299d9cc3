"""The slot program (a package, one module per concept): give every staking slot one (model, side) and one allowed
multiplier combination so the achieved exposures come as close to the targets as possible.

    minimise  Σ_(model,side,score) |achieved − target|  +  change_penalty · #changed slots   (NMR)

Two formulations, both solved by the named PuLP solver with explicit gap tolerances:

- Set partitioning (partition.py, group_costs.py) for small fleets (up to 10 slots) in separable
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

Modules: problem (SlotProblem, plans, evaluation), objective (each objective's implementation: its
fixed-stake solve, value and per-round rows; `solve` asks it), exposure and exposure_solve (the exposure
objective's value, rows and fixed-stake solve, with the time budget above), heuristics (greedy + local
search), compact, group_costs and partition (set partitioning), neighbourhood (the search), backends (running a
solver; the symmetry rows and warm start every fixed-stake program shares), tracking_mip (the tracking
objective's programs), tracking_bb and tracking_bc (its exact branches and bounds in one-combination regimes:
slot by slot, and by candidates where the slots outnumber them), perround (the per-round program).
"""

from __future__ import annotations

from ..types import SolverName
from .objective import of
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
)

__all__ = ["ABS_GAP", "REL_GAP", "Choice", "DEFAULT_OPTIONS", "PerRound", "SearchOptions", "SlotInput", "SlotPlan",
           "SlotProblem", "SolveResult", "SolverInfo", "achieved", "is_changed", "solve"]

DEFAULT_OPTIONS = SearchOptions()


def solve(pb: SlotProblem, *, solver: SolverName = SolverName.HIGHS, time_limit: float = 60.0,
          options: SearchOptions = DEFAULT_OPTIONS) -> SlotPlan:
    """Best plan for `pb` by its objective within `time_limit` seconds (plus at most options.solve_grace);
    status carries whether it is proven optimal. The objective's own program solves it (`objective.of`);
    under per-round staking, the per-round program with the objective's rows."""
    objective = of(pb.objective)
    if pb.per_round is not None:
        from .perround import solve_per_round

        return solve_per_round(pb, objective, solver=solver, time_limit=time_limit, options=options)
    return objective.solve(pb, solver=solver, time_limit=time_limit, options=options)
