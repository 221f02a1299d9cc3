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
    absent), over `rounds` in that order, else over every round with resolved scores (resolved values only).
    A (round, model, score) that appears twice is a ValueError, as in pandas' pivot."""
    # Positions by label in numpy, not one pandas pivot per score (measured: 7 ms → 3 ms per call on the
    # example's table, three calls per plan).
    axes = {"models": pd.Index(list(models)), "scores": pd.Index(list(scores))}
    for name, ax in axes.items():
        if not ax.is_unique:
            raise ValueError(f"wide_scores: {name} repeat a label: {list(ax[ax.duplicated()])}")
    mi = axes["models"].get_indexer(table["model"])
    ki = axes["scores"].get_indexer(table["score"])
    keep = (mi >= 0) & (ki >= 0)
    if rounds is None:
        keep &= table["resolved"].to_numpy(dtype=bool)
        rounds = [int(r) for r in np.unique(table["round"].to_numpy()[keep])]
    ix = pd.Index(list(rounds), dtype="int64", name="round")
    if not ix.is_unique:
        raise ValueError(f"wide_scores: rounds repeat a label: {list(ix[ix.duplicated()])}")
    ri = ix.get_indexer(table["round"])
    keep &= ri >= 0
    ri, mi, ki = ri[keep], mi[keep], ki[keep]
    flat = (ki * len(ix) + ri) * len(models) + mi
    if len(np.unique(flat)) < len(flat):
        raise ValueError("wide_scores: a (round, model, score) appears more than once")
    values = np.full((len(scores), len(ix), len(models)), np.nan)
    values.reshape(-1)[flat] = table["value"].to_numpy(dtype=float)[keep]
    columns = pd.Index(list(models), name="model")
    return {k: pd.DataFrame(values[i], index=ix, columns=columns) for i, k in enumerate(scores)}


#: One exposure of a plan or a target portfolio: (model, side, score, NMR of exposure).
Exposure = tuple[str, Side, str, float]


class ScoreCube:
    """The payout model's data: per-round scores, rounds × models × scores (numpy, T × M × K; NaN where
    absent), built once per window or backtest from the one pivot (`wide_scores`). Its two operations are
    the payout's two forms: `linear_payout` (Σ exposure × signed score) and `slot_payouts` (the booked,
    clipped payout of held slots)."""

    def __init__(self, rounds: tuple[int, ...], models: tuple[str, ...], scores: tuple[str, ...],
                 values: np.ndarray):
        assert values.shape == (len(rounds), len(models), len(scores))
        self.rounds, self.models, self.scores, self.values = rounds, models, scores, values
        self.row = {r: i for i, r in enumerate(rounds)}
        self.col = {m: i for i, m in enumerate(models)}
        self.depth = {k: i for i, k in enumerate(scores)}

    @staticmethod
    def of(table: pd.DataFrame, models: tuple[str, ...], scores: tuple[str, ...],
           rounds: list[int] | None = None) -> ScoreCube:
        """The cube of a long score table (`wide_scores`' rounds: `rounds`, else every resolved round)."""
        return ScoreCube.from_wide(wide_scores(table, models, scores, rounds))

    @staticmethod
    def from_wide(wide: dict[str, pd.DataFrame]) -> ScoreCube:
        """From score -> rounds × models frames that share their index and columns."""
        first = next(iter(wide.values())) if wide else pd.DataFrame()
        for w in wide.values():
            assert list(w.index) == list(first.index) and list(w.columns) == list(first.columns)
        values = (np.stack([w.to_numpy(dtype=float) for w in wide.values()], axis=2) if wide
                  else np.zeros((len(first.index), len(first.columns), 0)))
        return ScoreCube(tuple(int(r) for r in first.index), tuple(str(m) for m in first.columns), tuple(wide),
                         values)

    @staticmethod
    def from_streams(rounds: tuple[int, ...], streams: dict[tuple[str, str], np.ndarray]) -> ScoreCube:
        """From (model, score) -> per-round scores of shape (T,), each pair absent from `streams` all NaN."""
        models = tuple(dict.fromkeys(m for m, _ in streams))
        scores = tuple(dict.fromkeys(k for _, k in streams))
        values = np.full((len(rounds), len(models), len(scores)), np.nan)
        for (m, k), v in streams.items():
            values[:, models.index(m), scores.index(k)] = v
        return ScoreCube(tuple(rounds), models, scores, values)

    def series(self, model: str, score: str, rounds: list[int] | None = None) -> np.ndarray:
        """Scores of (model, score) on `rounds` (default: the cube's); NaN where absent, a round, model or
        score the cube does not hold included."""
        m, k = self.col.get(model), self.depth.get(score)
        if rounds is None:
            return (self.values[:, m, k].copy() if m is not None and k is not None
                    else np.full(len(self.rounds), np.nan))
        rows = np.array([self.row.get(int(r), -1) for r in rounds], dtype=int)
        if m is None or k is None or not len(rows):
            return np.full(len(rows), np.nan)
        return np.where(rows >= 0, self.values[np.maximum(rows, 0), m, k], np.nan)

    def signed(self, model: str, side: Side, score: str, rounds: list[int] | None = None) -> np.ndarray:
        """The side's score per round (a short side's negated), a missing score counted as 0."""
        v = np.nan_to_num(self.series(model, score, rounds), nan=0.0)
        return -v if side is Side.SHORT else v


def held_exposures(model: str, side: Side, multipliers: dict[str, float], stake: float) -> list[Exposure]:
    """A slot's exposures (stake × multiplier per paying score, NMR) in the multipliers' order, which is the
    regime's score order wherever they come from `Regime.as_dict`: the one order a plan's payout is summed in."""
    return [(model, side, k, stake * m) for k, m in multipliers.items() if m]


def target_exposures(targets) -> list[Exposure]:
    """A target portfolio's exposures (Target records, NMR), in (model, side, score) order."""
    return [(t.model, t.side, t.score, t.target) for t in sorted(targets, key=lambda t: (t.model, t.side, t.score))]


def linear_payout(cube: ScoreCube, exposures: list[Exposure], rounds: list[int] | None = None) -> np.ndarray:
    """P(t), NMR per round: Σ exposure × signed score, unclipped, without payout factor, a missing score
    counted as 0; summed in the order given; shape (T,) over `rounds` (default: the cube's)."""
    out = np.zeros(len(cube.rounds) if rounds is None else len(rounds))
    for model, side, score, amount in exposures:
        if amount:
            out = out + amount * cube.signed(model, side, score, rounds)
    return out


def slot_payouts(cube: ScoreCube, rounds: list[int], held: list[Held], factors: dict[str, float],
                 clip: float) -> np.ndarray:
    """Booked payout (NMR), rounds × slots: stake × clip(Σ factor × multiplier × signed score), 0 in a
    round where the slot's model misses a score it is paid on."""
    out = np.zeros((len(rounds), len(held)))
    for j, h in enumerate(held):
        raw = np.zeros(len(rounds))
        absent = np.zeros(len(rounds), dtype=bool)
        for k, m in h.multipliers.items():
            if m == 0:
                continue
            v = cube.series(h.model, k, rounds)
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
