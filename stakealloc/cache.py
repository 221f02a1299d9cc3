"""On-disk cache of API downloads, per tournament: one JSON file per model, one for slot facts
(stakes, the current round) and one for the rounds' payout rules (`roundScoreConfigs`).

Each file carries a sha256 of its payload, so a truncated or edited file is
detected, reported and fetched again, never used. Writes are atomic. Keys are
never written here (the client does not hand them out).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import atomic
from .errors import DataError
from .numerai import ScoreRow
from .regimes import MAX_ROUND, ScoreConfig, ScoreSpec

# Format 2: scores under the API's displayNames, files keyed by tournament. Format 1 (short score keys such
# as `corr`, no tournament) is never read: its files are reported once and fetched again.
FORMAT = 2


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stakealloc"


class Corrupt(Exception):
    """A cache file exists but cannot be trusted."""


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class Cache:
    def __init__(self, root: Path, tournament: int = 8):
        self.root = Path(root)
        self.tournament = tournament

    def _path(self, kind: str, name: str) -> Path:
        return self.root / f"t{self.tournament}-{kind}-{_safe(name)}.json"

    def legacy_path(self, model: str) -> Path | None:
        """A format-1 file of `model` (scores under short keys), if one is there: never read, only reported."""
        p = self.root / f"scores-{_safe(model)}.json"
        try:
            return p if p.is_file() else None
        except OSError:
            return None

    def drop_legacy(self, model: str) -> None:
        p = self.legacy_path(model)
        if p is not None:
            try:
                p.unlink()
            except OSError:
                pass  # unreadable leftovers stay; they are never read

    def _read(self, path: Path) -> Any | None:
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            if self.root.exists() and not self.root.is_dir():
                raise DataError(f"cache: {self.root} is not a directory (data.cache_dir)") from None
            return None
        except PermissionError:
            raise DataError(f"cache: {path}: permission denied (data.cache_dir)") from None
        except (OSError, UnicodeDecodeError) as e:
            raise Corrupt(f"{path}: unreadable ({type(e).__name__})") from None
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:  # nested too deeply is no cache file either
            raise Corrupt(f"{path}: unreadable ({type(e).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "payload" not in doc:
            raise Corrupt(f"{path}: not a stakealloc cache file of format {FORMAT}")
        if doc.get("sha256") != _digest(doc["payload"]):
            raise Corrupt(f"{path}: checksum mismatch (truncated or edited)")
        return doc["payload"]

    def _write(self, path: Path, payload: Any) -> None:
        try:
            atomic.write_text(path, json.dumps({"format": FORMAT, "sha256": _digest(payload), "payload": payload},
                                               sort_keys=True) + "\n")
        except OSError as e:  # a full disk, a read-only or missing directory, a cache_dir that is a file
            raise DataError(f"cache: cannot write {path}: {e.strerror or e}") from None

    # --- scores ---------------------------------------------------------------------

    def load_scores(self, model: str) -> tuple[str, list[ScoreRow]] | None:
        """(model id, rows) or None when absent; raises Corrupt for a bad file."""
        p = self._read(self._path("scores", model))
        if p is None:
            return None
        try:
            if p["model"] != model:
                raise Corrupt(f"{self._path('scores', model)}: holds model {p['model']!r}")
            rows = [ScoreRow(int(r), str(k), float(v), bool(res), None if ver is None else str(ver))
                    for r, k, v, res, ver in p["rows"]]
            for row in rows:  # a valid checksum does not make valid values
                if not (1 <= row.round <= MAX_ROUND and math.isfinite(row.value)):
                    raise ValueError(f"round {row.round} value {row.value}")
            return str(p["model_id"]), rows
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise Corrupt(f"{self._path('scores', model)}: malformed ({type(e).__name__})") from None

    def save_scores(self, model: str, model_id: str, rows: list[ScoreRow]) -> None:
        rows = sorted(rows, key=lambda r: (r.round, r.score))
        self._write(self._path("scores", model), {"model": model, "model_id": model_id,
                                                   "rows": [[r.round, r.score, r.value, r.resolved, r.version]
                                                            for r in rows]})

    # --- slot facts (stakes, multipliers) and the current round -------------------------

    def load_facts(self) -> dict[str, Any]:
        p = self._read(self._path("facts", "slots"))
        return p if isinstance(p, dict) else {}

    def save_facts(self, facts: dict[str, Any]) -> None:
        self._write(self._path("facts", "slots"), facts)

    # --- the rounds' payout rules ----------------------------------------------------------

    def load_rules(self) -> dict[int, list[ScoreConfig]]:
        """roundScoreConfigs by round; raises Corrupt for a bad file."""
        path = self._path("rules", "rounds")
        p = self._read(path)
        if p is None:
            return {}
        try:
            rules = {int(r): [ScoreConfig(ScoreSpec(**c["spec"]), **{k: v for k, v in c.items() if k != "spec"})
                              for c in configs] for r, configs in p["rounds"]}
            for r, configs in rules.items():  # a valid checksum does not make valid values
                if not 1 <= r <= MAX_ROUND:
                    raise ValueError(f"round {r}")
                for c in configs:
                    for v in (c.min_multiplier, c.max_multiplier, c.default_multiplier, c.clip, c.payout_factor):
                        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                              or not math.isfinite(v)):
                            raise ValueError(f"round {r}: {v!r} is not a finite number")
            return rules
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
            raise Corrupt(f"{path}: malformed ({type(e).__name__})") from None

    def save_rules(self, rules: dict[int, list[ScoreConfig]]) -> None:
        self._write(self._path("rules", "rounds"),
                    {"rounds": [[r, [asdict(c) for c in rules[r]]] for r in sorted(rules)]})

    def path_of(self, model: str) -> Path:
        return self._path("scores", model)
