"""Per-round slot program (slots/perround.py): the aggregated formulation against the naive per-slot one
(one binary and one stake variable per slot × candidate: `SearchOptions(per_round_types=False)`), in the
same run, on the example fleet (both objectives) and on synthetic fleets of 25 slots × 50 instruments and
50 × 100 (classic-r1343, B = 250 NMR per round, step 0.01, 100 rounds of synthetic scores).

    python benchmarks/perround.py [--time-limit 10]

Prints a markdown table: seconds, status and objective of each formulation, and the ratio of their times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stakealloc import pipeline, targets, tracking  # noqa: E402
from stakealloc.config import parse, resolve  # noqa: E402
from stakealloc.payout import ScoreCube  # noqa: E402
from stakealloc.regimes import PRESETS  # noqa: E402
from stakealloc.scores import from_snapshot  # noqa: E402
from stakealloc.slots import PerRound, SearchOptions, SlotInput, SlotProblem, solve  # noqa: E402
from stakealloc.targets import Target  # noqa: E402
from stakealloc.types import Objective, Ref  # noqa: E402

R1343 = PRESETS["classic-r1343"]


def example(objective: Objective, cap: float | None = None) -> SlotProblem:
    """The example fleet's slot program; `cap`: its last slot gets that max_stake (a second slot type)."""
    fleet = resolve(parse(ROOT / "fleet.toml")).with_overrides(objective=objective)
    if cap is not None:
        from dataclasses import replace

        fleet = replace(fleet, slots=fleet.slots[:-1] + (replace(fleet.slots[-1], max_stake=cap),))
    table = pipeline.regime_table(fleet, from_snapshot(fleet).table, "bundled")
    wt = pipeline.weigh(fleet, table)
    tg = targets.compute(wt.weights, wt.inst.info, fleet.payout.regime, fleet.portfolio.leverage, fleet.total_stake)
    st = tracking.streams(table, list(wt.inst.returns.index), fleet.models, fleet.payout.regime)
    return pipeline.slot_problem(fleet, pipeline.slot_inputs(fleet), tg, st)


def synthetic(n_slots: int, n_inst: int, objective: Objective, seed: int = 1) -> SlotProblem:
    rng = np.random.default_rng(seed)
    models = tuple(f"m{i:03d}" for i in range(n_inst))
    refs = [Ref(m, "short" if i % 4 == 3 else "long") for i, m in enumerate(models)]
    w = rng.dirichlet(np.ones(n_inst) * 0.7)
    tg = tuple(Target(r.model, r.side, k, 250.0 * wi * p) for r, wi in zip(refs, w)
               for k, p in zip(R1343.scores, R1343.combinations[0]))
    common = rng.normal(0.0, 0.01, 100)
    values = {(m, k): 0.01 + common * rng.uniform(0.5, 1.5) + rng.normal(0, 0.015, 100)
              for m in models for k in R1343.scores}
    st = ScoreCube.from_streams(tuple(range(1, 101)), values)
    slots = [SlotInput(f"s{j:03d}", 250.0) for j in range(n_slots)]
    pr = PerRound(250.0, 0.01, 0.0, (250.0,) * n_slots, (None,) * n_slots)
    return SlotProblem.build(slots, tg, R1343, models, objective=objective, streams=st, per_round=pr)


def timed(pb: SlotProblem, limit: float, options: SearchOptions):
    t0 = time.perf_counter()
    plan = solve(pb, time_limit=limit, options=options)
    return time.perf_counter() - t0, plan.solver


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=10.0)
    a = ap.parse_args()
    print("| instance | objective | ours s | ours status | ours objective | naive s | naive status | naive objective "
          "| naive / ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, make in (("example fleet (10 × 15)", lambda o: example(o)),
                       ("example, one slot capped at 40 NMR", lambda o: example(o, 40.0)),
                       ("25 slots × 50", lambda o: synthetic(25, 50, o)),
                       ("50 slots × 100", lambda o: synthetic(50, 100, o))):
        for obj in (Objective.EXPOSURE, Objective.TRACKING):
            pb = make(obj)
            ours_t, ours = timed(pb, a.time_limit, SearchOptions())
            naive_t, naive = timed(pb, a.time_limit, SearchOptions(per_round_types=False))
            print(f"| {name} | {obj.value} | {ours_t:.2f} | {ours.status} | {ours.objective:.3f} | {naive_t:.2f} | "
                  f"{naive.status} | {naive.objective:.3f} | {naive_t / ours_t:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
