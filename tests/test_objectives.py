"""The objective registry: every objective described once, and no stage outside the slot programs branching on
which objective it is."""

import re

import pytest
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


def test_no_module_but_the_objectives_own_branches_on_which_objective_it_is():
    """Inside the slot programs too: the objective is asked (`slots.objective.of`), never tested; an
    objective's own module may compare against its own KEY only."""
    branch = re.compile(r"(is|is not|==|!=)\s+Objective\.")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "stakealloc").rglob("*.py"))
             if p.name != "objectives.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if branch.search(line)]
    assert found == []


def test_every_objective_has_one_implementation_of_the_whole_protocol():
    from stakealloc.slots import objective

    for o in Objective:
        impl = objective.of(o)
        assert impl.key is o and objective.of(o.value) is impl
        for method in ("solve", "value", "per_round_rows", "per_round_value", "per_round_start"):
            assert callable(getattr(impl, method)), (o, method)
        assert isinstance(impl.relax_first, bool)
    assert objective.of("exposure").per_round_value(3.0, 1.0) == 3.0
    assert objective.of("tracking").per_round_value(3.0, 1.0) == 1.0


def _small(objective_key, change_penalty=0.0):
    import numpy as np

    from stakealloc.payout import ScoreCube
    from stakealloc.regimes import custom_regime
    from stakealloc.slots import SlotInput, SlotProblem
    from stakealloc.targets import Target
    from stakealloc.types import Ref

    rng = np.random.default_rng(7)
    # a choice of multipliers, the idle one included: the plan's combination matters
    regime = custom_regime(["v2_corr20", "tc"], [[0.0, 0.0], [0.5, 1.0], [1.0, 3.0]])
    models = ("a", "b", "c")
    st = ScoreCube.from_streams(tuple(range(1, 13)), {(m, k): rng.normal(0.003, 0.02, 12)
                                                      for m in models for k in regime.scores})
    slots = [SlotInput("s0", 300.0, current=Ref("a", "long"), current_combo=1), SlotInput("s1", 200.0),
             SlotInput("s2", 100.0)]
    targets = (Target("a", "long", regime.scores[0], 250.0), Target("b", "short", regime.scores[1], 400.0),
               Target("c", "long", regime.scores[0], 90.0))
    return SlotProblem.build(slots, targets, regime, models, objective=objective_key, streams=st,
                             change_penalty=change_penalty)


@pytest.mark.parametrize("key", list(Objective))
def test_each_objectives_value_is_what_its_solver_reports_and_the_brute_force_minimum(key):
    """The protocol's `value` agrees with the objective its program reports for the plan it returns, and
    that plan is the minimum of `value` over every plan (3 slots: brute force)."""
    import itertools

    from stakealloc.slots import SearchOptions, objective, solve

    pb = _small(key, change_penalty=0.5)
    impl = objective.of(key)
    plan = solve(pb, time_limit=20, options=SearchOptions(exact_dp=False))
    cp = [(pb.refs.index(c.ref), c.combo) for c in plan.choices]
    assert impl.value(pb, cp) == pytest.approx(plan.solver.objective, abs=1e-9)
    assert plan.solver.objective_kind is key
    options = [[(c, p) for c in pb.allowed[j] for p in range(pb.ncombo) if p != pb.zero or c == pb.idle[j]]
               for j in range(len(pb.slots))]
    best = min(impl.value(pb, list(x)) for x in itertools.product(*options))
    assert plan.solver.objective == pytest.approx(best, abs=0.011)  # within the proof tolerance (ABS_GAP)
    assert plan.solver.status == "optimal"


def test_the_slot_programs_reach_an_objective_only_through_its_implementation(monkeypatch):
    """Swap the exposure implementation for one that records what is asked of it: the fixed-stake solve and
    the per-round program's rows go through it, so a new objective needs no edit in the programs."""
    import numpy as np

    from stakealloc.slots import PerRound, objective, solve

    asked = []

    class Recording(objective.Exposure):
        def solve(self, pb, **kw):
            asked.append("solve")
            return super().solve(pb, **kw)

        def per_round_rows(self, pb, prob, stake_on, start=None):
            asked.append(("rows", len(stake_on)))
            return super().per_round_rows(pb, prob, stake_on, start)

        def per_round_value(self, deviation, tracking_error):
            asked.append("per_round_value")
            return deviation

    monkeypatch.setitem(objective._IMPLEMENTATIONS, Objective.EXPOSURE, Recording())
    pb = _small(Objective.EXPOSURE)
    solve(pb, time_limit=10)
    assert asked == ["solve"]
    asked.clear()
    from dataclasses import replace

    pr = PerRound(budget=10.0, step=1.0, min_stake=0.0, caps=(10.0, 10.0, 10.0), current_stakes=(None,) * 3)
    plan = solve(replace(pb, per_round=pr), time_limit=10)
    assert any(a[0] == "rows" and a[1] > 0 for a in asked if isinstance(a, tuple)) and "per_round_value" in asked
    assert np.isclose(sum(plan.stakes), 10.0)
