"""The package as users install it: the wheel holds every module and the bundled data, `python -m stakealloc`
is the console script, and `--version` is the metadata's version (stated once, in stakealloc/__init__.py)."""

import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

import stakealloc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the build backend comes from the test extra, so no index is needed.
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600, cwd=out)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (whl,) = out.glob("stakealloc-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_every_module_and_the_bundled_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "stakealloc").rglob("*.py")
              if "__pycache__" not in p.parts}
    assert source and {"stakealloc/slots/__init__.py", "stakealloc/slots/problem.py"} <= source
    assert source <= names, sorted(source - names)
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "stakealloc" / "data").iterdir()}
    assert "stakealloc/data/classic_r843_r1197.csv" in data and data <= names, sorted(data - names)
    assert wheel.name.startswith(f"stakealloc-{stakealloc.__version__}-")


@pytest.mark.slow
def test_module_entry_point_and_version():
    r = subprocess.run([sys.executable, "-m", "stakealloc", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"stakealloc {stakealloc.__version__}"
    from importlib.metadata import version

    assert version("stakealloc") == stakealloc.__version__  # the metadata reads the one statement
    r = subprocess.run([sys.executable, "-m", "stakealloc", "validate", str(ROOT / "fleet.toml")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and ": ok:" in r.stdout, r.stderr
