"""Numerai tournament GraphQL client, over one `requests.Session`.

Every request has a timeout; connection errors, timeouts, HTTP 5xx/429 and
malformed JSON are retried with exponential backoff (honouring `Retry-After`);
a GraphQL `errors` list is an `ApiError` naming the query and the model. The
auth header is sent only for queries that need it and only when both keys are
in the environment; the keys are never printed, logged or stored.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .errors import ApiError, ConfigError, UnknownModelError
from .regimes import MAX_ROUND, SCORE_NAME, ScoreConfig, ScoreSpec, check_multipliers, payout_configs
from .types import NMR_SUPPLY

DEFAULT_URL = "https://api-tournament.numer.ai"

# Queries name only fields the API documents as current: never `stakeInfo`, the scalar
# corr/mmc/tc multipliers or (but as a fallback) `v2RoundModelPerformances`.
# v3UserProfile takes the tournament, as numerapi 3.1.1 sends it; `payoutMultipliers` is no field of it (it is
# one of the deprecated v2RoundModelPerformances rows): a round's multipliers are its roundScoreConfigs.
Q_MODEL_ID = "query($n: String!, $tournament: Int) { v3UserProfile(modelName: $n, tournament: $tournament) { id } }"
# The fixed system's stake; never read under per-round staking (reported to read 0 for migrated models).
Q_STAKE = ("query($n: String!, $tournament: Int) { v3UserProfile(modelName: $n, tournament: $tournament) { "
           "stakeValue } }")
# Per-round staking (Atomic Blockchain Staking): one row per model and round, as public schema introspection
# reports the field (numerapi 3.1.1 does not wrap it).
Q_STAKE_TX = ("query($modelIds: [ID], $limit: Int, $offset: Int) { stakeTransactions(modelIds: $modelIds, "
              "limit: $limit, offset: $offset) { amount model modelId note round timestamp tournament type value } }")
STAKE_TX_PAGE = 500  # rows a page
STAKE_TX_PAGES = 40  # pages at most (20,000 rows: 64 open rounds of 300 models)
STRATEGY_STAKE = "strategy stake"  # the row type of a round's per-round stake
Q_SCORES = ("query($modelId: ID!, $tournament: Int, $lastNRounds: Int) { submissionScores(modelId: $modelId, "
            "tournament: $tournament, lastNRounds: $lastNRounds) { roundNumber value displayName version date day "
            "resolveDate resolved } }")
# Only where the server rejects submissionScores as a schema error (an older API).
Q_PERFORMANCES_LEGACY = ("query($id: String!, $n: Int!, $tournament: Int!) { v2RoundModelPerformances(modelId: $id, "
                         "tournament: $tournament, lastNRounds: $n) { roundNumber roundResolved submissionScores { "
                         "displayName value day date } } }")
CONFIG_FIELDS = ("name version displayName totalScoreDays returnsLagDays dataDelayDays isPayout minMultiplier "
                 "maxMultiplier defaultMultiplier clipThreshold stakeThreshold payoutFactor")
Q_OPEN_ROUND = ("query($tournament: Int!) { rounds(tournament: $tournament, status: OPEN, limit: 1) { number "
                f"roundScoreConfigs {{ {CONFIG_FIELDS} }} }} }}")
Q_ROUNDS = ("query($tournament: Int!, $limit: Int!) { rounds(tournament: $tournament, limit: $limit) { number "
            f"roundScoreConfigs {{ {CONFIG_FIELDS} }} }} }}")
# The current round and its staking deadline (the fields numerapi's check_round_open reads).
Q_ROUND = "query($tournament: Int!) { rounds(tournament: $tournament, number: 0) { number closeStakingTime } }"
Q_ACCOUNT = "query { account { models { id name tournament } } }"

MAX_TIMEOUT = 3600.0  # seconds; larger values overflowed the deadline arithmetic
MAX_ERRORS_SHOWN = 3  # of a GraphQL errors list: the first few messages and a count
MAX_BODY = 50_000_000  # bytes of one response
MAX_RETRY_AFTER = 30.0  # seconds honoured of a server's Retry-After
RETRY_BUDGET = 120.0  # seconds of attempts and waits for one request
KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what an HTTP header can carry
SCHEMA_ERRORS = ("Cannot query field", "Unknown argument")


class GraphQLError(ApiError):
    """The API answered with a GraphQL `errors` list."""

    def __init__(self, message: str, messages: list[str]):
        super().__init__(message)
        self.messages = messages

    @property
    def schema(self) -> bool:
        """The server does not know a field or argument of the query (not a failure of a known query)."""
        return any(any(m.startswith(p) or p in m for p in SCHEMA_ERRORS) for m in self.messages)


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


class Client:
    """The tournament API. `sleep` and the timings are injectable so tests run fast."""

    def __init__(self, url: str | None = None, *, public_id: str | None = None, secret_key: str | None = None,
                 timeout: float = 60.0, retries: int = 5, backoff: float = 1.0, max_wait: float = MAX_RETRY_AFTER,
                 budget: float = RETRY_BUDGET,
                 pause: float = 0.3, sleep: Callable[[float], None] = time.sleep, session=None, tournament: int = 8,
                 warn: Callable[[str], None] | None = None):
        import requests

        self.url = url or DEFAULT_URL
        self.display_url = check_url(self.url)
        for name, key in (("NUMERAI_PUBLIC_ID", public_id), ("NUMERAI_SECRET_KEY", secret_key)):
            if key and not KEY_CHARS.match(key):
                # Shown nowhere, not even in part: a stray newline or \r would otherwise end up in an exception text.
                raise ConfigError(f"{name}: contains characters an API key cannot hold (whitespace, control or "
                                  "non-ASCII characters); the value is not shown")
        self._secrets = tuple(x for x in (public_id, secret_key, *url_secrets(self.url)) if x)
        self.budget = budget
        self.tournament = tournament
        self.legacy_scores = False  # the server rejected submissionScores as a schema error
        self.close_staking_time: str | None = None  # the current round's staking deadline, once asked
        self._warn = warn or logging.getLogger("stakealloc").warning
        self._auth = f"Token {public_id}${secret_key}" if public_id and secret_key else None
        if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
            raise ConfigError(f"STAKEALLOC_API_TIMEOUT: must be a number of seconds in (0, {MAX_TIMEOUT:g}], got "
                              f"{timeout!r}")
        self.timeout, self.retries, self.backoff, self.max_wait = timeout, retries, backoff, max_wait
        self.pause, self.sleep = pause, sleep
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "stakealloc", "Content-Type": "application/json"})

    def __repr__(self) -> str:  # never show the keys
        return f"Client(url={self.display_url!r}, auth={'yes' if self._auth else 'no'})"

    @classmethod
    def from_env(cls, **kw) -> Client:
        raw = os.environ.get("STAKEALLOC_API_TIMEOUT")
        if raw is not None and "timeout" not in kw:
            try:
                kw["timeout"] = float(raw)
            except ValueError:
                raise ConfigError(f"STAKEALLOC_API_TIMEOUT: {raw!r} is not a number of seconds") from None
        return cls(os.environ.get("STAKEALLOC_API_URL") or None, public_id=os.environ.get("NUMERAI_PUBLIC_ID"),
                   secret_key=os.environ.get("NUMERAI_SECRET_KEY"), **kw)

    # --- transport ------------------------------------------------------------------

    def post(self, query: str, variables: dict[str, Any], *, what: str, auth: bool = False) -> dict[str, Any]:
        """POST one GraphQL query; returns its `data`. `what` names the query and model in errors.

        Every attempt has a total deadline (connect + read, `timeout`), the body is capped at MAX_BODY,
        and all attempts with their waits stay within `budget` seconds; a server's `Retry-After` is honoured
        up to MAX_RETRY_AFTER. Messages never carry the keys or URL credentials (`scrub`)."""
        import requests

        headers = {}
        if auth:
            if self._auth is None:
                raise ConfigError(f"{what}: needs NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY in the environment")
            headers["Authorization"] = self._auth
        last = "no attempt"
        t0 = time.monotonic()
        waited = 0.0
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts += 1
            wait = min(self.backoff * (2 ** attempt), self.max_wait)
            try:
                status, retry_after, blob = self._request(requests, query, variables, headers)
            except _Transient as e:
                last = str(e)
                if e.fast:
                    if attempt >= 1:  # refused or unresolvable twice: no rate limit to wait out
                        break
                    wait = min(self.backoff, 1.0)
            else:
                if status == 429 or status >= 500:
                    last = f"HTTP {status}"
                    if retry_after is not None:
                        wait = min(max(retry_after, wait if status >= 500 else 0.0), self.max_wait)
                elif status >= 400:
                    raise ApiError(f"{what}: HTTP {status} from the Numerai API")
                else:
                    try:
                        body = json.loads(blob.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError, RecursionError):
                        last = "malformed JSON in the response"
                    else:
                        if not isinstance(body, dict):
                            last = "unexpected response shape"
                        elif body.get("errors"):
                            errs = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
                            msgs = [self.scrub(str(e.get("message", e)) if isinstance(e, dict) else str(e))[:500]
                                    for e in errs[:MAX_ERRORS_SHOWN]]
                            more = f" (and {len(errs) - len(msgs)} more)" if len(errs) > len(msgs) else ""
                            raise GraphQLError(f"{what}: the API answered with an error: {'; '.join(msgs)}{more}",
                                               msgs)
                        elif not isinstance(body.get("data"), dict):
                            last = "response without data"
                        else:
                            return body["data"]
            if attempt < self.retries:
                # Elapsed time includes real waits; an injected `sleep` that does not sleep still counts.
                if max(time.monotonic() - t0, waited) + wait > self.budget:
                    last += f"; the retry budget of {self.budget:g} s is spent"
                    break
                self.sleep(wait)
                waited += wait
        raise ApiError(self.scrub(f"{what}: gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {last}"))

    def _request(self, requests, query: str, variables: dict, headers: dict) -> tuple[int, float | None, bytes]:
        """(status, Retry-After seconds or None, body) of one POST within the total deadline (connect, headers
        and body: a server that drip-feeds bytes is cut off) and the size cap; transient failures (timeouts,
        broken connections or bodies) raise _Transient."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self._exchange(requests, query, variables, headers, box)
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        t = threading.Thread(target=work, daemon=True, name="stakealloc-request")
        t.start()
        t.join(self.timeout)
        if t.is_alive():
            # Per-read socket timeouts do not bound a drip feed: cut the connection and start a new session.
            _shutdown(box.get("response"))
            self._new_session()
            raise _Transient(f"the response took longer than {self.timeout:g} s")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _exchange(self, requests, query: str, variables: dict, headers: dict, box: dict):
        try:
            r = self.session.post(self.url, json={"query": query, "variables": variables}, headers=headers,
                                  timeout=(min(self.timeout, 10.0), self.timeout), stream=True)
        except requests.Timeout:
            raise _Transient(f"timed out after {self.timeout:g} s") from None
        except requests.TooManyRedirects:
            raise ApiError(f"{self.display_url}: too many redirects") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as e:
            why = _unreachable(e)
            if why:
                raise _Transient(f"cannot connect to {self.display_url}: {why}", fast=True) from None
            raise _Transient(f"connection to {self.display_url} failed ({type(e).__name__})") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as e:
            # the URL was checked (check_url) before any request: this one came from the server's redirect
            raise ApiError(f"{self.display_url}: the server redirected to a URL that cannot be followed "
                           f"({type(e).__name__})") from None
        except (requests.exceptions.InvalidHeader, ValueError) as e:
            raise ConfigError(f"STAKEALLOC_API_URL or the keys: the request cannot be sent ({type(e).__name__})") \
                from None
        box["response"] = r
        try:
            chunks, size = [], 0
            for chunk in r.iter_content(65536):
                size += len(chunk)
                if size > MAX_BODY:
                    raise ApiError(f"{self.display_url}: response larger than {MAX_BODY // 1_000_000} MB")
                chunks.append(chunk)
        except requests.Timeout:
            raise _Transient(f"timed out after {self.timeout:g} s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as e:
            raise _Transient(f"broken response ({type(e).__name__})") from None
        finally:
            r.close()
        return r.status_code, _retry_after(r.headers.get("Retry-After")), b"".join(chunks)

    def _new_session(self) -> None:
        import requests

        old = self.session
        self.session = requests.Session()
        self.session.headers.update(old.headers)
        try:
            old.close()
        except Exception:  # a half-dead pool: nothing more to do
            pass

    def scrub(self, text: str) -> str:
        """`text` without the keys, the token or URL credentials."""
        return scrub(text, self._secrets)

    # --- queries -------------------------------------------------------------------

    def _profile(self, query: str, name: str, what: str) -> dict[str, Any]:
        data = self.post(query, {"n": name, "tournament": self.tournament}, what=f"{what} of model {name!r}")
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
        if not d.is_finite() or d < 0 or d > Decimal(NMR_SUPPLY):
            raise ApiError(f"stake of model {name!r}: {v!r} is not a valid stake")
        return float(d)

    def stake_rows(self, model_ids: list[str]) -> list[StakeRow]:
        """The "strategy stake" rows of these models in this client's tournament (`stakeTransactions`, paged;
        at most STAKE_TX_PAGES pages). A schema error is raised as GraphQLError (the caller decides)."""
        out: list[StakeRow] = []
        for page in range(STAKE_TX_PAGES):
            data = self.post(Q_STAKE_TX, {"modelIds": list(model_ids), "limit": STAKE_TX_PAGE,
                                          "offset": page * STAKE_TX_PAGE}, what="stake transactions", auth=True)
            rows = data.get("stakeTransactions")
            if rows is None:
                break
            if not isinstance(rows, list):
                raise ApiError("stake transactions: unexpected response shape")
            out += parse_stake_rows(rows, self.tournament)
            if len(rows) < STAKE_TX_PAGE:
                break
            self.sleep(self.pause)
        return out

    def current_round(self) -> int:
        data = self.post(Q_ROUND, {"tournament": self.tournament}, what="current round")
        rounds = data.get("rounds")
        if not isinstance(rounds, list) or not rounds or not isinstance(rounds[0], dict):
            raise ApiError("current round: unexpected response shape")
        cst = rounds[0].get("closeStakingTime")
        self.close_staking_time = cst if isinstance(cst, str) and 0 < len(cst) <= 40 else None
        return _round(rounds[0].get("number"), "current round")

    def open_round_configs(self) -> tuple[int, list[ScoreConfig]] | None:
        """(round, its roundScoreConfigs) of the open round, or None when no round is open."""
        data = self.post(Q_OPEN_ROUND, {"tournament": self.tournament}, what="open round's payout rules")
        found = parse_rounds(data.get("rounds"), "open round's payout rules")
        return found[0] if found else None

    def round_configs(self, limit: int) -> dict[int, list[ScoreConfig]]:
        """roundScoreConfigs of the newest `limit` rounds, by round (no order assumed)."""
        data = self.post(Q_ROUNDS, {"tournament": self.tournament, "limit": int(limit)}, what="rounds' payout rules")
        return dict(parse_rounds(data.get("rounds"), "rounds' payout rules"))

    def scores(self, model_id: str, name: str, last_n: int) -> list[ScoreRow]:
        """Per-round scores by displayName, the final `day` of each (round, displayName). No order assumed.

        `submissionScores`; `v2RoundModelPerformances` only where the server rejects that as a schema error.
        """
        what = f"scores of model {name!r}"
        if not self.legacy_scores:
            try:
                data = self.post(Q_SCORES, {"modelId": model_id, "tournament": self.tournament,
                                            "lastNRounds": int(last_n)}, what=what)
            except GraphQLError as e:
                if not e.schema:
                    raise
                self.legacy_scores = True
                # the server's text may echo what it was sent: scrubbed before it reaches any log
                self._warn(self.scrub(f"the server rejects submissionScores ({e.messages[0][:120]}); "
                                      "falling back to the deprecated v2RoundModelPerformances"))
            else:
                rows = data.get("submissionScores")
                if rows is None:
                    return []
                if not isinstance(rows, list):
                    raise ApiError(f"{what}: unexpected response shape")
                return parse_submission_scores(rows, name)
        data = self.post(Q_PERFORMANCES_LEGACY, {"id": model_id, "n": int(last_n), "tournament": self.tournament},
                         what=what)
        perf = data.get("v2RoundModelPerformances")
        if perf is None:
            return []
        if not isinstance(perf, list):
            raise ApiError(f"{what}: unexpected response shape")
        return parse_performances(perf, name)

    def account_models(self) -> list[tuple[str, str]]:
        """(name, id) of the account's models in this client's tournament (all where the API gives none)."""
        data = self.post(Q_ACCOUNT, {}, what="account models", auth=True)
        try:
            models = data["account"]["models"]
            out = []
            for m in models:
                t = m.get("tournament")
                if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
                    raise ApiError(f"account models: tournament {t!r} is not a tournament number")
                if t is not None and t != self.tournament:
                    continue
                out.append((_text(m["name"], "account models: name").lower(), _text(m["id"], "account models: id")))
            return sorted(out)
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ApiError("account models: unexpected response shape") from None

    def slots_toml(self, *, per_round: bool) -> list[str]:
        """The account's models as `[[slots]]` tables: under per-round staking each model's current per-round
        stake (`stakeTransactions`); under fixed stakes its stake and the open round's default multipliers."""
        from .report import slots_toml

        models = self.account_models()
        if per_round:
            try:
                rows = self.stake_rows([mid for _, mid in models])
            except GraphQLError as e:
                if not e.schema:
                    raise
                self._warn(self.scrub(f"the server rejects stakeTransactions ({e.messages[0][:120]}); current "
                                      "stakes are unknown"))
                rows = []
            current = current_stakes(rows)
            return slots_toml([(name, current.get(mid)) for name, mid in models], None, per_round=True)
        opened = self.open_round_configs()
        if opened:
            check_multipliers(payout_configs(opened[1]), opened[0])
        defaults = {c.spec.display_name: c.default_multiplier for c in payout_configs(opened[1])} if opened else {}
        stakes = []
        for name, _id in models:
            stakes.append((name, self.stake(name)))
            self.sleep(self.pause)
        return slots_toml(stakes, defaults, per_round=False)


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


def _shutdown(response) -> None:
    """Cut a response's socket so that a thread blocked reading it returns."""
    if response is None:
        return
    for path in (("raw", "_connection", "sock"), ("raw", "_fp", "fp", "raw", "_sock")):
        obj = response
        try:
            for attr in path:
                obj = getattr(obj, attr)
            obj.shutdown(socket.SHUT_RDWR)
            return
        except (AttributeError, OSError):
            continue


class _Transient(Exception):
    """A failure worth another attempt (timeouts, broken connections or bodies). `fast`: nothing is there to
    answer (the connection was refused, or the host name does not resolve): one quick retry, then give up."""

    def __init__(self, message: str, *, fast: bool = False):
        super().__init__(message)
        self.fast = fast


def _unreachable(e: BaseException) -> str | None:
    """'connection refused' or 'host name not found' where that is the cause of `e`, else None."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror) or "NameResolutionError" in type(e).__name__:
            return "host name not found"
        for arg in getattr(e, "args", ()):
            if isinstance(arg, BaseException) and id(arg) not in seen:
                found = _unreachable(arg)
                if found:
                    return found
        e = e.__cause__ or e.__context__ or getattr(e, "reason", None)
    return None


def _retry_after(v: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: ignored unless a finite number ≥ 0 or an HTTP date; capped."""
    if v is None:
        return None
    try:
        x = float(v)
    except ValueError:
        try:
            dt = parsedate_to_datetime(v)
            x = dt.timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
        x = max(x, 0.0)
    if not math.isfinite(x) or x < 0:
        return None
    return min(x, MAX_RETRY_AFTER)


def check_url(url: str) -> str:
    """The API URL as it may be shown (credentials removed); exit 2 for one that cannot be used."""
    try:
        u = urlsplit(url)
        host = u.hostname
        u.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError("STAKEALLOC_API_URL: not a valid URL") from None
    if u.scheme not in ("http", "https") or not host:
        raise ConfigError("STAKEALLOC_API_URL: must be an http:// or https:// URL with a host")
    netloc = host if u.port is None else f"{host}:{u.port}"
    return urlunsplit((u.scheme, netloc, u.path, "", ""))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials in an API URL: its user, its password and "user:pass" (whose base64 is HTTP Basic
    auth's header, which a server may echo)."""
    try:
        u = urlsplit(url)
        user, pw = u.username, u.password
    except ValueError:
        return ()
    out = [x for x in (user, pw) if x]
    if user and pw:
        out += [f"{user}:{pw}", f"{unquote(user)}:{unquote(pw)}"]
    return tuple(out)


def _forms(secret: str) -> list[str]:
    """The forms a server may echo a secret in: as sent, percent-encoded and -decoded, base64 (as HTTP Basic
    auth sends user:pass), and each of those in any case (matched case-insensitively)."""
    forms = {secret, unquote(secret), quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}
    return [f for f in forms if len(f) >= 3]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret (and the token built from them) in `text`, in every form `_forms` lists, any case;
    longest first. A prefix of 8 or more characters of a key counts as the key (a truncated echo)."""
    forms = sorted({f for sec in secrets if sec for f in _forms(sec)}, key=len, reverse=True)
    for f in forms:
        text = re.sub(re.escape(f), "***", text, flags=re.IGNORECASE)
    for sec in secrets:
        if sec and len(sec) >= 12:
            text = re.sub(re.escape(sec[:8]) + r"[^\s\"']*", "***", text, flags=re.IGNORECASE)
    return text


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
