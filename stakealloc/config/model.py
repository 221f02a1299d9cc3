"""The fleet's records: what the file says (FleetSpec, None wherever the file is silent on something the API
may state) and the resolved Fleet. Every fleet-file key is declared once, on the field it fills (`key`)."""

from __future__ import annotations

import difflib
import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from ..errors import ConfigError
from ..regimes import Regime
from ..types import (
    NMR_SUPPLY,
    Objective,
    Ref,
    RiskMeasure,
    SidePolicy,
    SolverName,
    StakeMode,
    StakingSystem,
)
from .keys import SPECIAL, Choice, Flag, Key, Number, Whole, key

DEFAULT_LEVERAGE = 2.0  # exposure per NMR of total stake where slots choose multipliers
DEFAULT_PAYOUT_FACTOR = 1.0  # per score, where neither the rules nor the file state one
DEFAULT_CLIP = 0.05  # where neither the rules nor the file state one
DEFAULT_MULTIPLIER_STEP = 0.5  # grid step of a live score whose min < max
DEFAULT_REGIME = "classic-2024"
# The default follows the evidence (README, "Why tracking is the default"): on the fixed-stake example, walked
# forward, the tracking plans tracked their targets more closely out of sample for CVaR, CDaR and MDD and kept
# ≥ 99.5 % of the exposure plans' mean payout and ≥ 100 % of their Sharpe (re-measured with the branch and bound).
DEFAULT_OBJECTIVE = Objective.TRACKING
MAX_TIME_LIMIT = 86400.0  # seconds a slot program may be given: a day
MAX_OPEN_ROUNDS = 1000

PER_ROUND = StakingSystem.PER_ROUND
FIXED = StakingSystem.FIXED


class Missing(StrEnum):
    """What a missing round inside the window means (never silently filled)."""

    DROP_ROUNDS = "drop-rounds"
    ZERO = "zero"


class Source(StrEnum):
    SNAPSHOT = "snapshot"
    NUMERAI = "numerai"


class Tournament(StrEnum):
    """Numerai tournaments served by the same API; `number` is the API's tournament id."""

    CLASSIC = "classic"
    SIGNALS = "signals"
    CRYPTO = "crypto"

    @property
    def number(self) -> int:
        return {"classic": 8, "signals": 11, "crypto": 12}[self.value]

    @property
    def open_rounds(self) -> int:
        """Rounds a per-round stake stays locked (rounds open at once) under per-round staking."""
        return {"classic": 64, "signals": 64, "crypto": 24}[self.value]


LINKAGES = ("single", "complete", "average", "weighted", "centroid", "median", "ward")
CODEPENDENCES = (
    "pearson", "spearman", "kendall", "abs_pearson", "abs_spearman", "abs_kendall",
    "gerber1", "gerber2", "distance",
)
#: Codependences computed by riskfolio-lib, an optional dependency (the `riskfolio` extra).
RISKFOLIO_CODEPENDENCES = ("gerber1", "gerber2", "distance")
_NMR = Number(lo=0.0, hi=NMR_SUPPLY)  # NMR, ≥ 0
_POSITIVE_NMR = Number(lo=0.0, lo_open=True, hi=NMR_SUPPLY)  # NMR, > 0


def check_riskfolio(codependence: str) -> None:
    """A riskfolio-computed codependence needs riskfolio-lib installed: exit 2 naming the key, with the fix."""
    if codependence in RISKFOLIO_CODEPENDENCES and importlib.util.find_spec("riskfolio") is None:
        raise ConfigError(f'portfolio.codependence: {codependence!r} is computed by riskfolio-lib, which is not '
                          f'installed: pip install "stakealloc[riskfolio]"')


def parse_risk_measure(text: str, *, key: str) -> RiskMeasure:
    """A riskfolio code, case-insensitively (the codes differ in more than case: `cvar` is CVaR)."""
    codes = tuple(r.value for r in RiskMeasure)
    if text in codes:
        return RiskMeasure(text)
    lowered = {c.lower(): c for c in codes}
    if text.strip().lower() in lowered:
        return RiskMeasure(lowered[text.strip().lower()])
    near = [lowered[c] for c in difflib.get_close_matches(text.strip().lower(), list(lowered), n=1, cutoff=0.5)]
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ConfigError(f"{key}: unknown risk measure {text!r}{hint}; riskfolio codes for HRP: {', '.join(codes)}")


def check_window(lookback: int, min_rounds: int, *, key: str = "portfolio.lookback") -> None:
    """A window of `lookback` rounds must be able to hold `min_rounds` scored rounds, or no model is eligible."""
    if lookback < min_rounds:
        raise ConfigError(f"{key}: {lookback} rounds cannot hold portfolio.min_rounds = {min_rounds} scored rounds; "
                          "no model could be eligible (lower min_rounds or raise the lookback)", key=key)


# --- [portfolio] ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Portfolio:
    """[portfolio]. `leverage` is None in a FleetSpec where the file is silent (the rules' or the default,
    settled by `resolve`); in a resolved Fleet it is always the leverage in force."""

    leverage: float | None = key(Number(lo=0.0, lo_open=True, hi=100.0),
                                 "target exposure per NMR of total slot stake; fixed by one-combination regimes "
                                 f"(None: the rules', else {DEFAULT_LEVERAGE:g})")
    lookback: int = key(Whole(lo=2), "resolved rounds in the window", 100)
    risk_measure: RiskMeasure = key(SPECIAL, "riskfolio code of the HRP risk measure, case-insensitive",
                                    RiskMeasure.CVaR)
    linkage: str = key(Choice(LINKAGES), "linkage of the dendrogram", "single")
    codependence: str = key(Choice(CODEPENDENCES), "codependence the distances come from", "pearson")
    leaf_order: bool = key(Flag(), "optimal leaf ordering of the dendrogram (riskfolio's default)", True)
    alpha: float = key(Number(lo=0.0, lo_open=True, hi=0.5), "tail probability of CVaR, EVaR, CDaR, ...", 0.05)
    side: SidePolicy = key(Choice(SidePolicy), "eligible side of each stream", SidePolicy.MEAN)
    min_rounds: int = key(Whole(lo=2), "scored rounds a model needs inside the window", 60)
    max_stale: int = key(Whole(lo=1), "no score in the newest max_stale resolved rounds: not eligible", 5)
    missing: Missing = key(Choice(Missing), "what a missing round inside the window means", Missing.DROP_ROUNDS)
    min_weight: float = key(Number(lo=0.0, hi=0.5), "prune weights below this and renormalise", 0.0)
    max_correlation: float = key(Number(lo=0.0, lo_open=True, hi=1.0),
                                 "a stream this correlated with one of an earlier model is a duplicate", 0.999)


# --- [payout] ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payout:
    regime: Regime
    payout_factor: float  # per score, where the rules state none
    clip: float  # where the rules state none

    @property
    def factors(self) -> tuple[float, ...]:
        """Payout factor per regime score: the rules' own, else the fleet's payout_factor."""
        return self.regime.factors(self.payout_factor)

    @property
    def clip_value(self) -> float:
        """The clip in force: the rules' own, else the fleet's."""
        return self.regime.clip if self.regime.clip is not None else self.clip


@dataclass(frozen=True)
class PayoutSpec:
    regime: Regime | None = key(SPECIAL, "live (the open round's rules from the API), a preset, or custom",
                                DEFAULT_REGIME, required_field=True)  # read into the Regime; None: live
    payout_factor: float | None = key(Number(lo=0.0, lo_open=True),
                                      f"per score, where the rules state none (None: {DEFAULT_PAYOUT_FACTOR:g})")
    clip: float | None = key(Number(lo=0.0, lo_open=True), f"where the rules state none (None: {DEFAULT_CLIP:g})")
    multiplier_step: float | None = key(Number(lo=0.0, lo_open=True, hi=100.0),
                                        "live only: grid step of a score whose min < max multiplier "
                                        f"(None: {DEFAULT_MULTIPLIER_STEP:g} under live)")
    # Keys that fill no field of their own: read, with the regime's name, into the custom Regime.
    EXTRA_KEYS: ClassVar[dict[str, Key]] = {
        "scores": Key(SPECIAL, "custom only: the payout scores (displayNames)"),
        "combinations": Key(SPECIAL, "custom only: the allowed multiplier combinations, in the order of scores"),
    }

    @property
    def live(self) -> bool:
        return self.regime is None


# --- [data] -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    source: Source = key(Choice(Source), "where the scores come from", Source.SNAPSHOT)
    snapshot: str = key(SPECIAL, '"bundled" or a long-form CSV (an absolute path once read)', "bundled")
    cache_dir: Path | None = key(SPECIAL, "API downloads (None: the per-user cache directory)")
    tournament: Tournament = key(Choice(Tournament), "the tournament of every query and of the cache key",
                                 Tournament.CLASSIC)
    columns: tuple[tuple[str, str], ...] = key(SPECIAL, "(regime score, data column it is read from), in file order",
                                               ())

    @property
    def column_map(self) -> dict[str, str]:
        return dict(self.columns)


# --- [solver] ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solver:
    """[solver]. `objective` is None in a FleetSpec where the file is silent (the default is `resolve`'s: an
    `assign` without a window takes exposure instead); in a resolved Fleet it is always set."""

    name: SolverName = key(Choice(SolverName), "the MIP solver", SolverName.HIGHS)
    time_limit: float = key(Number(lo=0.0, lo_open=True, hi=MAX_TIME_LIMIT), "seconds per slot program", 60.0)
    change_penalty: float = key(Number(lo=0.0, hi=NMR_SUPPLY), "per slot whose assignment changes: NMR (exposure), "
                                "NMR per round (tracking, per-round staking)", 0.0)
    objective: Objective | None = key(Choice(Objective), "what the slot program minimises "
                                      f"(None: {DEFAULT_OBJECTIVE})", None)


# --- [staking] --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staking:
    """The staking system and, per round, the budget the plan spreads over the slots (`[staking]`)."""

    system: StakingSystem = key(Choice(StakingSystem), "the staking system (None: per-round for live and the "
                                "presets that declare it, else fixed)", None, field_default=FIXED)
    nmr: float | None = key(_POSITIVE_NMR, "NMR committed to the tournament's allocation strategy (locked + idle)",
                            only=PER_ROUND)
    per_round: float | None = key(_POSITIVE_NMR, "instead of nmr: NMR staked per round over all slots",
                                  only=PER_ROUND)
    open_rounds: int = key(Whole(lo=1, hi=MAX_OPEN_ROUNDS), "rounds a per-round stake stays locked (None: the "
                           "tournament's)", None, field_default=64, only=PER_ROUND)
    stake_step: float = key(Number(lo=0.0, lo_open=True, hi=1000.0),
                            "NMR: every per-round stake is a whole multiple of it", 0.01, only=PER_ROUND)
    min_stake: float = key(_NMR, "NMR: a slot that stakes stakes at least this per round", 0.0, only=PER_ROUND)
    mode: StakeMode = key(Choice(StakeMode), "Numerai's per-model mode, printed with each slot", StakeMode.FIXED,
                          only=PER_ROUND)
    locked_now: float | None = None  # NMR the account's slots have locked now (the API's stakeTransactions)

    @property
    def per_round_system(self) -> bool:
        return self.system is StakingSystem.PER_ROUND

    @property
    def budget(self) -> float:
        """B, NMR per round: `per_round`, else nmr / open_rounds, rounded down to the step."""
        raw = self.per_round if self.per_round is not None else (self.nmr or 0.0) / self.open_rounds
        return round(math.floor(raw / self.stake_step + 1e-9) * self.stake_step, 10)

    @property
    def locked_at_full(self) -> float:
        """NMR locked once every open round holds the plan's stakes: B × open_rounds."""
        return self.budget * self.open_rounds


# --- [[slots]] --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    name: str
    stake: float  # NMR: the fixed stake; per-round: the current per-round stake (0 where unknown)
    current: Ref | None = None
    current_multipliers: tuple[float, ...] | None = None  # in regime score order
    pin: Ref | None = None
    exclude: tuple[str, ...] = ()
    current_stake: float | None = None  # per-round: today's per-round stake, NMR (None: unknown)
    max_stake: float | None = None  # per-round: this slot's cap, NMR per round


@dataclass(frozen=True)
class SlotSpec:
    index: int  # position in the file's [[slots]]
    name: str = key(SPECIAL, "the slot's model name on Numerai (required)", required_field=True)
    stake: float | None = key(_POSITIVE_NMR, "fixed: NMR (None: from the API)", only=FIXED)
    current: Ref | None = key(SPECIAL, 'what the slot submits today ("short_x": inverted)')
    current_multipliers: tuple[tuple[str, float], ...] | None = key(
        SPECIAL, "as written: (score, multiplier); None: the regime's only combination")
    pin: Ref | None = key(SPECIAL, "fix this slot's reference")
    exclude: tuple[str, ...] = key(SPECIAL, "source models this slot may not submit", ())
    current_stake: float | None = key(_NMR, "today's per-round stake, NMR (None: from the API, or unknown)",
                                      only=PER_ROUND)
    max_stake: float | None = key(_POSITIVE_NMR, "this slot's cap, NMR per round", only=PER_ROUND)

    @property
    def where(self) -> str:
        return f"slots[{self.index}] ({self.name})"


# --- the fleet ------------------------------------------------------------------------------------------

#: The file's sections, each read into the class that declares its keys; top level: `models` and these.
SECTIONS: dict[str, type] = {"portfolio": Portfolio, "payout": PayoutSpec, "data": Data, "solver": Solver,
                             "staking": Staking, "slots": SlotSpec}
TOP_KEYS: dict[str, Key] = {
    "models": Key(SPECIAL, "source models whose scores become instruments (never named short_…)"),
    **{name: Key(SPECIAL, f"the [{name}] table") for name in SECTIONS},
}


@dataclass(frozen=True)
class Fleet:
    """A complete fleet: every stake known, the regime in force, leverage settled. Made by `resolve`."""

    models: tuple[str, ...]
    portfolio: Portfolio
    payout: Payout
    data: Data
    solver: Solver
    slots: tuple[Slot, ...]
    path: Path | None = None
    sha256: str = ""
    spec: FleetSpec | None = field(default=None, compare=False, repr=False)  # what the file said
    staking: Staking = Staking()

    @property
    def total_stake(self) -> float:
        """The NMR the targets are scaled to: Σ fixed stakes, or under per-round staking the budget B (NMR
        per round)."""
        if self.staking.per_round_system:
            return self.staking.budget
        return float(sum(s.stake for s in self.slots))

    def with_overrides(self, *, risk_measure: RiskMeasure | str | None = None,
                       objective: Objective | str | None = None, lookback: int | None = None,
                       linkage: str | None = None, time_limit: float | None = None) -> Fleet:
        """The fleet with settings replaced (command-line flags, sweeps); none of them depends on a fact. Values
        are checked as the file's are (a string is coerced to its enum or refused, naming the argument);
        `time_limit`: seconds per slot program."""
        risk_measure, objective, lookback, linkage, time_limit = _checked_overrides(
            risk_measure, objective, lookback, linkage, time_limit, self.portfolio.min_rounds)
        pf = _override(self.portfolio, risk_measure=risk_measure, lookback=lookback, linkage=linkage)
        sv = _override(self.solver, objective=objective, time_limit=time_limit)
        spec = None if self.spec is None else self.spec.with_overrides(
            risk_measure=risk_measure, objective=objective, lookback=lookback, linkage=linkage, time_limit=time_limit)
        return replace(self, portfolio=pf, solver=sv, spec=spec)


@dataclass(frozen=True)
class FleetSpec:
    """The fleet file as written, checked key by key; None where the file is silent on a fact."""

    models: tuple[str, ...]
    portfolio: Portfolio  # leverage None where the file is silent
    payout: PayoutSpec
    data: Data
    solver: Solver  # objective None where the file is silent
    slots: tuple[SlotSpec, ...]
    path: Path | None = None
    sha256: str = ""
    staking: Staking = Staking()

    @property
    def needs_api(self) -> bool:
        """Whether `resolve` needs facts only the API has (fixed stakes not in the file, a live regime)."""
        if self.staking.per_round_system:
            return self.payout.live
        return self.payout.live or any(s.stake is None for s in self.slots)

    def with_overrides(self, *, risk_measure: RiskMeasure | str | None = None,
                       objective: Objective | str | None = None, lookback: int | None = None,
                       linkage: str | None = None, time_limit: float | None = None) -> FleetSpec:
        risk_measure, objective, lookback, linkage, time_limit = _checked_overrides(
            risk_measure, objective, lookback, linkage, time_limit, self.portfolio.min_rounds)
        pf = _override(self.portfolio, risk_measure=risk_measure, lookback=lookback, linkage=linkage)
        return replace(self, portfolio=pf, solver=_override(self.solver, objective=objective, time_limit=time_limit))


@dataclass(frozen=True)
class Facts:
    """What the API states for a fleet: stakes by slot name (NMR) and the live regime."""

    stakes: Mapping[str, float] = field(default_factory=dict)
    regime: Regime | None = None
    current_stakes: Mapping[str, float] = field(default_factory=dict)  # per-round: NMR per round, by slot
    locked_now: float | None = None  # per-round: NMR locked now over the fleet's slots


NO_FACTS = Facts()


def _override(p, **changes):
    return replace(p, **{k: v for k, v in changes.items() if v is not None})


def _checked_overrides(risk_measure, objective, lookback, linkage, time_limit, min_rounds: int):
    """Overrides checked as the fleet file's keys are (by the same declarations), each error naming the
    argument."""
    if risk_measure is not None and not isinstance(risk_measure, RiskMeasure):
        if not isinstance(risk_measure, str):
            raise ConfigError(f"risk_measure: must be a RiskMeasure or its code, got {risk_measure!r}")
        risk_measure = parse_risk_measure(risk_measure, key="risk_measure")
    if objective is not None and not isinstance(objective, Objective):
        if not isinstance(objective, str) or objective.lower() not in {o.value for o in Objective}:
            raise ConfigError(f"objective: {objective!r} is not one of {', '.join(o.value for o in Objective)}")
        objective = Objective(objective.lower())
    if lookback is not None:
        if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 2:
            raise ConfigError(f"lookback: must be a whole number of rounds ≥ 2, got {lookback!r}")
        check_window(lookback, min_rounds, key="lookback")
    if linkage is not None and linkage not in LINKAGES:
        raise ConfigError(f"linkage: {linkage!r} is not one of {', '.join(LINKAGES)}")
    if time_limit is not None:
        number = isinstance(time_limit, int | float) and not isinstance(time_limit, bool)
        if not (number and 0 < time_limit <= MAX_TIME_LIMIT):  # NaN fails both comparisons
            shown = f"{time_limit:g}" if number else repr(time_limit)
            raise ConfigError(f"time_limit: must be > 0 and ≤ {MAX_TIME_LIMIT:g} seconds, got {shown}",
                              key="time_limit")
        time_limit = float(time_limit)
    return risk_measure, objective, lookback, linkage, time_limit
