"""Walk-forward backtest: which risk measure would have paid, out of sample.

At decision round d only rounds r with r + lag < d are usable. The default lag is
the payout scores' horizon: max over them of dataDelayDays + returnsLagDays +
totalScoreDays, plus 2 rounds (25 for 20-day scores, 65 for 60-day ones). The real
pipeline (instruments, HRP, targets, slots) runs on the window ending at the last
usable round; the plan is held for rounds d … d + step − 1 and booked with
Numerai's payout formula (`payout.py`), under each round's own rules where the
API's `roundScoreConfigs` of that round are known (`RoundRules.rebook`), else
under the plan's. A `resolved = false` row only removes what was unresolved even
when the data was fetched; the lag rule decides everything else.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from . import hrp, instruments, objectives, targets, tracking
from .config import Fleet
from .errors import ConfigError, DataError
from .payout import (
    Held,
    RoundRules,
    ScoreCube,
    held_exposures,
    linear_payout,
    slot_payouts,
    summary,
    target_exposures,
    wide_scores,
)
from .pipeline import regime_table, slot_inputs, slot_rows, solve_slots
from .progress import Progress
from .records import BacktestResult, BacktestSettings, Bootstrap, Comparison, Decision, Metrics, SlotRow
from .regimes import LAG_MARGIN, Regime, ScoreConfig, ScoreSpec
from .scores import BUNDLED_COLUMNS, column_of
from .types import Ref, Side, SolveStatus

NON_OVERLAP = 20  # 20-day scores of consecutive daily rounds overlap; every 20th round is independent
BASELINES = ("equal", "current")
# Seconds a backtest or sweep decision's slot program gets by default (at most the fleet's solver.time_limit):
# they solve hundreds of plans, and an unproven plan is counted, not hidden (benchmarks/README.md).
DECISION_TIME_LIMIT = 10.0
BOOTSTRAP_SAMPLES = 2000  # block-bootstrap resamples of the held rounds
BOOTSTRAP_SEED = 0
BOOTSTRAP_LEVEL = 0.90  # two-sided interval; a lead is "distinguishable from noise" when it excludes 0


def decision_time_limit(fleet: Fleet, time_limit: float | None) -> float:
    """Seconds per decision: `time_limit` where given, else the fleet's solver.time_limit capped at
    DECISION_TIME_LIMIT."""
    return min(fleet.solver.time_limit, DECISION_TIME_LIMIT) if time_limit is None else time_limit


def metrics(pay: pd.Series, stake: float, turnover: float | None, tracking_error: float | None = None) -> Metrics:
    """Per-round metrics beside the same on non-overlapping rounds (every 20th). `tracking_error`: mean over
    held rounds of |linear payout of the held plan − that of its decision's target portfolio|, NMR/round."""
    arr = pay.to_numpy(dtype=float)
    return Metrics(**asdict(summary(arr, stake)), turnover=turnover, tracking_error=tracking_error,
                   non_overlapping=summary(arr[::NON_OVERLAP], stake))


def current_known(fleet: Fleet) -> bool:
    """Whether the do-nothing baseline is known: under per-round staking it needs every slot's current stake."""
    return not fleet.staking.per_round_system or all(s.current_stake is not None for s in fleet.slots)


def score_horizon(regime: Regime) -> int:
    """Rounds one score overlaps its neighbours by: the paying scores' longest totalScoreDays (20 where unknown)."""
    days = [sp.total_score_days for sp in regime.specs if sp.total_score_days]
    return max(days) if days else NON_OVERLAP


def _sharpe(x: np.ndarray) -> np.ndarray:
    """Sharpe of each row of x (samples × rounds), ddof 1; 0 where the deviation is 0."""
    sd = x.std(axis=1, ddof=1)
    return np.where(sd > 0, x.mean(axis=1) / np.where(sd > 0, sd, 1.0), 0.0)


def compare(payouts: pd.DataFrame, stake: float, block: int, *, samples: int = BOOTSTRAP_SAMPLES,
            seed: int = BOOTSTRAP_SEED, level: float = BOOTSTRAP_LEVEL) -> dict[str, dict[str, Comparison]]:
    """Each strategy against `current` and `equal` (where present): the difference in mean payout (NMR per
    round) and in Sharpe, with a moving-block bootstrap interval over the held rounds (blocks of `block`
    consecutive rounds, the same resampled rounds for both sides: paired; seeded, so reproducible)."""
    arr = payouts.to_numpy(dtype=float) / stake
    n = len(arr)
    if n < 2:
        return {}
    b = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - b + 1, size=(samples, -(-n // b)))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(samples, -1)[:, :n]
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    cols = list(payouts.columns)
    out: dict[str, dict] = {}
    for k, name in enumerate(cols):
        res = {}
        for base in BASELINES:
            if base not in cols or base == name:
                continue
            j = cols.index(base)
            d = arr[:, k] - arr[:, j]
            boot_mean = d[idx].mean(axis=1) * stake
            boot_sharpe = _sharpe(arr[:, k][idx]) - _sharpe(arr[:, j][idx])
            sharpe_diff = float(_sharpe(arr[:, [k]].T)[0] - _sharpe(arr[:, [j]].T)[0])
            res[f"vs_{base}"] = Comparison(
                mean_diff=float(d.mean() * stake),
                mean_diff_ci=(float(np.quantile(boot_mean, lo_q)), float(np.quantile(boot_mean, hi_q))),
                sharpe_diff=sharpe_diff,
                sharpe_diff_ci=(float(np.quantile(boot_sharpe, lo_q)), float(np.quantile(boot_sharpe, hi_q))))
        out[name] = res
    return out


def verdict(strategies: dict[str, Metrics], level: float = BOOTSTRAP_LEVEL) -> str:
    """One sentence: which strategy leads by out-of-sample Sharpe, and whether its lead over the do-nothing
    `current` is distinguishable from noise at `level`."""
    if not strategies:
        return "no strategy was booked"
    lead = max(strategies, key=lambda k: (strategies[k].sharpe, k))
    pct = f"{level:.0%}"
    if lead == "current":
        return (f"current (every slot keeps what it does today) leads by out-of-sample Sharpe "
                f"({strategies['current'].sharpe:.3f}): no strategy beat doing nothing here")
    vs = strategies[lead].vs_current
    if vs is None:
        return f"{lead} leads by out-of-sample Sharpe ({strategies[lead].sharpe:.3f}); current is not known"
    lo, hi = vs.sharpe_diff_ci
    clear = lo > 0
    return (f"{lead} leads by out-of-sample Sharpe ({strategies[lead].sharpe:.3f}); its lead over current is "
            f"{vs.sharpe_diff:+.3f} (interval [{lo:+.3f}, {hi:+.3f}] at {pct}), "
            + ("distinguishable from noise" if clear else "not distinguishable from noise"))


def _current_plan(fleet: Fleet) -> tuple[SlotRow, ...]:
    """The do-nothing baseline: each slot keeps its current model, or its own name if that is a source model, at
    its stake (per-round staking: its current per-round stake)."""
    regime = fleet.payout.regime
    out = []
    for s in fleet.slots:
        ref = s.current or (Ref(s.name, Side.LONG) if s.name in fleet.models else None)
        mult = s.current_multipliers or (regime.combinations[0] if regime.single else None)
        if ref is None or mult is None:
            out.append(SlotRow.make(s.name, s.stake, None, dict.fromkeys(regime.scores, 0.0), changed=False))
        else:
            out.append(SlotRow.make(s.name, s.stake, ref, dict(zip(regime.scores, mult)), changed=False,
                                    current=s.current))
    return tuple(out)


class _Runner:
    """The pipeline per decision, sharing work across strategies: the instruments and the clustering are
    computed once per window, and a slot problem already solved (same targets; slots and regime are the
    fleet's) is not solved again: `solve` is deterministic for proven plans, so only time is saved."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.si = slot_inputs(fleet)
        self.regime = fleet.payout.regime
        self._plans: dict[tuple, tuple] = {}
        self.unproven = 0  # solves whose plan was not proven optimal

    def plan(self, inst: instruments.InstrumentSet, w: pd.Series, table: pd.DataFrame):
        """(plan, targets, proven) for weights `w` on the window of `inst`; `table` holds the window's scores
        (the tracking objective follows the target portfolio's payout over the rounds the weights saw)."""
        f = self.fleet
        tg = targets.compute(w, inst.info, self.regime, f.portfolio.leverage, f.total_stake)
        tracking_on = objectives.of(f.solver.objective).needs_streams
        key = (tuple((t.model, t.side, t.score, t.target) for t in tg),
               tuple(int(r) for r in inst.returns.index) if tracking_on else None)
        if key not in self._plans:
            st = (tracking.streams(table, list(inst.returns.index), f.models, self.regime) if tracking_on else None)
            sp = solve_slots(f, self.si, tg, st)
            self._plans[key] = (tuple(slot_rows(f, self.si, sp)), sp.solver.status is SolveStatus.OPTIMAL)
        plan, proven = self._plans[key]
        return plan, tg, proven

    def tree(self, inst: instruments.InstrumentSet) -> hrp.Tree:
        p = self.fleet.portfolio
        return hrp.build_tree(inst.returns, codependence=p.codependence, linkage=p.linkage, leaf_order=p.leaf_order)

    def weights(self, inst: instruments.InstrumentSet, strategy: str, tree: hrp.Tree | None = None) -> pd.Series:
        p = self.fleet.portfolio
        if strategy == "equal":
            n = len(inst.eligible)
            return pd.Series(1.0 / n, index=list(inst.eligible))
        res = hrp.hrp(inst.returns, hrp.RiskMeasure(strategy), codependence=p.codependence, linkage=p.linkage,
                      leaf_order=p.leaf_order, alpha=p.alpha, tree=tree)
        return hrp.prune(res.weights, p.min_weight)[0]


def _decide(fleet: Fleet, resolved: pd.DataFrame, lag: int, strategies: list[str], ds: list[int]) -> list:
    """For each decision round in `ds`: per strategy (plan, window, weights), or None where no window could be
    built (the previous plan is then held). Pure; one call per worker in a parallel run."""
    runner = _Runner(fleet)
    out = []
    for d in ds:
        usable = resolved[resolved["round"] + lag < d]
        try:
            inst = instruments.build(usable, fleet.models, fleet.payout.regime, fleet.portfolio)
        except DataError:
            out.append(None)
            continue
        tree = runner.tree(inst) if any(s not in BASELINES for s in strategies) else None
        per = {}
        for strat in strategies:
            if strat == "current":
                continue
            w = runner.weights(inst, strat, tree)
            plan, tg, proven = runner.plan(inst, w, usable)
            per[strat] = (plan, (int(inst.returns.index[0]), int(inst.returns.index[-1])),
                          {str(k): float(v) for k, v in w.items()}, tg, proven)
        out.append(per)
    return out


def _chunks(items: list, n: int) -> list[list]:
    """`items` in n contiguous runs of near-equal length (order kept)."""
    k, r = divmod(len(items), n)
    out, i = [], 0
    for j in range(n):
        size = k + (j < r)
        if size:
            out.append(items[i:i + size])
        i += size
    return out


def _decide_all(fleet: Fleet, resolved: pd.DataFrame, lag: int, strategies: list[str], ds: list[int], jobs: int,
                progress: bool) -> list:
    """`_decide` over every decision: in this process, or across `jobs` worker processes (joblib), each on a
    contiguous run of decisions (so few inputs travel); the results are the same either way."""
    if jobs <= 1 or len(ds) < 2:
        bar = Progress(len(ds), "backtest", progress)
        out = []
        for d in ds:
            out += _decide(fleet, resolved, lag, strategies, [d])
            bar.step(f"round {d}")
        bar.close()
        return out
    from . import workers

    # Many short runs: hard decisions cluster in time, and short runs balance the processes (the 3-measure step-5
    # backtest of the fixed-stake example on 2 cores: 4 runs per process 60-62 s, 16 runs 55 s, one decision per
    # run 57 s); each worker solves single-threaded (HiGHS threads = 1).
    runs = _chunks(ds, min(len(ds), jobs * 16))
    bar = Progress(len(runs), f"backtest ({jobs} processes)", progress)
    out = []

    def take(res: list) -> None:
        out.extend(res)
        bar.step(f"{len(out)}/{len(ds)} decisions")

    workers.for_each(_decide, [(fleet, resolved, lag, strategies, run) for run in runs], jobs, take)
    bar.close()
    return out


def default_jobs() -> int:
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1), 1)


def decision_rounds(rounds: list[int], lag: int, step: int, min_rounds: int, start: int | None = None) -> list[int]:
    """From the first round with `min_rounds` usable rounds (or `start`, if later), every `step` rounds up to the
    last scored round."""
    if len(rounds) < min_rounds:
        raise DataError(f"backtest: only {len(rounds)} resolved rounds, fewer than min_rounds = {min_rounds}")
    first = rounds[min_rounds - 1] + lag + 1
    if start is not None:
        first = max(first, start)
    return list(range(first, rounds[-1] + 1, step))


ASSUMED_LAG = 25  # where no payout score's horizon is known: that of 20-day scores, stated as assumed


def column_horizons(fleet: Fleet, rules: dict[int, list[ScoreConfig]]) -> dict[str, ScoreSpec]:
    """Horizons the data's columns declare: the bundled snapshot's (20-day), else the API's configurations."""
    if fleet.data.source.value == "snapshot":
        return dict(BUNDLED_COLUMNS) if fleet.data.snapshot == "bundled" else {}
    out: dict[str, ScoreSpec] = {}
    for r in sorted(rules):  # the newest round's statement wins
        for c in rules[r]:
            if c.spec.resolve_days is not None:
                out[c.spec.display_name] = c.spec
    return out


def default_lag(regime: Regime, columns: dict[str, str], horizons: dict[str, ScoreSpec]) -> tuple[int, str]:
    """(lag, how it was derived): max over paying scores of their resolve days, + LAG_MARGIN rounds."""
    days, unknown = [], []
    for spec in regime.specs:
        if regime.max_multiplier(spec.display_name) == 0:
            continue
        d = spec.resolve_days
        if d is None:
            col = horizons.get(columns.get(spec.display_name, spec.display_name))
            d = col.resolve_days if col is not None else None
        (days.append(d) if d is not None else unknown.append(spec.display_name))
    if unknown:
        return ASSUMED_LAG, (f"assumed: the horizon of {', '.join(unknown)} is unknown, so 20-day scores are assumed "
                             "(give the lag)")
    return max(days) + LAG_MARGIN, f"derived: {max(days)} days until the payout scores resolve + {LAG_MARGIN} rounds"


def check_strategies(strategies, key: str = "strategies") -> list[str]:
    """Strategy names, in order without repeats: risk-measure codes (any case, as `--risk-measures`) and the
    baselines `equal`, `current`; ConfigError naming `key` for anything else (a bare string included)."""
    from .config import parse_risk_measure

    if isinstance(strategies, str) or not isinstance(strategies, list | tuple):
        raise ConfigError(f"{key}: expected a list of names such as ['MV', 'equal'], got {strategies!r}", key=key)
    out = []
    for s in strategies:
        if not isinstance(s, str):
            raise ConfigError(f"{key}: {s!r} is not a name (a risk-measure code or a baseline)", key=key)
        out.append(s if s in BASELINES else parse_risk_measure(s, key=key).value)
    if not out:
        raise ConfigError(f"{key}: name at least one strategy", key=key)
    return list(dict.fromkeys(out))


def run(fleet: Fleet, table: pd.DataFrame, strategies: list[str], *, step: int = 5, lag: int | None = None,
        start: int | None = None, progress: bool = False, rules: dict[int, list[ScoreConfig]] | None = None,
        jobs: int = 1, in_sample: bool = True) -> BacktestResult:
    """Walk forward; `strategies` are risk-measure codes and/or the baselines `equal`, `current`.

    `table` is the raw score table; `rules` the rounds' own payout configurations (from the API), if known."""
    rules = rules or {}
    notes: list[str] = []
    strategies = check_strategies(strategies)
    # the API's callers pass what they like (numpy's integers are whole numbers too)
    for name, v in (("step", step), ("jobs", jobs), ("lag", lag), ("start", start)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            raise ConfigError(f"{name}: must be a whole number, got {v!r}", key=name)
    step, jobs = int(step), int(jobs)
    lag, start = (None if v is None else int(v) for v in (lag, start))
    if "current" in strategies and not current_known(fleet):
        strategies = [s for s in strategies if s != "current"]
        notes.append("current is left out: under per-round staking it needs every slot's current_stake")
    if step < 1:
        raise ConfigError(f"step: must be ≥ 1, got {step}", key="step")
    regime = fleet.payout.regime
    if lag is None:
        lag, lag_source = default_lag(regime, column_of(regime, fleet.data.column_map), column_horizons(fleet, rules))
    else:
        lag_source = "given"
    if lag < 0:
        raise ConfigError(f"lag: must be ≥ 0, got {lag}", key="lag")
    if jobs < 1:
        raise ConfigError(f"jobs: must be ≥ 1, got {jobs}", key="jobs")
    raw = table
    table = regime_table(fleet, table, "the scores")
    resolved = table[table["resolved"]]
    rounds = instruments.resolved_rounds(resolved, fleet.models, regime)
    ds = decision_rounds(rounds, lag, step, fleet.portfolio.min_rounds, start)
    if not ds:
        raise DataError("backtest: no decision round: too little history for min_rounds and lag")
    runner = _Runner(fleet)
    held_rounds = [r for r in rounds if r >= ds[0]]
    book = _Booker(fleet, resolved, raw[raw["resolved"]], rules, held_rounds)
    payouts = pd.DataFrame(0.0, index=pd.Index(held_rounds, name="round"), columns=strategies)
    decisions: list[Decision] = []
    changes: dict[str, list[int]] = {s: [] for s in strategies}
    last: dict[str, tuple] = {}
    last_tg: dict[str, tuple] = {}
    misses: dict[str, list[float]] = {s: [] for s in strategies}  # |plan − target| linear payout, per held round
    unproven = {s: 0 for s in strategies if s != "current"}
    decided = _decide_all(fleet, resolved, lag, strategies, ds, jobs, progress)
    # A decision without an eligible instrument has no plan of any strategy: before the first one that has,
    # nothing is booked (holding `current` there would report it under a strategy's label); later, each
    # strategy holds its own previous plan, and both are counted.
    first = next((i for i, per in enumerate(decided) if per is not None), None)
    if first is None:
        raise DataError("backtest: no decision round found an eligible instrument (min_rounds, max_stale and the "
                        "lookback leave none)")
    if first:
        notes.append(f"the first {first} decision(s) found no eligible instrument and were skipped; payouts are "
                     f"booked from round {ds[first]}")
        ds, decided = ds[first:], decided[first:]
        held_rounds = [r for r in held_rounds if r >= ds[0]]
        payouts = payouts.loc[held_rounds]
    held_over = sum(per is None for per in decided)
    if held_over:
        notes.append(f"{held_over} later decision(s) found no eligible instrument: each strategy held its own "
                     "previous plan there")
    for d, per in zip(ds, decided):
        hold = [r for r in held_rounds if d <= r < d + step]
        for strat in strategies:
            if strat == "current":
                plan, window, wts = _current_plan(fleet), None, {}
            elif per is None:
                plan, window, wts = last[strat], None, {}  # its own previous plan (there is one: see above)
            else:
                plan, window, wts, last_tg[strat], proven = per[strat]
                unproven[strat] += not proven
            if strat in last:
                changes[strat].append(sum(a.assignment != b.assignment for a, b in zip(plan, last[strat])))
            last[strat] = plan
            decisions.append(Decision(d, strat, plan, window, wts))
            if hold:
                payouts.loc[hold, strat] = book.pay(plan, hold)
                if strat in last_tg:  # `current` has no target portfolio
                    miss = book.linear(plan, hold) - book.linear_targets(last_tg[strat], hold)
                    misses[strat] += np.abs(miss).tolist()
    stake = fleet.total_stake
    table_out = {s: metrics(payouts[s], stake, float(np.mean(changes[s])) if changes[s] else 0.0,
                            float(np.mean(misses[s])) if misses[s] else None) for s in strategies}
    block = score_horizon(regime)
    for s, cmp in compare(payouts, stake, block).items():
        table_out[s] = replace(table_out[s], **cmp)
    in_sample_tab = _in_sample(fleet, resolved, strategies, runner, book, held_rounds) if in_sample else {}
    settings = BacktestSettings(
        step=step, lag=lag, lag_source=lag_source, decisions=len(ds), first_decision=ds[0], last_decision=ds[-1],
        rounds=(held_rounds[0], held_rounds[-1]) if held_rounds else None,
        payout_factors=dict(zip(regime.scores, fleet.payout.factors)), clip=fleet.payout.clip_value,
        own_rules_rounds=book.own_rounds, plan_rules_rounds=len(held_rounds) - book.own_rounds, total_stake=stake,
        regime=regime.name, lookback=fleet.portfolio.lookback, linkage=fleet.portfolio.linkage,
        objective=fleet.solver.objective.value, time_limit=fleet.solver.time_limit, unproven=unproven,
        non_overlapping_every=NON_OVERLAP,
        staking=fleet.staking.system.value, notes=notes,
        bootstrap=Bootstrap(block, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, BOOTSTRAP_LEVEL), verdict=verdict(table_out))
    return BacktestResult(table_out, decisions, payouts, in_sample_tab, settings)


class _Booker:
    """Books held plans: each round under its own rules where they are known and its scores are in the data,
    else under the plan's regime (fleet's factors and clip where the rules state none)."""

    def __init__(self, fleet: Fleet, resolved: pd.DataFrame, raw_resolved: pd.DataFrame,
                 rules: dict[int, list[ScoreConfig]], held_rounds: list[int]):
        self.fleet, self.regime = fleet, fleet.payout.regime
        own = {r: RoundRules.of(r, rules[r]) for r in held_rounds if r in rules}
        extra = sorted({k for rr in own.values() if rr is not None for k in rr.scores} - set(self.regime.scores))
        # The regime's scores under its names (columns substituted), other scores the rounds pay as the data names them.
        wide = wide_scores(resolved, fleet.models, self.regime.scores)
        if extra:
            wide.update(wide_scores(raw_resolved, fleet.models, tuple(extra)))
            rounds = sorted(set().union(*(w.index for w in wide.values())))
            wide = {k: w.reindex(index=rounds) for k, w in wide.items()}
        self.cube = ScoreCube.from_wide(wide)  # numpy, for the many bookings of a backtest
        have = {k for k, w in wide.items() if w.notna().to_numpy().any()}
        self.own = {r: rr for r, rr in own.items() if rr is not None and set(rr.scores) <= have}
        self.own_rounds = len(self.own)
        self.factors = dict(zip(self.regime.scores, fleet.payout.factors))

    def held(self, plan) -> list[Held]:
        return [Held(r.model, r.side, dict(r.multipliers), r.stake) for r in plan if r.model]

    def linear(self, plan, rounds: list[int]) -> np.ndarray:
        """Linear payout (NMR per round) of a plan on `rounds`."""
        return linear_payout(self.cube, [e for h in self.held(plan) for e in
                                         held_exposures(h.model, h.side, h.multipliers, h.stake)], rounds)

    def linear_targets(self, tg, rounds: list[int]) -> np.ndarray:
        """Linear payout of a target portfolio (targets in NMR of exposure) on `rounds`."""
        return linear_payout(self.cube, target_exposures(tg), rounds)

    def pay(self, plan, rounds: list[int]) -> np.ndarray:
        """Total payout (NMR) per round of `rounds` for the plan."""
        held = self.held(plan)
        if not held:
            return np.zeros(len(rounds))
        out = np.zeros(len(rounds))
        plain = [i for i, r in enumerate(rounds) if r not in self.own]
        if plain:
            pr = [rounds[i] for i in plain]
            out[plain] = slot_payouts(self.cube, pr, held, self.factors, self.fleet.payout.clip_value).sum(axis=1)
        for i, r in enumerate(rounds):
            rr = self.own.get(r)
            if rr is not None:
                out[i] = slot_payouts(self.cube, [r], [rr.rebook(h) for h in held],
                                      rr.factors(self.fleet.payout.payout_factor),
                                      rr.clip(self.fleet.payout.clip_value)).sum()
        return out


def _in_sample(fleet, resolved, strategies, runner, book, held_rounds) -> dict[str, Metrics]:
    """Weights fitted on the whole history and held throughout: look-ahead by construction."""
    f_all = replace(fleet, portfolio=replace(fleet.portfolio, lookback=10 ** 6))
    try:
        inst = instruments.build(resolved, f_all.models, f_all.payout.regime, f_all.portfolio)
    except DataError:
        return {}
    out = {}
    tree = runner.tree(inst)
    for strat in strategies:
        plan = (_current_plan(fleet) if strat == "current"
                else runner.plan(inst, runner.weights(inst, strat, tree), resolved)[0])
        out[strat] = metrics(pd.Series(book.pay(plan, held_rounds), index=held_rounds), fleet.total_stake, None)
    return out
