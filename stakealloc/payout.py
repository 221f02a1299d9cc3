"""Numerai's payout formula, per slot and round (design §7):

    payout = stake × clip(payout_factor × Σ_k multiplier_k × score_k, −clip, +clip)    (NMR)

A short slot's scores are negated (inverted predictions). A round where the slot's
model has no score for a paying score pays 0 (the model did not take part).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .regimes import Regime


def wide_scores(table: pd.DataFrame, models: tuple[str, ...], scores: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """score -> rounds × models frame of resolved values (NaN where absent)."""
    rows = table[table["resolved"] & table["model"].isin(models) & table["score"].isin(scores)]
    rounds = sorted(rows["round"].unique())
    return {k: rows[rows["score"] == k].pivot(index="round", columns="model", values="value")
            .reindex(index=rounds, columns=list(models)) for k in scores}


def slot_payouts(wide: dict[str, pd.DataFrame], rounds: list[int], assignment: list[tuple[str, str, tuple[float, ...], float]],
                 regime: Regime, payout_factor: float, clip: float) -> np.ndarray:
    """Payout (NMR), rounds × slots, for slots given as (model, side, multipliers, stake)."""
    out = np.zeros((len(rounds), len(assignment)))
    for j, (model, side, mults, stake) in enumerate(assignment):
        raw = np.zeros(len(rounds))
        absent = np.zeros(len(rounds), dtype=bool)
        for k, m in zip(regime.scores, mults):
            if m == 0:
                continue
            v = wide[k][model].reindex(rounds).to_numpy(dtype=float)
            absent |= np.isnan(v)
            raw += m * np.nan_to_num(v)
        sign = -1.0 if side == "short" else 1.0
        pay = stake * np.clip(payout_factor * sign * raw, -clip, clip)
        pay[absent] = 0.0
        out[:, j] = pay
    return out


def summary(per_round: np.ndarray, stake: float) -> dict[str, float]:
    """Mean, Sharpe (ddof = 1, of payout/stake), max drawdown of the cumulative payout (NMR), CVaR 5 %."""
    n = len(per_round)
    ret = per_round / stake
    mean = float(per_round.mean()) if n else 0.0
    sd = float(ret.std(ddof=1)) if n > 1 else 0.0
    cum = np.cumsum(per_round)
    peak = np.maximum.accumulate(np.concatenate([[0.0], cum]))[1:]
    mdd = float((peak - cum).max()) if n else 0.0
    k = int(np.ceil(0.05 * n)) if n else 0
    cvar = float(-np.sort(per_round)[:k].mean()) if k else 0.0
    return {"rounds": n, "total": float(per_round.sum()), "mean": mean, "mean_pct": 100 * mean / stake,
            "sharpe": float(ret.mean() / sd) if sd > 0 else 0.0, "max_drawdown": mdd, "cvar5": cvar}
