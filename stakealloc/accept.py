"""`stakealloc accept PLAN.json`: once a plan is applied on numer.ai, write what each slot now submits (and,
under per-round staking, its per-round stake) back into the fleet file as `current` (`current_stake`), so
the next run compares against it. tomlkit keeps the file's comments and layout; the write is atomic; a plan
made from another version of the fleet file (its sha256 differs) is refused."""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path

from .config import parse_fleet
from .errors import ConfigError
from .types import Ref, Side


def _finite(v) -> float:
    x = float(v)
    if not math.isfinite(x) or isinstance(v, bool):
        raise ValueError(v)
    return x


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
    for i, s in enumerate(slots if isinstance(slots, list) else [None]):
        try:  # a plan edited by hand: its slots must still be a plan's
            name, label = s["slot"], Ref(str(s["model"]), Side(s["side"])).label
            t = tables.get(name)
            if t is None:
                raise ConfigError(f"plan: slot {name!r} is not in {target}", key="plan")
            changed = t.get("current") != label
            t["current"] = label
            if per_round:
                stake = _finite(s["per_round_stake"])
                changed |= t.get("current_stake") != stake
                t["current_stake"] = stake
            elif "current_multipliers" in t or len(plan["regime"]["combinations"]) > 1:
                mults = tomlkit.inline_table()
                mults.update({str(k): _finite(v) for k, v in s["multipliers"].items()})
                changed |= dict(t.get("current_multipliers", {})) != dict(mults)
                t["current_multipliers"] = mults
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError(f"plan: slots[{i}] is not a slot of a plan written by `stakealloc run --json`",
                              key="plan") from None
        n += changed
    text = tomlkit.dumps(doc)
    try:  # what is written must still be a fleet file: checked before the file is replaced
        parse_fleet(tomllib.loads(text), base=target.parent, path=target)
    except ConfigError as e:
        raise ConfigError(f"plan: accepting it would leave {target} invalid ({e}); nothing written",
                          key="plan") from None
    atomic.write_text(target, text)
    return target, n
