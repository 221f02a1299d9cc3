"""The tournament API's responses, parsed: pure functions from JSON values to typed rows, each refusing
(ApiError naming the query) what the API's documented shapes do not allow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..errors import ApiError
from ..regimes import MAX_ROUND, SCORE_NAME, ScoreConfig, ScoreSpec
from ..types import NMR_SUPPLY

STRATEGY_STAKE = "strategy stake"  # the row type of a round's per-round stake


@dataclass(frozen=True)
class AccountSlots:
    """An account's models as slots (`stakealloc slots`): (name, stake) pairs — per-round: the current
    per-round stake or None where no stake row names the model; fixed: the stake, NMR — and, under fixed
    stakes, the open round's default multipliers by score."""

    models: tuple[tuple[str, float | None], ...]
    multipliers: dict[str, float] | None
    per_round: bool


@dataclass(frozen=True)
class ScoreRow:
    round: int
    score: str  # the API's displayName
    value: float
    resolved: bool
    version: str | None = None


@dataclass(frozen=True)
class StakeRow:
    """One `stakeTransactions` row of type "strategy stake": a model's per-round stake in one round, NMR."""

    model_id: str
    round: int
    amount: float
    timestamp: str


def current_stakes(rows: list[StakeRow]) -> dict[str, float]:
    """Each model's current per-round stake: its newest "strategy stake" row (highest round, then timestamp)."""
    out: dict[str, tuple] = {}
    for r in rows:
        key = (r.round, r.timestamp)
        if r.model_id not in out or key > out[r.model_id][0]:
            out[r.model_id] = (key, r.amount)
    return {m: v[1] for m, v in out.items()}


def locked_stakes(rows: list[StakeRow], last_resolved: int | None) -> dict[str, float]:
    """Each model's NMR locked now: the sum of its rows of rounds not resolved (newer than `last_resolved`)."""
    out: dict[str, float] = {}
    for r in rows:
        if last_resolved is None or r.round > last_resolved:
            out[r.model_id] = out.get(r.model_id, 0.0) + r.amount
    return out


def parse_stake_rows(rows: list, tournament: int) -> list[StakeRow]:
    """`stakeTransactions` rows, field by field: the "strategy stake" rows of `tournament` (others skipped)."""
    out = []
    for i, r in enumerate(rows):
        what = f"stake transactions: row {i}"
        if not isinstance(r, dict):
            raise ApiError(f"{what}: not an object")
        if r.get("type") != STRATEGY_STAKE:
            continue
        t = r.get("tournament")
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t != tournament):
            continue
        amount = _number(r.get("amount"), f"{what}: amount")
        if amount < 0 or amount > NMR_SUPPLY:
            raise ApiError(f"{what}: amount {amount!r} is not a stake")
        ts = r.get("timestamp")
        out.append(StakeRow(_text(r.get("modelId"), f"{what}: modelId"), _round(r.get("round"), f"{what}: round"),
                            amount, ts if isinstance(ts, str) else ""))
    return out


def _score_name(v: object, what: str) -> str:
    """A displayName as the score-name pattern allows: a newline or an escape in one would reach the plan."""
    t = _text(v, what)
    if not SCORE_NAME.match(t) or len(t) > 100:
        raise ApiError(f"{what}: {t[:40]!r} is not a score name")
    return t


def _text(v: object, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise ApiError(f"{what}: {v!r} is not a non-empty string")
    return v


def _number(v: object, what: str, *, default: float | None = None) -> float:
    """A finite number from a JSON number or a decimal string (the API sends NMR amounts as strings)."""
    if v is None and default is not None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ApiError(f"{what}: {v!r} is not a number")
    try:
        x = float(Decimal(str(v)))
    except (InvalidOperation, ValueError):
        raise ApiError(f"{what}: {v!r} is not a number") from None
    if not math.isfinite(x):
        raise ApiError(f"{what}: {v!r} is not a finite number")
    return x


def _optional_number(v: object, what: str) -> float | None:
    return None if v is None else _number(v, what)


def _round(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_ROUND:
        raise ApiError(f"{what}: round number {v!r} is not a whole number in 1..{MAX_ROUND}")
    return v


def _days(v: object, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1000:
        raise ApiError(f"{what}: {v!r} is not a whole number of days")
    return v


def _bool(v: object, what: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    raise ApiError(f"{what}: {v!r} is not true/false")


def parse_configs(items: object, what: str) -> list[ScoreConfig]:
    """A round's `roundScoreConfigs`, field by field."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiError(f"{what}: roundScoreConfigs is not a list")
    out = []
    for it in items:
        if not isinstance(it, dict):
            raise ApiError(f"{what}: a roundScoreConfigs item is not an object")
        dn = _score_name(it.get("displayName"), f"{what}: displayName")
        w = f"{what}: {dn}"
        name, version = it.get("name"), it.get("version")
        spec = ScoreSpec(dn, None if name is None else _text(name, f"{w}: name"),
                         None if version is None else str(version),
                         _days(it.get("totalScoreDays"), f"{w}: totalScoreDays"),
                         _days(it.get("returnsLagDays"), f"{w}: returnsLagDays"),
                         _days(it.get("dataDelayDays"), f"{w}: dataDelayDays"))
        lo = _number(it.get("minMultiplier"), f"{w}: minMultiplier", default=0.0)
        hi = _number(it.get("maxMultiplier"), f"{w}: maxMultiplier", default=0.0)
        default = _number(it.get("defaultMultiplier"), f"{w}: defaultMultiplier", default=0.0)
        if lo < 0 or hi < lo:
            raise ApiError(f"{w}: multipliers min {lo:g} / max {hi:g} are not a range ≥ 0")
        is_payout = _bool(it.get("isPayout"), f"{w}: isPayout")
        if is_payout is None:  # the API's own rule: payout when any of min/max/default is non-zero
            is_payout = bool(lo or hi or default)
        clip = _optional_number(it.get("clipThreshold"), f"{w}: clipThreshold")
        factor = _optional_number(it.get("payoutFactor"), f"{w}: payoutFactor")
        if clip is not None and clip <= 0:
            raise ApiError(f"{w}: clipThreshold {clip:g} is not positive")
        if factor is not None and factor < 0:
            raise ApiError(f"{w}: payoutFactor {factor:g} is negative")
        out.append(ScoreConfig(spec, is_payout, lo, hi, default, clip, factor))
    return out


def parse_rounds(rounds: object, what: str) -> list[tuple[int, list[ScoreConfig]]]:
    if rounds is None:
        return []
    if not isinstance(rounds, list):
        raise ApiError(f"{what}: unexpected response shape")
    out = []
    for r in rounds:
        if not isinstance(r, dict):
            raise ApiError(f"{what}: unexpected response shape")
        n = _round(r.get("number"), what)
        out.append((n, parse_configs(r.get("roundScoreConfigs"), f"{what}: round {n}")))
    return out


def _keep_final(latest: dict, key: tuple[int, str], rank: tuple, row: ScoreRow) -> None:
    if key not in latest or rank > latest[key][0]:
        latest[key] = (rank, row)


def parse_submission_scores(items: list, name: str) -> list[ScoreRow]:
    """One row per (round, displayName): the final `day` (ties: the higher version, then value)."""
    what = f"scores of model {name!r}"
    latest: dict[tuple[int, str], tuple[tuple, ScoreRow]] = {}
    for s in items:
        if not isinstance(s, dict):
            raise ApiError(f"{what}: a score is not an object")
        rnd = _round(s.get("roundNumber"), what)
        dn = _score_name(s.get("displayName"), f"{what}: round {rnd}: displayName")
        if s.get("value") is None:
            continue
        v = _number(s.get("value"), f"{what}: round {rnd} {dn}: value")
        day = _days(s.get("day"), f"{what}: round {rnd} {dn}: day")
        version = s.get("version")
        version = None if version is None else str(version)
        resolved = bool(_bool(s.get("resolved"), f"{what}: round {rnd} {dn}: resolved"))
        _keep_final(latest, (rnd, dn), (-1 if day is None else day, version or "", v),
                    ScoreRow(rnd, dn, v, resolved, version))
    return [row for _k, (_r, row) in sorted(latest.items())]


def parse_performances(perf: list, name: str) -> list[ScoreRow]:
    """The legacy `v2RoundModelPerformances` shape: identity kept (displayName), final day per score."""
    what = f"scores of model {name!r}"
    latest: dict[tuple[int, str], tuple[tuple, ScoreRow]] = {}
    for rp in perf:
        if not isinstance(rp, dict):
            raise ApiError(f"{what}: unexpected response shape")
        rnd = _round(rp.get("roundNumber"), what)
        resolved = bool(_bool(rp.get("roundResolved"), f"{what}: round {rnd}: roundResolved"))
        for s in rp.get("submissionScores") or []:
            if not isinstance(s, dict):
                raise ApiError(f"{what}: round {rnd}: a score is not an object")
            dn = _score_name(s.get("displayName"), f"{what}: round {rnd}: displayName")
            if s.get("value") is None:
                continue
            v = _number(s.get("value"), f"{what}: round {rnd} {dn}: value")
            day = _days(s.get("day"), f"{what}: round {rnd} {dn}: day")
            _keep_final(latest, (rnd, dn), (-1 if day is None else day, v), ScoreRow(rnd, dn, v, resolved))
    return [row for _k, (_r, row) in sorted(latest.items())]
