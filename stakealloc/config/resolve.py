"""Resolving: the file's values where it states them, the API's facts where it does not, into a complete
Fleet; conflicts and gaps are a ConfigError naming the key."""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from ..regimes import Regime
from ..tolerance import SUM_TO_ONE
from ..types import NMR_SUPPLY
from .model import (
    DEFAULT_CLIP,
    DEFAULT_LEVERAGE,
    DEFAULT_OBJECTIVE,
    DEFAULT_PAYOUT_FACTOR,
    NO_FACTS,
    Facts,
    Fleet,
    FleetSpec,
    Payout,
    Slot,
    SlotSpec,
    Solver,
    Staking,
)


def resolve(spec: FleetSpec, facts: Facts = NO_FACTS) -> Fleet:
    """The complete fleet: the file's values where it states them, the API's facts where it does not.
    Conflicts and gaps are a ConfigError naming the key."""
    live = spec.payout.live
    regime = spec.payout.regime if not live else facts.regime
    if regime is None:
        raise ConfigError('payout.regime: "live" takes the open round\'s rules from the API; load the scores first')
    lev, mults = check_rules(spec, regime, live)
    per_round = spec.staking.per_round_system
    slots = tuple(_resolve_slot(s, m, facts, per_round) for s, m in zip(spec.slots, mults))
    solver = replace(spec.solver, objective=spec.solver.objective or DEFAULT_OBJECTIVE)
    check_totals(slots, solver, spec.staking)
    payout = Payout(regime=regime,
                    payout_factor=(DEFAULT_PAYOUT_FACTOR if spec.payout.payout_factor is None
                                   else spec.payout.payout_factor),
                    clip=DEFAULT_CLIP if spec.payout.clip is None else spec.payout.clip)
    return Fleet(models=spec.models, portfolio=replace(spec.portfolio, leverage=float(lev)),
                 payout=payout, data=spec.data, solver=solver, slots=slots, path=spec.path, sha256=spec.sha256,
                 spec=spec, staking=replace(spec.staking, locked_now=facts.locked_now))


def check_rules(spec: FleetSpec, regime: Regime, live: bool) -> tuple[float, list[tuple[float, ...] | None]]:
    """(the leverage in force under `regime`, each slot's current multipliers as a combination of it), after
    checking the file's leverage, columns and current multipliers against it."""
    where_rules = f"the live regime of round {regime.round}" if live else f"regime {regime.name!r}"
    fixed = regime.fixed_leverage
    lev = spec.portfolio.leverage
    if fixed is not None:
        if lev is not None and abs(lev - fixed) > SUM_TO_ONE:
            if live:
                raise ConfigError(f"portfolio.leverage: {lev:g} is not possible in {where_rules} "
                                  f"({regime.describe()}): leverage is fixed at {fixed:g}; remove the key")
            raise ConfigError(
                f"portfolio.leverage: {lev:g} is not possible in {where_rules}: every slot pays "
                f"{' + '.join(f'{p:g}×{k}' for k, p in zip(regime.scores, regime.combinations[0]))}, so leverage is "
                f"fixed at {fixed:g}; remove the key or set it to {fixed:g}")
        lev = fixed
    elif lev is None:
        lev = DEFAULT_LEVERAGE
    for k, _c in spec.data.columns:
        if k not in regime.scores:
            raise ConfigError(f"data.columns.{k}: {k!r} is not a payout score of {where_rules} "
                              f"({', '.join(regime.scores)})")
    return float(lev), [_multipliers(s, regime, live) for s in spec.slots]


def _resolve_slot(s: SlotSpec, mults: tuple[float, ...] | None, facts: Facts, per_round: bool) -> Slot:
    if per_round:
        # The file's current_stake wins over the API's (the plan notes a difference: sync).
        cur = s.current_stake if s.current_stake is not None else facts.current_stakes.get(s.name)
        return Slot(name=s.name, stake=float(cur or 0.0), current=s.current, current_multipliers=mults, pin=s.pin,
                    exclude=s.exclude, current_stake=None if cur is None else float(cur), max_stake=s.max_stake)
    stake = s.stake if s.stake is not None else facts.stakes.get(s.name)
    if stake is None:
        raise ConfigError(f"{s.where}.stake: not in the fleet file; it comes from the API (load the scores first)")
    return Slot(name=s.name, stake=float(stake), current=s.current, current_multipliers=mults, pin=s.pin,
                exclude=s.exclude)


def _multipliers(s: SlotSpec, regime: Regime, live: bool) -> tuple[float, ...] | None:
    """The slot's current multipliers as a combination of `regime`; a single-combination regime's only one
    for a slot with a current model."""
    mults = None
    if s.current_multipliers is not None:
        cm = dict(s.current_multipliers)
        unknown = [k for k in cm if k not in regime.scores]
        if unknown and live:
            raise ConfigError(f"slots ({s.name}).current_multipliers.{unknown[0]}: not a payout score of the live "
                              f"regime of round {regime.round} ({', '.join(regime.scores)})")
        if unknown:
            raise ConfigError(f"{s.where}.current_multipliers.{unknown[0]}: not a score of regime {regime.name!r} "
                              f"({', '.join(regime.scores)})")
        idx = regime.index_of(cm)
        if idx is None and live:
            raise ConfigError(f"slots ({s.name}).current_multipliers: {cm} is not allowed in the live "
                              f"regime of round {regime.round} ({regime.describe()})")
        if idx is None:
            raise ConfigError(f"{s.where}.current_multipliers: {cm} is not an allowed combination of regime "
                              f"{regime.name!r}")
        mults = regime.combinations[idx]
    elif s.current is not None and regime.single:
        mults = regime.combinations[0]
    return mults


def check_totals(slots: tuple[Slot, ...], solver: Solver, staking: Staking | None = None) -> None:
    """Ranges that need every stake: the fleet's total within NMR's supply, the change penalty within it;
    under per-round staking, the budget the slots can carry."""
    if staking is not None and staking.per_round_system:
        b = staking.budget
        if b <= 0:
            raise ConfigError(f"staking: the per-round budget rounds down to 0 NMR (nmr / open_rounds below "
                              f"stake_step = {staking.stake_step:g})", key="stakes")
        if staking.min_stake > b:
            raise ConfigError(f"staking.min_stake: {staking.min_stake:g} NMR is more than the per-round budget "
                              f"({b:g} NMR): no slot could stake", key="stakes")
        caps = [min(s.max_stake, b) if s.max_stake is not None else b for s in slots]
        if sum(caps) < b - 1e-9:
            raise ConfigError(f"slots: the slots' max_stake add up to {sum(caps):g} NMR per round, less than the "
                              f"per-round budget ({b:g} NMR)", key="stakes")
        if solver.change_penalty > b:
            raise ConfigError(f"solver.change_penalty: {solver.change_penalty:g} is more than the per-round "
                              f"budget ({b:g} NMR)", key="stakes")
        return
    total = float(sum(s.stake for s in slots))
    if total > NMR_SUPPLY:
        raise ConfigError(f"slots: the stakes add up to {total:,.0f} NMR, more than NMR's total supply "
                          f"({NMR_SUPPLY:,.0f})", key="stakes")
    if solver.change_penalty > total:
        raise ConfigError(f"solver.change_penalty: {solver.change_penalty:g} is more than the total stake "
                          f"({total:g} NMR)", key="stakes")
