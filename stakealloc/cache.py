"""On-disk cache of API downloads: one JSON file per model plus one for slot facts.

Each file carries a sha256 of its payload, so a truncated or edited file is
detected, reported and fetched again, never used. Writes are atomic. Keys are
never written here (the client does not hand them out).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from . import atomic
from .numerai import ScoreRow

FORMAT = 1


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
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, kind: str, name: str) -> Path:
        return self.root / f"{kind}-{_safe(name)}.json"

    def _read(self, path: Path) -> Any | None:
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Corrupt(f"{path}: unreadable ({type(e).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "payload" not in doc:
            raise Corrupt(f"{path}: not a stakealloc cache file of format {FORMAT}")
        if doc.get("sha256") != _digest(doc["payload"]):
            raise Corrupt(f"{path}: checksum mismatch (truncated or edited)")
        return doc["payload"]

    def _write(self, path: Path, payload: Any) -> None:
        atomic.write_text(path, json.dumps({"format": FORMAT, "sha256": _digest(payload), "payload": payload},
                                           sort_keys=True) + "\n")

    # --- scores ---------------------------------------------------------------------

    def load_scores(self, model: str) -> tuple[str, list[ScoreRow]] | None:
        """(model id, rows) or None when absent; raises Corrupt for a bad file."""
        p = self._read(self._path("scores", model))
        if p is None:
            return None
        try:
            if p["model"] != model:
                raise Corrupt(f"{self._path('scores', model)}: holds model {p['model']!r}")
            rows = [ScoreRow(int(r), str(k), float(v), bool(res)) for r, k, v, res in p["rows"]]
            return str(p["model_id"]), rows
        except (KeyError, TypeError, ValueError) as e:
            raise Corrupt(f"{self._path('scores', model)}: malformed ({type(e).__name__})") from None

    def save_scores(self, model: str, model_id: str, rows: list[ScoreRow]) -> None:
        rows = sorted(rows, key=lambda r: (r.round, r.score))
        self._write(self._path("scores", model), {"model": model, "model_id": model_id,
                                                   "rows": [[r.round, r.score, r.value, r.resolved] for r in rows]})

    # --- slot facts (stakes, multipliers) and the current round -------------------------

    def load_facts(self) -> dict[str, Any]:
        p = self._read(self.root / "facts.json")
        return p if isinstance(p, dict) else {}

    def save_facts(self, facts: dict[str, Any]) -> None:
        self._write(self.root / "facts.json", facts)

    def path_of(self, model: str) -> Path:
        return self._path("scores", model)
