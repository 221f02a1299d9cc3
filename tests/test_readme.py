"""The README's two commands are the ones CI and newcomers run."""

import re

from conftest import ROOT


def _blocks():
    return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_exactly_two_commands_install_run_and_test():
    blocks = _blocks()[:2]
    assert len(blocks) == 2
    run, test = blocks
    # users install as users do (not editable); the tests lint first
    assert "pip install . " in run and "-e" not in run and run.endswith("stakealloc run fleet.toml")
    assert "ruff check ." in test and test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    test = _blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()
