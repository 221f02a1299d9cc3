"""The tournament API's queries (`Client`), over a `Transport`; the responses are parsed by `parse`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ApiError, ConfigError, UnknownModelError
from ..regimes import ScoreConfig
from ..types import NMR_SUPPLY
from .parse import (
    AccountSlots,
    ScoreRow,
    StakeRow,
    _round,
    _text,
    current_stakes,
    parse_performances,
    parse_rounds,
    parse_stake_rows,
    parse_submission_scores,
)
from .transport import GraphQLError, Transport

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


class Client:
    """The tournament API: one method a query. The transport's settings (`timeout`, `retries`, `backoff`,
    `max_wait`, `budget`, `sleep`, `session`) pass through to `Transport`; `pause` is the wait between
    per-model queries (seconds)."""

    def __init__(self, url: str | None = None, *, pause: float = 0.3, tournament: int = 8,
                 warn: Callable[[str], None] | None = None, **transport):
        self.transport = Transport(url, **transport)
        self.tournament = tournament
        self.pause = pause
        self.legacy_scores = False  # the server rejected submissionScores as a schema error
        self.close_staking_time: str | None = None  # the current round's staking deadline, once asked
        self._warn = warn or logging.getLogger("stakealloc").warning

    def __repr__(self) -> str:  # never show the keys
        return f"Client(url={self.display_url!r}, auth={'yes' if self.transport.authenticated else 'no'})"

    @property
    def display_url(self) -> str:
        return self.transport.display_url

    @property
    def sleep(self) -> Callable[[float], None]:
        return self.transport.sleep

    def post(self, query: str, variables: dict[str, Any], *, what: str, auth: bool = False) -> dict[str, Any]:
        return self.transport.post(query, variables, what=what, auth=auth)

    def scrub(self, text: str) -> str:
        return self.transport.scrub(text)

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

    def account_slots(self, *, per_round: bool) -> AccountSlots:
        """The account's models as slots: under per-round staking each model's current per-round stake
        (`stakeTransactions`); under fixed stakes its stake and the open round's default multipliers (checked
        as the fleet file's are, so that `report.slots_toml`'s block always parses)."""
        from ..regimes import check_multipliers, payout_configs

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
            return AccountSlots(tuple((name, current.get(mid)) for name, mid in models), None, per_round=True)
        opened = self.open_round_configs()
        if opened:
            check_multipliers(payout_configs(opened[1]), opened[0])
        defaults = {c.spec.display_name: c.default_multiplier for c in payout_configs(opened[1])} if opened else {}
        stakes = []
        for name, _id in models:
            stakes.append((name, self.stake(name)))
            self.sleep(self.pause)
        return AccountSlots(tuple(stakes), defaults, per_round=False)
