"""Target exposures (NMR) per (model, side, score) from instrument weights."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd

from .errors import ConfigError
from .instruments import Instrument
from .regimes import Regime
from .types import Side, Target  # Target is read from here too


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


def parse_csv(text: str, name: str, regime: Regime, models: tuple[str, ...], leverage: float = 100.0,
              ) -> tuple[Target, ...]:
    """Targets given by hand: CSV text `model,side,score,target` (NMR) read from `name`, for `assign`.
    Errors start with "targets: <name>" (ConfigError key "targets")."""
    from .types import NMR_SUPPLY

    def bad(msg: str) -> ConfigError:
        return ConfigError(f"targets: {name}: {msg}", key="targets")


    limit = leverage * NMR_SUPPLY
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        raise bad(f"not a readable CSV: {e}") from None
    if not rows:
        raise bad("not a readable CSV: it is empty")
    for i, r in enumerate(rows[1:], start=2):
        if r and len(r) != len(rows[0]):  # pandas turned a longer row into an index and then a TypeError
            raise bad(f"row {i}: {len(r)} fields where the header has {len(rows[0])}")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise bad(f"not a readable CSV: {e}") from None
    need = ["model", "side", "score", "target"]
    if list(df.columns[:4]) != need and set(need) - set(df.columns):
        raise bad(f"columns must be {','.join(need)}; got {','.join(df.columns)}")
    out: dict[tuple[str, str, str], float] = {}
    for i, row in df.iterrows():
        where = f"row {int(i) + 2}"
        m = row["model"].strip().lower()
        if m not in models:
            raise bad(f"{where}: unknown model {row['model']!r}: not in the fleet's models")
        side = row["side"].strip().lower()
        if side not in tuple(Side):
            raise bad(f"{where}: side {row['side']!r} must be long or short")
        k = row["score"].strip()  # a displayName, kept as written
        if k not in regime.scores:
            raise bad(f"{where}: score {row['score']!r} is not paid in regime {regime.name!r} "
                      f"({', '.join(regime.scores)})")
        # the snapshots' number syntax (pandas'): Python's float would also take "5_000"
        t = float(pd.to_numeric(pd.Series([row["target"].strip()]), errors="coerce").iloc[0])
        if row["target"].strip() == "" or "_" in row["target"] or t != t:
            raise bad(f"{where}: target {row['target']!r} is not a number")
        if not math.isfinite(t) or t < 0:
            raise bad(f"{where}: target {t} must be a finite number ≥ 0 (NMR)")
        if t > limit:
            raise bad(f"{where}: target {t:g} NMR is more than leverage × NMR's supply ({limit:g})")
        if (m, side, k) in out:
            raise bad(f"{where}: ({m}, {side}, {k}) appears twice")
        out[(m, side, k)] = t
    if not any(v > 0 for v in out.values()):
        raise bad("no positive target")
    return tuple(Target(m, s, k, v) for (m, s, k), v in out.items() if v > 0)
