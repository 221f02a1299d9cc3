"""Slot-program benchmark: stakealloc's formulation against the naive one, measured in the same run.

Instances: S slots (stakes lognormal around 1000 NMR), K candidate models (random HRP-like Dirichlet weights
over (model, side) × score at leverage 2, one side per model), for each regime. For each instance and
formulation: seconds, status (optimal = proven within max(0.01 NMR, 1e-4 × objective)), objective, bound and
gap at the time limit. The ratio column is naive seconds / ours (> 1: ours faster).

    python benchmarks/slots.py --slots 9,25 --models 6,20 --regimes classic-2024,classic-2023 --time-limit 10
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from stakealloc.config import Ref, SolverName
from stakealloc.regimes import PRESETS, Regime
from stakealloc.slots import ABS_GAP, REL_GAP, SlotInput, evaluate, solve
from stakealloc.targets import Target


def instance(S: int, K: int, regime: Regime, seed: int):
    rng = np.random.default_rng(seed)
    stakes = np.round(rng.lognormal(np.log(1000), 0.6, size=S), 2)
    slots = [SlotInput(f"s{j:03d}", float(s)) for j, s in enumerate(stakes)]
    models = tuple(f"m{i:02d}" for i in range(K))
    total = float(stakes.sum())
    refs = [Ref(m, "short" if rng.random() < 0.3 else "long") for m in models]
    if regime.single:
        w = rng.dirichlet(np.full(K, 0.7))
        tg = [Target(r.model, r.side, k, total * wi * p) for r, wi in zip(refs, w)
              for k, p in zip(regime.scores, regime.combinations[0]) if p]
    else:
        w = rng.dirichlet(np.full(K * len(regime.scores), 0.7))
        tg = [Target(r.model, r.side, k, 2.0 * total * w[i * len(regime.scores) + j])
              for i, r in enumerate(refs) for j, k in enumerate(regime.scores)]
    return slots, tuple(tg), models


def naive(slots, targets, regime, time_limit: float):
    """One binary per slot × (model, side) × combination, nothing else; same solver (HiGHS), tolerances, limit."""
    import highspy
    import pulp


    refs = list(dict.fromkeys(Ref(t.model, t.side) for t in targets))
    P = regime.combinations
    prob = pulp.LpProblem("naive", pulp.LpMinimize)
    w = {(j, c, p): pulp.LpVariable(f"w_{j}_{c}_{p}", cat="Binary")
         for j in range(len(slots)) for c in range(len(refs)) for p in range(len(P))}
    for j in range(len(slots)):
        prob += pulp.lpSum(w[j, c, p] for c in range(len(refs)) for p in range(len(P))) == 1
    tmap = {(t.model, t.side, t.score): t.target for t in targets}
    devs = []
    for c, r in enumerate(refs):
        for k, key in enumerate(regime.scores):
            up, dn = pulp.LpVariable(f"u_{c}_{k}", 0), pulp.LpVariable(f"d_{c}_{k}", 0)
            prob += (pulp.lpSum(slots[j].stake * P[p][k] * w[j, c, p] for j in range(len(slots)) for p in range(len(P)))
                     - tmap.get((r.model, r.side, key), 0.0) == up - dn)
            devs += [up, dn]
    prob += pulp.lpSum(devs)
    t0 = time.perf_counter()
    prob.solve(pulp.HiGHS(msg=False, timeLimit=time_limit, gapAbs=ABS_GAP, gapRel=REL_GAP, threads=1))
    secs = time.perf_counter() - t0
    h = prob.solverModel
    obj = pulp.value(prob.objective)
    bound = float(h.getInfo().mip_dual_bound)
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal and obj - bound <= max(ABS_GAP, REL_GAP * obj)
    return secs, ("optimal" if proven else "feasible"), obj, bound


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", default="9,25,50,100")
    ap.add_argument("--models", default="6,20,50")
    ap.add_argument("--regimes", default="classic-2024,classic-2023-r589,classic-2023")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-naive", action="store_true", help="skip the reference formulation")
    a = ap.parse_args()
    print("| regime | S | K | ours s | ours status | ours obj | ours gap | naive s | naive status | naive obj | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rname in a.regimes.split(","):
        regime = PRESETS[rname]
        for S in map(int, a.slots.split(",")):
            for K in map(int, a.models.split(",")):
                slots, tg, models = instance(S, K, regime, a.seed)
                t0 = time.perf_counter()
                plan = solve(slots, tg, regime, models, solver=SolverName.HIGHS, time_limit=a.time_limit)
                ours = time.perf_counter() - t0
                sv = plan.solver
                assert math.isclose(sum(evaluate(slots, list(plan.choices), tg, regime, 0.0)), sv.objective, abs_tol=1e-6)
                if a.no_naive:
                    row = ["-", "-", "-", "-"]
                else:
                    ns, nst, nobj, _ = naive(slots, tg, regime, a.time_limit)
                    row = [f"{ns:.2f}", nst, f"{nobj:.1f}", f"{ns / ours:.2f}"]
                print(f"| {rname} | {S} | {K} | {ours:.2f} | {sv.status} | {sv.objective:.1f} | {sv.gap:.1f} | "
                      + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
