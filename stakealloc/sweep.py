"""Parameter sweeps: the walk-forward backtest over a grid of settings, resumable, locally or on Dask.

A cell is one (risk measure, lookback, linkage, objective); baselines are `current` (once: it depends on
none of them) and `equal` (once per lookback and objective: it has no clustering). Cells that share
(lookback, linkage, objective) are computed together in one task, so the instruments and the clustering
of each window are computed once for all their measures; each task runs single-threaded, and the
parallelism is over tasks (joblib processes, or the workers of an existing `dask.distributed` cluster).

Every finished cell is stored in OUT/cells/, atomically, under a key of its parameters, the step and lag,
the solver settings, the fleet's and the data's sha256 and the stakealloc version, so a rerun computes
only what is missing and anything changed invalidates what it affects.
"""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import json
import math
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import __version__, atomic
from .config import LINKAGES, Fleet, Objective, check_window, parse_risk_measure
from .errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from .records import Metrics

COLUMNS = ["risk_measure", "lookback", "linkage", "objective", "mean_pct", "sharpe", "max_drawdown", "cvar5",
           "turnover", "tracking_error", "nonoverlap_mean_pct", "nonoverlap_sharpe", "decisions", "unproven",
           "sharpe_vs_current", "sharpe_vs_current_lo", "sharpe_vs_current_hi"]


CELL_FORMAT = 2  # 2: rows carry the comparison with current (cells of format 1 are computed again)


@dataclass(frozen=True)
class Cell:
    """One row of the sweep. Baselines leave what they do not depend on empty (None)."""

    risk_measure: str  # a riskfolio code, or "equal" / "current"
    lookback: int | None
    linkage: str | None
    objective: str | None

    def group(self) -> tuple:
        """Cells computed together (sharing windows and clustering)."""
        return (self.lookback, self.linkage, self.objective, self.risk_measure in ("equal", "current"))

    def as_row(self) -> dict:
        return {"risk_measure": self.risk_measure, "lookback": self.lookback, "linkage": self.linkage,
                "objective": self.objective}


def grid(measures: list[str], lookbacks: list[int], linkages: list[str], objectives: list[str]) -> list[Cell]:
    """The sweep's rows in a fixed order: measures × lookbacks × linkages × objectives, then `equal` per
    (lookback, objective), then `current` once."""
    cells = [Cell(rm, lb, lk, ob) for rm, lb, lk, ob in itertools.product(measures, lookbacks, linkages, objectives)]
    cells += [Cell("equal", lb, None, ob) for lb, ob in itertools.product(lookbacks, objectives)]
    cells.append(Cell("current", None, None, None))
    return cells


def data_sha256(table: pd.DataFrame) -> str:
    """A digest of the score table's content (rows in their sorted order, values as written by repr)."""
    cols = ["round", "model", "score", "value", "resolved"]
    t = table[cols].sort_values(cols[:3], kind="stable")
    h = hashlib.sha256()
    for row in t.itertuples(index=False):
        h.update(f"{row[0]},{row[1]},{row[2]},{float(row[3])!r},{bool(row[4])}\n".encode())
    return h.hexdigest()


def cell_key(cell: Cell, settings: dict, fleet_sha: str, data_sha: str) -> str:
    blob = json.dumps({"cell": cell.as_row(), "settings": settings, "fleet": fleet_sha, "data": data_sha,
                       "version": __version__, "format": CELL_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _row(cell: Cell, m: Metrics, decisions: int, unproven: int) -> dict:
    no, vs = m.non_overlapping, m.vs_current
    return {**cell.as_row(), "mean_pct": m.mean_pct, "sharpe": m.sharpe, "max_drawdown": m.max_drawdown,
            "cvar5": m.cvar5, "turnover": m.turnover, "tracking_error": m.tracking_error,
            "nonoverlap_mean_pct": no.mean_pct, "nonoverlap_sharpe": no.sharpe, "decisions": decisions,
            "unproven": unproven, "sharpe_vs_current": vs.sharpe_diff if vs else None,
            "sharpe_vs_current_lo": vs.sharpe_diff_ci[0] if vs else None,
            "sharpe_vs_current_hi": vs.sharpe_diff_ci[1] if vs else None}


def compute_group(fleet: Fleet, table: pd.DataFrame, rules: dict, cells: list[Cell], step: int,
                  lag: int | None) -> list[dict]:
    """The rows of `cells` (one group: same lookback, linkage and objective) from one backtest. Pure; runs
    in a worker, single-threaded."""
    from . import walkforward

    first = cells[0]
    f = fleet.with_overrides(lookback=first.lookback, linkage=first.linkage,
                             objective=Objective(first.objective) if first.objective else None)
    strategies = [c.risk_measure for c in cells]
    # `current` runs beside every group (it is cheap): each cell is compared with doing nothing
    with_current = strategies + ([] if "current" in strategies or not walkforward.current_known(f) else ["current"])
    res = walkforward.run(f, table, with_current, step=step, lag=lag, rules=rules, jobs=1, in_sample=False)
    n = res.settings.decisions
    return [_row(c, res.strategies[c.risk_measure], n, res.settings.unproven.get(c.risk_measure, 0))
            for c in cells]


def _on_worker(fleet: Fleet, table: pd.DataFrame, rules: dict, cells: list[Cell], step: int,
               lag: int | None) -> tuple[list[dict], str]:
    """`compute_group` on a Dask worker, with the address of the worker that ran it."""
    from distributed import get_worker

    return compute_group(fleet, table, rules, cells, step, lag), get_worker().address


def _row_sha(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, allow_nan=False).encode()).hexdigest()


MAX_CELL_BYTES = 100_000  # a cell file holds one row


def _valid_row(row: object, cell: Cell) -> bool:
    """A row of exactly the sweep's columns, naming its own cell, with finite numbers (or null) elsewhere."""
    if not isinstance(row, dict) or set(row) != set(COLUMNS) or any(row[k] != v for k, v in cell.as_row().items()):
        return False
    for k in COLUMNS[4:]:
        v = row[k]
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
    return True


class _Store:
    """Finished cells, one file each under OUT/cells/, with the row's sha256: a file that is not a regular file,
    fails its checksum or does not hold its own cell's row is computed again, with a note."""

    def __init__(self, out: Path):
        self.dir = out / "cells"
        self.notes: list[str] = []

    def load(self, key: str, cell: Cell) -> dict | None:
        p = self.dir / f"{key}.json"
        try:
            st = p.lstat()
        except FileNotFoundError:
            return None
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CELL_BYTES:
            self.notes.append(f"{p.name}: not a regular cell file; computed again")
            return None
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            self.notes.append(f"{p.name}: unreadable; computed again")
            return None
        row = doc.get("row") if isinstance(doc, dict) else None
        try:
            ok = (doc.get("key") == key and _valid_row(row, cell)  # type: ignore[union-attr]
                  and doc.get("sha256") == _row_sha(row))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            ok = False
        if not ok:
            self.notes.append(f"{p.name}: fails its checksum or its cell's row; computed again")
            return None
        return row

    def save(self, key: str, row: dict) -> None:
        doc = {"key": key, "row": row, "sha256": _row_sha(row)}
        try:
            atomic.write_text(self.dir / f"{key}.json", json.dumps(doc, sort_keys=True) + "\n")
        except OSError as e:
            _write_error(self.dir / f"{key}.json", e)


def _write_error(path: Path, e: OSError):
    """A sweep's write that failed: exit 3 for the machine's limits (disk, I/O), exit 2 for a path that is
    wrong; naming the path."""
    from .errors import DataError

    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        raise DataError(f"out: cannot write {path}: {e.strerror}", key="out") from None
    raise ConfigError(f"out: cannot write {path}: {e.strerror or e}", key="out") from None


def _quiet_dask_teardown() -> None:
    """A Client that failed to connect complains from its __del__ at garbage collection ("Exception ignored in
    Client.__del__"), after the one-line error: those reports (from distributed only) are dropped."""
    previous = sys.unraisablehook
    if getattr(previous, "_stakealloc", False):
        return

    def hook(u):
        if getattr(u.object, "__module__", "").startswith("distributed"):
            return
        previous(u)

    hook._stakealloc = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def axis(name: str, values, check) -> list:
    """A sweep axis (`name`, the API's argument): each value checked by `check`, which returns the canonical
    value or raises ValueError(what a value must be); duplicates dropped, order kept."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ConfigError(f"{name}: expected a list, got {values!r}", key=name)
    out = []
    for v in values:
        try:
            out.append(check(v))
        except ConfigError as e:
            raise ConfigError(f"{name}: {v!r}: {str(e).split(': ', 1)[-1]}", key=name) from None
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{name}: {v!r} is not {e}", key=name) from None
    if not out:
        raise ConfigError(f"{name}: name at least one value", key=name)
    return list(dict.fromkeys(out))


def risk_measure(v) -> str:
    if not isinstance(v, str):
        raise ValueError("a risk measure")
    return parse_risk_measure(v, key="risk_measures").value


def lookback(v) -> int:
    """A lookback in rounds: an int, or its digits as text (the CLI's)."""
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError("a whole number of rounds")
    try:
        return int(v)
    except ValueError:
        raise ValueError("a whole number of rounds") from None


def linkage(v) -> str:
    if v not in LINKAGES:
        raise ValueError(f"a linkage ({', '.join(LINKAGES)})")
    return v


def objective(v) -> str:
    if not isinstance(v, str):
        raise ValueError("an objective (exposure, tracking)")
    try:
        return Objective(v.lower()).value
    except ValueError:
        raise ValueError("an objective (exposure, tracking)") from None


def _dask_client(address: str, timeout: float):
    """A client of the scheduler at `address` with at least one worker, within about `timeout` seconds: a bad
    address or scheme, a silent endpoint or no worker is ClusterError naming --dask (exit 3)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("dask: needs the dask extra: pip install 'stakealloc[dask]'", key="dask") from None
    scheme = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    if scheme == "tls":  # a Coiled or secured cluster: the certificates come from Dask's own configuration
        from distributed.security import Security

        if not Security().tls_ca_file:
            raise ClusterError("dask: a tls:// scheduler needs Dask's TLS certificates in its configuration "
                               "(distributed.comm.tls.ca-file, .client.cert, .client.key); none is set", key="dask")
    elif scheme != "tcp":  # ucx, inproc, ws: other set-ups, stated rather than failing inside distributed
        raise ClusterError(f"dask: {scheme}:// addresses are not supported; give the scheduler as host:port, "
                           "tcp://host:port or (with Dask's TLS configuration) tls://host:port", key="dask")
    _quiet_dask_teardown()
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=timeout, set_as_default=False)
            box["client"].wait_for_workers(1, timeout=timeout)
        except BaseException as e:  # any failure: reported below in one line
            box["error"] = e

    t = threading.Thread(target=connect, daemon=True, name="stakealloc-dask-connect")
    t.start()
    t.join(2 * timeout + 3)
    if t.is_alive():  # an endpoint that accepts and never speaks: the thread is left behind (daemon)
        raise ClusterError(f"dask: the Dask scheduler at {address} did not answer within {timeout:g} s",
                           key="dask")
    err = box.get("error")
    if err is not None:
        client = box.get("client")
        if client is not None:
            try:
                client.close()
            except Exception:  # a half-open client: nothing more to do
                pass
            raise ClusterError(f"dask: the Dask scheduler at {address} has no workers after {timeout:g} s "
                               f"({type(err).__name__}); start `dask worker {address}`", key="dask")
        raise ClusterError(f"dask: cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({type(err).__name__})", key="dask")
    return box["client"]


def run(fleet: Fleet, table: pd.DataFrame, rules: dict, out: Path, *, measures: list[str], lookbacks: list[int],
        linkages: list[str], objectives: list[str], step: int, lag: int | None, jobs: int = 1,
        dask: str | None = None, dask_timeout: float = 10.0, progress: bool = False) -> dict:
    """Compute the missing cells into `out`, then write sweep.csv, heatmap.png and meta.json. Returns meta."""
    from .progress import Progress

    for lb in lookbacks:
        if lb < 2:
            raise ConfigError(f"lookbacks: {lb} is below 2 rounds", key="lookbacks")
        check_window(lb, fleet.portfolio.min_rounds, key="lookbacks")  # else every cell would hold no plan
    cells = grid(measures, lookbacks, linkages, objectives)
    s = fleet.solver
    settings = {"step": step, "lag": lag, "solver": s.name.value, "time_limit": s.time_limit,
                "change_penalty": s.change_penalty, "measures": measures, "lookbacks": lookbacks,
                "linkages": linkages, "objectives": objectives}
    fleet_sha, data_sha = fleet.sha256, data_sha256(table)
    key_settings = {k: settings[k] for k in ("step", "lag", "solver", "time_limit", "change_penalty")}
    # the rounds' own payout rules book the held rounds: a change of them (a clip, a multiplier) is a new cell
    key_settings["rules"] = hashlib.sha256(json.dumps(
        {str(r): [repr(c) for c in cfgs] for r, cfgs in sorted(rules.items())}, sort_keys=True).encode()).hexdigest()
    keys = {c: cell_key(c, key_settings, fleet_sha, data_sha) for c in cells}
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} is not a directory; --out names the sweep's own directory", key="out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "cells").mkdir(exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out: cannot create {out}/cells: {e.strerror}", key="out") from None
    store = _Store(out)
    rows: dict[Cell, dict] = {}
    for c in cells:
        row = store.load(keys[c], c)
        if row is not None:
            rows[c] = row
    missing = [c for c in cells if c not in rows]
    groups: dict[tuple, list[Cell]] = {}
    for c in missing:
        groups.setdefault(c.group(), []).append(c)
    tasks = list(groups.values())
    bar = Progress(len(missing), "sweep", progress)
    by_worker: dict[str, int] = {}  # Dask worker address -> cells it computed

    def take(result: list[dict], group: list[Cell]) -> None:
        for c, row in zip(group, result):
            store.save(keys[c], row)  # each finished cell is kept at once: an interrupted sweep resumes
            rows[c] = row
            bar.step(f"{c.risk_measure} {c.lookback or ''} {c.linkage or ''} {c.objective or ''}")

    if dask:
        executor = f"dask {dask}"
        client = _dask_client(dask, dask_timeout)
        try:
            # The table and rules travel once (scattered); each task carries only its cells.
            table_f = client.scatter(table, broadcast=True)
            futures = {client.submit(_on_worker, fleet, table_f, rules, g, step, lag, pure=False): i
                       for i, g in enumerate(tasks)}
            from distributed import as_completed

            # The client is not the process's default (a library must not install one), so as_completed is
            # given its loop: without it, it looks for a default client and fails ("No clients found").
            for fut in as_completed(futures, loop=client.loop):
                result, worker = fut.result()
                by_worker[worker] = by_worker.get(worker, 0) + len(result)
                take(result, tasks[futures[fut]])
        finally:
            client.close()
    elif jobs > 1 and len(tasks) > 1:
        from . import workers

        executor = f"joblib {jobs} processes"
        done = iter(tasks)  # results come in submission order: each is its task's
        workers.for_each(compute_group, [(fleet, table, rules, g, step, lag) for g in tasks], jobs,
                         lambda res: take(res, next(done)))
    else:
        executor = "local, 1 process"
        for g in tasks:
            take(compute_group(fleet, table, rules, g, step, lag), g)
    bar.close()

    frame = pd.DataFrame([rows[c] for c in cells], columns=COLUMNS)
    try:
        atomic.write_text(out / "sweep.csv", frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
        heatmap(frame, out / "heatmap.png")
    except OSError as e:
        _write_error(out / (e.filename and Path(e.filename).name or "sweep.csv"), e)
    resolved = table[table["resolved"]]["round"]
    meta = {"version": __version__, "fleet_sha256": fleet_sha, "data_sha256": data_sha,
            "rounds": [int(resolved.min()), int(resolved.max())], "settings": settings, "executor": executor,
            "cells_computed": len(missing), "cells_reused": len(cells) - len(missing)}
    if dask:
        meta["cells_by_worker"] = dict(sorted(by_worker.items()))
    if store.notes:
        meta["notes"] = store.notes
    try:
        atomic.write_text(out / "meta.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
    except OSError as e:
        _write_error(out / "meta.json", e)
    return meta


def heatmap_title(frame: pd.DataFrame) -> str:
    """The heatmap's title: what it shows and the baselines' out-of-sample Sharpe beside it."""
    base = frame[frame["risk_measure"].isin(["equal", "current"])]
    marks = []
    for name, what in (("current", "current (do nothing)"), ("equal", "equal weights")):
        rows = base[base["risk_measure"] == name]["sharpe"]
        if len(rows):
            marks.append(f"{what} up to {rows.max():.2f}" if len(rows) > 1 else f"{what} {rows.iloc[0]:.2f}")
    return "out-of-sample Sharpe" + (" — baselines: " + ", ".join(marks) if marks else "")


def heatmap(frame: pd.DataFrame, path: Path) -> None:
    """Out-of-sample Sharpe, risk measure × lookback, one panel per (linkage, objective), the baselines' Sharpe
    in the title. Drawn on its own Figure: the process's matplotlib backend is left alone (a notebook's too)."""
    from matplotlib.figure import Figure

    cells = frame[~frame["risk_measure"].isin(["equal", "current"])]
    panels = list(dict.fromkeys(zip(cells["linkage"], cells["objective"])))
    fig = Figure(figsize=(3.2 * max(len(panels), 1) + 1.2, 3.6), dpi=90)
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)
    fig.subplots_adjust(bottom=0.18, left=0.15, top=0.78)
    vmin, vmax = float(cells["sharpe"].min()), float(cells["sharpe"].max())
    im = None
    for ax, (lk, ob) in zip(axes[0], panels):
        sub = cells[(cells["linkage"] == lk) & (cells["objective"] == ob)]
        piv = sub.pivot(index="risk_measure", columns="lookback", values="sharpe")
        piv = piv.reindex(index=list(dict.fromkeys(sub["risk_measure"])))
        im = ax.imshow(piv.to_numpy(dtype=float), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(piv.shape[1]), [str(int(c)) for c in piv.columns])
        ax.set_yticks(range(piv.shape[0]), list(piv.index))
        for (i, j), v in pd.DataFrame(piv.to_numpy()).stack().items():
            dark = vmax == vmin or (v - vmin) / (vmax - vmin) < 0.6  # light text on the dark end of viridis
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if dark else "k")
        ax.set_title(f"linkage {lk}, objective {ob}", fontsize=9)
        ax.set_xlabel("lookback (rounds)")
    fig.suptitle(heatmap_title(frame), fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), label="out-of-sample Sharpe")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic.write_bytes(path, buf.getvalue())
