"""Target exposures (NMR) per (model, side, score) from instrument weights."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .errors import ConfigError
from .instruments import Instrument
from .regimes import Regime


@dataclass(frozen=True)
class Target:
    model: str
    side: str  # "long" | "short"
    score: str
    target: float  # NMR of exposure to this score


def compute(weights: pd.Series, info: dict[str, Instrument], regime: Regime, leverage: float,
            total_stake: float) -> tuple[Target, ...]:
    """Multi-combination: leverage × total × w_i. One combination p: total × w_(m,side) × p_k.

    Rows come in the order of the weights' index, scores in regime order; zero targets are omitted.
    """
    out: dict[tuple[str, str, str], float] = {}
    for name, w in weights.items():
        inst = info[str(name)]
        if w == 0:
            continue
        if inst.score is None:
            for k, p in zip(regime.scores, regime.combinations[0]):
                if p != 0:
                    key = (inst.model, inst.side, k)
                    out[key] = out.get(key, 0.0) + total_stake * float(w) * p
        else:
            key = (inst.model, inst.side, inst.score)
            out[key] = out.get(key, 0.0) + leverage * total_stake * float(w)
    return tuple(Target(m, s, k, v) for (m, s, k), v in out.items())


def read_csv(path: str, regime: Regime, models: tuple[str, ...], leverage: float = 100.0) -> tuple[Target, ...]:
    """Targets given by hand: CSV `model,side,score,target` (NMR), for `stakealloc assign`."""
    import math

    from .config import NMR_SUPPLY

    limit = leverage * NMR_SUPPLY
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ConfigError(f"--targets: no such file {path!r}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError, OSError) as e:
        raise ConfigError(f"--targets: {path}: cannot read ({type(e).__name__})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ConfigError(f"--targets: {path}: not a readable CSV: {e}") from None
    need = ["model", "side", "score", "target"]
    if list(df.columns[:4]) != need and set(need) - set(df.columns):
        raise ConfigError(f"--targets: {path}: columns must be {','.join(need)}; got {','.join(df.columns)}")
    out: dict[tuple[str, str, str], float] = {}
    for i, row in df.iterrows():
        where = f"--targets: {path}: row {int(i) + 2}"
        m = row["model"].strip().lower()
        if m not in models:
            raise ConfigError(f"{where}: unknown model {row['model']!r}: not in the fleet's models")
        side = row["side"].strip().lower()
        if side not in ("long", "short"):
            raise ConfigError(f"{where}: side {row['side']!r} must be long or short")
        k = row["score"].strip()  # a displayName, kept as written
        if k not in regime.scores:
            raise ConfigError(f"{where}: score {row['score']!r} is not paid in regime {regime.name!r} ({', '.join(regime.scores)})")
        try:
            t = float(row["target"])
        except ValueError:
            raise ConfigError(f"{where}: target {row['target']!r} is not a number") from None
        if not math.isfinite(t) or t < 0:
            raise ConfigError(f"{where}: target {t} must be a finite number ≥ 0 (NMR)")
        if t > limit:
            raise ConfigError(f"{where}: target {t:g} NMR is more than leverage × NMR's supply ({limit:g})")
        if (m, side, k) in out:
            raise ConfigError(f"{where}: ({m}, {side}, {k}) appears twice")
        out[(m, side, k)] = t
    if not any(v > 0 for v in out.values()):
        raise ConfigError(f"--targets: {path}: no positive target")
    return tuple(Target(m, s, k, v) for (m, s, k), v in out.items() if v > 0)
