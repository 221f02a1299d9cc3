"""Walk-forward backtest: which risk measure would have paid, out of sample (design §8).

At decision round d only rounds r with r + lag < d are usable (a daily round's
20-day score resolves about 25 rounds later). The real pipeline (instruments,
HRP, targets, slots) runs on the window ending at the last usable round; the plan
is held for rounds d … d + step − 1 and booked with Numerai's payout formula
(`payout.py`). A `resolved = false` row only removes what was unresolved even
when the data was fetched; the lag rule decides everything else.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import hrp, instruments, slots, targets
from .config import Fleet, Ref
from .errors import ConfigError, DataError
from .payout import slot_payouts, summary, wide_scores
from .pipeline import check_models, slot_inputs
from .progress import Progress

NON_OVERLAP = 20  # 20-day scores of consecutive daily rounds overlap; every 20th round is independent
BASELINES = ("equal", "current")


@dataclass(frozen=True)
class Decision:
    round: int
    strategy: str
    slots: tuple[tuple[str, str, str, tuple[float, ...]], ...]  # (slot, model, side, multipliers)
    window: tuple[int, int] | None  # first and last round of the fitted window
    weights: dict[str, float]


@dataclass(frozen=True)
class Result:
    strategies: dict[str, dict]
    decisions: list[Decision]
    payouts: pd.DataFrame  # rounds × strategies, NMR
    in_sample: dict[str, dict]
    settings: dict

    def to_json(self) -> dict:
        return {
            "settings": self.settings,
            "strategies": self.strategies,
            "in_sample": self.in_sample,
            "decisions": [{"round": d.round, "strategy": d.strategy, "window": list(d.window) if d.window else None,
                           "weights": d.weights,
                           "slots": [{"slot": s, "model": m, "side": side, "multipliers": list(mult)}
                                     for s, m, side, mult in d.slots]} for d in self.decisions],
            "payouts": [{"round": int(r), "strategy": k, "payout": float(v)}
                        for r, row in self.payouts.iterrows() for k, v in row.items()],
        }


def metrics(pay: pd.Series, stake: float, turnover: float | None) -> dict:
    """Per-round metrics beside the same on non-overlapping rounds (every 20th)."""
    arr = pay.to_numpy(dtype=float)
    m = summary(arr, stake)
    m["turnover"] = turnover
    m["non_overlapping"] = summary(arr[::NON_OVERLAP], stake)
    return m


def _current_plan(fleet: Fleet) -> tuple[tuple[str, str, str, tuple[float, ...]], ...]:
    """The do-nothing baseline: each slot keeps its current model, or its own name if that is a source model."""
    regime = fleet.payout.regime
    out = []
    for s in fleet.slots:
        ref = s.current or (Ref(s.name, "long") if s.name in fleet.models else None)
        mult = s.current_multipliers or (regime.combinations[0] if regime.single else None)
        if ref is None or mult is None:
            out.append((s.name, "", "long", tuple(0.0 for _ in regime.scores)))  # nothing known: pays 0
        else:
            out.append((s.name, ref.model, ref.side, tuple(mult)))
    return tuple(out)


class _Runner:
    """The pipeline per decision, sharing the instrument build across strategies."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.si = slot_inputs(fleet)
        self.regime = fleet.payout.regime

    def plan(self, inst: instruments.InstrumentSet, w: pd.Series) -> tuple[tuple[str, str, str, tuple[float, ...]], ...]:
        f = self.fleet
        tg = targets.compute(w, inst.info, self.regime, f.portfolio.leverage, f.total_stake)
        sp = slots.solve(self.si, tg, self.regime, f.models, solver=f.solver.name, time_limit=f.solver.time_limit,
                         change_penalty=f.solver.change_penalty)
        return tuple((s.name, c.ref.model, c.ref.side, self.regime.combinations[c.combo]) for s, c in zip(self.si, sp.choices))

    def weights(self, inst: instruments.InstrumentSet, strategy: str) -> pd.Series:
        p = self.fleet.portfolio
        if strategy == "equal":
            n = len(inst.eligible)
            return pd.Series(1.0 / n, index=list(inst.eligible))
        res = hrp.hrp(inst.returns, hrp.RiskMeasure(strategy), codependence=p.codependence, linkage=p.linkage,
                      leaf_order=p.leaf_order, alpha=p.alpha)
        return hrp.prune(res.weights, p.min_weight)[0]


def decision_rounds(rounds: list[int], lag: int, step: int, min_rounds: int, start: int | None = None) -> list[int]:
    """From the first round with `min_rounds` usable rounds (or `start`, if later), every `step` rounds up to the
    last scored round."""
    if len(rounds) < min_rounds:
        raise DataError(f"backtest: only {len(rounds)} resolved rounds, fewer than min_rounds = {min_rounds}")
    first = rounds[min_rounds - 1] + lag + 1
    if start is not None:
        first = max(first, start)
    return list(range(first, rounds[-1] + 1, step))


def run(fleet: Fleet, table: pd.DataFrame, strategies: list[str], *, step: int = 5, lag: int = 25,
        start: int | None = None, progress: bool = False) -> Result:
    """Walk forward; `strategies` are risk-measure codes and/or the baselines `equal`, `current`."""
    if step < 1:
        raise ConfigError(f"--step: must be ≥ 1, got {step}")
    if lag < 0:
        raise ConfigError(f"--lag: must be ≥ 0, got {lag}")
    check_models(fleet, table, "the scores")
    regime = fleet.payout.regime
    resolved = table[table["resolved"]]
    rounds = instruments.resolved_rounds(resolved, fleet.models, regime)
    ds = decision_rounds(rounds, lag, step, fleet.portfolio.min_rounds, start)
    if not ds:
        raise DataError("backtest: no decision round: too little history for min_rounds and lag")
    runner = _Runner(fleet)
    wide = wide_scores(resolved, fleet.models, regime.scores)
    held_rounds = [r for r in rounds if r >= ds[0]]
    payouts = pd.DataFrame(0.0, index=pd.Index(held_rounds, name="round"), columns=strategies)
    decisions: list[Decision] = []
    changes: dict[str, list[int]] = {s: [] for s in strategies}
    last: dict[str, tuple] = {}
    bar = Progress(len(ds), "backtest", progress)
    for d in ds:
        usable = resolved[resolved["round"] + lag < d]
        try:
            inst = instruments.build(usable, fleet.models, regime, fleet.portfolio)
        except DataError:
            inst = None
        hold = [r for r in held_rounds if d <= r < d + step]
        for strat in strategies:
            if strat == "current":
                plan, window, wts = _current_plan(fleet), None, {}
            elif inst is None:
                plan, window, wts = last.get(strat, _current_plan(fleet)), None, {}
            else:
                w = runner.weights(inst, strat)
                plan = runner.plan(inst, w)
                window = (int(inst.returns.index[0]), int(inst.returns.index[-1]))
                wts = {str(k): float(v) for k, v in w.items()}
            if strat in last:
                changes[strat].append(sum(a != b for a, b in zip(plan, last[strat])))
            last[strat] = plan
            decisions.append(Decision(d, strat, plan, window, wts))
            if hold:
                assign = [(m, side, mult, s.stake) for (_, m, side, mult), s in zip(plan, fleet.slots) if m]
                if assign:
                    pay = slot_payouts(wide, hold, assign, regime, fleet.payout.payout_factor, fleet.payout.clip)
                    payouts.loc[hold, strat] = pay.sum(axis=1)
        bar.step(f"round {d}")
    bar.close()
    stake = fleet.total_stake
    table_out = {s: metrics(payouts[s], stake, float(np.mean(changes[s])) if changes[s] else 0.0) for s in strategies}
    in_sample = _in_sample(fleet, resolved, strategies, runner, wide, held_rounds)
    settings = {"step": step, "lag": lag, "decisions": len(ds), "first_decision": ds[0], "last_decision": ds[-1],
                "rounds": [held_rounds[0], held_rounds[-1]] if held_rounds else None,
                "payout_factor": fleet.payout.payout_factor, "clip": fleet.payout.clip, "total_stake": stake,
                "regime": regime.name, "lookback": fleet.portfolio.lookback, "non_overlapping_every": NON_OVERLAP}
    return Result(table_out, decisions, payouts, in_sample, settings)


def _in_sample(fleet, resolved, strategies, runner, wide, held_rounds) -> dict[str, dict]:
    """Weights fitted on the whole history and held throughout: look-ahead by construction."""
    f_all = replace(fleet, portfolio=replace(fleet.portfolio, lookback=10 ** 6))
    try:
        inst = instruments.build(resolved, f_all.models, f_all.payout.regime, f_all.portfolio)
    except DataError:
        return {}
    out = {}
    for strat in strategies:
        plan = _current_plan(fleet) if strat == "current" else runner.plan(inst, runner.weights(inst, strat))
        assign = [(m, side, mult, s.stake) for (_, m, side, mult), s in zip(plan, fleet.slots) if m]
        pay = slot_payouts(wide, held_rounds, assign, fleet.payout.regime, fleet.payout.payout_factor, fleet.payout.clip)
        out[strat] = metrics(pd.Series(pay.sum(axis=1), index=held_rounds), fleet.total_stake, None)
    return out


def format_table(res: Result, title: str) -> str:
    s = res.settings
    lines = [title,
             f"  decisions every {s['step']} rounds from {s['first_decision']} to {s['last_decision']} "
             f"({s['decisions']}); payouts booked on rounds {s['rounds'][0]}–{s['rounds'][1]}; lag {s['lag']}; "
             f"lookback {s['lookback']}",
             f"  payout = stake × clip({s['payout_factor']:g} × Σ multiplier × score, ±{s['clip']:g}); "
             f"payout factor {s['payout_factor']:g} is a stated constant (the data has no per-round factor)",
             f"  total stake {s['total_stake']:,.2f} NMR; non-overlapping = every {s['non_overlapping_every']}th round"]
    hdr = (f"  {'strategy':<9} {'total NMR':>10} {'mean NMR':>9} {'mean %':>7} {'Sharpe':>7} {'max DD':>9} "
           f"{'CVaR5':>8} {'turnover':>8} | {'mean %':>7} {'Sharpe':>7} {'max DD':>9} {'n':>3}")
    for name, tab in (("out of sample (walk forward)", res.strategies), ("in sample (weights fitted on all rounds: look-ahead)", res.in_sample)):
        lines += ["", f"  {name}", hdr]
        for k, m in tab.items():
            no = m["non_overlapping"]
            t = "" if m["turnover"] is None else f"{m['turnover']:.2f}"
            lines.append(f"  {k:<9} {m['total']:>10,.1f} {m['mean']:>9.2f} {m['mean_pct']:>7.3f} {m['sharpe']:>7.3f} "
                         f"{m['max_drawdown']:>9,.1f} {m['cvar5']:>8.1f} {t:>8} | {no['mean_pct']:>7.3f} "
                         f"{no['sharpe']:>7.3f} {no['max_drawdown']:>9,.1f} {no['rounds']:>3}")
    return "\n".join(lines) + "\n"


def parse_strategies(text: str) -> list[str]:
    from .config import parse_risk_measure

    out = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if part in BASELINES:
            continue
        out.append(parse_risk_measure(part, key="--risk-measures").value)
    if not out:
        raise ConfigError("--risk-measures: name at least one risk measure")
    return list(dict.fromkeys(out)) + list(BASELINES)


def main(args, fleet: Fleet, load_scores, progress: bool) -> int:
    from . import atomic

    strategies = parse_strategies(args.risk_measures)
    fleet, table, source, _ = load_scores(fleet, args)
    res = run(fleet, table, strategies, step=args.step, lag=args.lag, progress=progress)
    if args.json:
        atomic.write_text(args.json, json.dumps(res.to_json(), indent=1) + "\n")
    sys.stdout.write(format_table(res, f"stakealloc backtest on {source}: {', '.join(strategies)}"))
    return 0
