"""The tracking objective: a slot plan whose per-round payout follows the target portfolio's.

    minimise  (1/T) Σ_t |P_plan(t) − P_target(t)|  +  change_penalty · #changed slots   (NMR per round)

over the window's rounds t (those the HRP weights were fitted on, after the missing-data policy), with
the linear payout P(t) = Σ_(model, side, score) exposure × score(t) (unclipped, without payout factor;
a short side's score negated; a missing score counts as 0). Unlike the nominal L1 of exposures, this
lets a correlated instrument carry an uncovered one's target at little cost.

This module measures it; the slot program that minimises it is `slots/tracking_mip.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .payout import ScoreCube, held_exposures, linear_payout, target_exposures
from .regimes import Regime
from .targets import Target
from .types import Side


def streams(table: pd.DataFrame, rounds: list[int], models: tuple[str, ...], regime: Regime) -> ScoreCube:
    """The window's score cube from a score table whose scores carry the regime's names
    (`scores.payout_table`), over `rounds` in that order."""
    return ScoreCube.of(table, models, regime.scores, [int(r) for r in rounds])


def target_payout(cube: ScoreCube, targets: tuple[Target, ...]) -> np.ndarray:
    """P_target(t), NMR per round, shape (T,)."""
    return linear_payout(cube, target_exposures(targets))


def plan_payout(cube: ScoreCube, held: list[tuple[str, Side, dict[str, float], float]]) -> np.ndarray:
    """P_plan(t), NMR per round, shape (T,), for slots given as (model, side, multipliers by score, stake)."""
    return linear_payout(cube, [e for h in held for e in held_exposures(*h)])


def tracking_error(plan: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute per-round difference, NMR per round."""
    return float(np.mean(np.abs(plan - target))) if len(plan) else 0.0
