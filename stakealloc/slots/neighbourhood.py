"""Large-neighbourhood search for the exposure objective: re-solve small sub-problems exactly (the column
DP in separable regimes, the compact program otherwise) and keep every improvement, with seeded kicks out
of local optima. Neighbourhood sizes are measured (benchmarks/README.md) and set in SearchOptions.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..tolerance import IMPROVEMENT
from ..types import SolverName, Target
from . import exposure
from .compact import solve_compact
from .group_costs import separable_values
from .partition import sub_partition
from .problem import PlanCP, SearchOptions, SlotProblem, achieved


def _candidate_balance(pb: SlotProblem, plan: PlanCP) -> list[tuple[float, float]]:
    """Per candidate: (Σ_k |achieved − target|, Σ_k (achieved − target)), NMR."""
    tg = pb.target_map
    ach = achieved(pb.slots, pb.choices(plan), pb.regime)
    out = []
    for r in pb.refs:
        d = [ach.get((r.model, r.side, k), 0.0) - tg.get((r.model, r.side, k), 0.0) for k in pb.regime.scores]
        out.append((sum(abs(x) for x in d), sum(d)))
    return out


def _neighbourhoods(bal, on, allowed_any, cap: int, rnd: int, sample: int | None = None):
    """Candidate sets to re-optimise, most promising first: each candidate with a deviation, joined by
    partners of the opposite sign (largest deviation first; `rnd` > 0 rotates the partner list) until
    their slots fill `cap`. Yields (candidates, free slots).

    Without `sample`, a candidate joins only with all its slots. With `sample` (a seed; sub-problems that
    accept the targets left over by fixed slots), these come first and then neighbourhoods where a
    candidate holding more slots than fit joins with a random subset of them, drawn from a generator
    seeded by (sample, candidates) so runs repeat."""
    import numpy as np

    seeds = sorted((c for c in range(len(bal)) if bal[c][0] > IMPROVEMENT and allowed_any[c]),
                   key=lambda c: (-bal[c][0], c))
    # Whole candidates first, then (with `sample`) the sampled neighbourhoods: measured, each finds what
    # the other misses (benchmarks/README.md).
    for c0, whole in [(c, True) for c in seeds] + ([(c, False) for c in seeds] if sample is not None else []):
        sign = bal[c0][1]
        partners = sorted((c for c in range(len(bal)) if c != c0 and allowed_any[c]),
                          key=lambda c: (not (bal[c][1] * sign < 0), -bal[c][0], c))
        if rnd and partners:
            r = rnd % len(partners)
            partners = partners[r:] + partners[:r]
        if whole:
            group, free = [c0], list(on[c0])
            for c in partners:
                if len(free) + len(on[c]) > cap:
                    continue
                group.append(c)
                free += on[c]
                if len(free) >= cap:
                    break
        else:
            rng = np.random.default_rng([sample, c0, *partners[:1]])
            group, free, partial = [], [], False
            for c in [c0, *partners]:
                room = cap - len(free) if c != c0 else (cap + 1) // 2
                if room <= 0:
                    break
                take = on[c] if len(on[c]) <= room else sorted(rng.choice(on[c], size=room, replace=False).tolist())
                partial |= len(take) < len(on[c])
                group.append(c)
                free += take
            if not partial:
                continue  # only whole candidates: such neighbourhoods were tried above
        if len(group) > 1 and free:
            yield group, sorted(free)


def improve(pb: SlotProblem, solver: SolverName, plan: PlanCP, deadline: float, options: SearchOptions,
            kicks: int | None = None) -> PlanCP:
    """Large-neighbourhood search: re-solve small sub-problems (the slots on a few candidates, re-assigned
    among those candidates) exactly and keep every improvement until no neighbourhood improves; then kick
    the best plan (options.lns_kick_slots slots moved at random, seeded) and search again, keeping the best,
    until `kicks` (default options.lns_kicks) kicks in a row found nothing better or `deadline`
    (time.perf_counter()) passes. Returns the best plan; without the deadline a run repeats exactly."""
    import numpy as np

    slots, allowed, idle, zero = pb.slots, pb.allowed, pb.idle, pb.zero
    best, it = _descend(pb, solver, plan, deadline, 0, options)
    best_obj = exposure.value(pb, best)
    fails = 0
    kicks = options.lns_kicks if kicks is None else kicks
    while fails < kicks and time.perf_counter() < deadline:
        rng = np.random.default_rng([it, fails])
        kicked = list(best)
        for j in rng.choice(len(slots), size=min(options.lns_kick_slots, len(slots)), replace=False).tolist():
            c = int(rng.choice(allowed[j]))
            p = int(rng.integers(pb.ncombo))
            kicked[j] = (idle[j], p) if p == zero else (c, p)
        trial, it = _descend(pb, solver, kicked, deadline, it, options)
        new = exposure.value(pb, trial)
        if new < best_obj - IMPROVEMENT:
            best, best_obj, fails = trial, new, 0
        else:
            fails += 1
    return best


def _descend(pb: SlotProblem, solver: SolverName, plan: PlanCP, deadline: float, it: int,
             options: SearchOptions) -> tuple[PlanCP, int]:
    """One descent of the neighbourhood search from `plan` (see `improve`) until no neighbourhood
    improves it or `deadline`. `it` seeds the slot samples; returns (plan, `it` advanced past the seeds
    used) so the next descent draws new samples."""
    slots, refs, allowed, idle, regime = pb.slots, pb.refs, pb.allowed, pb.idle, pb.regime
    plan = list(plan)
    zero = pb.zero
    allowed_any = [any(c in a for a in allowed) for c in range(len(refs))]
    obj = exposure.value(pb, plan)
    # Separable regimes: sub-problems are solved exactly by the column DP, in milliseconds, so they can be
    # larger than the compact program's (options.part_free_slots; measured, benchmarks/README.md).
    part_caps = options.part_free_slots[regime.single]
    exact = bool(part_caps) and separable_values(regime) is not None
    caps = part_caps if exact else (options.lns_free_slots[regime.single],)
    size = 0  # index into caps: the neighbourhood grows when the smaller one no longer improves
    cap = caps[0]
    rnd = 0
    tg = pb.target_map
    while time.perf_counter() < deadline:
        bal = _candidate_balance(pb, plan)
        on: list[list[int]] = [[] for _ in refs]
        for j, (c, _p) in enumerate(plan):
            on[c].append(j)
        improved = False
        it += 1
        for group, free in _neighbourhoods(bal, on, allowed_any, cap, rnd, it if exact else None):
            left = deadline - time.perf_counter()
            if left <= 0.05:
                break
            gs, fs = set(group), set(free)
            stay = [j for j, (c, _p) in enumerate(plan) if c in gs and j not in fs]
            res = None
            if exact:
                # What the group's slots outside the neighbourhood carry stays; the rest is the target.
                fixed = achieved([slots[j] for j in stay], pb.choices([plan[j] for j in stay]), regime)
                left_t = tuple(Target(r.model, r.side, k, tg.get((r.model, r.side, k), 0.0)
                                      - fixed.get((r.model, r.side, k), 0.0))
                               for r in (refs[c] for c in group) for k in regime.scores)
                sub = replace(pb, slots=tuple(slots[j] for j in free),
                              allowed=tuple(allowed[j] for j in free), targets=left_t)
                res = sub_partition(sub, group)
            if res is None:
                if stay:
                    continue  # a sampled neighbourhood: the compact program takes whole candidates only
                res = solve_compact(pb.sub(free, group), solver, min(options.lns_sub_limit, left),
                                    grace=options.solve_grace).plan
            if res is None:
                continue
            trial = list(plan)
            for j, (c, p) in zip(free, res):
                trial[j] = (idle[j], p) if p == zero else (c, p)
            new = exposure.value(pb, trial)
            if new < obj - IMPROVEMENT:
                plan, obj, improved = trial, new, True
                break
        if improved:
            rnd = 0
        elif rnd < 2:
            rnd += 1
        elif size + 1 < len(caps):
            size, rnd = size + 1, 0
            cap = caps[size]
        else:
            break
    return plan, it
