"""The fleet file in one phase each: `parse` reads it into a FleetSpec (None wherever the file is silent on
something the API may state: leverage, payout factor, clip, stakes, the live regime), and `resolve` joins
the spec with the API's facts into a complete Fleet, or fails naming the key. Bad input is a ConfigError
naming the key, with a "did you mean" where a name is close.

- `keys`: how a key is declared (once, on the field it fills) and the generic reader;
- `model`: the records and their key declarations (a new key is one field there);
- `read`: the file into a FleetSpec (the special keys: models, paths, the regime, columns, slots);
- `resolve`: a FleetSpec and the API's facts into a Fleet."""

from ..types import Objective, Ref, RiskMeasure, Side, SidePolicy, SolverName, StakeMode, StakingSystem
from .model import (
    CODEPENDENCES,
    DEFAULT_CLIP,
    DEFAULT_LEVERAGE,
    DEFAULT_MULTIPLIER_STEP,
    DEFAULT_OBJECTIVE,
    DEFAULT_PAYOUT_FACTOR,
    DEFAULT_REGIME,
    LINKAGES,
    MAX_TIME_LIMIT,
    NO_FACTS,
    RISKFOLIO_CODEPENDENCES,
    Data,
    Facts,
    Fleet,
    FleetSpec,
    Missing,
    Payout,
    PayoutSpec,
    Portfolio,
    Slot,
    SlotSpec,
    Solver,
    Source,
    Staking,
    Tournament,
    check_riskfolio,
    check_window,
    parse_risk_measure,
)
from .read import MAX_FLEET_BYTES, declared_keys, parse, parse_fleet
from .resolve import check_rules, check_totals, resolve

__all__ = [
    "CODEPENDENCES", "DEFAULT_CLIP", "DEFAULT_LEVERAGE", "DEFAULT_MULTIPLIER_STEP", "DEFAULT_OBJECTIVE",
    "DEFAULT_PAYOUT_FACTOR", "DEFAULT_REGIME", "LINKAGES", "MAX_FLEET_BYTES", "MAX_TIME_LIMIT", "NO_FACTS",
    "RISKFOLIO_CODEPENDENCES", "Data", "Facts", "Fleet", "FleetSpec", "Missing", "Objective", "Payout",
    "PayoutSpec", "Portfolio", "Ref", "RiskMeasure", "Side", "SidePolicy", "Slot",
    "SlotSpec", "Solver", "SolverName", "Source", "StakeMode", "Staking", "StakingSystem",
    "Tournament", "check_riskfolio", "check_rules", "check_totals", "check_window", "declared_keys", "parse",
    "parse_fleet", "parse_risk_measure", "resolve",
]
