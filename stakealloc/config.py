"""The fleet file in one phase each: `parse` reads it into a FleetSpec (None wherever the file is silent on
something the API may state: leverage, payout factor, clip, stakes, the live regime), and `resolve` joins
the spec with the API's facts into a complete Fleet, or fails naming the key. Bad input is a ConfigError
naming the key, with a "did you mean" where a name is close."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import math
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .regimes import Regime, check_score_name, custom_regime, preset
from .tolerance import SUM_TO_ONE
from .types import (
    NMR_SUPPLY,
    SHORT,
    Objective,
    Ref,
    RiskMeasure,
    Side,
    SidePolicy,
    SolverName,
    StakeMode,
    StakingSystem,
)

DEFAULT_LEVERAGE = 2.0  # exposure per NMR of total stake where slots choose multipliers
DEFAULT_PAYOUT_FACTOR = 1.0  # per score, where neither the rules nor the file state one
DEFAULT_CLIP = 0.05  # where neither the rules nor the file state one
DEFAULT_MULTIPLIER_STEP = 0.5  # grid step of a live score whose min < max
DEFAULT_REGIME = "classic-2024"
# The default follows the evidence (README, "Why tracking is the default"): on the fixed-stake example, walked
# forward, the tracking plans tracked their targets more closely out of sample for CVaR, CDaR and MDD and kept
# ≥ 99.6 % of the exposure plans' mean payout and ≥ 100 % of their Sharpe.
DEFAULT_OBJECTIVE = Objective.TRACKING
MAX_TIME_LIMIT = 86400.0  # seconds a slot program may be given: a day


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


def check_riskfolio(codependence: str) -> None:
    """A riskfolio-computed codependence needs riskfolio-lib installed: exit 2 naming the key, with the fix."""
    if codependence in RISKFOLIO_CODEPENDENCES and importlib.util.find_spec("riskfolio") is None:
        raise ConfigError(f'portfolio.codependence: {codependence!r} is computed by riskfolio-lib, which is not '
                          f'installed: pip install "stakealloc[riskfolio]"')


# --- the resolved fleet ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioSettings:
    """The [portfolio] keys that need no fact from the API; each default is stated here only."""

    lookback: int = 100  # resolved rounds in the window
    risk_measure: RiskMeasure = RiskMeasure.CVaR
    linkage: str = "single"
    codependence: str = "pearson"
    leaf_order: bool = True
    alpha: float = 0.05  # tail probability of CVaR, EVaR, CDaR, ...
    side: SidePolicy = SidePolicy.MEAN
    min_rounds: int = 60
    max_stale: int = 5
    missing: Missing = Missing.DROP_ROUNDS
    min_weight: float = 0.0
    max_correlation: float = 0.999


@dataclass(frozen=True, kw_only=True)
class Portfolio(PortfolioSettings):
    leverage: float  # target exposure per NMR of total slot stake (fixed by single-combination regimes)


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
class Data:
    source: Source = Source.SNAPSHOT
    snapshot: str = "bundled"  # "bundled" or an absolute path
    cache_dir: Path | None = None  # None: the per-user cache directory
    tournament: Tournament = Tournament.CLASSIC
    columns: tuple[tuple[str, str], ...] = ()  # (regime score, data column) substitutions, in file order

    @property
    def column_map(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class SolverSettings:
    """The [solver] keys but the objective; each default is stated here only."""

    name: SolverName = SolverName.HIGHS
    time_limit: float = 60.0  # seconds
    change_penalty: float = 0.0  # per slot whose assignment changes: NMR (exposure), NMR per round (tracking)


@dataclass(frozen=True, kw_only=True)
class Solver(SolverSettings):
    objective: Objective = DEFAULT_OBJECTIVE


@dataclass(frozen=True)
class Staking:
    """The staking system and, per round, the budget the plan spreads over the slots (`[staking]`)."""

    system: StakingSystem = StakingSystem.FIXED
    nmr: float | None = None  # per-round: NMR committed to the tournament's allocation strategy (locked + idle)
    per_round: float | None = None  # per-round: NMR staked per round over all slots, where the file gives it
    open_rounds: int = 64  # rounds a per-round stake stays locked
    stake_step: float = 0.01  # NMR: every per-round stake is a whole multiple of it
    min_stake: float = 0.0  # NMR: a slot that stakes stakes at least this per round
    mode: StakeMode = StakeMode.FIXED
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


def _override(p, **changes):
    return replace(p, **{k: v for k, v in changes.items() if v is not None})


def _checked_overrides(risk_measure, objective, lookback, linkage, time_limit, min_rounds: int):
    """Overrides checked as the fleet file's keys are, each error naming the argument."""
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


def check_window(lookback: int, min_rounds: int, *, key: str = "portfolio.lookback") -> None:
    """A window of `lookback` rounds must be able to hold `min_rounds` scored rounds, or no model is eligible."""
    if lookback < min_rounds:
        raise ConfigError(f"{key}: {lookback} rounds cannot hold portfolio.min_rounds = {min_rounds} scored rounds; "
                          "no model could be eligible (lower min_rounds or raise the lookback)", key=key)


# --- what the file says ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutSpec:
    regime: Regime | None  # None: "live", the open round's rules from the API
    payout_factor: float | None = None
    clip: float | None = None
    multiplier_step: float | None = None  # live only

    @property
    def live(self) -> bool:
        return self.regime is None


@dataclass(frozen=True)
class SlotSpec:
    index: int  # position in the file's [[slots]]
    name: str
    stake: float | None  # NMR; None: from the API
    current: Ref | None = None
    current_multipliers: tuple[tuple[str, float], ...] | None = None  # as written: (score, multiplier)
    pin: Ref | None = None
    exclude: tuple[str, ...] = ()
    current_stake: float | None = None  # per-round: NMR per round, as written (None: from the API, or unknown)
    max_stake: float | None = None  # per-round

    @property
    def where(self) -> str:
        return f"slots[{self.index}] ({self.name})"


@dataclass(frozen=True)
class FleetSpec:
    """The fleet file as written, checked key by key; None where the file is silent on a fact."""

    models: tuple[str, ...]
    portfolio: PortfolioSettings
    leverage: float | None
    payout: PayoutSpec
    data: Data
    solver: SolverSettings
    objective: Objective | None
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
        return replace(self, portfolio=pf, objective=objective if objective is not None else self.objective,
                       solver=_override(self.solver, time_limit=time_limit))


@dataclass(frozen=True)
class Facts:
    """What the API states for a fleet: stakes by slot name (NMR) and the live regime."""

    stakes: Mapping[str, float] = field(default_factory=dict)
    regime: Regime | None = None
    current_stakes: Mapping[str, float] = field(default_factory=dict)  # per-round: NMR per round, by slot
    locked_now: float | None = None  # per-round: NMR locked now over the fleet's slots


NO_FACTS = Facts()


# --- resolving ----------------------------------------------------------------------------------------


def resolve(spec: FleetSpec, facts: Facts = NO_FACTS) -> Fleet:
    """The complete fleet: the file's values where it states them, the API's facts where it does not.
    Conflicts and gaps are a ConfigError naming the key."""
    live = spec.payout.live
    regime = spec.payout.regime if not live else facts.regime
    if regime is None:
        raise ConfigError('payout.regime: "live" takes the open round\'s rules from the API; load the scores first')
    lev, mults = _check_rules(spec, regime, live)
    per_round = spec.staking.per_round_system
    slots = tuple(_resolve_slot(s, m, facts, per_round) for s, m in zip(spec.slots, mults))
    solver = Solver(**_settings(spec.solver), objective=spec.objective or DEFAULT_OBJECTIVE)
    check_totals(slots, solver, spec.staking)
    payout = Payout(regime=regime,
                    payout_factor=(DEFAULT_PAYOUT_FACTOR if spec.payout.payout_factor is None
                                   else spec.payout.payout_factor),
                    clip=DEFAULT_CLIP if spec.payout.clip is None else spec.payout.clip)
    return Fleet(models=spec.models, portfolio=Portfolio(**_settings(spec.portfolio), leverage=float(lev)),
                 payout=payout, data=spec.data, solver=solver, slots=slots, path=spec.path, sha256=spec.sha256,
                 spec=spec, staking=replace(spec.staking, locked_now=facts.locked_now))


def _check_rules(spec: FleetSpec, regime: Regime, live: bool) -> tuple[float, list[tuple[float, ...] | None]]:
    """(the leverage in force under `regime`, each slot's current multipliers as a combination of it), after
    checking the file's leverage, columns and current multipliers against it."""
    where_rules = f"the live regime of round {regime.round}" if live else f"regime {regime.name!r}"
    fixed = regime.fixed_leverage
    lev = spec.leverage
    if fixed is not None:
        if lev is not None and abs(lev - fixed) > SUM_TO_ONE:
            if live:
                raise ConfigError(f"portfolio.leverage: {lev:g} is not possible in {where_rules} "
                                  f"({regime.describe()}): leverage is fixed at {fixed:g}; remove the key")
            raise ConfigError(
                f"portfolio.leverage: {lev:g} is not possible in {where_rules}: every slot pays "
                f"{' + '.join(f'{p:g}×{k}' for k, p in zip(regime.scores, regime.combinations[0]))}, so leverage is "
                f"fixed at {fixed:g}; remove the key or set it to {fixed:g}")
        lev = fixed
    elif lev is None:
        lev = DEFAULT_LEVERAGE
    for k, _c in spec.data.columns:
        if k not in regime.scores:
            raise ConfigError(f"data.columns.{k}: {k!r} is not a payout score of {where_rules} "
                              f"({', '.join(regime.scores)})")
    return float(lev), [_multipliers(s, regime, live) for s in spec.slots]


def _settings(obj) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _resolve_slot(s: SlotSpec, mults: tuple[float, ...] | None, facts: Facts, per_round: bool) -> Slot:
    if per_round:
        # The file's current_stake wins over the API's (the plan notes a difference: sync).
        cur = s.current_stake if s.current_stake is not None else facts.current_stakes.get(s.name)
        return Slot(name=s.name, stake=float(cur or 0.0), current=s.current, current_multipliers=mults, pin=s.pin,
                    exclude=s.exclude, current_stake=None if cur is None else float(cur), max_stake=s.max_stake)
    stake = s.stake if s.stake is not None else facts.stakes.get(s.name)
    if stake is None:
        raise ConfigError(f"{s.where}.stake: not in the fleet file; it comes from the API (load the scores first)")
    return Slot(name=s.name, stake=float(stake), current=s.current, current_multipliers=mults, pin=s.pin,
                exclude=s.exclude)


def _multipliers(s: SlotSpec, regime: Regime, live: bool) -> tuple[float, ...] | None:
    """The slot's current multipliers as a combination of `regime`; a single-combination regime's only one
    for a slot with a current model."""
    mults = None
    if s.current_multipliers is not None:
        cm = dict(s.current_multipliers)
        unknown = [k for k in cm if k not in regime.scores]
        if unknown and live:
            raise ConfigError(f"slots ({s.name}).current_multipliers.{unknown[0]}: not a payout score of the live "
                              f"regime of round {regime.round} ({', '.join(regime.scores)})")
        if unknown:
            raise ConfigError(f"{s.where}.current_multipliers.{unknown[0]}: not a score of regime {regime.name!r} "
                              f"({', '.join(regime.scores)})")
        idx = regime.index_of(cm)
        if idx is None and live:
            raise ConfigError(f"slots ({s.name}).current_multipliers: {cm} is not allowed in the live "
                              f"regime of round {regime.round} ({regime.describe()})")
        if idx is None:
            raise ConfigError(f"{s.where}.current_multipliers: {cm} is not an allowed combination of regime "
                              f"{regime.name!r}")
        mults = regime.combinations[idx]
    elif s.current is not None and regime.single:
        mults = regime.combinations[0]
    return mults


def check_totals(slots: tuple[Slot, ...], solver: SolverSettings, staking: Staking | None = None) -> None:
    """Ranges that need every stake: the fleet's total within NMR's supply, the change penalty within it;
    under per-round staking, the budget the slots can carry."""
    if staking is not None and staking.per_round_system:
        b = staking.budget
        if b <= 0:
            raise ConfigError(f"staking: the per-round budget rounds down to 0 NMR (nmr / open_rounds below "
                              f"stake_step = {staking.stake_step:g})", key="stakes")
        if staking.min_stake > b:
            raise ConfigError(f"staking.min_stake: {staking.min_stake:g} NMR is more than the per-round budget "
                              f"({b:g} NMR): no slot could stake", key="stakes")
        caps = [min(s.max_stake, b) if s.max_stake is not None else b for s in slots]
        if sum(caps) < b - 1e-9:
            raise ConfigError(f"slots: the slots' max_stake add up to {sum(caps):g} NMR per round, less than the "
                              f"per-round budget ({b:g} NMR)", key="stakes")
        if solver.change_penalty > b:
            raise ConfigError(f"solver.change_penalty: {solver.change_penalty:g} is more than the per-round "
                              f"budget ({b:g} NMR)", key="stakes")
        return
    total = float(sum(s.stake for s in slots))
    if total > NMR_SUPPLY:
        raise ConfigError(f"slots: the stakes add up to {total:,.0f} NMR, more than NMR's total supply "
                          f"({NMR_SUPPLY:,.0f})", key="stakes")
    if solver.change_penalty > total:
        raise ConfigError(f"solver.change_penalty: {solver.change_penalty:g} is more than the total stake "
                          f"({total:g} NMR)", key="stakes")


# --- reading the file ------------------------------------------------------------------------------------


def parse_fleet(doc: dict[str, Any], *, base: Path, path: Path | None = None, sha256: str = "") -> FleetSpec:
    """Check a parsed fleet document key by key. `base` resolves relative paths."""
    _check_keys(doc, _TOP, "")
    models = _models(doc)
    payout = _payout(doc)
    portfolio, leverage = _portfolio(doc)
    data = _data(doc, base)
    if payout.live and data.source is not Source.NUMERAI:
        raise ConfigError('payout.regime: "live" reads the slots\' multipliers from the API; it needs '
                          'data.source = "numerai"')
    solver, objective = _solver(doc)
    staking = _staking(doc, payout, data.tournament)
    slots = _slots(doc, models, data.source, staking)
    spec = FleetSpec(models=models, portfolio=portfolio, leverage=leverage, payout=payout, data=data, solver=solver,
                     objective=objective, slots=slots, path=path, sha256=sha256, staking=staking)
    if payout.regime is not None:  # rules in the file: check against them now, before anything is fetched
        _check_rules(spec, payout.regime, False)
    if staking.per_round_system:
        check_totals(tuple(Slot(s.name, 0.0, max_stake=s.max_stake) for s in slots), solver, staking)
    elif not any(s.stake is None for s in slots):
        check_totals(tuple(Slot(s.name, s.stake) for s in slots), solver)  # type: ignore[arg-type]
    return spec


MAX_FLEET_BYTES = 10_000_000  # a fleet file is text: 10 MB is far beyond any real one


def parse(path: str | Path) -> FleetSpec:
    """Read a fleet file (a regular file of at most MAX_FLEET_BYTES) and check it key by key."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero would never end
            raise ConfigError(f"{p}: not a regular file; a fleet file is a TOML file")
        with open(p, "rb") as f:
            blob = f.read(MAX_FLEET_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such fleet file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    if len(blob) > MAX_FLEET_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_FLEET_BYTES // 1_000_000} MB; not a fleet file")
    try:
        doc = tomllib.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to be a fleet file") from None
    return parse_fleet(doc, base=p.resolve().parent, path=p.resolve(), sha256=hashlib.sha256(blob).hexdigest())


# --- reading helpers -------------------------------------------------------


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed keys: {', '.join(allowed)}"
            raise ConfigError(f"{_join(where, key)}: unknown key{hint}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}])")
    return value


def _num(table: dict, key: str, where: str, default: float | None, *, lo: float | None = None,
         hi: float | None = None, lo_open: bool = False) -> float | None:
    if key not in table:
        return default
    v = table[key]
    name = _join(where, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{name}: must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ConfigError(f"{name}: must be finite, got {v}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ConfigError(f"{name}: must be {'>' if lo_open else '≥'} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise ConfigError(f"{name}: must be ≤ {hi:g}, got {v:g}")
    return v


def _int(table: dict, key: str, where: str, default: int, *, lo: int) -> int:
    if key not in table:
        return default
    v = table[key]
    name = _join(where, key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{name}: must be a whole number, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ConfigError(f"{name}: must be ≥ {lo}, got {v}")
    return v


def _str(table: dict, key: str, where: str, default: str | None) -> str | None:
    if key not in table:
        return default
    v = table[key]
    if not isinstance(v, str):
        raise ConfigError(f"{_join(where, key)}: must be a string, got {type(v).__name__} {v!r}")
    return v


def _choice(table: dict, key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
    v = _str(table, key, where, default)
    assert v is not None
    if v not in choices:
        near = difflib.get_close_matches(v, choices, n=1, cutoff=0.5)
        lowered = {c.lower(): c for c in choices}
        if v.lower() in lowered:
            near = [lowered[v.lower()]]
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"{_join(where, key)}: {v!r} is not one of {', '.join(choices)}{hint}")
    return v


# --- the sections ------------------------------------------------------------

_TOP = ("models", "portfolio", "payout", "data", "solver", "staking", "slots")
_PORTFOLIO = ("leverage", "lookback", "risk_measure", "linkage", "codependence", "leaf_order", "alpha",
              "side", "min_rounds", "max_stale", "missing", "min_weight", "max_correlation")
_PAYOUT = ("regime", "scores", "combinations", "payout_factor", "clip", "multiplier_step")
_DATA = ("source", "snapshot", "cache_dir", "tournament", "columns")
_SOLVER = ("name", "time_limit", "change_penalty", "objective")
_SLOT = ("name", "stake", "current", "current_multipliers", "pin", "exclude", "current_stake", "max_stake")
_STAKING = ("system", "nmr", "per_round", "open_rounds", "stake_step", "min_stake", "mode")
_PER_ROUND_ONLY = ("nmr", "per_round", "open_rounds", "stake_step", "min_stake", "mode")


def _models(doc: dict) -> tuple[str, ...]:
    if "models" not in doc:
        raise ConfigError("models: required: the list of source models whose scores become instruments")
    raw = doc["models"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("models: must be a non-empty list of model names")
    out: list[str] = []
    seen: set[str] = set()  # a set: the check stays linear (100,000 models took 53 s as a list)
    for i, m in enumerate(raw):
        if not isinstance(m, str) or not m.strip():
            raise ConfigError(f"models[{i}]: must be a model name, got {m!r}")
        name = m.strip().lower()
        if name.startswith(SHORT):
            raise ConfigError(f"models[{i}]: {m!r}: a source model may not be named short_… (that prefix marks "
                              "the short side)")
        if name in seen:
            raise ConfigError(f"models[{i}]: {m!r} is listed twice")
        seen.add(name)
        out.append(name)
    return tuple(out)


_PORTFOLIO_DEFAULTS = PortfolioSettings()
_DATA_DEFAULTS = Data()
_SOLVER_DEFAULTS = SolverSettings()


def _payout(doc: dict) -> PayoutSpec:
    t = _table(doc, "payout")
    _check_keys(t, _PAYOUT, "payout")
    name = _str(t, "regime", "payout", DEFAULT_REGIME)
    assert name is not None
    regime: Regime | None
    if name == "custom":
        regime = custom_regime(t.get("scores"), t.get("combinations"))
    else:
        for k in ("scores", "combinations"):
            if k in t:
                raise ConfigError(f"payout.{k}: only allowed with regime = \"custom\" (regime is {name!r})")
        regime = None if name == "live" else preset(name)
    step = _num(t, "multiplier_step", "payout", None, lo=0.0, lo_open=True, hi=100.0)
    if step is not None and regime is not None:
        raise ConfigError(f"payout.multiplier_step: only used with regime = \"live\" (regime is {name!r})")
    return PayoutSpec(regime=regime,
                      payout_factor=_num(t, "payout_factor", "payout", None, lo=0.0, lo_open=True),
                      clip=_num(t, "clip", "payout", None, lo=0.0, lo_open=True),
                      multiplier_step=DEFAULT_MULTIPLIER_STEP if step is None and regime is None else step)


def _portfolio(doc: dict) -> tuple[PortfolioSettings, float | None]:
    t = _table(doc, "portfolio")
    _check_keys(t, _PORTFOLIO, "portfolio")
    d = _PORTFOLIO_DEFAULTS
    leverage = _num(t, "leverage", "portfolio", None, lo=0.0, lo_open=True, hi=100.0)
    rm_text = _str(t, "risk_measure", "portfolio", d.risk_measure.value)
    assert rm_text is not None
    rm = parse_risk_measure(rm_text, key="portfolio.risk_measure")
    if "leaf_order" in t and not isinstance(t["leaf_order"], bool):
        raise ConfigError(f"portfolio.leaf_order: must be true or false, got {t['leaf_order']!r}")
    codependence = _choice(t, "codependence", "portfolio", d.codependence, CODEPENDENCES)
    check_riskfolio(codependence)
    lookback = _int(t, "lookback", "portfolio", d.lookback, lo=2)
    min_rounds = _int(t, "min_rounds", "portfolio", d.min_rounds, lo=2)
    check_window(lookback, min_rounds)
    settings = PortfolioSettings(
        lookback=lookback,
        risk_measure=rm,
        linkage=_choice(t, "linkage", "portfolio", d.linkage, LINKAGES),
        codependence=codependence,
        leaf_order=bool(t.get("leaf_order", d.leaf_order)),
        alpha=_num(t, "alpha", "portfolio", d.alpha, lo=0.0, lo_open=True, hi=0.5),  # type: ignore[arg-type]
        side=SidePolicy(_choice(t, "side", "portfolio", d.side.value, tuple(s.value for s in SidePolicy))),
        min_rounds=min_rounds,
        max_stale=_int(t, "max_stale", "portfolio", d.max_stale, lo=1),
        missing=Missing(_choice(t, "missing", "portfolio", d.missing.value, tuple(m.value for m in Missing))),
        min_weight=_num(t, "min_weight", "portfolio", d.min_weight, lo=0.0, hi=0.5),  # type: ignore[arg-type]
        max_correlation=_num(t, "max_correlation", "portfolio", d.max_correlation, lo=0.0, lo_open=True,  # type: ignore[arg-type]
                             hi=1.0),
    )
    return settings, leverage


def _solver(doc: dict) -> tuple[SolverSettings, Objective | None]:
    t = _table(doc, "solver")
    _check_keys(t, _SOLVER, "solver")
    d = _SOLVER_DEFAULTS
    name = _choice(t, "name", "solver", d.name.value, tuple(s.value for s in SolverName))
    objective = (Objective(_choice(t, "objective", "solver", DEFAULT_OBJECTIVE.value,
                                   tuple(o.value for o in Objective)))
                 if "objective" in t else None)
    return SolverSettings(
        name=SolverName(name),
        time_limit=_num(t, "time_limit", "solver", d.time_limit, lo=0.0, lo_open=True, hi=MAX_TIME_LIMIT),  # type: ignore[arg-type]
        change_penalty=_num(t, "change_penalty", "solver", d.change_penalty, lo=0.0, hi=NMR_SUPPLY),  # type: ignore[arg-type]
    ), objective


def _on_step(v: float, step: float) -> bool:
    return abs(v / step - round(v / step)) < 1e-6


def _staking(doc: dict, payout: PayoutSpec, tournament: Tournament) -> Staking:
    """`[staking]`: the system (default per-round for `live` and the presets that declare it, else fixed) and,
    under per-round, the budget and the stake grid."""
    t = _table(doc, "staking")
    _check_keys(t, _STAKING, "staking")
    default = (StakingSystem.PER_ROUND if payout.live or (payout.regime is not None
                                                         and payout.regime.staking == "per-round")
               else StakingSystem.FIXED)
    system = StakingSystem(_choice(t, "system", "staking", default.value, tuple(x.value for x in StakingSystem)))
    d = Staking()
    if system is StakingSystem.FIXED:
        for k in _PER_ROUND_ONLY:
            if k in t:
                raise ConfigError(f'staking.{k}: only used with system = "per-round" (system is "fixed": each '
                                  "slot's stake is given)")
        return Staking(system=system, open_rounds=tournament.open_rounds)
    nmr = _num(t, "nmr", "staking", None, lo=0.0, lo_open=True, hi=NMR_SUPPLY)
    per_round = _num(t, "per_round", "staking", None, lo=0.0, lo_open=True, hi=NMR_SUPPLY)
    if (nmr is None) == (per_round is None):
        raise ConfigError('staking.nmr: system = "per-round" needs the NMR committed to the allocation strategy '
                          "(nmr), or the NMR staked per round over all slots (per_round): exactly one of them")
    step = _num(t, "stake_step", "staking", d.stake_step, lo=0.0, lo_open=True, hi=1000.0)
    assert step is not None
    if step < 1e-6:
        raise ConfigError(f"staking.stake_step: {step:g} NMR is below 1e-6 NMR")
    min_stake = _num(t, "min_stake", "staking", d.min_stake, lo=0.0, hi=NMR_SUPPLY)
    assert min_stake is not None
    if not _on_step(min_stake, step):
        raise ConfigError(f"staking.min_stake: {min_stake:g} is not a whole multiple of stake_step = {step:g}")
    if per_round is not None and not _on_step(per_round, step):
        raise ConfigError(f"staking.per_round: {per_round:g} is not a whole multiple of stake_step = {step:g}")
    open_rounds = _int(t, "open_rounds", "staking", tournament.open_rounds, lo=1)
    if open_rounds > 1000:
        raise ConfigError(f"staking.open_rounds: must be ≤ 1000, got {open_rounds}")
    mode = StakeMode(_choice(t, "mode", "staking", d.mode.value, tuple(x.value for x in StakeMode)))
    return Staking(system=system, nmr=nmr, per_round=per_round, open_rounds=open_rounds, stake_step=step,
                   min_stake=min_stake, mode=mode)


def _slots(doc: dict, models: tuple[str, ...], source: Source, staking: Staking) -> tuple[SlotSpec, ...]:
    raw = doc.get("slots")
    if raw is None:
        raise ConfigError("slots: required: at least one [[slots]] table")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("slots: the slot list is empty; add at least one [[slots]] table")
    out: list[SlotSpec] = []
    names: set[str] = set()
    for i, t in enumerate(raw):
        where = f"slots[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a table ([[slots]])")
        _check_keys(t, _SLOT, where)
        name = _str(t, "name", where, None)
        if name is None or not name.strip():
            raise ConfigError(f"{where}.name: required: the slot's model name on Numerai")
        name = name.strip().lower()
        where = f"slots[{i}] ({name})"
        if name in names:
            raise ConfigError(f"{where}.name: slot {name!r} is listed twice")
        names.add(name)
        per_round = staking.per_round_system
        if per_round and "stake" in t:
            raise ConfigError(f'{where}.stake: under system = "per-round" the plan sets each slot\'s per-round '
                              "stake; write today's as current_stake")
        if not per_round:
            for k in ("current_stake", "max_stake"):
                if k in t:
                    raise ConfigError(f'{where}.{k}: only used with [staking] system = "per-round"')
        current_stake = _num(t, "current_stake", where, None, lo=0.0, hi=NMR_SUPPLY)
        max_stake = _num(t, "max_stake", where, None, lo=0.0, lo_open=True, hi=NMR_SUPPLY)
        if max_stake is not None and not _on_step(max_stake, staking.stake_step):
            raise ConfigError(f"{where}.max_stake: {max_stake:g} is not a whole multiple of staking.stake_step = "
                              f"{staking.stake_step:g}")
        if max_stake is not None and max_stake < staking.min_stake:
            raise ConfigError(f"{where}.max_stake: {max_stake:g} is below staking.min_stake = {staking.min_stake:g}")
        stake = _num(t, "stake", where, None, lo=0.0, lo_open=True, hi=NMR_SUPPLY)
        if stake is None and source is Source.SNAPSHOT and not per_round:
            raise ConfigError(f"{where}.stake: required with data.source = \"snapshot\" (stakes come from the API "
                              "only with source = \"numerai\")")
        current = _ref(t["current"], f"{where}.current", models) if "current" in t else None
        mults: tuple[tuple[str, float], ...] | None = None
        if "current_multipliers" in t:
            cm = t["current_multipliers"]
            if not isinstance(cm, dict) or not cm:
                raise ConfigError(f"{where}.current_multipliers: must be a table such as "
                                  "{ v2_corr20 = 0.5, mmc = 2.0 }")
            if current is None:
                raise ConfigError(f"{where}.current_multipliers: given without current")
            for k, v in cm.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{where}.current_multipliers.{k}: must be a number, got {v!r}")
            mults = tuple((k, float(v)) for k, v in cm.items())
        pin = _ref(t["pin"], f"{where}.pin", models) if "pin" in t else None
        exclude: tuple[str, ...] = ()
        if "exclude" in t:
            ex = t["exclude"]
            if not isinstance(ex, list):
                raise ConfigError(f"{where}.exclude: must be a list of model names")
            refs = [_ref(e, f"{where}.exclude", models) for e in ex]
            for e, r in zip(ex, refs):
                if r.side is Side.SHORT:
                    raise ConfigError(f"{where}.exclude: {e!r}: exclude names source models (both sides are excluded)")
            exclude = tuple(dict.fromkeys(r.model for r in refs))
            if len(exclude) == len(models):
                raise ConfigError(f"{where}.exclude: excludes every source model; the slot could submit nothing")
            if pin is not None and pin.model in exclude:
                raise ConfigError(f"{where}.pin: {pin.label!r} is also in exclude")
        out.append(SlotSpec(index=i, name=name, stake=stake, current=current, current_multipliers=mults, pin=pin,
                            exclude=exclude, current_stake=current_stake, max_stake=max_stake))
    return tuple(out)


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


def _data(doc: dict, base: Path) -> Data:
    t = _table(doc, "data")
    _check_keys(t, _DATA, "data")
    d = _DATA_DEFAULTS
    source = Source(_choice(t, "source", "data", d.source.value, tuple(s.value for s in Source)))
    snap = _str(t, "snapshot", "data", d.snapshot)
    assert snap is not None
    if snap != "bundled":
        p = Path(snap).expanduser()
        p = (base / p).resolve() if not p.is_absolute() else p
        if source is Source.SNAPSHOT and not p.is_file():
            raise ConfigError(f"data.snapshot: no such file {str(p)!r} (relative paths are relative to the fleet file)")
        snap = str(p)
    cache = _str(t, "cache_dir", "data", None)
    cache_dir = None
    if cache is not None:
        if not cache.strip():
            raise ConfigError("data.cache_dir: must not be empty")
        c = Path(cache).expanduser()  # "~/x" is the home directory's x, not a directory named "~"
        cache_dir = (base / c).resolve() if not c.is_absolute() else c
    tournament = Tournament(_choice(t, "tournament", "data", d.tournament.value, tuple(x.value for x in Tournament)))
    if source is Source.SNAPSHOT and snap == "bundled" and tournament is not Tournament.CLASSIC:
        raise ConfigError(f"data.tournament: {tournament.value!r}, but the bundled snapshot holds Numerai Classic "
                          "scores; give a snapshot of that tournament's scores or data.source = \"numerai\"")
    columns: list[tuple[str, str]] = []
    if "columns" in t:
        raw = t["columns"]
        if not isinstance(raw, dict):
            raise ConfigError('data.columns: must be a table of regime score = data column, '
                              'e.g. { v2_corr20 = "canon_corr" }')
        for k, v in raw.items():
            check_score_name(k, f"data.columns.{k}")
            check_score_name(v, f"data.columns.{k}")
            if v in [c for _, c in columns]:
                raise ConfigError(f"data.columns.{k}: column {v!r} already stands for another score")
            columns.append((k, v))
    return Data(source=source, snapshot=snap, cache_dir=cache_dir, tournament=tournament, columns=tuple(columns))


def _ref(value: object, where: str, models: tuple[str, ...]) -> Ref:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a model name (\"model\" or \"short_model\"), got {value!r}")
    ref = Ref.parse(value)
    if ref.model not in models:
        near = difflib.get_close_matches(ref.model, models, n=1, cutoff=0.6)
        # the close name may be the typo (in models, not here): say where it stands rather than suggest it
        hint = (f"; models lists {near[0]!r}, which is close: is one of the two misspelt?" if near else "")
        raise ConfigError(f"{where}: unknown model {value!r}: not in models{hint}")
    return ref
