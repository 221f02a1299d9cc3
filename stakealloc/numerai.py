"""Numerai tournament GraphQL client (design §7), over one `requests.Session`.

Every request has a timeout; connection errors, timeouts, HTTP 5xx/429 and
malformed JSON are retried with exponential backoff (honouring `Retry-After`);
a GraphQL `errors` list is an `ApiError` naming the query and the model. The
auth header is sent only for queries that need it and only when both keys are
in the environment; the keys are never printed, logged or stored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from .errors import ApiError, ConfigError, UnknownModelError

DEFAULT_URL = "https://api-tournament.numer.ai"
TOURNAMENT = 8  # Classic

#: API displayName -> score key; earlier names win when a round carries several for one key.
DISPLAY_NAMES: dict[str, tuple[str, ...]] = {
    "corr": ("canon_corr", "v2_corr20"),
    "mmc": ("canon_mmc", "mmc"),
    "tc": ("canon_tc", "tc"),
    "corr60": ("canon_corr60", "corr60"),
    "mmc60": ("canon_mmc60", "mmc60"),
    "bmc": ("canon_bmc", "bmc"),
}
_KEY_OF = {name: key for key, names in DISPLAY_NAMES.items() for name in names}

Q_MODEL_ID = "query($n: String!) { v3UserProfile(modelName: $n) { id } }"
Q_STAKE = "query($n: String!) { v3UserProfile(modelName: $n) { stakeValue } }"
Q_STAKE_INFO = ("query($n: String!) { v3UserProfile(modelName: $n) { stakeInfo { corrMultiplier mmcMultiplier "
                "tcMultiplier } } }")
Q_PERFORMANCES = ("query($id: String!, $n: Int!) { v2RoundModelPerformances(modelId: $id, tournament: 8, "
                  "lastNRounds: $n) { roundNumber roundResolved roundResolveTime submissionScores { displayName "
                  "value day date } } }")
Q_ROUND = "query { rounds(tournament: 8, number: 0) { number } }"
Q_ACCOUNT = "query { account { models { id name } } }"


@dataclass(frozen=True)
class ScoreRow:
    round: int
    score: str
    value: float
    resolved: bool


class Client:
    """The tournament API. `sleep` and the timings are injectable so tests run fast."""

    def __init__(self, url: str | None = None, *, public_id: str | None = None, secret_key: str | None = None,
                 timeout: float = 30.0, retries: int = 5, backoff: float = 1.0, max_wait: float = 120.0,
                 pause: float = 0.3, sleep: Callable[[float], None] = time.sleep, session=None):
        import requests

        self.url = url or DEFAULT_URL
        self._auth = f"Token {public_id}${secret_key}" if public_id and secret_key else None
        self.timeout, self.retries, self.backoff, self.max_wait = timeout, retries, backoff, max_wait
        self.pause, self.sleep = pause, sleep
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "stakealloc", "Content-Type": "application/json"})

    def __repr__(self) -> str:  # never show the keys
        return f"Client(url={self.url!r}, auth={'yes' if self._auth else 'no'})"

    @classmethod
    def from_env(cls, **kw) -> "Client":
        return cls(os.environ.get("STAKEALLOC_API_URL") or None, public_id=os.environ.get("NUMERAI_PUBLIC_ID"),
                   secret_key=os.environ.get("NUMERAI_SECRET_KEY"), **kw)

    @property
    def has_keys(self) -> bool:
        return self._auth is not None

    # --- transport ------------------------------------------------------------------

    def post(self, query: str, variables: dict[str, Any], *, what: str, auth: bool = False) -> dict[str, Any]:
        """POST one GraphQL query; returns its `data`. `what` names the query and model in errors."""
        import requests

        headers = {}
        if auth:
            if self._auth is None:
                raise ConfigError(f"{what}: needs NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY in the environment")
            headers["Authorization"] = self._auth
        last = "no attempt"
        for attempt in range(self.retries + 1):
            wait = min(self.backoff * (2 ** attempt), self.max_wait)
            try:
                r = self.session.post(self.url, json={"query": query, "variables": variables}, headers=headers,
                                      timeout=self.timeout)
            except requests.Timeout:
                last = f"timed out after {self.timeout:g} s"
            except requests.ConnectionError as e:
                last = f"connection failed ({type(e).__name__})"
            else:
                if r.status_code == 429 or r.status_code >= 500:
                    last = f"HTTP {r.status_code}"
                    ra = _retry_after(r.headers.get("Retry-After"))
                    if ra is not None:
                        wait = min(max(ra, wait if r.status_code >= 500 else 0.0), self.max_wait)
                elif r.status_code >= 400:
                    raise ApiError(f"{what}: HTTP {r.status_code} from the Numerai API")
                else:
                    try:
                        body = r.json()
                    except (ValueError, json.JSONDecodeError):
                        last = "malformed JSON in the response"
                    else:
                        if not isinstance(body, dict):
                            last = "unexpected response shape"
                        elif body.get("errors"):
                            msgs = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                             for e in body["errors"])
                            raise ApiError(f"{what}: the API answered with an error: {msgs}")
                        elif not isinstance(body.get("data"), dict):
                            last = "response without data"
                        else:
                            return body["data"]
            if attempt < self.retries:
                self.sleep(wait)
        raise ApiError(f"{what}: gave up after {self.retries + 1} attempts: {last}")

    # --- queries -------------------------------------------------------------------

    def _profile(self, query: str, name: str, what: str) -> dict[str, Any]:
        data = self.post(query, {"n": name}, what=f"{what} of model {name!r}")
        prof = data.get("v3UserProfile")
        if prof is None:
            raise UnknownModelError(f"unknown model {name!r}: the Numerai API has no model of that name")
        if not isinstance(prof, dict):
            raise ApiError(f"{what} of model {name!r}: unexpected response shape")
        return prof

    def model_id(self, name: str) -> str:
        mid = self._profile(Q_MODEL_ID, name, "id").get("id")
        if not isinstance(mid, str) or not mid:
            raise ApiError(f"id of model {name!r}: missing in the response")
        return mid

    def stake(self, name: str) -> float:
        """The model's current stake in NMR (the API sends a decimal string; null means no stake)."""
        v = self._profile(Q_STAKE, name, "stake").get("stakeValue")
        if v is None:
            return 0.0
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            raise ApiError(f"stake of model {name!r}: {v!r} is not a decimal number") from None
        if not d.is_finite() or d < 0:
            raise ApiError(f"stake of model {name!r}: {v!r} is not a valid stake")
        return float(d)

    def multipliers(self, name: str) -> dict[str, float]:
        """Payout multipliers applied to the model now: {corr, mmc, tc}."""
        info = self._profile(Q_STAKE_INFO, name, "stakeInfo").get("stakeInfo")
        if not isinstance(info, dict):
            raise ApiError(f"stakeInfo of model {name!r}: missing (is the model staked?)")
        out = {}
        for key, field in (("corr", "corrMultiplier"), ("mmc", "mmcMultiplier"), ("tc", "tcMultiplier")):
            v = info.get(field)
            try:
                out[key] = float(Decimal(str(v))) if v is not None else 0.0
            except InvalidOperation:
                raise ApiError(f"stakeInfo of model {name!r}: {field} {v!r} is not a number") from None
        return out

    def current_round(self) -> int:
        data = self.post(Q_ROUND, {}, what="current round")
        rounds = data.get("rounds")
        try:
            return int(rounds[0]["number"])  # type: ignore[index]
        except (TypeError, KeyError, IndexError, ValueError):
            raise ApiError("current round: unexpected response shape") from None

    def performances(self, model_id: str, name: str, last_n: int) -> list[ScoreRow]:
        """Per-round scores; the latest `day` per (round, displayName), mapped to score keys. No order assumed."""
        data = self.post(Q_PERFORMANCES, {"id": model_id, "n": int(last_n)}, what=f"scores of model {name!r}")
        perf = data.get("v2RoundModelPerformances")
        if perf is None:
            return []
        if not isinstance(perf, list):
            raise ApiError(f"scores of model {name!r}: unexpected response shape")
        return parse_performances(perf, name)

    def account_models(self) -> list[tuple[str, str]]:
        data = self.post(Q_ACCOUNT, {}, what="account models", auth=True)
        try:
            models = data["account"]["models"]
            return sorted((str(m["name"]).lower(), str(m["id"])) for m in models)
        except (TypeError, KeyError):
            raise ApiError("account models: unexpected response shape") from None

    def slots_toml(self) -> list[str]:
        """The account's models with their stakes, as `[[slots]]` tables ready to paste."""
        lines = ["# Your account's models and their current stakes (NMR), from the Numerai API."]
        for name, _id in self.account_models():
            stake = self.stake(name)
            lines += ["", "[[slots]]", f'name = "{name}"', f"stake = {stake!r}", f'current = "{name}"  # edit: what it submits today']
            self.sleep(self.pause)
        return lines


def _retry_after(v: str | None) -> float | None:
    if v is None:
        return None
    try:
        return max(float(v), 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            dt = parsedate_to_datetime(v)
        except (TypeError, ValueError):
            return None
        return max(dt.timestamp() - time.time(), 0.0)


def parse_performances(perf: list, name: str) -> list[ScoreRow]:
    latest: dict[tuple[int, str], tuple[int, float]] = {}
    resolved: dict[int, bool] = {}
    for rp in perf:
        if not isinstance(rp, dict) or rp.get("roundNumber") is None:
            raise ApiError(f"scores of model {name!r}: a round without roundNumber")
        rnd = int(rp["roundNumber"])
        resolved[rnd] = bool(rp.get("roundResolved"))
        for s in rp.get("submissionScores") or []:
            dn, v, day = s.get("displayName"), s.get("value"), s.get("day")
            if dn not in _KEY_OF or v is None:
                continue
            d = int(day) if day is not None else -1
            if (rnd, dn) not in latest or d > latest[(rnd, dn)][0]:
                latest[(rnd, dn)] = (d, float(v))
    rows = []
    for rnd in sorted(resolved):
        for key, names in DISPLAY_NAMES.items():
            for dn in names:
                if (rnd, dn) in latest:
                    rows.append(ScoreRow(rnd, key, latest[(rnd, dn)][1], resolved[rnd]))
                    break
    return rows
