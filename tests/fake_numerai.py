"""A local stand-in for the tournament GraphQL API on 127.0.0.1, answering with its documented shapes.

It serves scores built from the bundled snapshot: every round carries an earlier
`day` with a wrong value before the final day, extra display names, and rounds in
shuffled order. Faults are scripted per request (`faults`) or per model.
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

CURRENT_ROUND = 1198


def perf_from_table(table: pd.DataFrame, model: str) -> list[dict]:
    """v2RoundModelPerformances entries for `model`, final day last-but-shuffled, plus decoys."""
    rng = random.Random(model)
    out = []
    sub = table[table["model"] == model]
    for rnd, g in sub.groupby("round"):
        scores = []
        for _, row in g.iterrows():
            name = {"corr": "canon_corr", "mmc": "canon_mmc"}[row["score"]]
            scores.append({"displayName": name, "value": row["value"], "day": 20, "date": "2026-01-20"})
            scores.append({"displayName": name, "value": row["value"] + 0.5, "day": 12, "date": "2026-01-12"})
        scores.append({"displayName": "fnc_v4", "value": 0.9, "day": 20, "date": "2026-01-20"})
        scores.append({"displayName": "canon_tc", "value": None, "day": 20, "date": "2026-01-20"})
        rng.shuffle(scores)
        out.append({"roundNumber": int(rnd), "roundResolved": bool(g["resolved"].all()),
                    "roundResolveTime": None, "submissionScores": scores})
    rng.shuffle(out)
    return out


class FakeNumerai:
    def __init__(self, table: pd.DataFrame | None = None, models: list[str] | None = None):
        self.models: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.faults: list = []  # consumed one per request: "500", ("429", secs), "timeout", "malformed", ("errors", msg)
        self.error_models: set[str] = set()
        self.stakes: dict[str, str] = {}
        self.multipliers: dict[str, dict] = {}
        self.account: list[tuple[str, str]] = []
        self.timeout_sleep = 1.0
        for m in models or []:
            self.add_model(m, perf_from_table(table, m) if table is not None else [])

    def add_model(self, name: str, perf: list[dict], stake: str = "100.5") -> None:
        self.models[name] = {"id": f"id-{name}", "perf": perf}
        self.stakes.setdefault(name, stake)
        self.multipliers.setdefault(name, {"corrMultiplier": "0.5", "mmcMultiplier": "2", "tcMultiplier": "0"})

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

    def answer(self, body: dict, headers: dict) -> dict:
        q, v = body["query"], body.get("variables") or {}
        if "rounds(" in q:
            return {"data": {"rounds": [{"number": CURRENT_ROUND}]}}
        if "account" in q:
            if "Authorization" not in headers:
                return {"errors": [{"message": "You must be authenticated"}], "data": None}
            return {"data": {"account": {"models": [{"id": i, "name": n} for n, i in self.account]}}}
        if "v2RoundModelPerformances" in q:
            name = next((n for n, m in self.models.items() if m["id"] == v["id"]), None)
            if name in self.error_models:
                return {"errors": [{"message": f"internal failure for {v['id']}"}], "data": None}
            if name is None:
                return {"data": {"v2RoundModelPerformances": None}}
            lo = CURRENT_ROUND - int(v["n"]) + 1
            return {"data": {"v2RoundModelPerformances": [p for p in self.models[name]["perf"] if p["roundNumber"] >= lo]}}
        if "v3UserProfile" in q:
            name = v["n"]
            if name not in self.models and name not in self.stakes:
                return {"data": {"v3UserProfile": None}}
            if "stakeInfo" in q:
                return {"data": {"v3UserProfile": {"stakeInfo": self.multipliers.get(name)}}}
            if "stakeValue" in q:
                return {"data": {"v3UserProfile": {"stakeValue": self.stakes.get(name)}}}
            return {"data": {"v3UserProfile": {"id": self.models.get(name, {}).get("id", f"id-{name}")}}}
        return {"errors": [{"message": "unknown query"}], "data": None}
