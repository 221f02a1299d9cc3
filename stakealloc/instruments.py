"""Instruments: long and short per-round score streams of each source model.

With several multiplier combinations, every (model, paying score) gives
`{model}_{score}` and `short_{model}_{score}`. With exactly one combination p
(as Classic's fixed 0.5×CORR + 2×MMC from 2024), a slot cannot shape its exposure per score, so the
instrument of (model, side) is its payout stream `{model}_payout` = Σ_k p_k·score_k.

Note on TC: the short side of TC is an approximation (TC of inverted predictions
is not exactly −TC); the plan says so when TC is a paying score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Missing, Portfolio
from .errors import DataError
from .payout import wide_scores
from .regimes import Regime
from .types import SHORT, Dropped, Side, SidePolicy

CONSTANT_STD = 1e-9


@dataclass(frozen=True)
class Instrument:
    name: str
    model: str
    side: Side
    score: str | None  # None: the payout stream of a one-combination regime

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))  # "long" / "short" as given by callers


@dataclass(frozen=True)
class InstrumentSet:
    """Eligible instruments' per-round scores (rounds × instruments, no NaN) and what was dropped."""

    returns: pd.DataFrame
    info: dict[str, Instrument]  # every instrument considered, eligible or not
    dropped: tuple[Dropped, ...]
    window: tuple[int, ...]  # resolved rounds in the window, before the missing-data policy
    missing_note: str

    @property
    def eligible(self) -> tuple[str, ...]:
        return tuple(self.returns.columns)


def instrument_name(model: str, side: Side, score: str | None) -> str:
    base = f"{model}_{score if score is not None else 'payout'}"
    return f"{SHORT}{base}" if side is Side.SHORT else base


def paying_scores(regime: Regime) -> tuple[str, ...]:
    """Scores some combination pays (a score no combination pays cannot be carried by any slot)."""
    return tuple(k for k in regime.scores if regime.max_multiplier(k) > 0)


def resolved_rounds(table: pd.DataFrame, models: tuple[str, ...], regime: Regime) -> list[int]:
    """Rounds with scores of the fleet's models in which every paying score is resolved: one unresolved row of
    any paying score (say MMC still pending while CORR is final) keeps the whole round out."""
    rows = table[table["model"].isin(models) & table["score"].isin(paying_scores(regime))]
    ok = rows.groupby("round")["resolved"].all()
    return sorted(int(r) for r in ok.index[ok.to_numpy()])


def build(table: pd.DataFrame, models: tuple[str, ...], regime: Regime, p: Portfolio) -> InstrumentSet:
    """Eligible instruments over the last `p.lookback` resolved rounds; pure.

    `table` holds the regime's scores under the regime's names (`scores.payout_table`)."""
    rounds = resolved_rounds(table, models, regime)
    if len(rounds) < 2:
        raise DataError(f"fewer than 2 resolved rounds with scores for the fleet's models ({len(rounds)})")
    window = rounds[-p.lookback:]
    wide = wide_scores(table, models, regime.scores, window)

    # (label for long side, series, model, score) in a stable order: models as listed, scores as in the regime.
    bases: list[tuple[str, pd.Series, str, str | None]] = []
    if regime.single:
        combo = regime.combinations[0]
        idx = pd.Index(window, name="round")
        for m in models:
            # A round with any paying score missing is missing (NaN propagates; never summed as 0).
            v = np.zeros(len(window))
            for k, c in zip(regime.scores, combo):
                if c != 0:
                    v = v + wide[k][m].to_numpy(dtype=float) * c
            bases.append((instrument_name(m, Side.LONG, None), pd.Series(v, index=idx, name=m), m, None))
    else:
        for m in models:
            for k in paying_scores(regime):
                bases.append((instrument_name(m, Side.LONG, k), wide[k][m], m, k))

    info: dict[str, Instrument] = {}
    dropped: list[Dropped] = []
    candidates: list[tuple[Instrument, pd.Series]] = []
    newest = window[-p.max_stale:]
    for label, s, m, k in bases:
        long_i = Instrument(label, m, Side.LONG, k)
        short_i = Instrument(instrument_name(m, Side.SHORT, k), m, Side.SHORT, k)
        info[long_i.name] = long_i
        info[short_i.name] = short_i
        both = (long_i, short_i)
        n = int(s.notna().sum())
        reason = None
        if n == 0:
            reason = f"no resolved scores in the window (rounds {window[0]}–{window[-1]})"
        elif n < p.min_rounds:
            reason = f"only {n} scored rounds in the window, min_rounds = {p.min_rounds}"
        elif s.loc[newest].notna().sum() == 0:
            reason = (f"stale: no score in the newest {p.max_stale} resolved rounds "
                      f"(last scored round {int(s.last_valid_index())})")
        else:
            std = float(s.std(ddof=1))
            if not std >= CONSTANT_STD:
                reason = f"constant: std {std:.3g} < {CONSTANT_STD:g}"
        if reason is not None:
            dropped.extend(Dropped(i.name, reason) for i in both)
            continue
        mean = float(s.mean())
        if p.side is SidePolicy.BOTH:
            keep = both
        elif p.side is SidePolicy.LONG:
            keep = (long_i,)
            dropped.append(Dropped(short_i.name, "side = long: short instruments are not eligible"))
        elif mean >= 0:
            keep = (long_i,)
            dropped.append(Dropped(short_i.name, f"side = mean: mean {mean:+.6f} ≥ 0 over the window, long side kept"))
        else:
            keep = (short_i,)
            dropped.append(Dropped(long_i.name, f"side = mean: mean {mean:+.6f} < 0 over the window, short side kept"))
        for inst in keep:
            candidates.append((inst, inst.side.sign * s))

    # Duplicates: against instruments of models listed earlier, on the rounds both scored (numpy: this runs
    # once per backtest decision).
    accepted: list[tuple[Instrument, pd.Series]] = []
    arrays: list[tuple[np.ndarray, np.ndarray]] = []  # (values, scored) of each accepted instrument
    order = {m: i for i, m in enumerate(models)}
    for inst, s in candidates:
        dup = None
        v = s.to_numpy(dtype=float)
        scored = ~np.isnan(v)
        for (prev, _ps), (pv, pscored) in zip(accepted, arrays):
            if order[prev.model] >= order[inst.model]:
                continue
            both_scored = scored & pscored
            if int(both_scored.sum()) < p.min_rounds:
                continue
            rho = float(np.corrcoef(v[both_scored], pv[both_scored])[0, 1])
            if rho >= p.max_correlation:
                dup = (prev, rho)
                break
        if dup is not None:
            dropped.append(Dropped(inst.name, f"duplicate of {dup[0].name} (correlation {dup[1]:.6f} ≥ "
                                              f"{p.max_correlation:g})"))
        else:
            accepted.append((inst, s))
            arrays.append((v, scored))

    if not accepted:
        raise DataError("no eligible instruments: " + "; ".join(f"{d.instrument}: {d.reason}" for d in dropped[:6])
                        + ("; …" if len(dropped) > 6 else ""))
    matrix = pd.DataFrame({inst.name: s for inst, s in accepted}, index=pd.Index(window, name="round"))
    missing = matrix.isna()
    n_missing = int(missing.to_numpy().sum())
    worst = missing.sum().sort_values(ascending=False, kind="stable")
    worst_txt = ", ".join(f"{c} ×{int(v)}" for c, v in worst.items() if v > 0)
    if n_missing == 0:
        note = f"{p.missing.value}: no missing scores among eligible instruments"
    elif p.missing is Missing.ZERO:
        matrix = matrix.fillna(0.0)
        note = f"zero: {n_missing} missing scores counted as 0 ({worst_txt})"
    else:
        full = ~missing.any(axis=1)
        matrix = matrix[full]
        note = f"drop-rounds: {int((~full).sum())} of {len(window)} rounds dropped for missing scores ({worst_txt})"
        if len(matrix) < p.min_rounds:
            raise DataError(
                f"portfolio.missing = \"drop-rounds\" leaves {len(matrix)} rounds < min_rounds = {p.min_rounds} "
                f"(missing: {worst_txt}); drop those models or set missing = \"zero\"")
    assert not matrix.isna().to_numpy().any()
    return InstrumentSet(returns=matrix, info=info, dropped=tuple(dropped), window=tuple(window), missing_note=note)
