"""The slot problem as one frozen object, its plans, and how a plan is scored.

A plan is one (candidate index, combination index) per slot: candidate into `SlotProblem.refs`,
combination into `regime.combinations`. Exposures and objectives are NMR.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from .. import objectives
from ..errors import OptimizationError
from ..regimes import Regime
from ..tolerance import CAPACITY_SLACK
from ..types import Formulation, Objective, PlanSource, Ref, Side, SolverName, SolveStatus, Target

if TYPE_CHECKING:
    from ..payout import ScoreCube

ABS_GAP = 0.01  # NMR (NMR per round for tracking): a plan within this of its bound is proven optimal
REL_GAP = 1e-4  # or within this share of its objective

PlanCP = list[tuple[int, int]]  # (candidate index, combination index) per slot


@dataclass(frozen=True)
class PerRound:
    """Per-round staking: the budget and stake grid. Stakes are NMR per round; caps and current stakes per slot."""

    budget: float  # B, a whole multiple of step
    step: float
    min_stake: float  # a whole multiple of step
    caps: tuple[float, ...]  # per slot, ≤ budget, whole multiples of step
    current_stakes: tuple[float | None, ...]  # per slot; None: unknown

    def units(self, v: float) -> int:
        return int(round(v / self.step))


@dataclass(frozen=True)
class SlotInput:
    name: str
    stake: float  # NMR (per-round staking: the slot's cap, NMR per round)
    current: Ref | None = None
    current_combo: int | None = None  # index into regime.combinations
    pin: Ref | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    ref: Ref
    combo: int  # index into regime.combinations


@dataclass(frozen=True)
class SolverInfo:
    name: str
    status: SolveStatus
    objective: float  # NMR (deviation + change penalties), recomputed from the plan
    bound: float  # NMR, best lower bound proven by the solver
    gap: float  # objective − bound, NMR
    seconds: float
    solver_status: str  # what the solver itself said
    source: PlanSource
    formulation: Formulation = Formulation.COMPACT
    objective_kind: Objective = Objective.EXPOSURE  # exposure: NMR of Σ|achieved − target|; tracking: NMR/round
    time_limit: float | None = None  # seconds the solve was given

    def __post_init__(self) -> None:
        # a record built by hand (a test, a library caller) may pass the strings: each becomes its enum, or
        # ValueError; the report compares members, never strings
        for name, kind in (("status", SolveStatus), ("source", PlanSource), ("formulation", Formulation),
                           ("objective_kind", Objective)):
            object.__setattr__(self, name, kind(getattr(self, name)))


@dataclass(frozen=True)
class Unreachable:
    """Targets of one score the slots cannot carry: Σ targets above total stake × the largest multiplier, NMR."""

    score: str
    target: float
    capacity: float
    unreachable: float  # target − capacity
    why: str


def solver_info(solver: SolverName, *, objective: float, bound: float, said_optimal: bool, t0: float,
                solver_status: str, source: PlanSource, formulation: Formulation, objective_kind: Objective,
                time_limit: float | None) -> SolverInfo:
    """The one step from a plan's objective (NMR, recomputed from the plan), the program's bound and the
    solver's word to SolverInfo: the bound is never above the plan's objective, and the plan is proven
    optimal when the solver said so and the gap is within ABS_GAP or REL_GAP of the objective."""
    bound = min(bound, objective)
    gap = max(objective - bound, 0.0)
    proven = said_optimal and gap <= max(ABS_GAP, REL_GAP * objective)
    return SolverInfo(name=solver.value, status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
                      objective=objective, bound=bound, gap=gap, seconds=time.perf_counter() - t0,
                      solver_status=solver_status, source=source, formulation=formulation,
                      objective_kind=objective_kind, time_limit=time_limit)


@dataclass(frozen=True)
class SlotPlan:
    choices: tuple[Choice, ...]  # one per slot, in input order
    changed: tuple[bool, ...]  # differs from the slot's current (model, side, multipliers)
    deviation: float  # Σ |achieved − target|, NMR
    penalty: float  # change_penalty × changed slots, NMR
    solver: SolverInfo
    stakes: tuple[float, ...] | None = None  # per-round staking: each slot's per-round stake, NMR


@dataclass(frozen=True)
class SolveResult:
    """One program's answer: its plan (None when the solver found none), the best bound it proved (NMR),
    the solver's own status text, and whether the solver said optimal."""

    plan: tuple[tuple[int, int], ...] | None
    bound: float
    status_text: str
    said_optimal: bool


@dataclass(frozen=True)
class SearchOptions:
    """The search's tuning, measured on the benchmarks (benchmarks/README.md); tests set it per call."""

    exact_dp: bool = True  # the partition formulation's subset-DP optimum stands as proven
    partition_max_slots: int = 10  # whole fleets of up to this many slots may take set partitioning
    greedy_share: float = 0.2  # of the time limit, at most, for greedy + local search
    lns_min_slots: int = 12  # below this the full program proves quickly; no neighbourhood search
    probe_share: float = 0.15  # of the time limit for a first attempt at the full program
    probe_max_binaries: int = 30_000  # no first attempt beyond this many (slot, candidate, combination) binaries
    lns_share: float = 0.55  # of the time limit: greedy, first attempt and neighbourhood search end by then
    # Slots re-optimised together in one compact sub-problem, by regime.single: sized so that a sub-problem
    # usually proves well under lns_sub_limit.
    lns_free_slots: tuple[int, int] = (6, 12)  # (choice of multipliers, single combination)
    lns_sub_limit: float = 0.5  # seconds per compact sub-problem
    lns_kicks: int = 8  # kicks in a row without a better plan before the search ends
    lns_kick_slots: int = 4  # slots a kick moves
    kick_min_gap: float = 0.5  # relative gap of the first attempt above which the search kicks
    # Sub-problems solved by the column DP (separable regimes), in growing sizes, by regime.single; empty:
    # whole-candidate compact neighbourhoods only.
    part_free_slots: tuple[tuple[int, ...], tuple[int, ...]] = ((6, 8), (12,))
    build_seconds_per_binary: float = 8e-5  # PuLP's build, transfer and read-back (105k binaries: 8 s)
    solve_grace: float = 2.0  # seconds a solver may run past its deadline before it is abandoned
    # The tracking objective (tracking.py):
    tracking_starts: int = 32  # greedy starts: the first by stake, the others seeded random orders + noise
    tracking_bb_starts: int = 16  # greedy starts where the branch and bound follows (it needs a good plan, not
    # the best of 32: 30 step-5 backtest decisions 6 % faster with 16; 8 took the example from 140 to 660 LPs)
    tracking_noise: float = 0.002  # the noise's scale, as a share of the target's mean |payout| per round
    tracking_search_starts: int = 2000  # starts when the MIP is not built, as time allows
    tracking_mip_max_nonzeros: int = 150_000  # options × rounds above which the MIP is not built
    tracking_pair_work: int = 2_000_000  # options(a) × options(b) × rounds above which pairs are not re-solved
    tracking_bb: bool = True  # one-combination regimes: the exact branch and bound before the MIP (HiGHS)
    tracking_bb_share: float = 0.85  # of the time limit, at most, for it; the MIP gets the rest
    # With more slots than candidates, the MIP gets the most of the time limit (measured on the slot benchmark's
    # 25 × 6, 25 × 20 and 50 × 6: with 0.15 of 10 s it ended worse than with all of it; the search, unfinished,
    # had not improved the greedy plan)
    tracking_bb_share_many: float = 0.1
    # Per-round staking (perround.py): interchangeable slots aggregated into types (False: one per slot, the
    # naive formulation the benchmark compares with).
    per_round_types: bool = True


@dataclass(frozen=True)
class SlotProblem:
    """Slots, their candidates (model, side) and the targets: everything a plan is scored on.

    `refs` are the candidates; `allowed[j]` the candidate indices slot j may take; `idle[j]` the candidate an
    idle slot (all-zero multipliers) is reported on. Build one with `SlotProblem.build`."""

    slots: tuple[SlotInput, ...]
    targets: tuple[Target, ...]
    regime: Regime
    refs: tuple[Ref, ...]
    allowed: tuple[tuple[int, ...], ...]
    idle: tuple[int, ...]
    change_penalty: float = 0.0  # NMR per changed slot (NMR per round for tracking)
    objective: Objective = Objective.EXPOSURE
    streams: ScoreCube | None = field(default=None, compare=False)  # the window's scores (tracking only)
    per_round: PerRound | None = None  # per-round staking: the plan also sets each slot's stake

    @classmethod
    def build(cls, slots, targets: tuple[Target, ...], regime: Regime, models: tuple[str, ...], *,
              change_penalty: float = 0.0, objective: Objective = Objective.EXPOSURE,
              streams: ScoreCube | None = None, per_round: PerRound | None = None) -> SlotProblem:
        """Check the inputs and derive the candidates: every (model, side) with a positive target, in target
        order, then pins and (with a change penalty) currents; a slot whose every target model is excluded
        falls back to the first model it may take, long."""
        slots = tuple(slots)
        if not slots:
            raise OptimizationError("no slots to assign")
        for s in slots:
            if not (s.stake > 0 and math.isfinite(s.stake)):
                raise OptimizationError(f"slot {s.name}: stake {s.stake} is not a positive number")
        for t in targets:
            if not (math.isfinite(t.target) and t.target >= 0):
                raise OptimizationError(f"target of {t.model} {t.side} {t.score} is {t.target}")
        if objectives.of(objective).needs_streams and (streams is None or not streams.rounds):
            raise OptimizationError(f"the {objectives.of(objective).key.value} objective needs the window's rounds; "
                                    "none were given")
        refs: list[Ref] = []
        for t in targets:
            r = Ref(t.model, t.side)
            if t.target > 0 and r not in refs:
                refs.append(r)
        for s in slots:
            for r in (s.pin, s.current if change_penalty > 0 else None):
                if r is not None and r not in refs:
                    refs.append(r)
        allowed: list[tuple[int, ...]] = []
        idle: list[int] = []
        for s in slots:
            if s.pin is not None:
                a = [refs.index(s.pin)]
            else:
                a = [i for i, r in enumerate(refs) if r.model not in s.exclude]
                if not a:
                    # Every target model is excluded for this slot: it must still submit something.
                    fallback = Ref(next(m for m in models if m not in s.exclude), Side.LONG)
                    if fallback not in refs:
                        refs.append(fallback)
                    a = [refs.index(fallback)]
            allowed.append(tuple(a))
            # An idle slot keeps its current model when it may, else its first option.
            idle.append(refs.index(s.current) if s.current in refs and refs.index(s.current) in a else a[0])
        if per_round is not None and len(per_round.caps) != len(slots):
            raise OptimizationError("per-round staking: one cap per slot is needed")
        return cls(slots, tuple(targets), regime, tuple(refs), tuple(allowed), tuple(idle), change_penalty,
                   objective, streams, per_round)

    def sub(self, free: list[int], group: list[int]) -> SlotProblem:
        """The slots `free` re-assigned among the candidates `group` (indices into refs; indices unchanged),
        against those candidates' targets: a neighbourhood of the search."""
        gs = set(group)
        keys = {(self.refs[c].model, self.refs[c].side) for c in group}
        allowed = tuple(tuple(c for c in self.allowed[j] if c in gs) for j in free)
        idle = tuple(self.idle[j] if self.idle[j] in gs else a[0] for j, a in zip(free, allowed))
        return replace(self, slots=tuple(self.slots[j] for j in free), allowed=allowed, idle=idle,
                       targets=tuple(t for t in self.targets if (t.model, t.side) in keys))

    @cached_property
    def zero(self) -> int | None:
        """Index of the all-zero combination (an idle slot), if the regime has one."""
        return self.regime.zero_combination()

    @property
    def ncombo(self) -> int:
        return len(self.regime.combinations)

    @cached_property
    def target_map(self) -> dict[tuple[str, str, str], float]:
        """Target exposure (NMR) per (model, side, score)."""
        return {(t.model, t.side, t.score): t.target for t in self.targets}

    @cached_property
    def binaries(self) -> int:
        """(slot, candidate, combination) binaries of the compact program."""
        return sum(len(a) for a in self.allowed) * self.ncombo

    @cached_property
    def groups(self) -> list[list[int]]:
        """Interchangeable slots (same stake, candidates, pin, exclusions and, with a change penalty, the same
        current), at least two to a group, in slot order."""
        groups: dict[tuple, list[int]] = {}
        for j, s in enumerate(self.slots):
            key = (s.stake, self.allowed[j], s.pin,
                   (s.current, s.current_combo) if self.change_penalty > 0 else None, s.exclude)
            groups.setdefault(key, []).append(j)
        return [g for g in groups.values() if len(g) > 1]

    def order_groups(self, plan: PlanCP) -> PlanCP:
        """Permute choices inside each group of interchangeable slots to satisfy the symmetry ordering."""
        plan = list(plan)
        for g in self.groups:
            vals = sorted((plan[j] for j in g), key=lambda cp: cp[0] * self.ncombo + cp[1])
            for j, v in zip(g, vals):
                plan[j] = v
        return plan

    def choices(self, plan) -> list[Choice]:
        return [Choice(self.refs[c], p) for c, p in plan]

    def evaluate(self, choices) -> tuple[float, float]:
        """(deviation, penalty) of a plan given as choices, in NMR."""
        ach = achieved(self.slots, choices, self.regime)
        tg = self.target_map
        # Summed in sorted key order: a set's order depends on PYTHONHASHSEED, and so would the last bits of
        # the sum, which decide between plans that tie (measured: 16 of 100 backtest plans differed by run).
        dev = sum(abs(ach.get(key, 0.0) - tg.get(key, 0.0)) for key in sorted(set(ach) | set(tg)))
        pen = self.change_penalty * sum(is_changed(s, c) for s, c in zip(self.slots, choices))
        return dev, pen

    def capacity_notes(self) -> list[Unreachable]:
        """Targets the slots cannot carry: per score, Σ targets above total stake × the largest multiplier."""
        total = sum(s.stake for s in self.slots)
        notes = []
        for k in self.regime.scores:
            ask = sum(t.target for t in self.targets if t.score == k)
            cap = total * self.regime.max_multiplier(k)
            if ask > cap + CAPACITY_SLACK:
                mx = self.regime.max_multiplier(k)
                notes.append(Unreachable(k, ask, cap, ask - cap,
                                         f"the {k} targets add up to {ask:.1f} NMR but the slots carry at most "
                                         f"{cap:.1f} NMR of {k} ({total:.1f} NMR × {mx:g} max multiplier)"))
        return notes


def is_changed(slot: SlotInput, choice: Choice) -> bool:
    """A slot is unchanged when it keeps its current (model, side) and, where known, its multipliers."""
    if slot.current is None:
        return True
    if choice.ref != slot.current:
        return True
    return slot.current_combo is not None and choice.combo != slot.current_combo


def achieved(slots, choices, regime: Regime) -> dict[tuple[str, str, str], float]:
    """Exposure (NMR) per (model, side, score): Σ over slots of stake × multiplier."""
    out: dict[tuple[str, str, str], float] = {}
    for s, c in zip(slots, choices):
        for k, p in zip(regime.scores, regime.combinations[c.combo]):
            if p:
                key = (c.ref.model, c.ref.side, k)
                out[key] = out.get(key, 0.0) + s.stake * p
    return out
