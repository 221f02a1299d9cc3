"""The shared vocabulary: what a slot submits, the sides, and the enums every stage speaks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SHORT = "short_"  # label prefix of a model's short side (`short_m_tc`)
NMR_SUPPLY = 11_000_000.0  # NMR's total supply: no stake, or fleet, can hold more (NMR)


class Side(StrEnum):
    """One side of a source model: its own predictions, or their inverse (scores negated)."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> float:
        """+1 long, −1 short: a short side's per-round scores are the model's negated."""
        return -1.0 if self is Side.SHORT else 1.0


class SidePolicy(StrEnum):
    """Which sides of each (model, score) are eligible instruments (`portfolio.side`)."""

    MEAN = "mean"
    LONG = "long"
    BOTH = "both"


class RiskMeasure(StrEnum):
    """Risk measures valid for HRP; values are riskfolio-lib's `rm` codes."""

    vol = "vol"  # standard deviation (not squared at cluster level)
    MV = "MV"  # variance
    KT = "KT"  # square root kurtosis
    MAD = "MAD"  # mean absolute deviation
    MSV = "MSV"  # semi standard deviation
    SKT = "SKT"  # square root semi kurtosis
    FLPM = "FLPM"  # first lower partial moment (Omega)
    SLPM = "SLPM"  # second lower partial moment (Sortino)
    VaR = "VaR"  # value at risk
    CVaR = "CVaR"  # conditional value at risk
    TG = "TG"  # tail Gini
    EVaR = "EVaR"  # entropic value at risk
    WR = "WR"  # worst realisation
    VRG = "VRG"  # VaR range
    CVRG = "CVRG"  # CVaR range
    TGRG = "TGRG"  # tail Gini range
    MDD = "MDD"  # maximum drawdown of uncompounded cumulative scores
    ADD = "ADD"  # average drawdown
    DaR = "DaR"  # drawdown at risk
    CDaR = "CDaR"  # conditional drawdown at risk
    EDaR = "EDaR"  # entropic drawdown at risk
    UCI = "UCI"  # ulcer index


class SolverName(StrEnum):
    CBC = "CBC"
    HIGHS = "HiGHS"


class SolveStatus(StrEnum):
    """A plan's standing: proven optimal, or feasible with a gap (no plan at all is an OptimizationError)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


class PlanSource(StrEnum):
    """Who found the plan reported: the solver, the exact subset DP (no solver call), or the search."""

    SOLVER = "solver"
    DP = "dp"
    HEURISTIC = "heuristic"  # greedy + local + neighbourhood search found the better plan


class Formulation(StrEnum):
    """Which slot program was solved."""

    PARTITION = "partition"  # exact set partitioning, small fleets in separable regimes
    COMPACT = "compact"
    TRACKING = "tracking"
    BRANCH_AND_BOUND = "branch-and-bound"  # the tracking objective's exact search, one-combination regimes
    PER_ROUND = "per-round"


class Objective(StrEnum):
    """What the slot program minimises: nominal exposure deviation, or the payout's tracking error."""

    EXPOSURE = "exposure"
    TRACKING = "tracking"


class StakingSystem(StrEnum):
    """How slot stakes are set: given per slot (Numerai's staking until 2026), or per round by the plan
    (Atomic Blockchain Staking: every slot's per-round stake is the user's to set)."""

    FIXED = "fixed"
    PER_ROUND = "per-round"


class StakeMode(StrEnum):
    """Numerai's per-model mode under per-round staking: Fixed (a maximum: payouts above it stay idle) or
    Compound (a minimum: payouts roll into the next stake). Printed with each slot; the plan sets the stake."""

    FIXED = "fixed"
    COMPOUND = "compound"


@dataclass(frozen=True)
class Target:
    """A target exposure: NMR of one (model, side) to one payout score."""

    model: str
    side: Side
    score: str
    target: float  # NMR of exposure to this score

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))  # "long" / "short" as given by callers


@dataclass(frozen=True)
class Dropped:
    """An instrument left out of the weights, and why."""

    instrument: str
    reason: str


@dataclass(frozen=True)
class Ref:
    """A reference to a source model on one side: what a slot submits."""

    model: str
    side: Side

    @property
    def label(self) -> str:
        return f"{SHORT}{self.model}" if self.side is Side.SHORT else self.model

    @staticmethod
    def parse(text: str) -> Ref:
        t = text.strip().lower()
        if t.startswith(SHORT):
            return Ref(t[len(SHORT):], Side.SHORT)
        return Ref(t, Side.LONG)

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))  # "long" / "short" as given by callers
