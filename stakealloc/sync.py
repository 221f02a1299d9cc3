"""Bring the cache up to date from the API (or read it alone, offline) and hand the pipeline its inputs."""

from __future__ import annotations

import logging

import pandas as pd

from .cache import Cache, Corrupt, default_dir
from .config import Facts, FleetSpec, resolve
from .errors import ConfigError, DataError
from .numerai import Client, GraphQLError, ScoreRow, current_stakes, locked_stakes
from .progress import Progress
from .regimes import ScoreConfig, payout_configs, regime_from_configs
from .scores import ScoreData, validate_table
from .types import NMR_SUPPLY

FULL_HISTORY = 400  # rounds fetched for a model (and of payout rules) not yet cached
RULES_MARGIN = 5  # newest cached rounds whose payout rules are fetched again (they may still be set)


log = logging.getLogger("stakealloc")


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


def _trusted(load, offline: bool, empty):
    """What a cache file holds; a corrupt one is fetched again online and an error offline (never used)."""
    try:
        return load()
    except Corrupt as e:
        if offline:
            raise DataError(f"offline: the cache is unusable: {e}; fetch it again (not offline)",
                            key="offline") from None
        log.warning(f"{e}; fetching again")
        return empty


def newest_with_payout(rules: dict[int, list[ScoreConfig]]) -> int | None:
    have = [r for r, c in rules.items() if payout_configs(c)]
    return max(have) if have else None


def sync(spec: FleetSpec, *, offline: bool, progress: bool, client: Client | None = None) -> ScoreData:
    """Scores, stakes and payout rules from the API into the cache (or from the cache alone, offline); the
    fleet resolved with the stakes and live rules the API states. Warnings go to the "stakealloc" logger."""
    tournament = spec.data.tournament.number
    cache = Cache(spec.data.cache_dir or default_dir(), tournament)
    notes: list[str] = []
    facts: dict = _trusted(cache.load_facts, offline, {})
    client = None if offline else (client or Client.from_env(tournament=tournament))
    current_round = None if client is None else client.current_round()
    rows = _refresh_scores(spec, cache, client, current_round, offline=offline, progress=progress)
    rules, live_round, live_open = _refresh_rules(spec, cache, client, facts, current_round, offline=offline)
    slot_facts = _refresh_stakes(spec, cache, client, facts, rows, current_round, (live_round, live_open), notes)
    resolved = _resolved(spec, slot_facts, rules, live_round, live_open, notes, offline=offline)
    table = validate_table(pd.DataFrame(rows, columns=["round", "model", "score", "value", "resolved"]), "Numerai API")
    # the URL's path may hold a key (someone put it there): scrubbed like every message
    where = "cache (offline)" if offline else f"Numerai API ({client.scrub(client.display_url)})"  # type: ignore
    return ScoreData(resolved, table, where, current_round if client is not None else None, rules, tuple(notes),
                     deadline=client.close_staking_time if client is not None else None)._trusted()


def _refresh_scores(spec: FleetSpec, cache: Cache, client: Client | None, current_round: int | None, *,
                    offline: bool, progress: bool) -> list[tuple]:
    """Every model's per-round scores as (round, model, score, value, resolved): the cache's, refreshed from
    the API where rounds can still change (online), or the cache's alone (offline: every model must be there)."""
    rows: list[tuple] = []
    missing: list[str] = []
    legacy = [m for m in spec.models if cache.legacy_path(m) is not None]
    if legacy:
        log.warning(f"the cache holds scores of {', '.join(legacy)} in an older format (short score names); "
                    + ("they are not used" if offline else "they are fetched again by displayName"))
    bar = Progress(len(spec.models), "scores", progress and not offline)
    for i, m in enumerate(spec.models):
        hit = _trusted(lambda m=m: cache.load_scores(m), offline, None)
        if client is None:
            if hit is None:
                missing.append(m)
                continue
            mid, mrows = hit
        else:
            mid = hit[0] if hit else client.model_id(m)
            cached = hit[1] if hit else []
            fresh = client.scores(mid, m, rounds_to_fetch(cached, current_round))  # type: ignore[arg-type]
            mrows = refresh_rows(cached, fresh)
            cache.save_scores(m, mid, mrows)
            cache.drop_legacy(m)
            bar.step(m)
            if i + 1 < len(spec.models):
                client.sleep(client.pause)
        rows += [(r.round, m, r.score, r.value, r.resolved) for r in mrows]
    bar.close()
    if missing:
        raise DataError(f"offline: no cached scores for {', '.join(missing)}; run `stakealloc fetch` first",
                        key="offline")
    return rows


def _refresh_rules(spec: FleetSpec, cache: Cache, client: Client | None, facts: dict, current_round: int | None,
                   *, offline: bool) -> tuple[dict[int, list[ScoreConfig]], int | None, bool]:
    """The rounds' payout rules (for the backtest, each round booked with its own, and for `live`), and the
    round whose rules `live` plans with and whether it is open."""
    rules = _trusted(cache.load_rules, offline, {})
    live_round = facts.get("live_round") if isinstance(facts.get("live_round"), int) else None
    live_open = bool(facts.get("live_open"))
    if client is not None:
        limit = FULL_HISTORY if not rules else max(current_round - max(rules) + RULES_MARGIN, 1)  # type: ignore[operator]
        rules = {**rules, **client.round_configs(limit)}
        live_round, live_open = None, False
        if spec.payout.live:
            opened = client.open_round_configs()
            if opened is not None and payout_configs(opened[1]):
                live_round, live_open = opened[0], True
                rules[opened[0]] = opened[1]
            else:
                live_round = newest_with_payout(rules)
        cache.save_rules(rules)
    return rules, live_round, live_open


def _refresh_stakes(spec: FleetSpec, cache: Cache, client: Client | None, facts: dict, rows: list[tuple],
                    current_round: int | None, live: tuple[int | None, bool], notes: list[str]) -> dict:
    """Each slot's facts (its fixed stake where the file leaves it to the API; under per-round staking its
    current per-round stake): the cache's, refreshed online and saved with the round facts."""
    slot_facts = facts.get("slots", {}) if isinstance(facts.get("slots"), dict) else {}
    slot_facts = {k: v for k, v in slot_facts.items() if isinstance(v, dict)}  # a valid checksum, odd values
    if client is not None:
        for name in _need_stake(spec):
            slot_facts[name] = {**slot_facts.get(name, {}), "stake": client.stake(name)}
        if spec.staking.per_round_system:
            resolved_rounds = [r[0] for r in rows if r[4]]
            _per_round_facts(client, spec, slot_facts, max(resolved_rounds) if resolved_rounds else None, notes)
        cache.save_facts({"slots": slot_facts, "current_round": current_round, "live_round": live[0],
                          "live_open": live[1]})
    return slot_facts


def _need_stake(spec: FleetSpec) -> list[str]:
    """Slots whose fixed stake comes from the API. The fixed system's stakeValue is never read under per-round
    staking (it reads 0 for migrated models)."""
    return [] if spec.staking.per_round_system else [s.name for s in spec.slots if s.stake is None]


def _resolved(spec: FleetSpec, slot_facts: dict, rules: dict[int, list[ScoreConfig]], live_round: int | None,
              live_open: bool, notes: list[str], *, offline: bool):
    """The fleet resolved with what the API states: the stakes, the live regime, the current per-round stakes."""
    stakes: dict[str, float] = {}
    for name in _need_stake(spec):
        stake = slot_facts.get(name, {}).get("stake")
        if stake is None:
            raise DataError(f"offline: no cached stake for slot {name!r}; run `stakealloc fetch` first", key="offline")
        if stake <= 0:
            raise DataError(f"slot {name!r}: the API reports no stake ({stake}); give `stake` in the fleet file")
        if stake > NMR_SUPPLY:
            raise DataError(f"slot {name!r}: the API reports a stake of {stake:g} NMR, more than NMR's supply")
        stakes[name] = float(stake)
    regime = None
    if spec.payout.live:
        if live_round is None or live_round not in rules:
            raise DataError('payout.regime = "live": no round with payout rules (roundScoreConfigs) is known'
                            + ("; run `stakealloc fetch` first" if offline else " from the API"))
        regime = regime_from_configs(rules[live_round], live_round, step=spec.payout.multiplier_step)
        if not live_open:
            notes.append(f"no round is open: the payout rules are those of round {live_round}, the newest with "
                         "payout configurations")
    current, locked_now = {}, None
    if spec.staking.per_round_system:
        current, locked_now = _current_stakes(spec, slot_facts, notes)
    try:
        return resolve(spec, Facts(stakes=stakes, regime=regime, current_stakes=current, locked_now=locked_now))
    except ConfigError as e:
        if stakes and e.key == "stakes":  # the file was fine; the API's stakes break a range
            raise DataError(f"with the API's stakes: {e}") from None
        raise


def _per_round_facts(client: Client, spec: FleetSpec, slot_facts: dict, last_resolved: int | None,
                     notes: list[str]) -> None:
    """Each slot's current per-round stake and its NMR locked now, from `stakeTransactions`, into the cached
    facts; where the server rejects the field as a schema error, the stakes are unknown (noted), never fatal."""
    ids = {}
    for s in spec.slots:
        ids[s.name] = slot_facts.get(s.name, {}).get("id") or client.model_id(s.name)
        slot_facts[s.name] = {**slot_facts.get(s.name, {}), "id": ids[s.name]}
    try:
        rows = client.stake_rows(list(ids.values()))
    except GraphQLError as e:
        if not e.schema:
            raise
        notes.append(f"current stakes are unknown: the server rejects stakeTransactions ({e.messages[0][:120]}); "
                     "the fleet file's current_stake is used")
        for name in ids:
            slot_facts[name].pop("current_stake", None)
            slot_facts[name].pop("locked", None)
        return
    cur, locked = current_stakes(rows), locked_stakes(rows, last_resolved)
    for name, mid in ids.items():
        slot_facts[name]["current_stake"] = cur.get(mid)
        slot_facts[name]["locked"] = locked.get(mid, 0.0)


def _current_stakes(spec: FleetSpec, slot_facts: dict, notes: list[str]) -> tuple[dict[str, float], float | None]:
    """(current per-round stake by slot, NMR locked now over the slots) from the facts; the file's current_stake
    wins where both exist, and a difference is noted."""
    out: dict[str, float] = {}
    locked = 0.0
    known = False
    for s in spec.slots:
        f = slot_facts.get(s.name, {})
        api = f.get("current_stake")
        if isinstance(api, (int, float)) and not isinstance(api, bool):
            out[s.name] = float(api)
            if s.current_stake is not None and abs(s.current_stake - api) > 1e-9:
                notes.append(f"slot {s.name}: current_stake {s.current_stake:g} in the fleet file, {api:g} NMR per "
                             "the API's stakeTransactions; the file's is used")
        if isinstance(f.get("locked"), (int, float)) and not isinstance(f.get("locked"), bool):
            locked += float(f["locked"])
            known = True
    return out, (locked if known else None)
