"""The tracking objective: a slot plan whose per-round payout follows the target portfolio's.

    minimise  (1/T) Σ_t |P_plan(t) − P_target(t)|  +  change_penalty · #changed slots   (NMR per round)

over the window's rounds t (those the HRP weights were fitted on, after the missing-data policy), with
the linear payout P(t) = Σ_(model, side, score) exposure × score(t) (unclipped, without payout factor;
a short side's score negated; a missing score counts as 0). Unlike the nominal L1 of exposures, this
lets a correlated instrument carry an uncovered one's target at little cost.

This module measures it; the slot program that minimises it is `slots/tracking_mip.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .payout import wide_scores
from .regimes import Regime
from .targets import Target
from .types import Side


@dataclass(frozen=True)
class Streams:
    """Per-round scores of every (model, score) over the window's rounds, NaN counted as 0.

    `values[(model, score)]`: shape (T,), the long side's score; the short side is its negative."""

    rounds: tuple[int, ...]
    values: dict[tuple[str, str], np.ndarray]

    def signed(self, model: str, side: Side, score: str) -> np.ndarray:
        v = self.values.get((model, score))
        if v is None:
            return np.zeros(len(self.rounds))
        return -v if side is Side.SHORT else v


def streams(table: pd.DataFrame, rounds: list[int], models: tuple[str, ...], regime: Regime) -> Streams:
    """The window's scores from a score table whose scores carry the regime's names (`scores.payout_table`)."""
    wide = wide_scores(table, models, regime.scores, list(rounds))
    values = {}
    for k in regime.scores:
        for m in models:
            values[(m, k)] = np.nan_to_num(wide[k][m].to_numpy(dtype=float), nan=0.0)
    return Streams(tuple(int(r) for r in rounds), values)


def target_payout(st: Streams, targets: tuple[Target, ...]) -> np.ndarray:
    """P_target(t), NMR per round: Σ target × signed score."""
    out = np.zeros(len(st.rounds))
    for t in sorted(targets, key=lambda t: (t.model, t.side, t.score)):  # a fixed order of summation
        out = out + t.target * st.signed(t.model, t.side, t.score)
    return out


def plan_payout(st: Streams, held: list[tuple[str, str, dict[str, float], float]]) -> np.ndarray:
    """P_plan(t), NMR per round, for slots given as (model, side, multipliers by score, stake)."""
    out = np.zeros(len(st.rounds))
    for model, side, mults, stake in held:
        for k in sorted(mults):
            if mults[k]:
                out = out + stake * mults[k] * st.signed(model, side, k)
    return out


def tracking_error(plan: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute per-round difference, NMR per round."""
    return float(np.mean(np.abs(plan - target))) if len(plan) else 0.0
