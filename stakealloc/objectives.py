"""The slot objectives, described once each, and the registry keyed by `Objective`: what an objective needs
(the window's per-round score streams, or only the targets), the plan line it minimises and its unit. The
pipeline, the backtest, the API and the report ask the registry instead of testing which objective it is.

What each objective minimises, and how, is its implementation in `slots/objective.py` (its fixed-stake
program, its value, its rows in the per-round program); a new objective is an `Objective` member, one entry
here and one class there."""

from __future__ import annotations

from dataclasses import dataclass

from .types import Objective


@dataclass(frozen=True)
class ObjectiveKind:
    """One slot objective as the rest of the package sees it."""

    key: Objective
    needs_streams: bool  # the weights' window of per-round scores (given targets have none)
    line: str  # the plan's line that is the objective: "deviation" or "tracking"
    per_round_unit: bool  # its value is NMR per round even under fixed stakes (else NMR)
    what: str  # one phrase for messages

    def unit(self, per_round_staking: bool) -> str:
        return "NMR per round" if self.per_round_unit or per_round_staking else "NMR"


REGISTRY: dict[Objective, ObjectiveKind] = {
    Objective.EXPOSURE: ObjectiveKind(Objective.EXPOSURE, needs_streams=False, line="deviation",
                                      per_round_unit=False, what="the nominal deviation Σ|achieved − target|"),
    Objective.TRACKING: ObjectiveKind(Objective.TRACKING, needs_streams=True, line="tracking", per_round_unit=True,
                                      what="the target portfolio's payout over the weights' window"),
}


def of(objective: Objective | str) -> ObjectiveKind:
    return REGISTRY[Objective(objective)]
