"""The transport under the tournament API: one bounded `requests.Session`.

Every request has a total deadline (connect, headers and body: a server that drip-feeds bytes is cut off) and
a body cap; connection errors, timeouts, HTTP 5xx/429 and malformed JSON are retried with exponential backoff
(honouring `Retry-After`) within a retry budget; a GraphQL `errors` list is a GraphQLError naming the query.
The auth header is sent only for queries that need it; messages never carry the keys or URL credentials, in
any form a server might echo them (`scrub`)."""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..errors import ApiError, ConfigError

DEFAULT_URL = "https://api-tournament.numer.ai"
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


class Transport:
    """POSTs GraphQL queries to `url`. `sleep` and the timings are injectable so tests run fast."""

    def __init__(self, url: str | None = None, *, public_id: str | None = None, secret_key: str | None = None,
                 timeout: float = 60.0, retries: int = 5, backoff: float = 1.0, max_wait: float = MAX_RETRY_AFTER,
                 budget: float = RETRY_BUDGET, sleep: Callable[[float], None] = time.sleep, session=None):
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
        self._auth = f"Token {public_id}${secret_key}" if public_id and secret_key else None
        if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
            raise ConfigError(f"STAKEALLOC_API_TIMEOUT: must be a number of seconds in (0, {MAX_TIMEOUT:g}], got "
                              f"{timeout!r}")
        self.timeout, self.retries, self.backoff, self.max_wait = timeout, retries, backoff, max_wait
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "stakealloc", "Content-Type": "application/json"})

    @property
    def authenticated(self) -> bool:
        return self._auth is not None

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
                    data, last = self._answer(blob, what)
                    if data is not None:
                        return data
            if attempt < self.retries:
                # Elapsed time includes real waits; an injected `sleep` that does not sleep still counts.
                if max(time.monotonic() - t0, waited) + wait > self.budget:
                    last += f"; the retry budget of {self.budget:g} s is spent"
                    break
                self.sleep(wait)
                waited += wait
        raise ApiError(self.scrub(f"{what}: gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {last}"))

    def _answer(self, blob: bytes, what: str) -> tuple[dict[str, Any] | None, str]:
        """The `data` of a 2xx body, or (None, why the attempt is retried: a malformed body); a GraphQL `errors`
        list is a GraphQLError (the server answered: no retry), its first few messages scrubbed and a count."""
        try:
            body = json.loads(blob.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, "malformed JSON in the response"
        if not isinstance(body, dict):
            return None, "unexpected response shape"
        if body.get("errors"):
            errs = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
            msgs = [self.scrub(str(e.get("message", e)) if isinstance(e, dict) else str(e))[:500]
                    for e in errs[:MAX_ERRORS_SHOWN]]
            more = f" (and {len(errs) - len(msgs)} more)" if len(errs) > len(msgs) else ""
            raise GraphQLError(f"{what}: the API answered with an error: {'; '.join(msgs)}{more}", msgs)
        if not isinstance(body.get("data"), dict):
            return None, "response without data"
        return body["data"], ""

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
