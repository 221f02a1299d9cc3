"""The weekly job as one pure function: fleet + score table -> plan."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from . import hrp, instruments, objectives, slots, targets, tracking
from .config import Fleet, Source
from .errors import ConfigError, DataError
from .payout import Held, ScoreCube, slot_payouts, summary
from .records import DataSummary, Plan, SlotRow, StakingSummary, TargetRow, WindowPerformance
from .scores import column_of, payout_table
from .targets import Target
from .types import Dropped, Ref, Side


def check_models(fleet: Fleet, table: pd.DataFrame, origin: str) -> None:
    """Every source model must appear in the scores: an unknown name in a snapshot is bad input (exit 2); a model
    the API knows but without scores in the fleet's tournament is a data problem (exit 3)."""
    have = set(table["model"].unique())
    for m in fleet.models:
        if m not in have and fleet.data.source is Source.NUMERAI:
            # The API knew the name (it gave an id): a model without scores is a data problem, not bad input.
            t = fleet.data.tournament
            raise DataError(f"models: model {m!r} has no scores in {origin} for tournament {t.value} ({t.number})")
        if m not in have:
            near = difflib.get_close_matches(m, sorted(have), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"models: unknown model {m!r}: no scores for it in {origin}{hint}")


def slot_inputs(fleet: Fleet) -> list[slots.SlotInput]:
    """The slots as the program sees them: fixed stakes, or under per-round staking each slot's cap."""
    regime = fleet.payout.regime
    out = []
    for s in fleet.slots:
        combo = regime.combinations.index(s.current_multipliers) if s.current_multipliers is not None else None
        stake = _cap(fleet, s) if fleet.staking.per_round_system else float(s.stake)
        out.append(slots.SlotInput(name=s.name, stake=stake, current=s.current,  # type: ignore[arg-type]
                                   current_combo=combo, pin=s.pin, exclude=s.exclude))
    return out


def _cap(fleet: Fleet, s) -> float:
    b = fleet.staking.budget
    return b if s.max_stake is None else min(s.max_stake, b)


def per_round(fleet: Fleet) -> slots.PerRound | None:
    """The per-round budget and grid of a per-round fleet (None under fixed stakes)."""
    st = fleet.staking
    if not st.per_round_system:
        return None
    return slots.PerRound(budget=st.budget, step=st.stake_step, min_stake=st.min_stake,
                          caps=tuple(_cap(fleet, s) for s in fleet.slots),
                          current_stakes=tuple(s.current_stake for s in fleet.slots))


@dataclass(frozen=True)
class Weights:
    inst: instruments.InstrumentSet
    result: hrp.HrpResult
    weights: pd.Series  # after min_weight pruning
    pruned: tuple[str, ...]


def weigh(fleet: Fleet, table: pd.DataFrame) -> Weights:
    p = fleet.portfolio
    inst = instruments.build(table, fleet.models, fleet.payout.regime, p)
    res = hrp.hrp(inst.returns, p.risk_measure, codependence=p.codependence, linkage=p.linkage,
                  leaf_order=p.leaf_order, alpha=p.alpha)
    w, pruned = hrp.prune(res.weights, p.min_weight)
    return Weights(inst, res, w, pruned)


def check_pins(fleet: Fleet, wt: Weights) -> None:
    """A slot pinned to a (model, side) with no weight would carry its whole stake against a target of 0:
    bad input, naming the slot and why the pipeline dropped it."""
    weighted = {(wt.inst.info[str(n)].model, wt.inst.info[str(n)].side) for n, w in wt.weights.items() if w > 0}
    for s in fleet.slots:
        if s.pin is None or (s.pin.model, s.pin.side) in weighted:
            continue
        why = [d.reason for d in wt.inst.dropped if d.instrument.startswith(s.pin.label + "_")]
        why += [f"weight below min_weight = {fleet.portfolio.min_weight:g}" for n in wt.pruned
                if str(n).startswith(s.pin.label + "_")]
        raise ConfigError(f"slots ({s.name}).pin: {s.pin.label!r} has no weight in this window"
                          + (f": {why[0]}" if why else "") + "; pin another model or remove the pin")


def regime_table(fleet: Fleet, table: pd.DataFrame, origin: str) -> pd.DataFrame:
    """The fleet's models checked against the data, and the regime's payout scores under the regime's names."""
    check_models(fleet, table, origin)
    return payout_table(table, fleet.payout.regime, fleet.data.column_map, origin)


def plan(fleet: Fleet, table: pd.DataFrame, *, origin: str, current_round: int | None = None,
         notes: tuple[str, ...] = (), deadline: str | None = None) -> Plan:
    """HRP weights on the window, targets, and the slot program's plan. `table` is the raw score table."""
    table = regime_table(fleet, table, origin)
    wt = weigh(fleet, table)
    check_pins(fleet, wt)
    regime = fleet.payout.regime
    tg = targets.compute(wt.weights, wt.inst.info, regime, fleet.portfolio.leverage, fleet.total_stake)
    lb = fleet.portfolio.lookback
    if len(wt.inst.window) < lb:
        notes = (*notes, f"lookback = {lb}: the data holds only {len(wt.inst.window)} resolved rounds; the window "
                         "holds them all")
    return assemble(fleet, tg, table=table, wt=wt, origin=origin, current_round=current_round, notes=notes,
                    deadline=deadline)


def slot_problem(fleet: Fleet, si: list[slots.SlotInput], tg: tuple[Target, ...],
                 st: ScoreCube | None) -> slots.SlotProblem:
    """The slot program for the fleet's objective; tracking needs the window's streams `st`."""
    s = fleet.solver
    if objectives.of(s.objective).needs_streams and st is None:
        raise ConfigError(f'solver.objective: "{s.objective.value}" follows {objectives.of(s.objective).what}, '
                          'which given targets do not have; use objective = "exposure"')
    return slots.SlotProblem.build(si, tg, fleet.payout.regime, fleet.models, change_penalty=s.change_penalty,
                                   objective=s.objective, streams=st, per_round=per_round(fleet))


def solve_slots(fleet: Fleet, si: list[slots.SlotInput], tg: tuple[Target, ...],
                st: ScoreCube | None) -> slots.SlotPlan:
    """The fleet's slot program solved with its solver settings."""
    s = fleet.solver
    return slots.solve(slot_problem(fleet, si, tg, st), solver=s.name, time_limit=s.time_limit)


def slot_rows(fleet: Fleet, si: list[slots.SlotInput], sp: slots.SlotPlan) -> list[SlotRow]:
    """The plan's rows: each slot's reference, multipliers and stake (the plan's per-round stake under
    per-round staking, with the current one beside it)."""
    regime = fleet.payout.regime
    rows = []
    for j, (s, c, ch) in enumerate(zip(si, sp.choices, sp.changed)):
        per_round_stake = sp.stakes[j] if sp.stakes is not None else None
        rows.append(SlotRow.make(s.name, s.stake if per_round_stake is None else per_round_stake, c.ref,
                                 regime.as_dict(c.combo), changed=ch, current=s.current, pinned=s.pin is not None,
                                 current_stake=None if per_round_stake is None else fleet.slots[j].current_stake))
    return rows


def assemble(fleet: Fleet, tg: tuple[Target, ...], *, table: pd.DataFrame | None, wt: Weights | None,
             origin: str, current_round: int | None = None, notes: tuple[str, ...] = (),
             deadline: str | None = None) -> Plan:
    """Solve the slot program for targets `tg` and build the plan record (also used by `assign`)."""
    regime = fleet.payout.regime
    si = slot_inputs(fleet)
    st = None
    if wt is not None and table is not None:
        # The window the weights were fitted on (after the missing-data policy): tracking is measured there.
        st = tracking.streams(table, list(wt.inst.returns.index), fleet.models, regime)
    pb = slot_problem(fleet, si, tg, st)
    sp = slots.solve(pb, solver=fleet.solver.name, time_limit=fleet.solver.time_limit)
    total = fleet.total_stake
    rows = slot_rows(fleet, si, sp)
    held_si = [replace(s, stake=r.stake) for s, r in zip(si, rows)]  # the stakes the plan holds
    ach = slots.achieved(held_si, list(sp.choices), regime)
    tmap = {(t.model, t.side, t.score): t.target for t in tg}
    keys = list(tmap) + [k for k in ach if k not in tmap]
    order = {m: i for i, m in enumerate(fleet.models)}
    keys.sort(key=lambda k: (order.get(k[0], len(order)), k[1] != Side.LONG, regime.scores.index(k[2])))
    target_rows = []
    for m, side, k in keys:
        t, a = tmap.get((m, side, k), 0.0), ach.get((m, side, k), 0.0)
        if t > 0 or a > 0:
            target_rows.append(TargetRow(model=m, side=side, label=Ref(m, side).label, score=k, target=t,
                                         achieved=a))
    deviation = sum(abs(r.achieved - r.target) for r in target_rows)
    lev = sum(r.stake * sum(r.multipliers.values()) for r in rows) / total
    te = None
    if st is not None:
        held = [(r.model, r.side, r.multipliers, r.stake) for r in rows]
        te = tracking.tracking_error(tracking.plan_payout(st, held), tracking.target_payout(st, tg))
    notes = list(notes)
    if "tc" in regime.scores and any(r.side is Side.SHORT and r.score == "tc" for r in target_rows):
        notes.append("the short side of TC is an approximation: TC of inverted predictions is not exactly −TC")
    data = DataSummary(origin)
    perf = None
    if wt is not None:
        inst = wt.inst
        idx = inst.returns.index
        data = DataSummary(
            origin, first_round=int(idx[0]), last_round=int(idx[-1]), rounds=int(len(idx)),
            window_rounds=len(inst.window), window=(int(inst.window[0]), int(inst.window[-1])),
            instruments=tuple(inst.eligible),
            dropped=(*inst.dropped, *(Dropped(n, f"weight below min_weight = {fleet.portfolio.min_weight:g}")
                                      for n in wt.pruned)),
            missing=inst.missing_note, hrp_notes=tuple(wt.result.notes),
            newest_round=int(table["round"].max()))  # resolved or not: the plan is for the round after it
        if table is not None:
            perf = window_performance(fleet, table, rows, [int(r) for r in idx])  # the weights' rounds
    return Plan(
        fleet_sha256=fleet.sha256, fleet_path=str(fleet.path) if fleet.path else "",
        risk_measure=fleet.portfolio.risk_measure.value if wt is not None else None,
        leverage_desired=fleet.portfolio.leverage, leverage_achieved=lev, total_stake=total, regime=regime,
        columns=column_of(regime, fleet.data.column_map) if table is not None else {},
        payout_factors=dict(zip(regime.scores, fleet.payout.factors)), clip=fleet.payout.clip_value,
        weights={str(k): float(v) for k, v in (wt.weights.items() if wt is not None else [])},
        deviation=deviation, change_penalty=fleet.solver.change_penalty, penalty=sp.penalty, slots=tuple(rows),
        targets=tuple(target_rows), solver=sp.solver, data=data, unreachable=pb.capacity_notes(),
        notes=notes, round=current_round, deadline=deadline, window_performance=perf, tracking_error=te,
        tracking_rounds=list(st.rounds) if st is not None else [], staking=staking_record(fleet))


def staking_record(fleet: Fleet) -> StakingSummary:
    """The plan's `staking` block: the system and, under per-round staking, the budget and the grid."""
    st = fleet.staking
    if not st.per_round_system:
        return StakingSummary(st.system)
    return StakingSummary(st.system, nmr=st.nmr, per_round_budget=st.budget, open_rounds=st.open_rounds,
                          stake_step=st.stake_step, min_stake=st.min_stake, mode=st.mode,
                          locked_at_full=st.locked_at_full, locked_now=st.locked_now)


def window_performance(fleet: Fleet, table: pd.DataFrame, rows: list[SlotRow],
                       window: list[int]) -> WindowPerformance:
    """The plan's payout over the window as if it had been held (in-sample: the weights saw these rounds)."""
    regime = fleet.payout.regime
    cube = ScoreCube.of(table, fleet.models, regime.scores)
    held = [Held(r.model, r.side, dict(r.multipliers), r.stake) for r in rows]
    pay = slot_payouts(cube, window, held, dict(zip(regime.scores, fleet.payout.factors)), fleet.payout.clip_value)
    s = summary(pay.sum(axis=1), fleet.total_stake)
    assert np.isfinite([v for v in asdict(s).values() if isinstance(v, float)]).all()
    return WindowPerformance(**asdict(s), payout_factors=dict(zip(regime.scores, fleet.payout.factors)),
                             clip=fleet.payout.clip_value)
