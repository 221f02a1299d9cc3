"""A local stand-in for the tournament GraphQL API on 127.0.0.1, answering with its documented shapes.

Scores come through `submissionScores`, built from a score table: every (round, displayName) carries an
earlier `day` with a wrong value before the final day, and items come in shuffled order. From the bundled
snapshot it serves the payout scores `v2_corr20` (= the snapshot's canon_corr) and `mmc` (= canon_mmc),
and beside them the comparison score `canon_corr` with other values, which is never a payout score.

Payout rules come through `rounds { roundScoreConfigs }`: per round (`configs`), the open round
(`open_round`, None when none is open). Deprecated fields (`stakeInfo`, the scalar corr/mmc/tc
multipliers, `v2RoundModelPerformances`) answer as removed fields do: a GraphQL error
`Cannot query field …`. With `old_server = True` it is the other way round: `submissionScores` is
unknown and `v2RoundModelPerformances` serves the scores. Faults are scripted per request (`faults`)
or per model (`error_models`).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

CURRENT_ROUND = 1198
DEPRECATED = ("stakeInfo", "corrMultiplier", "mmcMultiplier", "tcMultiplier", "v2RoundModelPerformances",
              "currentPayoutSelection")
NOT_IN_SCHEMA = ("payoutMultipliers",)  # a field of v2RoundModelPerformances rows only, never of v3UserProfile
BUNDLED_AS = {"canon_corr": "v2_corr20", "canon_mmc": "mmc"}  # snapshot column -> served payout displayName


def config(display_name: str, lo: float, hi: float | None = None, *, default: float | None = None, days: int = 20,
           clip: float | None = 0.05, factor: float | None = None, payout: bool | None = None, version: str = "2"):
    hi = lo if hi is None else hi
    default = lo if default is None else default
    return {"name": display_name.replace("v2_", ""), "version": version, "displayName": display_name,
            "totalScoreDays": days, "returnsLagDays": 2, "dataDelayDays": 1,
            "isPayout": bool(lo or hi or default) if payout is None else payout,
            "minMultiplier": str(lo), "maxMultiplier": str(hi), "defaultMultiplier": str(default),
            "clipThreshold": None if clip is None else str(clip), "stakeThreshold": "0",
            "payoutFactor": None if factor is None else str(factor)}


CLASSIC_2024 = [config("v2_corr20", 0.5), config("mmc", 2.0), config("canon_corr", 0.0)]


def scores_from_table(table: pd.DataFrame, model: str, names: dict[str, str] | None = None) -> list[dict]:
    """submissionScores items for `model`: final day plus an earlier decoy day, shuffled; plus canon_corr
    comparison scores (values shifted by +0.5) where the table has canon_corr."""
    names = BUNDLED_AS if names is None else names
    rng = random.Random(model)
    out = []
    sub = table[table["model"] == model]
    for row in sub.itertuples(index=False):
        dn = names.get(row.score, row.score)
        base = {"roundNumber": int(row.round), "displayName": dn, "version": "2", "resolved": bool(row.resolved),
                "date": "2026-01-20T00:00:00Z", "resolveDate": None}
        out.append({**base, "value": float(row.value), "day": 20})
        out.append({**base, "value": float(row.value) + 0.5, "day": 12, "resolved": False})
        if row.score == "canon_corr":
            out.append({**base, "displayName": "canon_corr", "value": float(row.value) + 0.5, "day": 20})
    out.append({"roundNumber": int(sub["round"].max()), "displayName": "canon_tc", "version": "1", "value": None,
                "day": 20, "resolved": False, "date": None, "resolveDate": None})
    rng.shuffle(out)
    return out


def legacy_from_scores(items: list[dict]) -> list[dict]:
    """The same scores in the deprecated v2RoundModelPerformances shape."""
    rounds: dict[int, dict] = {}
    for s in items:
        r = rounds.setdefault(s["roundNumber"], {"roundNumber": s["roundNumber"], "roundResolved": True,
                                                 "submissionScores": []})
        if s["day"] == 20:
            r["roundResolved"] = r["roundResolved"] and s["resolved"]
        r["submissionScores"].append({k: s[k] for k in ("displayName", "value", "day", "date")})
    return list(rounds.values())


class FakeNumerai:
    def __init__(self, table: pd.DataFrame | None = None, models: list[str] | None = None, *, tournament: int = 8):
        self.models: dict[str, dict] = {}
        self.requests: list[dict] = []
        # consumed one per request: "500", ("429", secs), "timeout", "malformed", ("errors", msg)
        self.faults: list = []
        self.error_models: set[str] = set()
        self.stakes: dict[str, str] = {}
        # stakeTransactions rows, as the API serves them (newest first); stake_tx_removed: the field is unknown
        self.stake_tx: list[dict] = []
        self.stake_tx_removed = False
        self.account: list[tuple[str, str] | tuple[str, str, int]] = []
        self.timeout_sleep = 1.0
        self.old_server = False
        self.current_round = CURRENT_ROUND
        self.open_round: int | None = CURRENT_ROUND
        rounds = sorted(table["round"].unique()) if table is not None else []
        self.configs: dict[int, list[dict]] = {int(r): CLASSIC_2024 for r in [*rounds, CURRENT_ROUND]}
        for m in models or []:
            self.add_model(m, scores_from_table(table, m) if table is not None else [], tournament=tournament)

    def add_model(self, name: str, scores: list[dict], stake: str = "100.5", tournament: int = 8) -> None:
        self.models[name] = {"id": f"id-{name}", "scores": scores, "tournament": tournament}
        self.stakes.setdefault(name, stake)

    # --- HTTP --------------------------------------------------------------------

    def __enter__(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = {"headers": dict(self.headers), "body": json.loads(body)}
                fake.requests.append(req)
                fault = fake.faults.pop(0) if fake.faults else None
                if fault == "500":
                    return self._send(500, b"internal error")
                if isinstance(fault, tuple) and fault[0] == "429":
                    return self._send(429, b"slow down", {"Retry-After": str(fault[1])})
                if fault == "timeout":
                    time.sleep(fake.timeout_sleep)
                    return self._send(200, b"{}")
                if fault == "malformed":
                    return self._send(200, b"{\"data\": {")
                if isinstance(fault, tuple) and fault[0] == "errors":
                    return self._json({"errors": [{"message": fault[1]}], "data": None})
                self._json(fake.answer(req["body"], req["headers"]))

            def _json(self, obj):
                self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

            def _send(self, code, blob, headers=None):
                try:
                    self.send_response(code)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(blob)))
                    self.end_headers()
                    self.wfile.write(blob)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- GraphQL ------------------------------------------------------------------

    def queries_naming(self, field: str) -> list[str]:
        return [r["body"]["query"] for r in self.requests if re.search(rf"\b{field}\b", r["body"]["query"])]

    @staticmethod
    def _removed(field: str, on: str) -> dict:
        return {"errors": [{"message": f'Cannot query field "{field}" on type "{on}".'}], "data": None}

    def _name_of(self, model_id: str) -> str | None:
        return next((n for n, m in self.models.items() if m["id"] == model_id), None)

    def answer(self, body: dict, headers: dict) -> dict:
        q, v = body["query"], body.get("variables") or {}
        removed = DEPRECATED[:-2] + DEPRECATED[-1:] if self.old_server else DEPRECATED
        for field in removed + NOT_IN_SCHEMA:
            if re.search(rf"\b{field}\b", q):
                return self._removed(field, "Query" if field.startswith("v2") else "V3UserProfile")
        if "stakeTransactions" in q:
            if self.stake_tx_removed:
                return self._removed("stakeTransactions", "Query")
            if "Authorization" not in headers:
                return {"errors": [{"message": "You must be authenticated"}], "data": None}
            ids = set(v.get("modelIds") or [])
            rows = [r for r in self.stake_tx if r["modelId"] in ids]
            lo = int(v.get("offset") or 0)
            return {"data": {"stakeTransactions": rows[lo:lo + int(v.get("limit") or 100)]}}
        if "rounds(" in q:
            t = v.get("tournament")
            if "number: 0" in q:
                return {"data": {"rounds": [{"number": self.current_round,
                                             "closeStakingTime": "2026-12-01T13:00:00+00:00"}]}}
            if "status: OPEN" in q:
                if self.open_round is None:
                    return {"data": {"rounds": []}}
                return {"data": {"rounds": [{"number": self.open_round,
                                             "roundScoreConfigs": self.configs.get(self.open_round, [])}]}}
            newest = sorted(self.configs, reverse=True)[: int(v.get("limit", 10 ** 6))]
            assert t is not None
            return {"data": {"rounds": [{"number": r, "roundScoreConfigs": self.configs[r]} for r in newest]}}
        if "account" in q:
            if "Authorization" not in headers:
                return {"errors": [{"message": "You must be authenticated"}], "data": None}
            return {"data": {"account": {"models": [
                {"id": a[1], "name": a[0], "tournament": a[2] if len(a) > 2 else 8} for a in self.account]}}}
        if "submissionScores(" in q and not self.old_server:
            name = self._name_of(v["modelId"])
            if name in self.error_models:
                return {"errors": [{"message": f"internal failure for {v['modelId']}"}], "data": None}
            if name is None:
                return {"data": {"submissionScores": None}}
            m = self.models[name]
            if v.get("tournament") is not None and int(v["tournament"]) != m["tournament"]:
                return {"data": {"submissionScores": []}}
            lo = self.current_round - int(v["lastNRounds"]) + 1
            return {"data": {"submissionScores": [s for s in m["scores"] if s["roundNumber"] >= lo]}}
        if "submissionScores(" in q:
            return self._removed("submissionScores", "Query")
        if "v2RoundModelPerformances" in q:
            name = self._name_of(v["id"])
            if name is None:
                return {"data": {"v2RoundModelPerformances": None}}
            lo = self.current_round - int(v["n"]) + 1
            perf = legacy_from_scores([s for s in self.models[name]["scores"] if s["roundNumber"] >= lo])
            return {"data": {"v2RoundModelPerformances": perf}}
        if "v3UserProfile" in q:
            name = v["n"]
            if name not in self.models and name not in self.stakes:
                return {"data": {"v3UserProfile": None}}
            if "stakeValue" in q:
                return {"data": {"v3UserProfile": {"stakeValue": self.stakes.get(name)}}}
            return {"data": {"v3UserProfile": {"id": self.models.get(name, {}).get("id", f"id-{name}")}}}
        return {"errors": [{"message": "unknown query"}], "data": None}


def strategy_stake(model_id: str, round_number: int, amount: str, *, tournament: int = 8) -> dict:
    """One stakeTransactions row of a per-round stake, in the shape schema introspection reports."""
    return {"amount": amount, "model": None, "modelId": model_id, "note": None, "round": round_number,
            "timestamp": f"2026-11-{1 + round_number % 28:02d}T12:00:00Z", "tournament": tournament,
            "type": "strategy stake", "value": None}
