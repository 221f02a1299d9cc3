"""Slot objectives as objects: each implements once what the slot programs ask of it, and `of` is the one
place that maps an `Objective` to its implementation (`stakealloc.objectives` describes each for the rest of
the package: what it needs, its plan line and unit).

A new objective is one class here (plus its `Objective` member and its entry in `objectives.REGISTRY`):

- `solve`: its fixed-stake program (search and proof), returning a SlotPlan whose SolverInfo names it;
- `value`: its value for a fixed-stake plan, (candidate, combination) per slot, penalties included;
- `per_round_rows(pb, prob, stake_on, start)`: its rows in the per-round program over the stake each option
  carries, as (objective expression, constant); `per_round_value(deviation, tracking_error)`: which of a
  per-round plan's measures it is; `per_round_start`: a plan to start that program from, or None;
  `relax_first`: whether the per-round program first runs with continuous stakes.

Nothing outside this module branches on which objective a problem has (tests/test_objectives.py)."""

from __future__ import annotations

from typing import Protocol

from ..types import Objective, SolverName
from . import exposure
from .problem import PlanCP, SearchOptions, SlotPlan, SlotProblem


class SlotObjective(Protocol):
    key: Objective
    relax_first: bool

    def solve(self, pb: SlotProblem, *, solver: SolverName, time_limit: float,
              options: SearchOptions) -> SlotPlan: ...

    def value(self, pb: SlotProblem, plan: PlanCP) -> float: ...

    def per_round_rows(self, pb: SlotProblem, prob, stake_on, start=None): ...

    def per_round_value(self, deviation: float, tracking_error: float) -> float: ...

    def per_round_start(self, pb: SlotProblem): ...


class Exposure:
    """NMR of Σ|achieved − target| per (model, side, score), plus change penalties."""

    key = Objective.EXPOSURE
    relax_first = False  # the grid program proves at once (benchmarks/perround.py)

    def solve(self, pb, *, solver, time_limit, options):
        from .exposure_solve import solve_exposure

        return solve_exposure(pb, solver=solver, time_limit=time_limit, options=options)

    def value(self, pb, plan):
        return exposure.value(pb, plan)

    def per_round_rows(self, pb, prob, stake_on, start=None):
        return exposure.per_round_rows(pb, prob, stake_on, start)

    def per_round_value(self, deviation, tracking_error):
        return deviation

    def per_round_start(self, pb):
        return None


class Tracking:
    """NMR per round of mean_t |P_plan(t) − P_target(t)| over the weights' window, plus change penalties."""

    key = Objective.TRACKING
    relax_first = True  # continuous stakes first: measured 3× faster on the example than the grid at once

    def solve(self, pb, *, solver, time_limit, options):
        from .tracking_mip import solve_tracking

        return solve_tracking(pb, solver=solver, time_limit=time_limit, options=options)

    def value(self, pb, plan):
        from .tracking_mip import plan_value

        return plan_value(pb, plan)

    def per_round_rows(self, pb, prob, stake_on, start=None):
        from .tracking_mip import per_round_rows

        return per_round_rows(pb, prob, stake_on, start)

    def per_round_value(self, deviation, tracking_error):
        return tracking_error

    def per_round_start(self, pb):
        from .tracking_mip import relax_and_fix

        return relax_and_fix(pb)


_IMPLEMENTATIONS: dict[Objective, SlotObjective] = {o.key: o for o in (Exposure(), Tracking())}


def of(objective: Objective | str) -> SlotObjective:
    """The implementation of `objective`."""
    return _IMPLEMENTATIONS[Objective(objective)]
