"""Parameter sweeps: the table equals the cell-by-cell backtest, --jobs and Dask give the same table,
interrupted sweeps resume without recomputing, a changed fleet invalidates, an unreachable scheduler exits 3."""

import csv
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import BASE_FLEET, run_cli

from stakealloc import sweep, walkforward
from stakealloc.api import load_fleet

SMALL = BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 60\nmin_rounds = 40")
GRID = dict(measures=["MV", "CVaR"], lookbacks=[50, 60], linkages=["single"], objectives=["exposure"], step=10,
            lag=None)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, bundled):
    p = tmp_path_factory.mktemp("sw") / "fleet.toml"
    p.write_text(SMALL)
    return load_fleet(p), bundled[bundled["round"] <= 1010]


def read(out):
    return pd.read_csv(out / "sweep.csv", keep_default_na=False, dtype=str)


@pytest.mark.slow
def test_small_grid_equals_the_cell_by_cell_backtest(setup, tmp_path):
    fleet, table = setup
    meta = sweep.run(fleet, table, {}, tmp_path / "a", jobs=1, **GRID)
    rows = read(tmp_path / "a")
    assert list(rows.columns) == sweep.COLUMNS
    # 2 measures × 2 lookbacks, equal per lookback, current once
    assert [tuple(r) for r in rows[["risk_measure", "lookback", "linkage", "objective"]].to_numpy()] == [
        ("MV", "50", "single", "exposure"), ("MV", "60", "single", "exposure"), ("CVaR", "50", "single", "exposure"),
        ("CVaR", "60", "single", "exposure"), ("equal", "50", "", "exposure"), ("equal", "60", "", "exposure"),
        ("current", "", "", "")]
    assert meta["cells_computed"] == 7 and meta["cells_reused"] == 0
    for lb in (50, 60):
        res = walkforward.run(fleet.with_overrides(lookback=lb), table, ["MV", "CVaR", "equal"], step=10)
        for rm in ("MV", "CVaR", "equal"):
            row = rows[(rows["risk_measure"] == rm) & (rows["lookback"] == str(lb))].iloc[0]
            m = res.strategies[rm]
            assert float(row["sharpe"]) == pytest.approx(m.sharpe, rel=1e-9)
            assert float(row["mean_pct"]) == pytest.approx(m.mean_pct, rel=1e-9)
            assert float(row["tracking_error"]) == pytest.approx(m.tracking_error, rel=1e-9)
            assert int(row["decisions"]) == res.settings.decisions and int(row["unproven"]) == 0
    m = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert set(m) == {"version", "fleet_sha256", "data_sha256", "rounds", "settings", "executor", "cells_computed",
                      "cells_reused"}
    assert (tmp_path / "a" / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_jobs_2_equals_jobs_1(setup, tmp_path):
    fleet, table = setup
    sweep.run(fleet, table, {}, tmp_path / "one", jobs=1, **GRID)
    sweep.run(fleet, table, {}, tmp_path / "two", jobs=2, **GRID)
    assert (tmp_path / "one" / "sweep.csv").read_text() == (tmp_path / "two" / "sweep.csv").read_text()


@pytest.mark.slow
def test_resume_computes_only_missing_cells_and_a_changed_fleet_invalidates(setup, tmp_path):
    fleet, table = setup
    out = tmp_path / "r"
    sweep.run(fleet, table, {}, out, jobs=1, **GRID)
    first = (out / "sweep.csv").read_text()
    # an interruption: two finished cells lost
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 7
    for p in cells[:2]:
        p.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in cells[2:]}
    meta = sweep.run(fleet, table, {}, out, jobs=1, **GRID)
    assert meta["cells_computed"] == 2 and meta["cells_reused"] == 5
    assert {p.name: p.stat().st_mtime_ns for p in cells[2:]} == kept  # reused cells were read, not rewritten
    assert all(p.exists() for p in cells[:2])
    assert (out / "sweep.csv").read_text() == first
    # a changed fleet (another sha256) or another step: nothing reused
    from dataclasses import replace

    meta = sweep.run(replace(fleet, sha256="0" * 64), table, {}, out, jobs=1, **GRID)
    assert meta["cells_reused"] == 0
    meta = sweep.run(fleet, table, {}, out, jobs=1, **{**GRID, "step": 20})
    assert meta["cells_reused"] == 0


@pytest.mark.slow
def test_cli_sweep_writes_table_heatmap_meta(write_fleet, tmp_path):
    fleet = write_fleet(SMALL)
    out = tmp_path / "s"
    r = run_cli("sweep", str(fleet), "--out", str(out), "--risk-measures", "MV", "--lookbacks", "60", "--step", "40",
                "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert "3 cells computed, 0 reused" in r.stdout
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [r["risk_measure"] for r in rows] == ["MV", "equal", "current"]
    r = run_cli("sweep", str(fleet), "--out", str(out), "--risk-measures", "MV", "--lookbacks", "60", "--step", "40")
    assert r.returncode == 0 and "0 cells computed, 3 reused" in r.stdout
    r = run_cli("sweep", str(fleet), "--out", str(out), "--risk-measures", "MDDD")
    assert r.returncode == 2 and "--risk-measures" in r.stderr


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.slow
def test_unreachable_scheduler_exits_3_naming_the_address(write_fleet, tmp_path):
    addr = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    t0 = time.monotonic()
    r = run_cli("sweep", str(write_fleet(SMALL)), "--out", str(tmp_path / "d"), "--dask", addr, "--dask-timeout", "2")
    assert r.returncode == 3, r.stderr
    assert addr in r.stderr and "--dask: cannot reach" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 30


def _wait_for(path, text: str, proc, seconds: float = 60) -> None:
    """Until `text` appears in the log file `path` (a process's stderr), or fail with the log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        assert proc.poll() is None, path.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text()}")


@pytest.fixture
def dask_processes(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes (this interpreter's) on 127.0.0.1; yields the
    scheduler's address once both workers are registered. No client is opened here."""
    pytest.importorskip("distributed")
    dask_cmd = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = []
    try:
        log = tmp_path / "scheduler.log"
        procs.append(subprocess.Popen([dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=log.open("w")))
        _wait_for(log, "Scheduler at:", procs[0])
        for i in range(2):
            wlog = tmp_path / f"worker{i}.log"
            procs.append(subprocess.Popen([dask_cmd, "worker", addr, "--host", "127.0.0.1", "--nthreads", "1",
                                           "--nworkers", "1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=wlog.open("w")))
            _wait_for(wlog, "Registered to:", procs[-1])
        yield addr
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_sweep_on_real_dask_processes_gives_the_local_table(tmp_path, dask_processes):
    """The CLI process, with no default client of its own, runs the cells on the workers."""
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(SMALL)
    grid = ("--risk-measures", "MV,CVaR", "--lookbacks", "50,60", "--step", "10")
    r = run_cli("sweep", str(fleet_file), "--out", str(tmp_path / "local"), *grid, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    r = run_cli("sweep", str(fleet_file), "--out", str(tmp_path / "dask"), *grid, "--dask", dask_processes)
    assert r.returncode == 0, r.stderr
    assert "7 cells computed, 0 reused" in r.stdout
    local = json.loads((tmp_path / "local" / "meta.json").read_text())
    remote = json.loads((tmp_path / "dask" / "meta.json").read_text())
    # the same cells, computed on the workers (two processes, each registered by its own address)
    by_worker = remote.pop("cells_by_worker")
    assert sum(by_worker.values()) == 7 and all(w.startswith("tcp://127.0.0.1:") for w in by_worker)
    assert remote.pop("executor") == f"dask {dask_processes}" and local.pop("executor") == "local, 1 process"
    assert local["settings"] == remote["settings"] and local == remote
    assert (tmp_path / "local" / "sweep.csv").read_text() == (tmp_path / "dask" / "sweep.csv").read_text()
    # every cell cached: the rerun reuses them and still needs no client of its own
    r = run_cli("sweep", str(fleet_file), "--out", str(tmp_path / "dask"), *grid, "--dask", dask_processes)
    assert r.returncode == 0 and "0 cells computed, 7 reused" in r.stdout, r.stderr


def test_heatmap_marks_the_baselines_and_leaves_the_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    frame = pd.DataFrame([
        {"risk_measure": "MV", "lookback": 60, "linkage": "single", "objective": "exposure", "sharpe": 1.0},
        {"risk_measure": "CVaR", "lookback": 60, "linkage": "single", "objective": "exposure", "sharpe": 1.2},
        {"risk_measure": "equal", "lookback": 60, "linkage": None, "objective": "exposure", "sharpe": 0.7},
        {"risk_measure": "current", "lookback": None, "linkage": None, "objective": None, "sharpe": 1.5}])
    sweep.heatmap(frame, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == before
    assert sweep.heatmap_title(frame) == ("out-of-sample Sharpe — baselines: current (do nothing) 1.50, "
                                          "equal weights 0.70")


def test_the_cell_store_cannot_lie(setup, tmp_path):
    """A cell edited, broken, of another cell or not a regular file is computed again with a note; a change of
    the rounds' payout rules is a new cell. The table equals a fresh run's."""
    import os

    from stakealloc.regimes import ScoreConfig, ScoreSpec

    fleet, table = setup
    grid = {**GRID, "measures": ["MV"], "lookbacks": [60]}
    out = tmp_path / "c"
    sweep.run(fleet, table, {}, out, jobs=1, **grid)
    fresh = (out / "sweep.csv").read_text()
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 3
    doc = json.loads(cells[0].read_text())
    doc["row"]["sharpe"] = 99.0  # edited: the checksum no longer holds
    cells[0].write_text(json.dumps(doc))
    cells[1].write_text('{"key": "x", "row": {}}')  # another key, no row
    cells[2].unlink()
    os.mkfifo(cells[2])  # a FIFO where a cell was: never opened
    meta = sweep.run(fleet, table, {}, out, jobs=1, **grid)
    assert meta["cells_computed"] == 3 and len(meta["notes"]) == 3
    assert any("not a regular cell file" in n for n in meta["notes"])
    assert (out / "sweep.csv").read_text() == fresh
    # the rounds' own rules changed (a clip): nothing is reused
    spec = ScoreSpec("v2_corr20", "v2_corr20", "2", 20, 2, 1)
    rules = {1000: [ScoreConfig(spec, True, 0.5, 0.5, 0.5, 0.01, None)]}
    meta = sweep.run(fleet, table, rules, out, jobs=1, **grid)
    assert meta["cells_reused"] == 0


def test_sweep_write_failures_name_the_path(setup, tmp_path):
    from stakealloc.errors import ConfigError

    fleet, table = setup
    grid = {**GRID, "measures": ["MV"], "lookbacks": [60]}
    out = tmp_path / "w"
    (out / "meta.json").mkdir(parents=True)  # a directory where a file goes
    with pytest.raises(ConfigError, match=r"^out: cannot write .*meta.json"):
        sweep.run(fleet, table, {}, out, jobs=1, **grid)
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / "cells").write_text("a file, not a directory")
    with pytest.raises(ConfigError, match=r"^out: cannot create .*cells"):
        sweep.run(fleet, table, {}, bad, jobs=1, **grid)
    (tmp_path / "f").write_text("a file where the sweep's directory goes")
    with pytest.raises(ConfigError, match=r"^out: .*/f is not a directory; --out names the sweep's own directory"):
        sweep.run(fleet, table, {}, tmp_path / "f", jobs=1, **grid)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tls", "ucx", "bad", "silent"])
def test_hostile_dask_endpoints_end_in_one_line_within_the_timeout(write_fleet, tmp_path, kind):
    listener = None
    if kind == "silent":  # accepts TCP connections and never speaks
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        addr = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    else:
        addr = {"tls": f"tls://127.0.0.1:{_free_port()}", "ucx": f"ucx://127.0.0.1:{_free_port()}",
                "bad": "tcp://bad address"}[kind]
    try:
        t0 = time.monotonic()
        r = run_cli("sweep", str(write_fleet(SMALL)), "--out", str(tmp_path / "d"), "--dask", addr,
                    "--dask-timeout", "2")
        took = time.monotonic() - t0
    finally:
        if listener is not None:
            listener.close()
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("stakealloc: error: --dask: ")
    assert "Traceback" not in r.stderr and took < 30
    if kind == "ucx":
        assert "ucx:// addresses are not supported" in r.stderr
    if kind == "tls":  # no certificates in this environment's Dask configuration
        assert "needs Dask's TLS certificates" in r.stderr
