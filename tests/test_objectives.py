"""The objective registry: every objective described once, and no stage outside the slot programs branching on
which objective it is."""

import re

from conftest import ROOT

from stakealloc import objectives
from stakealloc.types import Objective


def test_every_objective_is_registered_with_what_it_needs():
    assert set(objectives.REGISTRY) == set(Objective)
    assert objectives.of("tracking").needs_streams and not objectives.of(Objective.EXPOSURE).needs_streams
    assert objectives.of("exposure").unit(False) == "NMR" and objectives.of("exposure").unit(True) == "NMR per round"
    assert objectives.of("tracking").unit(False) == "NMR per round"
    assert {o.line for o in objectives.REGISTRY.values()} == {"deviation", "tracking"}


def test_no_stage_outside_the_slot_programs_tests_which_objective_it_is():
    branch = re.compile(r"(is|is not|==|!=)\s+Objective\.")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "stakealloc").rglob("*.py"))
             if "slots" not in p.parts and p.name != "objectives.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if branch.search(line)]
    assert found == []
