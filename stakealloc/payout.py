"""Numerai's payout formula, per slot and round:

    payout = stake × clip(Σ_k factor_k × multiplier_k × score_k, −clip, +clip)    (NMR)

with each score's payout factor and the clip as the round's rules state them (the fleet's
`payout_factor` and `clip` where they state none). A short slot's scores are negated (inverted
predictions). A round where the slot's model has no score for a paying score pays 0 (the model
did not take part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .records import Summary
from .regimes import ScoreConfig, payout_configs
from .types import Side


@dataclass(frozen=True)
class Held:
    """One slot of a plan as booked: what it submits and with which multipliers (by score name)."""

    model: str
    side: Side
    multipliers: dict[str, float]
    stake: float  # NMR

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))  # "long" / "short" as given by callers


def wide_scores(table: pd.DataFrame, models: tuple[str, ...], scores: tuple[str, ...],
                rounds: list[int] | None = None) -> dict[str, pd.DataFrame]:
    """The one pivot of a long score table: score -> rounds × models frame of per-round scores (NaN where
    absent), over `rounds` in that order, else over every round with resolved scores (resolved values only)."""
    keep = table["model"].isin(models) & table["score"].isin(scores)
    if rounds is None:
        rows = table[table["resolved"] & keep]
        rounds = sorted(rows["round"].unique())
    else:
        rows = table[keep & table["round"].isin(rounds)]
    return {k: rows[rows["score"] == k].pivot(index="round", columns="model", values="value")
            .reindex(index=list(rounds), columns=list(models)) for k in scores}


class ScoreArrays:
    """`wide_scores` as numpy arrays with round and model positions, for booking many plans quickly."""

    def __init__(self, wide: dict[str, pd.DataFrame]):
        first = next(iter(wide.values())) if wide else pd.DataFrame()
        self.row = {int(r): i for i, r in enumerate(first.index)}
        self.col = {str(m): i for i, m in enumerate(first.columns)}
        for w in wide.values():
            assert list(w.index) == list(first.index) and list(w.columns) == list(first.columns)
        self.values = {k: w.to_numpy(dtype=float) for k, w in wide.items()}

    def series(self, score: str, model: str, rounds: list[int]) -> np.ndarray:
        """Values of (score, model) on `rounds`; NaN where absent."""
        rows = np.array([self.row.get(int(r), -1) for r in rounds], dtype=int)
        v = self.values[score][np.maximum(rows, 0), self.col[model]] if len(rows) else np.zeros(0)
        return np.where(rows >= 0, v, np.nan)


def slot_payouts(wide: dict[str, pd.DataFrame] | ScoreArrays, rounds: list[int], held: list[Held],
                 factors: dict[str, float], clip: float) -> np.ndarray:
    """Payout (NMR), rounds × slots."""
    arrays = wide if isinstance(wide, ScoreArrays) else ScoreArrays(wide)
    out = np.zeros((len(rounds), len(held)))
    for j, h in enumerate(held):
        raw = np.zeros(len(rounds))
        absent = np.zeros(len(rounds), dtype=bool)
        for k, m in h.multipliers.items():
            if m == 0:
                continue
            v = arrays.series(k, h.model, rounds)
            absent |= np.isnan(v)
            raw += factors[k] * m * np.nan_to_num(v)
        sign = h.side.sign
        pay = h.stake * np.clip(sign * raw, -clip, clip)
        pay[absent] = 0.0
        out[:, j] = pay
    return out


@dataclass(frozen=True)
class RoundRules:
    """One round's own payout rules (`roundScoreConfigs`), to book a held plan with."""

    round: int
    configs: tuple[ScoreConfig, ...]  # payout scores only, in the API's order

    @staticmethod
    def of(round_number: int, configs: list[ScoreConfig]) -> RoundRules | None:
        pay = payout_configs(configs)
        return RoundRules(round_number, tuple(pay)) if pay else None

    @property
    def scores(self) -> tuple[str, ...]:
        return tuple(c.spec.display_name for c in self.configs)

    def rebook(self, h: Held) -> Held:
        """The slot under this round's rules: each paying score at the plan's multiplier clamped to the round's
        [min, max] (a fixed multiplier where min = max), its default where the plan has none for that score."""
        mults = {}
        for c in self.configs:
            k = c.spec.display_name
            m = h.multipliers.get(k, c.default_multiplier)
            mults[k] = min(max(m, c.min_multiplier), c.max_multiplier)
        return Held(h.model, h.side, mults, h.stake)

    def factors(self, default: float) -> dict[str, float]:
        return {c.spec.display_name: default if c.payout_factor is None else c.payout_factor for c in self.configs}

    def clip(self, default: float) -> float:
        clips = {c.clip for c in self.configs if c.clip is not None}
        return clips.pop() if len(clips) == 1 else default


def summary(per_round: np.ndarray, stake: float) -> Summary:
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
    return Summary(rounds=n, total=float(per_round.sum()), mean=mean, mean_pct=100 * mean / stake,
                   sharpe=float(ret.mean() / sd) if sd > 0 else 0.0, max_drawdown=mdd, cvar5=cvar)
