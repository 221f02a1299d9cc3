"""The exposure objective as the fixed-stake exposure programs evaluate it (the compact and set-partitioning
programs, the greedy and the neighbourhood search): NMR of Σ|achieved − target| plus change penalties, of a
plan given as (candidate, combination) per slot. Tracking and per-round problems have programs of their own
(`tracking_mip`, `perround`); these functions refuse them rather than answer with the wrong objective."""

from __future__ import annotations

from ..errors import OptimizationError
from ..types import Objective
from .problem import ABS_GAP, REL_GAP, SlotProblem, SolveResult


def _check(pb: SlotProblem) -> None:
    if pb.objective is not Objective.EXPOSURE or pb.per_round is not None:
        raise OptimizationError(f"the exposure objective evaluated on a {pb.objective.value}"
                                + (" per-round" if pb.per_round is not None else "") + " problem")


def value(pb: SlotProblem, plan) -> float:
    """Deviation + penalty, NMR, of `plan`."""
    _check(pb)
    return sum(pb.evaluate(pb.choices(plan)))


def proves(pb: SlotProblem, res: SolveResult) -> bool:
    """Whether a program's result is a proven optimum by the plan's own objective."""
    if res.plan is None or not res.said_optimal:
        return False
    obj = value(pb, res.plan)
    return obj - res.bound <= max(ABS_GAP, REL_GAP * obj)
