"""The plan printed as text, or written as JSON/CSV, and the backtest's table. Rendering only: the records
are `records.Plan` and `walkforward.BacktestResult`."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from . import __version__, objectives
from .errors import OptimizationError
from .records import Plan
from .types import PlanSource, SolveStatus

if TYPE_CHECKING:
    from .numerai import AccountSlots
    from .records import BacktestResult, SweepResult, Validation
    from .scores import ScoreData


def json_text(p: Plan) -> str:
    """The plan as the CLI's --json writes it: strict JSON (no NaN or infinity)."""
    try:
        return json.dumps(p.to_dict(), indent=2, allow_nan=False) + "\n"
    except ValueError:  # NaN or Infinity: not JSON; the inputs' ranges should have stopped it
        raise OptimizationError("the plan holds a non-finite number (NaN or infinity); nothing was written") from None


def csv_text(p: Plan) -> str:
    """One row per slot: model, side, stake (per-round: the plan's per-round stake, NMR), changed, current
    (what it submits today), then per-round staking's current stake and mode, multipliers and exposures."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    ks = list(p.regime.scores)
    extra = ["current_stake", "mode"] if p.per_round else []
    w.writerow(["slot", "model", "side", "stake", "changed", "current", *extra, *(f"{k}_mult" for k in ks),
                *(f"{k}_exposure" for k in ks)])
    for s in p.slots:
        more = ([_num(s.current_stake) if s.current_stake is not None else "", p.staking.mode]
                if p.per_round else [])
        w.writerow([s.slot, s.model, s.side.value, _num(s.stake), str(s.changed).lower(), s.current or "", *more,
                    *(_num(s.multipliers[k]) for k in ks), *(_num(s.exposure[k]) for k in ks)])
    return buf.getvalue()


def changes_text(p: Plan) -> str:
    """Only the slots whose reference or stake changes: what to enter on numer.ai (under per-round staking the
    V3 Stakes page: model, per-round stake, mode), as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if p.per_round:
        w.writerow(["model", "submit", "per_round_stake", "mode", "current", "current_stake"])
        for s in p.slots:
            if s.changed:
                w.writerow([s.slot, s.label, f"{s.stake:.10g}", p.staking.mode, s.current or "",
                            "" if s.current_stake is None else f"{s.current_stake:.10g}"])
    else:
        ks = list(p.regime.scores)
        w.writerow(["model", "submit", *(f"{k}_mult" for k in ks), "current"])
        for s in p.slots:
            if s.changed:
                w.writerow([s.slot, s.label, *(f"{s.multipliers[k]:g}" for k in ks), s.current or ""])
    return buf.getvalue()


def _num(v: float) -> str:
    return repr(float(v))


def _fmt(v: float) -> str:
    return f"{v:,.2f}"


def render(p: Plan) -> str:
    out: list[str] = []
    title = f"stakealloc {__version__}: slot plan"
    if p.round is not None:
        title += f" for round {p.round}" + (f" (staking closes {p.deadline})" if p.deadline else "")
    elif p.data.newest_round is not None:
        title += f" for the round after {p.data.newest_round} (the newest round in the data)"
    out.append(title)
    out.append(f"fleet {p.fleet_path} (sha256 {p.fleet_sha256[:12]})")
    r = p.regime
    origin = {"api": f" (the API's rules for round {r.round})", "custom": " (written out in the fleet file)",
              "preset": " (a preset)"}.get(r.origin, "")
    if r.single:
        out.append(f"regime {r.name}{origin}: every slot pays {r.describe()} (no choice of multipliers)")
    else:
        out.append(f"regime {r.name}{origin}: {r.describe()}")
    if p.clip is not None:
        factors = ", ".join(f"{k} {f:g}" for k, f in p.payout_factors.items())
        out.append(f"  payout = stake × clip(Σ factor × multiplier × score, ±{p.clip:g}); factors {factors}")
    subs = [(k, c) for k, c in p.columns.items() if k != c]
    if subs:
        out.append("  substituted: " + "; ".join(f"{k} is read from the data column {c}" for k, c in subs)
                   + " (stated in [data] columns)")
    ids = [sp for sp in r.specs if sp.name is not None or sp.version is not None]
    if ids:
        out.append("  scores: " + "; ".join(f"{sp.display_name} (name {sp.name or '?'}, version {sp.version or '?'})"
                                             for sp in ids))
    out.append("")

    label_w = max([len("model")] + [len(s.label) for s in p.slots] + [len(t.label) for t in p.targets])
    slot_w = max([len("slot")] + [len(s.slot) for s in p.slots])
    if p.per_round:
        out += _per_round_slots(p, slot_w)
    else:
        out += _fixed_slots(p, slot_w, label_w)
    out.append("")
    out += _targets(p, label_w)
    out.append("")
    out.append("Totals")
    if p.per_round:
        out += _per_round_totals(p)
    else:
        out += _fixed_totals(p)
    out += _solver_and_data(p)
    return "\n".join(out) + "\n"


def _fixed_slots(p: Plan, slot_w: int, label_w: int) -> list[str]:
    """Per slot: what it submits (today → this plan where they differ), multipliers, stake and exposures."""
    ks = list(p.regime.scores)
    out = ["Slots (* = differs from current: this week's to-do list; short_x = x's predictions inverted)"]
    sub = [s.label if s.current in (None, s.label) else f"{s.current} → {s.label}" for s in p.slots]
    w = max([label_w, len("submits")] + [len(x) for x in sub])
    mw = {k: max(7, len(k) + 2) for k in ks}  # score names are displayNames of any length
    ew = {k: max(10, len(k) + 4) for k in ks}
    out.append(f"  {'slot':<{slot_w}}  {'submits':<{w}}  " + "  ".join(f"{k + ' x':>{mw[k]}}" for k in ks)
               + f"  {'stake':>10}  " + "  ".join(f"{k + ' NMR':>{ew[k]}}" for k in ks))
    for s, label in zip(p.slots, sub):
        mark = "*" if s.changed else " "
        out.append(f"{mark} {s.slot:<{slot_w}}  {label:<{w}}  "
                   + "  ".join(f"{s.multipliers[k]:>{mw[k]}g}" for k in ks)
                   + f"  {_fmt(s.stake):>10}  " + "  ".join(f"{_fmt(s.exposure[k]):>{ew[k]}}" for k in ks)
                   + ("  (pinned)" if s.pinned else ""))
    n_changed = sum(s.changed for s in p.slots)
    out.append(f"  {n_changed} of {len(p.slots)} slots to change")
    return out


def _per_round_slots(p: Plan, slot_w: int) -> list[str]:
    """Per slot: what it submits and its per-round stake, today → this plan, and the mode."""
    mode = p.staking.mode
    sub = [(s.current or "?") + (" → " + s.label if s.label != s.current else "") for s in p.slots]
    stk = [("?" if s.current_stake is None else _fmt(s.current_stake))
           + ("" if s.current_stake is not None and abs(s.current_stake - s.stake) < 1e-9 else f" → {_fmt(s.stake)}")
           for s in p.slots]
    sw = max([len("submits")] + [len(x) for x in sub])
    kw = max([len("per-round stake (NMR)")] + [len(x) for x in stk])
    out = ["Slots (* = changes: enter them on the V3 Stakes page; short_x = x's predictions inverted)",
           f"  {'slot':<{slot_w}}  {'submits':<{sw}}  {'per-round stake (NMR)':<{kw}}  mode"]
    for s, a, b in zip(p.slots, sub, stk):
        out.append(f"{'*' if s.changed else ' '} {s.slot:<{slot_w}}  {a:<{sw}}  {b:<{kw}}  {mode}"
                   + ("  (pinned)" if s.pinned else ""))
    out.append(f"  {sum(s.changed for s in p.slots)} of {len(p.slots)} slots to change")
    return out


def _targets(p: Plan, label_w: int) -> list[str]:
    """Targets against what the slots achieve: per (model, side) in one-combination regimes (every score moves
    together), else per score."""
    r = p.regime
    if r.single:
        unit = "NMR per round" if p.per_round else "NMR"
        lev = sum(r.combinations[0])
        rows: dict[str, list[float]] = {}
        for t in p.targets:
            acc = rows.setdefault(t.label, [0.0, 0.0])
            acc[0] += t.target / lev
            acc[1] += t.achieved / lev
        out = [f"Targets vs achieved stake ({unit}; each pays {r.describe()})",
               f"  {'model':<{label_w}}  {'target':>10}  {'achieved':>10}  {'difference':>10}"]
        for label, (tv, av) in rows.items():
            out.append(f"  {label:<{label_w}}  {_fmt(tv):>10}  {_fmt(av):>10}  {av - tv:>+10,.2f}")
        return out
    ks = list(r.scores)
    sw = max([6] + [len(k) for k in ks])
    out = ["Targets vs achieved exposure (NMR)",
           f"  {'model':<{label_w}}  {'score':<{sw}}  {'target':>10}  {'achieved':>10}  {'difference':>10}"]
    for t in p.targets:
        out.append(f"  {t.label:<{label_w}}  {t.score:<{sw}}  {_fmt(t.target):>10}  {_fmt(t.achieved):>10}  "
                   f"{t.achieved - t.target:>+10,.2f}")
    return out


def _per_round_totals(p: Plan) -> list[str]:
    st = p.staking
    b, n = st.per_round_budget, st.open_rounds
    assert b is not None and n is not None and st.locked_at_full is not None and st.stake_step is not None
    given = (f"nmr {_fmt(st.nmr)} / {n} open rounds, rounded down to {st.stake_step:g}" if st.nmr is not None
             else "staking.per_round")
    out = [f"  per-round budget B = {_fmt(b)} NMR ({given}); Σ per-round stakes = "
           f"{_fmt(sum(s.stake for s in p.slots))} NMR; leverage {p.leverage_achieved:.4g}",
           f"  locked when every open round holds these stakes: {_fmt(st.locked_at_full)} NMR (B × {n})"
           + (f" of nmr {_fmt(st.nmr)}" if st.nmr is not None else "")]
    if st.locked_now is not None:
        out.append(f"  locked now (the API's stakeTransactions of unresolved rounds): {_fmt(st.locked_now)} NMR")
    if st.nmr is not None and st.locked_at_full > st.nmr + 1e-9:
        out.append(f"  WARNING: the plan locks {_fmt(st.locked_at_full)} NMR at full roll-in, more than nmr "
                   f"({_fmt(st.nmr)})")
    out.append(f"  roll-in: each new round replaces one of the {n} open positions: the fleet carries half of this plan "
               f"after {n // 2} rounds and all of it after {n}")
    return out


def _fixed_totals(p: Plan) -> list[str]:
    return [f"  stake {_fmt(p.total_stake)} NMR; leverage desired {p.leverage_desired:.4g}, "
            f"achieved {p.leverage_achieved:.4g}"]


def _solver_and_data(p: Plan) -> list[str]:
    """The totals' solver and window lines, then the data section: the same for both staking systems."""
    out: list[str] = []
    sv = p.solver
    obj = objectives.of(sv.objective_kind)
    nmr = "NMR per round" if p.per_round else "NMR"
    pen = f" + change penalty {_fmt(p.penalty)}" if p.change_penalty and obj.line == "deviation" else ""
    out.append(f"  deviation Σ|achieved − target| = {_fmt(p.deviation)} {nmr}{pen}"
               + ("  (the objective)" if obj.line == "deviation" else ""))
    if p.tracking_error is not None:
        r = p.tracking_rounds
        tpen = (f" + change penalty {p.change_penalty * sum(s.changed for s in p.slots):,.2f} NMR/round"
                if p.change_penalty and obj.line == "tracking" else "")
        out.append(f"  tracking error: mean |plan payout − target payout| = {p.tracking_error:,.2f} NMR per round "
                   f"over rounds {r[0]}–{r[-1]} ({len(r)}, linear payout){tpen}"
                   + ("  (the objective)" if obj.line == "tracking" else ""))
    unit = obj.unit(p.per_round)
    proof = ("optimal (proven)" if sv.status is SolveStatus.OPTIMAL
             else f"feasible (NOT proven optimal: best bound {_fmt(sv.bound)}, gap {_fmt(sv.gap)} {unit})")
    out.append(f"  solver {sv.name}: {proof}, {sv.seconds:.2f} s"
               + {PlanSource.SOLVER: "",
                  PlanSource.DP: "; proven by the exact subset DP over every column (no solver call)",
                  PlanSource.HEURISTIC: "; plan from the greedy + neighbourhood search, better than the solver's"}[
                   sv.source])
    for u in p.unreachable:
        out.append(f"  unreachable: {_fmt(u.unreachable)} NMR of {u.score}: {u.why}")
    if p.window_performance:
        wp = p.window_performance
        out.append(f"  held over the window ({wp.rounds} rounds): mean payout {wp.mean:+.2f} NMR/round "
                   f"({wp.mean_pct:+.3f}% of stake), Sharpe {wp.sharpe:.3f}, "
                   f"max drawdown {_fmt(wp.max_drawdown)} NMR")
    out.append("")
    d = p.data
    out.append("Data")
    if d.first_round is None:  # given targets: no scores, no window, no weights
        out.append(f"  source {d.origin} (targets given: no scores, window or risk measure)")
    else:
        out.append(f"  source {d.origin}; rounds {d.first_round}–{d.last_round}, {d.rounds} used "
                   f"(window of {d.window_rounds} resolved rounds); risk measure {p.risk_measure}")
        out.append(f"  missing data: {d.missing}")
        out.append(f"  {len(d.instruments)} instruments eligible, {len(d.dropped)} dropped")
    if p.weights:
        ranked = sorted(p.weights.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append("  weights: " + ", ".join(f"{k} {v:.4f}" for k, v in ranked))
    for note in d.hrp_notes:
        out.append(f"  HRP: {note}")
    # The side not chosen of every (model, score) is summarised in one line (each is in the JSON's data.dropped);
    # every other reason is listed.
    sides = [x for x in d.dropped if x.reason.startswith("side = ")]
    rest = [x for x in d.dropped if not x.reason.startswith("side = ")]
    if sides:
        out.append(f"  dropped: {len(sides)} other sides ({sides[0].reason.split(':')[0]}: of each model's two "
                   "sides the one with the non-negative mean over the window is eligible)")
    if rest:
        w = max(len(x.instrument) for x in rest)
        out.append("  dropped:" if not sides else "  dropped, each for its own reason:")
        for x in rest:
            out.append(f"    {x.instrument:<{w}}  {x.reason}")
    for n in p.notes:
        out.append(f"  note: {n}")
    return out


def backtest_text(res: BacktestResult, title: str) -> str:
    """The backtest's settings and its out-of-sample and in-sample tables, as printed."""
    s = res.settings
    lines = [title,
             f"  decisions every {s.step} rounds from {s.first_decision} to {s.last_decision} "
             f"({s.decisions}); payouts booked on rounds {s.rounds[0]}–{s.rounds[1]}; lag {s.lag} "
             f"({s.lag_source}); lookback {s.lookback}",
             f"  payout = stake × clip(Σ factor × multiplier × score, ±{s.clip:g}); factors "
             + ", ".join(f"{k} {f:g}" for k, f in s.payout_factors.items()),
             (f"  {s.own_rules_rounds} rounds booked under their own rules (the API's roundScoreConfigs), "
              f"{s.plan_rules_rounds} under the plan's" if s.own_rules_rounds
              else "  every round booked under the plan's rules: no round's own payout rules are known "
                   "(the current ones were used)"),
             (f"  per-round stakes: budget {s.total_stake:,.2f} NMR per round, payouts in NMR per round and % of "
              "it" if s.staking == "per-round" else f"  total stake {s.total_stake:,.2f} NMR")
             + f"; non-overlapping = every {s.non_overlapping_every}th round",
             f"  slot objective {s.objective}; time limit {s.time_limit:g} s per decision; plans not proven optimal: "
             + (", ".join(f"{k} {v}" for k, v in s.unproven.items() if v) or "none")
             + "; track = out-of-sample mean |plan − target| linear payout, NMR/round"]
    lines += [f"  note: {n}" for n in s.notes]
    if s.verdict:
        lines.append(f"  verdict: {s.verdict}")
    hdr = (f"  {'strategy':<9} {'total NMR':>10} {'mean NMR':>9} {'mean %':>7} {'Sharpe':>7} {'max DD':>9} "
           f"{'CVaR5':>8} {'turnover':>8} {'track':>7} | {'mean %':>7} {'Sharpe':>7} {'max DD':>9} {'n':>3}")
    for name, tab in (("out of sample (walk forward)", res.strategies),
                      ("in sample (weights fitted on all rounds: look-ahead)", res.in_sample)):
        lines += ["", f"  {name}", hdr]
        for k, m in tab.items():
            no = m.non_overlapping
            t = "" if m.turnover is None else f"{m.turnover:.2f}"
            te = "" if m.tracking_error is None else f"{m.tracking_error:.2f}"
            lines.append(f"  {k:<9} {m.total:>10,.1f} {m.mean:>9.2f} {m.mean_pct:>7.3f} {m.sharpe:>7.3f} "
                         f"{m.max_drawdown:>9,.1f} {m.cvar5:>8.1f} {t:>8} {te:>7} | {no.mean_pct:>7.3f} "
                         f"{no.sharpe:>7.3f} {no.max_drawdown:>9,.1f} {no.rounds:>3}")
    bs = s.bootstrap
    rows = [(k, m) for k, m in res.strategies.items() if m.vs_current is not None or m.vs_equal is not None]
    if bs and rows:
        lines += ["", f"  out of sample against the baselines (difference; {bs.level:.0%} block-bootstrap interval, "
                      f"blocks of {bs.block} rounds, {bs.samples} samples, seed {bs.seed})",
                  f"  {'strategy':<9} {'vs':<8} {'mean NMR/round':>15} {'interval':>21} {'Sharpe':>8} {'interval':>19}"]
        for k, m in rows:
            for base in ("current", "equal"):
                v = getattr(m, f"vs_{base}")
                if v is None:
                    continue
                lo, hi = v.mean_diff_ci
                slo, shi = v.sharpe_diff_ci
                lines.append(f"  {k:<9} {base:<8} {v.mean_diff:>+15.2f} {f'[{lo:+.2f}, {hi:+.2f}]':>21} "
                             f"{v.sharpe_diff:>+8.3f} {f'[{slo:+.3f}, {shi:+.3f}]':>19}")
    return "\n".join(lines) + "\n"


def _toml_str(v: str) -> str:
    return json.dumps(v)  # a JSON string is a valid TOML basic string (quotes and control characters escaped)


def _toml_key(k: str) -> str:
    from .regimes import SCORE_NAME

    return k if SCORE_NAME.match(k) else json.dumps(k)


def slots_toml(account: AccountSlots) -> list[str]:
    """`stakealloc slots`: the account's models as `[[slots]]` tables that the fleet parser accepts. Per-round:
    (name, current per-round stake or None); fixed: (name, stake) and the open round's default multipliers."""
    models, multipliers, per_round = account.models, account.multipliers, account.per_round
    if per_round:
        lines = ["# Your account's models and their current per-round stakes (NMR, from stakeTransactions), for a",
                 '# fleet with [staking] system = "per-round".']
    else:
        lines = ["# Your account's models, their current stakes (NMR) and the open round's default payout",
                 '# multipliers, from the Numerai API, for a fleet with [staking] system = "fixed".']
    for name, stake in models:
        lines += ["", "[[slots]]", f"name = {_toml_str(name)}",
                  f"current = {_toml_str(name)}  # edit: what it submits today"]
        if per_round:
            if stake is not None:
                lines.append(f"current_stake = {stake!r}")
            else:
                lines.append("# current_stake: unknown (no stake row for this model)")
        elif stake is not None and stake > 0:
            lines.insert(len(lines) - 1, f"stake = {stake!r}")
            if multipliers:
                lines.append("current_multipliers = { " + ", ".join(f"{_toml_key(k)} = {v!r}"
                                                                    for k, v in multipliers.items()) + " }")
        else:
            lines.append("# stake: the API reports none; give it here")
    return lines


def sweep_text(frame, top: int = 5) -> str:
    """`stakealloc sweep`'s table: the best cells by out-of-sample Sharpe and the baselines, with each one's
    Sharpe difference to `current` and its interval (sweep.csv has every cell)."""
    cells = frame[~frame["risk_measure"].isin(["equal", "current"])].sort_values(
        ["sharpe", "risk_measure"], ascending=[False, True], kind="stable")
    base = frame[frame["risk_measure"].isin(["equal", "current"])]
    lines = [f"  {'cell':<36} {'Sharpe':>7} {'mean %':>7} {'vs current':>11} {'interval':>19}"]
    for label, part in ((f"top {min(top, len(cells))} of {len(cells)} cells", cells.head(top)), ("baselines", base)):
        lines.append(f"  {label}")
        for r in part.itertuples(index=False):
            def given(x) -> bool:
                return x is not None and x == x and x != ""  # x == x: not NaN (an empty cell read back)

            name = " ".join([str(r.risk_measure)] + ([f"lookback {int(r.lookback)}"] if given(r.lookback) else [])
                            + [str(x) for x in (r.linkage, r.objective) if given(x)])
            vs = "" if r.sharpe_vs_current is None or r.sharpe_vs_current != r.sharpe_vs_current \
                else f"{r.sharpe_vs_current:+.3f}"
            iv = "" if not vs else f"[{r.sharpe_vs_current_lo:+.3f}, {r.sharpe_vs_current_hi:+.3f}]"
            lines.append(f"    {name:<34} {r.sharpe:>7.3f} {r.mean_pct:>7.3f} {vs:>11} {iv:>19}")
    return "\n".join(lines) + "\n"


def validation_text(v: Validation) -> str:
    """`stakealloc validate`'s one line."""
    regime = ("live (the open round’s rules, from the API)" if v.regime is None
              else f"{v.regime} ({v.combinations} combination(s))")
    if v.needs_api:
        return (f"{v.path}: ok: {v.models} models, {v.slots} slots, regime {regime}, risk measure {v.risk_measure}, "
                f"slot objective {v.objective}, tournament {v.tournament}; stakes not in the file and live rules "
                "come from the API\n")
    staking = (f"per-round stakes: budget {v.budget:g} NMR per round" if v.budget is not None else "fixed stakes")
    return (f"{v.path}: ok: {v.models} models, {v.slots} slots, regime {regime}, risk measure {v.risk_measure}, "
            f"leverage {v.leverage:g}, slot objective {v.objective}, tournament {v.tournament}, {staking}\n")


def fetch_text(sd: ScoreData) -> str:
    """`stakealloc fetch`'s one line: what the cache now holds."""
    rounds = sd.table[sd.table["resolved"]]["round"]
    names = sorted(sd.table["score"].unique())
    span = (f"{int(rounds.min())}–{int(rounds.max())}" if len(rounds) else "-–-")
    return (f"{sd.origin}: {len(sd.fleet.models)} models, {len(sd.table)} scores ({', '.join(names)}), resolved "
            f"rounds {span}" + (f"; current round {sd.current_round}" if sd.current_round else "")
            + f"; payout rules of {len(sd.rules)} rounds\n")


def sweep_result_text(res: SweepResult, shown_as: str) -> str:
    """`stakealloc sweep`'s output: where the files are (`shown_as`: the directory as the user named it), what
    was computed, then the best cells (`sweep_text`)."""
    m = res.meta
    return (f"{shown_as}: sweep.csv, heatmap.png, meta.json; {m['cells_computed']} cells computed, "
            f"{m['cells_reused']} reused ({m['executor']})\n" + sweep_text(res.table))
