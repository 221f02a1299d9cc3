"""The records the API returns, typed: the plan (`run`, `assign`), a validation, a sweep. `report` renders
them; `Plan.to_dict` is the CLI's JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .regimes import Regime
from .slots.problem import SolverInfo, Unreachable
from .types import Dropped, Ref, Side, StakeMode, StakingSystem

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SlotRow:
    """One slot's assignment."""

    slot: str
    stake: float  # NMR
    model: str
    side: Side
    label: str  # what the slot submits: the model, or short_<model>
    multipliers: dict[str, float]  # per regime score, in regime order
    exposure: dict[str, float]  # stake × multiplier per score, NMR
    changed: bool  # differs from the slot's current (model, side, multipliers; per-round: or stake)
    current: str | None = None  # label of the slot's current submission, if known
    current_stake: float | None = None  # per-round staking: today's per-round stake (NMR), if known
    pinned: bool = False  # the fleet file pins this slot's reference

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))

    @classmethod
    def make(cls, slot: str, stake: float, ref: Ref | None, multipliers: dict[str, float], *, changed: bool,
             current: Ref | None = None, current_stake: float | None = None, pinned: bool = False) -> SlotRow:
        """The row of a slot submitting `ref` (None: nothing known, pays 0) at `multipliers` (score -> x)."""
        model, side = (ref.model, ref.side) if ref is not None else ("", Side.LONG)
        return cls(slot=slot, stake=stake, model=model, side=side, label=ref.label if ref is not None else "",
                   multipliers=dict(multipliers), exposure={k: stake * m for k, m in multipliers.items()},
                   changed=changed, current=current.label if current is not None else None,
                   current_stake=current_stake, pinned=pinned)

    @property
    def assignment(self) -> tuple[str, str, tuple[float, ...]]:
        """(model, side, multipliers): what changes when a slot is re-assigned."""
        return self.model, self.side.value, tuple(self.multipliers.values())


@dataclass(frozen=True)
class TargetRow:
    """Target and achieved exposure of one (model, side, score), NMR."""

    model: str
    side: Side
    label: str
    score: str
    target: float
    achieved: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))


@dataclass(frozen=True)
class DataSummary:
    """What a plan was computed from: the scores' source and, with a window (None where targets were given),
    its rounds, the eligible instruments and the dropped ones with their reasons."""

    origin: str  # where the scores came from (the JSON's "source")
    first_round: int | None = None  # of the weights' rounds (after the missing-data policy)
    last_round: int | None = None
    rounds: int = 0  # rounds the weights used
    window_rounds: int = 0  # resolved rounds in the window, before the missing-data policy
    window: tuple[int, int] | None = None  # the window's first and last resolved round
    instruments: tuple[str, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    missing: str = "n/a (targets given)"
    hrp_notes: tuple[str, ...] = ()
    newest_round: int | None = None  # in the data, resolved or not: the plan is for the round after it

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.origin, "first_round": self.first_round, "last_round": self.last_round,
                             "rounds": self.rounds, "window_rounds": self.window_rounds}
        if self.window is not None:
            d["window"] = list(self.window)
        d.update({"instruments": list(self.instruments),
                  "dropped": [{"instrument": x.instrument, "reason": x.reason} for x in self.dropped],
                  "missing": self.missing, "hrp_notes": list(self.hrp_notes)})
        if self.newest_round is not None:
            d["newest_round"] = self.newest_round
        return d


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class StakingSummary:
    """The plan's staking block: the system and, under per-round staking, the budget and grid (NMR; the
    budget and stakes NMR per round)."""

    system: StakingSystem = StakingSystem.FIXED
    nmr: float | None = None  # committed to the allocation strategy, where the file gives it
    per_round_budget: float | None = None  # B
    open_rounds: int | None = None
    stake_step: float | None = None
    min_stake: float | None = None
    mode: StakeMode | None = None
    locked_at_full: float | None = None  # B × open_rounds
    locked_now: float | None = None  # the API's stakeTransactions of unresolved rounds

    def __post_init__(self) -> None:
        object.__setattr__(self, "system", StakingSystem(self.system))
        if self.mode is not None:
            object.__setattr__(self, "mode", StakeMode(self.mode))

    @property
    def per_round(self) -> bool:
        return self.system is StakingSystem.PER_ROUND

    def to_dict(self) -> dict[str, Any]:
        if not self.per_round:
            return {"system": self.system.value}
        return {"system": self.system.value, "nmr": self.nmr, "per_round_budget": self.per_round_budget,
                "open_rounds": self.open_rounds, "stake_step": self.stake_step, "min_stake": self.min_stake,
                "mode": None if self.mode is None else self.mode.value, "locked_at_full": self.locked_at_full,
                "locked_now": self.locked_now}


@dataclass(frozen=True)
class Plan:
    """Everything the plan prints. NMR amounts are floats."""

    fleet_sha256: str
    fleet_path: str
    risk_measure: str | None
    leverage_desired: float
    leverage_achieved: float
    total_stake: float
    regime: Regime
    weights: dict[str, float]
    deviation: float  # Σ |achieved − target| over the target rows, NMR
    change_penalty: float  # per changed slot (NMR; NMR per round for tracking)
    penalty: float  # charged, in the objective's unit
    slots: tuple[SlotRow, ...]
    targets: tuple[TargetRow, ...]
    solver: SolverInfo
    data: DataSummary
    unreachable: list[Unreachable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    round: int | None = None  # the round the plan is for (known when online)
    deadline: str | None = None  # that round's staking deadline (closeStakingTime), where the API gives it
    window_performance: WindowPerformance | None = None
    columns: dict[str, str] = field(default_factory=dict)  # regime score -> data column it was read from
    payout_factors: dict[str, float] = field(default_factory=dict)  # in force, per score
    clip: float | None = None  # in force
    tracking_error: float | None = None  # NMR per round, in the window; None without a window (given targets)
    tracking_rounds: list[int] = field(default_factory=list)  # the window's rounds it was measured on
    staking: StakingSummary = StakingSummary()
    created: str = field(default_factory=_now)

    @property
    def per_round(self) -> bool:
        return self.staking.per_round

    def _slot_dict(self, r: SlotRow) -> dict[str, Any]:
        d = {**asdict(r), "side": r.side.value}
        if self.per_round:
            d["per_round_stake"] = r.stake
        else:
            d.pop("current_stake")
        return d

    def to_dict(self) -> dict[str, Any]:
        """The plan as the CLI's --json writes it."""
        from . import __version__

        return {
            "meta": {"version": __version__, "fleet_sha256": self.fleet_sha256, "created": self.created,
                     "fleet": self.fleet_path, "round": self.round, "deadline": self.deadline},
            "risk_measure": self.risk_measure,
            "leverage": {"desired": self.leverage_desired, "achieved": self.leverage_achieved},
            "total_stake": self.total_stake,
            "regime": {"name": self.regime.name, "scores": list(self.regime.scores),
                       "combinations": [list(c) for c in self.regime.combinations],
                       "round": self.regime.round, "clip": self.clip, "payout_factors": self.payout_factors,
                       "source": self.regime.origin, "identity": [sp.identity() for sp in self.regime.specs],
                       "columns": self.columns},
            "weights": self.weights,
            "deviation": self.deviation,
            "tracking_error": self.tracking_error,
            "tracking_rounds": list(self.tracking_rounds),
            "change_penalty": {"per_slot": self.change_penalty, "charged": self.penalty},
            "staking": self.staking.to_dict(),
            "slots": [self._slot_dict(r) for r in self.slots],
            "targets": [{**asdict(r), "side": r.side.value} for r in self.targets],
            "unreachable": [asdict(u) for u in self.unreachable],
            "solver": asdict(self.solver),
            "data": self.data.to_dict(),
            "window_performance": None if self.window_performance is None else self.window_performance.to_dict(),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Validation:
    """What `validate` found: the fleet file checked, resolved where the file allows (`needs_api`: stakes or
    live rules come from the API, so leverage and the budget are not known yet)."""

    path: str
    models: int
    slots: int
    regime: str | None  # None: live, the open round's rules from the API
    combinations: int | None  # the regime's multiplier combinations
    risk_measure: str
    objective: str
    tournament: str
    needs_api: bool
    leverage: float | None = None
    budget: float | None = None  # per-round staking: the budget, NMR per round; None: fixed stakes


@dataclass(frozen=True)
class SweepResult:
    """A sweep's directory and what it holds: meta.json's content and sweep.csv as a table (one row a cell)."""

    out: Path
    meta: dict[str, Any]
    table: pd.DataFrame

@dataclass(frozen=True)
class Summary:
    """A payout series summarised: `rounds` booked, `total` and `mean` (per round) NMR, `mean_pct` (% of the
    stake per round), `sharpe` (ddof 1, of payout/stake; 0 without spread), `max_drawdown` of the cumulative
    payout and `cvar5` (the mean loss of the worst 5 % of rounds), NMR."""

    rounds: int
    total: float
    mean: float
    mean_pct: float
    sharpe: float
    max_drawdown: float
    cvar5: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowPerformance(Summary):
    """A plan's payout over its weights' window as if held (in sample), under these payout rules."""

    payout_factors: dict[str, float] = field(default_factory=dict)
    clip: float | None = None


@dataclass(frozen=True)
class Comparison:
    """A strategy against a baseline over the same held rounds: the differences in mean payout (NMR per round)
    and in Sharpe, each with its block-bootstrap interval (low, high)."""

    mean_diff: float
    mean_diff_ci: tuple[float, float]
    sharpe_diff: float
    sharpe_diff_ci: tuple[float, float]


@dataclass(frozen=True)
class Metrics(Summary):
    """A strategy's backtest metrics: the summary, `turnover` (slots changed per decision; None in sample),
    `tracking_error` (NMR per round against its decisions' target portfolios; None without targets), the same
    summary on non-overlapping rounds, and the comparisons with the baselines where they ran."""

    turnover: float | None = None
    tracking_error: float | None = None
    non_overlapping: Summary | None = None
    vs_equal: Comparison | None = None
    vs_current: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("vs_equal", "vs_current"):  # present only where the baseline ran
            if d[k] is None:
                del d[k]
            else:
                d[k] = {n: list(v) if isinstance(v, tuple) else v for n, v in d[k].items()}
        return d


@dataclass(frozen=True)
class Bootstrap:
    """The block bootstrap behind the comparisons: blocks of `block` consecutive held rounds, `samples`
    resamples from `seed`, two-sided intervals at `level`."""

    block: int
    samples: int
    seed: int
    level: float


@dataclass(frozen=True)
class BacktestSettings:
    """How a backtest ran: a decision every `step` rounds (`decisions` of them, `first_decision` to
    `last_decision`), each seeing scores resolved `lag` rounds before it; payouts booked on `rounds` (first,
    last) with these `payout_factors` and `clip`, `own_rules_rounds` of them under their own payout rules;
    `total_stake` in NMR (per round under per-round staking); `unproven` plans by strategy (not proven
    within `time_limit` seconds per decision); the verdict."""

    step: int
    lag: int
    lag_source: str
    decisions: int
    first_decision: int
    last_decision: int
    rounds: tuple[int, int] | None
    payout_factors: dict[str, float]
    clip: float | None
    own_rules_rounds: int
    plan_rules_rounds: int
    total_stake: float
    regime: str
    lookback: int
    linkage: str
    objective: str
    time_limit: float  # seconds per decision's slot program
    unproven: dict[str, int]
    non_overlapping_every: int
    staking: str
    notes: list[str]
    bootstrap: Bootstrap
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rounds"] = None if self.rounds is None else list(self.rounds)
        return d


@dataclass(frozen=True)
class Decision:
    round: int
    strategy: str
    slots: tuple[SlotRow, ...]  # the plan held from this round, one row per slot
    window: tuple[int, int] | None  # first and last round of the fitted window
    weights: dict[str, float]


@dataclass(frozen=True)
class BacktestResult:
    """A walk-forward backtest: per strategy its out-of-sample `strategies` metrics and its look-ahead
    `in_sample` ones, every decision, the booked payouts (rounds × strategies, NMR) and the settings."""

    strategies: dict[str, Metrics]
    decisions: list[Decision]
    payouts: pd.DataFrame  # rounds × strategies, NMR
    in_sample: dict[str, Metrics]
    settings: BacktestSettings
    origin: str = ""  # where the scores came from (the API sets it; not in the JSON, whose settings say how)

    def to_dict(self) -> dict:
        """The result as the CLI's --json writes it."""
        per_round = self.settings.staking == "per-round"
        return {
            "settings": self.settings.to_dict(),
            "strategies": {k: m.to_dict() for k, m in self.strategies.items()},
            "in_sample": {k: m.to_dict() for k, m in self.in_sample.items()},
            "decisions": [{"round": d.round, "strategy": d.strategy, "window": list(d.window) if d.window else None,
                           "weights": d.weights,
                           "slots": [{"slot": r.slot, "model": r.model, "side": r.side.value,
                                      "multipliers": list(r.multipliers.values()),
                                      **({"per_round_stake": r.stake} if per_round else {})} for r in d.slots]}
                          for d in self.decisions],
            "payouts": [{"round": int(r), "strategy": k, "payout": float(v)}
                        for r, row in self.payouts.iterrows() for k, v in row.items()],
        }
