"""`stakealloc accept PLAN.json`: once a plan is applied on numer.ai, write what each slot now submits (and,
under per-round staking, its per-round stake) back into the fleet file as `current` (`current_stake`), so
the next run compares against it. tomlkit keeps the file's comments and layout; the write is atomic; a plan
made from another version of the fleet file (its sha256 differs) is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import ConfigError


def accept(plan_path: str | Path, fleet_path: str | Path | None = None) -> tuple[Path, int]:
    """Write the plan's slots into its fleet file (or `fleet_path`). Returns (the file, slots updated)."""
    import tomlkit

    from . import atomic

    try:
        plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
        meta = plan["meta"]
        slots = plan["slots"]
        per_round = plan.get("staking", {}).get("system") == "per-round"
    except FileNotFoundError:
        raise ConfigError(f"plan: no such file {str(plan_path)!r}", key="plan") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"plan: {plan_path} is not a plan written by `stakealloc run --json`", key="plan") from None
    target = Path(fleet_path if fleet_path is not None else meta.get("fleet") or "")
    try:
        blob = target.read_bytes()
    except OSError:
        raise ConfigError(f"plan: its fleet file {str(target)!r} cannot be read", key="plan") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("fleet_sha256"):
        raise ConfigError(f"plan: it was made from another version of {target} (its sha256 differs); run the plan "
                          "again on the file as it is now", key="plan")
    doc = tomlkit.parse(blob.decode("utf-8"))
    tables = {str(t.get("name", "")).strip().lower(): t for t in doc.get("slots", [])}
    n = 0
    for s in slots:
        t = tables.get(s["slot"])
        if t is None:
            raise ConfigError(f"plan: slot {s['slot']!r} is not in {target}", key="plan")
        label = ("short_" if s["side"] == "short" else "") + s["model"]
        changed = t.get("current") != label
        t["current"] = label
        if per_round:
            stake = float(s["per_round_stake"])
            changed |= t.get("current_stake") != stake
            t["current_stake"] = stake
        elif "current_multipliers" in t or len(plan["regime"]["combinations"]) > 1:
            mults = tomlkit.inline_table()
            mults.update({k: float(v) for k, v in s["multipliers"].items()})
            changed |= dict(t.get("current_multipliers", {})) != dict(mults)
            t["current_multipliers"] = mults
        n += changed
    atomic.write_text(target, tomlkit.dumps(doc))
    return target, n
