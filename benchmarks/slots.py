"""Slot-program benchmark: stakealloc's formulation against the naive one, measured in the same run.

Instances: S slots (stakes lognormal around 1000 NMR), K candidate models (random HRP-like Dirichlet weights
over (model, side) × score at leverage 2, one side per model), for each regime. For each instance and
formulation: seconds, status (optimal = proven within max(0.01 NMR, 1e-4 × objective)), objective, bound and
gap at the time limit, and which formulation `solve` used (partition or compact). The ratio column is naive
seconds / ours (> 1: ours faster); `greedy` is the greedy +
local-search plan's objective, which ours must never exceed.

The forum post's case comes first: its 9 slots, its 6 targets (corr, tc) and stakes chosen to be consistent
with the allocations it reports (FORUM_STAKES; the post does not give the stakes themselves).

    python benchmarks/slots.py --slots 9,25 --models 6,20 --regimes classic-2024,classic-2023 --time-limit 10
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from stakealloc.config import Objective, Ref, SolverName
from stakealloc.payout import ScoreCube
from stakealloc.regimes import PRESETS, Regime
from stakealloc.slots import ABS_GAP, REL_GAP, SlotInput, SlotProblem, exposure, solve
from stakealloc.slots.heuristics import greedy
from stakealloc.targets import Target

# The post's plan: s_01 1x/3x + s_05 0.5x/1.5x on r1_03 = (1412.0, 4236.1); 2.5 s_03 + 3 p_01 = 1917.9;
# 2.5 s_02 = 2010.6; 2 s_07 = 849.8; 3 s_08 = 1379.7; 0.5 s_04 + s_06 = 1330.5; total ≈ 6400 NMR
# (leverage 2 × total = Σ targets = 12800.4). Where the plan leaves a choice, round stakes were picked.
FORUM_STAKES = {"degerhan_s_01": 1000.0, "degerhan_s_05": 824.0, "degerhan_s_03": 500.0, "degerhan_p_01": 222.63,
                "degerhan_s_02": 804.24, "degerhan_s_07": 424.9, "degerhan_s_08": 459.9,
                "degerhan_s_04": 1667.74, "degerhan_s_06": 496.63}
FORUM_TARGETS = {("degerhan_r1_03", "short"): (1333.5, 4163.1), ("degerhan_r1_04", "short"): (0.0, 1896.1),
                 ("degerhan_r1_04b", "short"): (0.0, 1923.7), ("degerhan_r1_06", "short"): (0.0, 817.9),
                 ("degerhan_r4_04", "short"): (0.0, 1371.3), ("paul_the_0ct0pus", "long"): (1294.8, 0.0)}


def forum_stakes(draw: int) -> dict[str, float]:
    """Draw 0: FORUM_STAKES. Others: random stakes that reproduce the post's allocations at total 6400 NMR."""
    if draw == 0:
        return dict(FORUM_STAKES)
    rng = np.random.default_rng(draw)
    s03, s04 = rng.uniform(50, 700), rng.uniform(100, 2400)
    s01 = 82.84 + s03 / 6 + s04 / 2  # makes the total 6400
    st = dict(FORUM_STAKES, degerhan_s_03=s03, degerhan_p_01=(1917.9 - 2.5 * s03) / 3, degerhan_s_01=s01,
              degerhan_s_05=2 * (1412.0 - s01), degerhan_s_04=s04, degerhan_s_06=1330.5 - s04 / 2)
    return {k: round(v, 2) for k, v in st.items()}


def forum(draw: int = 0):
    slots = [SlotInput(n, s) for n, s in forum_stakes(draw).items()]
    tg = tuple(Target(m, side, k, v) for (m, side), vals in FORUM_TARGETS.items()
               for k, v in zip(("v2_corr20", "tc"), vals))
    return slots, tg, tuple(dict.fromkeys(m for m, _ in FORUM_TARGETS))


def greedy_objective(slots, tg, regime, models) -> float:
    pb = SlotProblem.build(slots, tg, regime, models)
    return exposure.value(pb, greedy(pb))


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


def naive_tracking(slots, targets, regime, st, time_limit: float, max_terms: int = 2_000_000):
    """The naive tracking formulation: one binary per slot × (model, side) × combination, one free pair per
    round (|P_plan(t) − P_target(t)|), nothing else; HiGHS, same tolerances and limit. None: too large to build."""
    import highspy
    import pulp

    from stakealloc import tracking

    refs = list(dict.fromkeys(Ref(t.model, t.side) for t in targets))
    P = regime.combinations
    T = len(st.rounds)
    if len(slots) * len(refs) * len(P) * T > max_terms:
        return None
    g = tracking.target_payout(st, targets)
    prob = pulp.LpProblem("naive_tracking", pulp.LpMinimize)
    w = {(j, c, p): pulp.LpVariable(f"w_{j}_{c}_{p}", cat="Binary")
         for j in range(len(slots)) for c in range(len(refs)) for p in range(len(P))}
    for j in range(len(slots)):
        prob += pulp.lpSum(w[j, c, p] for c in range(len(refs)) for p in range(len(P))) == 1
    vec = {(j, c, p): slots[j].stake * sum(m * st.signed(refs[c].model, refs[c].side, k)
                                          for k, m in zip(regime.scores, P[p]))
           for (j, c, p) in w}
    devs = []
    for t in range(T):
        up, dn = pulp.LpVariable(f"u_{t}", 0), pulp.LpVariable(f"d_{t}", 0)
        prob += pulp.lpSum(vec[key][t] * v for key, v in w.items()) - float(g[t]) == up - dn
        devs += [up, dn]
    prob += (1.0 / T) * pulp.lpSum(devs)
    t0 = time.perf_counter()
    prob.solve(pulp.HiGHS(msg=False, timeLimit=time_limit, gapAbs=ABS_GAP, gapRel=REL_GAP, threads=1))
    secs = time.perf_counter() - t0
    h = prob.solverModel
    if h.getInfo().primal_solution_status != 2:  # no plan found within the limit
        return secs, "no plan", None, float(h.getInfo().mip_dual_bound)
    obj = pulp.value(prob.objective)
    bound = float(h.getInfo().mip_dual_bound)
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal and obj - bound <= max(ABS_GAP, REL_GAP * obj)
    return secs, ("optimal" if proven else "feasible"), obj, bound


def tracking_rows(a) -> None:
    """The tracking objective at 9/25/50/100 slots against the naive tracking formulation, same limit."""

    print("\nTracking objective (NMR per round; 80 rounds of seeded scores per model):\n")
    print("| regime | S | K | ours s | ours status | ours obj | ours gap | naive s | naive status | naive obj |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rname in a.regimes.split(","):
        regime = PRESETS[rname]
        for S in map(int, a.slots.split(",")):
            for K in map(int, a.models.split(",")):
                slots, tg, models = instance(S, K, regime, a.seed)
                rng = np.random.default_rng(a.seed + 7)
                base = rng.normal(0.0, 0.02, 80)  # a common factor: real models' scores correlate
                st = ScoreCube.from_streams(tuple(range(80)), {(m, k): 0.6 * base + rng.normal(0.001, 0.015, 80)
                                                         for m in models for k in regime.scores})
                t0 = time.perf_counter()
                pb = SlotProblem.build(slots, tg, regime, models, objective=Objective.TRACKING, streams=st)
                plan = solve(pb, time_limit=a.time_limit)
                ours = time.perf_counter() - t0
                sv = plan.solver
                nv = None if a.no_naive else naive_tracking(slots, tg, regime, st, a.time_limit)
                row = (["-", "not built (too large)", "-"] if nv is None
                       else [f"{nv[0]:.2f}", nv[1], "-" if nv[2] is None else f"{nv[2]:.3f}"])
                print(f"| {rname} | {S} | {K} | {ours:.2f} | {sv.status} | {sv.objective:.3f} | {sv.gap:.3f} | "
                      + " | ".join(row) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", default="9,25,50,100")
    ap.add_argument("--models", default="6,20,50")
    ap.add_argument("--regimes", default="classic-2024,classic-2023-r589,classic-2023")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-naive", action="store_true", help="skip the reference formulation")
    ap.add_argument("--solvers", default="HiGHS", help="solvers for ours, comma-separated (HiGHS, CBC)")
    ap.add_argument("--forum-draws", type=int, default=5, help="stake draws of the forum post's case (0: skip)")
    ap.add_argument("--objective", choices=("exposure", "tracking"), default="exposure")
    a = ap.parse_args()
    if a.objective == "tracking":
        return tracking_rows(a)
    print("| regime | S | K | solver | ours s | ours status | ours obj | ours gap | greedy obj | naive s "
          "| naive status "
          "| naive obj | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    cases = [(f"forum #{d} (classic-2023)", PRESETS["classic-2023"], forum(d)) for d in range(a.forum_draws)]
    for rname in a.regimes.split(","):
        for S in map(int, a.slots.split(",")):
            for K in map(int, a.models.split(",")):
                cases.append((rname, PRESETS[rname], instance(S, K, PRESETS[rname], a.seed)))
    for rname, regime, (slots, tg, models) in cases:
        g = greedy_objective(slots, tg, regime, models)
        naive_row = None
        for sname in a.solvers.split(","):
            t0 = time.perf_counter()
            pb = SlotProblem.build(slots, tg, regime, models)
            plan = solve(pb, solver=SolverName(sname), time_limit=a.time_limit)
            ours = time.perf_counter() - t0
            sv = plan.solver
            assert math.isclose(sum(pb.evaluate(list(plan.choices))), sv.objective, abs_tol=1e-6)
            assert sv.objective <= g + 1e-9
            if a.no_naive:
                row = ["-", "-", "-", "-"]
            else:
                if naive_row is None:
                    naive_row = naive(slots, tg, regime, a.time_limit)
                ns, nst, nobj, _ = naive_row
                row = [f"{ns:.2f}", nst, f"{nobj:.1f}", f"{ns / ours:.2f}"]
            print(f"| {rname} | {len(slots)} | {len(models)} | {sname} | {ours:.2f} | {sv.status} "
                  f"({sv.formulation}) | {sv.objective:.1f} | "
                  f"{sv.gap:.1f} | {g:.1f} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
