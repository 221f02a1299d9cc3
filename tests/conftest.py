"""Shared fixtures: the bundled real snapshot and small fleet files written per test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bundled() -> pd.DataFrame:
    from stakealloc.scores import load_bundled

    return load_bundled()


COLUMNS = 'columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }'
BASE_FLEET = """
models = ["fearindex", "reputation", "jos_stack", "integration_test", "nb_example_model"]

[portfolio]
risk_measure = "MV"

[payout]
regime = "classic-2024"

[data]
columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }

[solver]
name = "HiGHS"
time_limit = 20
objective = "exposure"  # most tests are about the exposure program; test_tracking.py sets "tracking"

[[slots]]
name = "slot_a"
stake = 1000.0
current = "fearindex"

[[slots]]
name = "slot_b"
stake = 600.0

[[slots]]
name = "slot_c"
stake = 400.0
"""


@pytest.fixture
def write_fleet(tmp_path):
    def write(text: str = BASE_FLEET, name: str = "fleet.toml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p

    return write


def _cli_env(env: dict | None) -> dict:
    e = {k: v for k, v in os.environ.items()
         if k not in ("NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY", "STAKEALLOC_API_URL")}
    # Never the live API: without an explicit local server, requests go to a closed port on 127.0.0.1.
    e["STAKEALLOC_API_URL"] = "http://127.0.0.1:9"
    e.update(env or {})
    return e


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command line as a user types it, run in this process: `cli.main` (the parser, the commands and the
    one place errors become exit codes) with the environment `env` adds (never the live API), in `cwd`, its
    stdout and stderr captured. What only a real process shows (signals, the console script, `os._exit`) is
    tested with `run_process`."""
    import contextlib
    import io
    import logging

    from stakealloc import cli

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    log = logging.getLogger("stakealloc")
    saved_log = (list(log.handlers), log.propagate)
    try:
        os.environ.clear()
        os.environ.update(_cli_env(env))
        os.chdir(cwd or ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(list(args))
            except SystemExit as e:  # argparse: --help, --version and usage errors
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        log.handlers[:], log.propagate = saved_log
    return subprocess.CompletedProcess(["stakealloc", *args], rc, out.getvalue(), err.getvalue())


def run_process(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The console entry point in a process of its own (`python -m stakealloc`), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "stakealloc", *args], capture_output=True, text=True,
                          env=_cli_env(env), cwd=cwd or ROOT, timeout=600)
