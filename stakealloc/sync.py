"""Bring the cache up to date from the API (or read it alone, offline) and hand the pipeline its inputs."""

from __future__ import annotations

import sys
from dataclasses import replace

import pandas as pd

from .cache import Cache, Corrupt, default_dir
from .config import Fleet, with_regime
from .errors import ConfigError, DataError
from .numerai import Client, ScoreRow
from .progress import Progress
from .regimes import Regime
from .scores import validate_table

FULL_HISTORY = 400  # rounds fetched for a model not yet cached


def _warn(msg: str) -> None:
    print(f"stakealloc: warning: {msg}", file=sys.stderr)


def refresh_rows(cached: list[ScoreRow], fresh: list[ScoreRow]) -> list[ScoreRow]:
    """Resolved cached rows are final; fresh rows replace everything else round by round."""
    fresh_rounds = {r.round for r in fresh}
    kept = [r for r in cached if r.round not in fresh_rounds and r.resolved]
    return sorted(kept + fresh, key=lambda r: (r.round, r.score))


def rounds_to_fetch(cached: list[ScoreRow], current_round: int) -> int:
    """lastNRounds covering every round that can still change: unresolved ones and those newer than the cache."""
    if not cached:
        return FULL_HISTORY
    unresolved = [r.round for r in cached if not r.resolved]
    oldest_open = min(unresolved) if unresolved else max(r.round for r in cached) + 1
    return max(current_round - oldest_open + 1, 1)


def sync(fleet: Fleet, *, offline: bool, progress: bool, client: Client | None = None):
    """(fleet with stakes and regime filled in, score table, source text, current round or None)."""
    cache = Cache(fleet.data.cache_dir or default_dir())
    facts: dict = {}
    try:
        facts = cache.load_facts()
    except Corrupt as e:
        if offline:
            raise DataError(f"cache: {e}") from None
        _warn(f"{e}; fetching again")
    client = None if offline else (client or Client.from_env())
    current_round = None if client is None else client.current_round()

    rows: list[tuple] = []
    missing: list[str] = []
    bar = Progress(len(fleet.models), "scores", progress and not offline)
    for i, m in enumerate(fleet.models):
        try:
            hit = cache.load_scores(m)
        except Corrupt as e:
            if offline:
                raise DataError(f"cache: {e}; run without --offline to fetch it again") from None
            _warn(f"{e}; fetching again")
            hit = None
        if client is None:
            if hit is None:
                missing.append(m)
                continue
            mid, mrows = hit
        else:
            mid = hit[0] if hit else client.model_id(m)
            cached = hit[1] if hit else []
            fresh = client.performances(mid, m, rounds_to_fetch(cached, current_round))  # type: ignore[arg-type]
            mrows = refresh_rows(cached, fresh)
            cache.save_scores(m, mid, mrows)
            bar.step(m)
            if i + 1 < len(fleet.models):
                client.sleep(client.pause)
        rows += [(r.round, m, r.score, r.value, r.resolved) for r in mrows]
    bar.close()
    if missing:
        raise DataError(f"--offline: no cached scores for {', '.join(missing)}; run `stakealloc fetch` first")

    slot_facts = facts.get("slots", {}) if isinstance(facts.get("slots"), dict) else {}
    need_stake = [s.name for s in fleet.slots if s.stake is None]
    need_mult = [s.name for s in fleet.slots] if fleet.payout.live else []
    if client is not None:
        for name in dict.fromkeys(need_stake + need_mult):
            f = dict(slot_facts.get(name, {}))
            if name in need_stake:
                f["stake"] = client.stake(name)
            if name in need_mult:
                f["multipliers"] = client.multipliers(name)
            slot_facts[name] = f
        if need_stake or need_mult or current_round is not None:
            cache.save_facts({"slots": slot_facts, "current_round": current_round})
    else:
        current_round = None

    slots = []
    for s in fleet.slots:
        if s.stake is None:
            stake = slot_facts.get(s.name, {}).get("stake")
            if stake is None:
                raise DataError(f"--offline: no cached stake for slot {s.name!r}; run `stakealloc fetch` first")
            if stake <= 0:
                raise DataError(f"slot {s.name!r}: the API reports no stake ({stake}); give `stake` in the fleet file")
            s = replace(s, stake=float(stake))
        slots.append(s)
    fleet = replace(fleet, slots=tuple(slots))
    if fleet.payout.live:
        fleet = with_regime(fleet, live_regime({n: slot_facts.get(n, {}).get("multipliers") for n in need_mult}))

    table = validate_table(pd.DataFrame(rows, columns=["round", "model", "score", "value", "resolved"]), "Numerai API")
    where = "cache (offline)" if offline else f"Numerai API ({client.url})"  # type: ignore[union-attr]
    return fleet, table, where, current_round


def live_regime(mults: dict[str, dict | None]) -> Regime:
    """Today's single combination, as every slot's stakeInfo shows it; the slots must agree."""
    missing = [n for n, m in mults.items() if not m]
    if missing:
        raise DataError(f"payout.regime = \"live\": no multipliers known for {', '.join(missing)}")
    groups: dict[tuple, list[str]] = {}
    for name, m in mults.items():
        groups.setdefault(tuple(sorted(m.items())), []).append(name)  # type: ignore[union-attr]
    if len(groups) > 1:
        desc = "; ".join(f"{', '.join(v)}: " + ", ".join(f"{k} {x:g}" for k, x in key) for key, v in groups.items())
        raise ConfigError(f"payout.regime = \"live\": the slots' multipliers differ ({desc})")
    combo = dict(next(iter(groups)))
    scores = tuple(k for k in ("corr", "mmc", "tc") if combo.get(k, 0) > 0)
    if not scores:
        raise DataError("payout.regime = \"live\": every multiplier is 0")
    return Regime("live", scores, (tuple(combo[k] for k in scores),))
