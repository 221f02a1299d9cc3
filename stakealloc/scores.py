"""Score history: the long-form table `round, model, score, value, resolved`.

Sources: a snapshot CSV (the bundled one or a path) or the Numerai API with its
disk cache (`numerai`, `cache`). Every source ends in `validate_table`.
"""

from __future__ import annotations

import numpy as np
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import DataError
from .regimes import SCORE_KEYS

COLUMNS = ["round", "model", "score", "value", "resolved"]
BUNDLED = "classic_r843_r1197.csv"
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def validate_table(df: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Normalise types and check a score table; NaN values are dropped (a missing round is an absent row)."""
    missing = [c for c in ("round", "model", "score", "value") if c not in df.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}; expected round,model,score,value[,resolved]")
    out = pd.DataFrame()
    rounds = pd.to_numeric(df["round"], errors="coerce")
    bad = rounds.isna() | (rounds != rounds.round())
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{origin}: row {i + 1}: round {df['round'].iloc[i]!r} is not a whole number")
    out["round"] = rounds.astype("int64")
    out["model"] = df["model"].astype(str).str.strip().str.lower()
    out["score"] = df["score"].astype(str).str.strip().str.lower()
    unknown = sorted(set(out["score"]) - set(SCORE_KEYS))
    if unknown:
        raise DataError(f"{origin}: unknown score key(s) {', '.join(unknown)}; known: {', '.join(SCORE_KEYS)}")
    values = pd.to_numeric(df["value"], errors="coerce")
    text_bad = values.isna() & df["value"].notna() & (df["value"].astype(str).str.strip().str.upper().isin(["", "NA", "NAN"]) == False)  # noqa: E712
    if text_bad.any():
        i = int(text_bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{origin}: row {i + 1}: value {df['value'].iloc[i]!r} is not a number")
    if np.isinf(values.to_numpy(dtype=float)).any():
        raise DataError(f"{origin}: infinite score values")
    out["value"] = values.astype(float)
    if "resolved" in df.columns:
        r = df["resolved"]
        if r.dtype == bool:
            out["resolved"] = r.to_numpy()
        else:
            text = r.astype(str).str.strip().str.lower()
            ok = text.isin(_TRUE | _FALSE)
            if not ok.all():
                i = int((~ok).to_numpy().nonzero()[0][0])
                raise DataError(f"{origin}: row {i + 1}: resolved {r.iloc[i]!r} is not true/false")
            out["resolved"] = text.isin(_TRUE).to_numpy()
    else:
        out["resolved"] = True
    out = out[out["value"].notna()]
    dup = out.duplicated(["round", "model", "score"], keep=False)
    if dup.any():
        row = out[dup].iloc[0]
        raise DataError(f"{origin}: round {row['round']} model {row['model']} score {row['score']} appears more than once")
    return out.sort_values(["round", "model", "score"], kind="stable").reset_index(drop=True)[COLUMNS]


def read_snapshot(path: str | Path) -> pd.DataFrame:
    """Read a long-form CSV snapshot."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={"model": str, "score": str}, keep_default_na=True)
    except FileNotFoundError:
        raise DataError(f"{p}: no such snapshot file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: not a readable CSV: {e}") from None
    return validate_table(df, str(p))


def load_bundled() -> pd.DataFrame:
    """The bundled real snapshot (rounds 843–1197; 1178–1197 unresolved)."""
    with resources.as_file(resources.files("stakealloc") / "data" / BUNDLED) as p:
        return read_snapshot(p)


def load_snapshot(spec: str) -> pd.DataFrame:
    return load_bundled() if spec == "bundled" else read_snapshot(spec)


def known_models(table: pd.DataFrame) -> set[str]:
    return set(table["model"].unique())
