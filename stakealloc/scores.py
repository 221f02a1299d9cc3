"""Score history: the long-form table `round, model, score, value, resolved`.

Sources: a snapshot CSV (the bundled one or a path) or the Numerai API with its
disk cache (`numerai`, `cache`). Every source ends in `validate_table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .regimes import MAX_ROUND, SCORE_NAME, Regime, ScoreConfig, ScoreSpec, twenty_day

if TYPE_CHECKING:
    from .config import Fleet

COLUMNS = ["round", "model", "score", "value", "resolved"]
BUNDLED = "classic_r843_r1197.csv"
#: The bundled snapshot's columns: Classic's canonical 20-day CORR and MMC (see data/README.md).
BUNDLED_COLUMNS: dict[str, ScoreSpec] = {"canon_corr": twenty_day("canon_corr"), "canon_mmc": twenty_day("canon_mmc")}
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def _per_value(col: pd.Series, fn) -> pd.Series:
    """`fn` applied to each distinct value of `col` once, mapped back onto every row."""
    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    return pd.Series(np.asarray([fn(u) for u in uniques], dtype=object)[codes], index=col.index)


def validate_table(df: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Normalise types and check a score table; NaN values are dropped (a missing round is an absent row)."""
    missing = [c for c in ("round", "model", "score", "value") if c not in df.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}; expected "
                        "round,model,score,value[,resolved]")
    out = pd.DataFrame()
    rounds = pd.to_numeric(df["round"], errors="coerce")
    bad = rounds.isna() | ~np.isfinite(rounds) | (rounds != rounds.round())
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{origin}: row {i + 1}: round {_shown(df['round'].iloc[i])!r} is not a whole number")
    out_of_range = (rounds < 1) | (rounds > MAX_ROUND)  # as the API's rounds are (1e20 became a negative int64)
    if out_of_range.any():
        i = int(out_of_range.to_numpy().nonzero()[0][0])
        raise DataError(f"{origin}: row {i + 1}: round {_shown(df['round'].iloc[i])!r} is not in 1..{MAX_ROUND}")
    out["round"] = rounds.astype("int64")
    # String work on the distinct values only (a table has tens of thousands of rows, few names).
    out["model"] = _per_value(df["model"], lambda v: str(v).strip().lower())
    # Scores keep the API's displayName as written: no closed list, no case folding.
    out["score"] = _per_value(df["score"], lambda v: str(v).strip())
    bad_name = ~_per_value(out["score"], lambda v: bool(SCORE_NAME.match(v))).astype(bool)
    if bad_name.any():
        i = int(bad_name.to_numpy().nonzero()[0][0])
        raise DataError(f"{origin}: row {i + 1}: score {df['score'].iloc[i]!r} is not a score name (a "
                        "displayName such as v2_corr20)")
    values = pd.to_numeric(df["value"], errors="coerce")
    # Only values that did not convert can be text; the string work on those alone (a float column has none,
    # and converting 17,000 floats to text was most of reading the bundled snapshot, measured)
    suspect = values.isna() & df["value"].notna()
    text_bad = suspect.copy()
    if suspect.any():
        text_bad[suspect] = ~df["value"][suspect].astype(str).str.strip().str.upper().isin(["", "NA", "NAN"]).to_numpy()
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
        raise DataError(f"{origin}: round {row['round']} model {row['model']} score {row['score']} appears more "
                        "than once")
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
    except OSError as e:  # a directory, no permission, an I/O error
        raise DataError(f"{p}: cannot read: {e.strerror or type(e).__name__}") from None
    return validate_table(df, str(p))


def load_bundled() -> pd.DataFrame:
    """The bundled real snapshot (rounds 843–1197; 1178–1197 unresolved)."""
    with resources.as_file(resources.files("stakealloc") / "data" / BUNDLED) as p:
        return read_snapshot(p)


def load_snapshot(spec: str) -> pd.DataFrame:
    return load_bundled() if spec == "bundled" else read_snapshot(spec)


def column_of(regime: Regime, columns: dict[str, str]) -> dict[str, str]:
    """Regime score -> the data column it is read from (itself unless `[data] columns` maps it)."""
    return {k: columns.get(k, k) for k in regime.scores}


def payout_table(table: pd.DataFrame, regime: Regime, columns: dict[str, str], origin: str) -> pd.DataFrame:
    """The rows of the regime's payout scores, named by the regime: a mapped column's rows are renamed to
    the score they stand for (`[data] columns`), every other score is left out. Pure."""
    src = column_of(regime, columns)
    have = sorted(table["score"].unique())
    for k, c in src.items():
        if c not in have:
            via = f" (mapped from data.columns.{k})" if c != k else ""
            raise ConfigError(
                f"data.columns: payout score {k!r} of regime {regime.name!r} has no column {c!r}{via} in {origin} "
                f"(its scores: {', '.join(have) or 'none'}); map it explicitly, e.g. [data] columns = "
                f"{{ {k} = \"{have[0] if have else '...'}\" }}, or plan a regime that pays these scores")
    by_column: dict[str, str] = {}
    for k, c in src.items():  # one column, one score: else one series would be paid twice under two names
        if c in by_column:
            raise ConfigError(f"data.columns.{k}: column {c!r} is also read by payout score {by_column[c]!r}; each "
                              "payout score needs its own column")
        by_column[c] = k
    parts = [table[table["score"] == c].assign(score=k) for k, c in src.items()]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["round", "model", "score"], kind="stable").reset_index(drop=True)



def _shown(v: object) -> str:
    """A cell as the file has it (pandas may have read a number: 1e+20, not np.float64(1e+20))."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


@dataclass(frozen=True)
class ScoreData:
    """What a run plans from: the fleet with its API facts filled in (stakes, live rules), the score table,
    where it came from, the round the plan is for, the rounds' own payout rules, and notes for the plan."""

    fleet: Fleet
    table: pd.DataFrame  # long form: round, model, score (displayName or data column), value, resolved
    origin: str  # where the scores came from, as the plan states it ("snapshot bundled", "Numerai API (…)")
    current_round: int | None = None
    rules: dict[int, list[ScoreConfig]] = field(default_factory=dict)  # roundScoreConfigs by round (API only)
    notes: tuple[str, ...] = ()
    deadline: str | None = None  # the current round's closeStakingTime, as the API states it
    # the fingerprint of `table` as validate_table left it (not an init field: `replace` resets it)
    checked: int | None = field(default=None, init=False, repr=False, compare=False)

    def validated(self) -> ScoreData:
        """This, its table known valid: as it left validate_table here (by fingerprint: a table changed since,
        in place or replaced, is checked again), else checked now (DataError naming the bad row)."""
        if self.checked is not None and self.checked == table_fingerprint(self.table):
            return self
        out = replace(self, table=validate_table(self.table, "scores.table"))
        object.__setattr__(out, "checked", table_fingerprint(out.table))
        return out

    def _trusted(self) -> ScoreData:
        object.__setattr__(self, "checked", table_fingerprint(self.table))
        return self


def table_fingerprint(table: pd.DataFrame) -> int:
    """A hash of the table's index and values (milliseconds for a season of scores)."""
    return int(pd.util.hash_pandas_object(table, index=True).to_numpy().sum())


def from_snapshot(fleet: Fleet) -> ScoreData:
    return ScoreData(fleet, load_snapshot(fleet.data.snapshot), f"snapshot {fleet.data.snapshot}")._trusted()
