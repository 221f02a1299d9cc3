"""An exact branch and bound for the tracking objective with fixed stakes that decides a candidate at a time.

Where the slots outnumber the candidates, most candidates carry one or two slots and the slot by
slot search (`tracking_bb`) cannot bound its nodes: a node's LP spreads the remaining stake fractionally over
candidates that are all still open, and reaches the target unless a fixed slot overfills one (measured on the
slot benchmark's 25 × 20: bound 0.46 against a plan of 8.74 NMR per round after 10 s, unfinished after 300 s).
Here a node instead closes candidates: each closed candidate carries exactly a chosen set of slots, the others
share the remaining slots. Its bound is the LP over the open candidates (`tracking_bb._DualLP`), which sees the
closed candidates' deviations that no fractional load of the open ones can offset.

Closing candidate c at load a (NMR), with the rest R − a fractional over the other open candidates, costs at
least, by any λ in the dual's box (g = Uᵀλ, r = P_target − U·A_closed),

    v_λ(a) = r·λ − R·m + a·(m − g_c),     m = max over the other open candidates of g,

a line in a. The pooled λ of recent LPs give each open candidate the interval of loads that their lines leave
below the cut-off; an interval's ends are refined by LPs at the ends (Kelley's cutting planes, at most KELLEY
per end): past an end, the line of the LP there stays above the cut-off. The candidate whose interval holds the
fewest subset sums of the remaining slots (counted by meeting in the middle) is closed next, on each such
subset, nearest the LP's load first; at the first REFINE_DEPTH depths every open candidate's interval is refined
before choosing. Interchangeable slots join a candidate lowest index first.

The search starts from the best plan that re-partitioning the slots of any WIDTH candidates among them reaches
(every re-partition of up to WIDTH_SLOTS slots evaluated at once; first improvement, repeated until none): the
proof needs a good plan to cut with (measured on 25 × 20: from the greedy's 9.26 the search found the optimum 6.00
after 20 s; from the re-partition's 6.39, reached in 1.7 s, it proved it in 1.9 s).

Every plan is also bounded, before the search, by the least LP with the largest slot placed on each candidate it
may take: the LP cannot see a slot larger than any candidate's target, and the search's own bound starts at the
root LP's. Every pruned node's and every excluded load's bound is at least the cut-off, so a finished search proves the
incumbent within the proof tolerance (ABS_GAP, REL_GAP); at the deadline the reported bound is the least of the
pruned bounds and the LP bounds of the nodes whose children were being explored. Ties between plans: the
incumbent is replaced only by a plan better by more than ROUNDING, the first such in search order."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np

from ..tolerance import ROUNDING
from .problem import ABS_GAP, REL_GAP, SlotProblem
from .tracking_bb import SearchResult, _Deadline, _DualLP
from .tracking_bb import applies as _one_combination

# Measured on the slot benchmark's 25 × 20 from the re-partition's plan (benchmarks/README.md, "Tracking speed"):
# refining every open candidate at the first 3 depths proved it in 3.3 s, at the first 2 in 4.0 s, at the first
# in 10.2 s, at none unfinished after 30 s (9 × 6 and 25 × 6: 0.05–0.17 s whichever)
MAX_SLOTS = 26  # meeting in the middle enumerates 2^13 subset sums a half at most
POOL = 256  # λ of the most recent LPs whose lines give every open candidate its interval
KELLEY = 4  # LPs at most per end of an interval
REFINE_DEPTH = 3  # depths at which every open candidate's interval is refined before the choice
WIDTH = 3  # candidates whose slots are re-partitioned at once before the search
WIDTH_SLOTS = 10  # slots at most in such a re-partition (3^10 plans)

# trace(closed, bound, cut, load): every plan in which each closed candidate carries exactly its set of slots
# (candidate → frozenset of slots) and, where `load` is (c, lo, hi), candidate c's load (NMR) lies in [lo, hi],
# costs at least `bound` (NMR per round). For tests of the bounds; None in use.
Trace = Callable[[dict[int, frozenset], float, float, "tuple[int, float, float] | None"], None]


def applies(pb: SlotProblem, penalties: list[np.ndarray]) -> bool:
    """One combination (`tracking_bb.applies`), no change penalties, more slots than candidates, and few enough
    slots to enumerate their subsets by halves. With as many slots as candidates the slot-by-slot search was
    measured faster (the 6 such decisions of the step-5 backtest: 0.93 s against 1.22 s in all)."""
    cands = set().union(*map(set, pb.allowed))
    return (_one_combination(pb) and not any(np.any(p) for p in penalties)
            and len(cands) < len(pb.slots) <= MAX_SLOTS)


def search(pb: SlotProblem, unit: np.ndarray, goal: np.ndarray, start: list[int], deadline: float,
           trace: Trace | None = None) -> SearchResult:
    """Branch and bound by candidates from the plan `start` (candidate index per slot) until finished or
    `deadline` (time.perf_counter()). `unit`: T × C unit streams (NMR per round per NMR of stake); `goal`:
    P_target (T). The plan keeps interchangeable slots on non-decreasing candidates."""
    S, C = len(pb.slots), unit.shape[1]
    stakes = np.array([s.stake for s in pb.slots], dtype=float)
    allowed = np.zeros((S, C), dtype=bool)  # allowed[k, c]: slot k may take candidate c
    for j, a in enumerate(pb.allowed):
        allowed[j, list(a)] = True
    group_of = {j: g for g in pb.groups for j in g}

    # at most half the time for the re-partitions: the proof needs the rest
    now = time.perf_counter()
    best_plan = _repartition(unit, goal, stakes, allowed, list(start), now + 0.5 * max(deadline - now, 0.0))
    best = _cost(unit, goal, _loads(best_plan, stakes, C))

    def cut() -> float:
        # a hair inside the proof tolerance, as in tracking_bb
        return best - 0.999 * max(ABS_GAP, REL_GAP * best)

    dual = _DualLP(unit, goal)
    pool_a = np.zeros(POOL)  # λ·P_target
    pool_g = np.zeros((POOL, C))  # Uᵀλ
    filled = 0  # LPs added to the pool so far (the pool is a ring of the last POOL)
    nodes = lps = 0
    pruned_bound = np.inf
    stack_bounds: list[float] = []
    assign = [-1] * S
    closed: dict[int, frozenset] = {}

    def lp(r: np.ndarray, rest: float, allow: np.ndarray, pooled: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
        """The LP over the candidates of `allow` with `rest` NMR left: its bound recomputed from λ (so that the
        solver's tolerances cannot make it invalid), Uᵀλ, and the LP's load per candidate (C); its λ joins the
        pool unless `pooled` is False."""
        nonlocal lps, filled
        lps += 1
        lam, frac, _ = dual.solve(r, rest, allow, None)
        g = lam @ unit
        if pooled:
            pool_a[filled % POOL], pool_g[filled % POOL] = lam @ goal, g
            filled += 1
        return float(r @ lam) - rest * float(g[allow].max()), g, frac

    def claim(bound: float, load: tuple[int, float, float] | None = None) -> None:
        if trace is not None:
            trace(dict(closed), bound, cut(), load)

    def leaf(load: np.ndarray) -> None:
        nonlocal best, best_plan, pruned_bound
        v = _cost(unit, goal, load)
        claim(v)
        pruned_bound = min(pruned_bound, v)
        if v < best - ROUNDING:
            best, best_plan = v, list(assign)

    def node(load: np.ndarray, open_: np.ndarray, rest: list[int], depth: int) -> None:
        """Explore the plans that give the closed candidates exactly their slots (`load`: NMR per candidate,
        `assign`) and the slots `rest` (stake descending) to the candidates of `open_`."""
        nonlocal nodes, pruned_bound
        nodes += 1
        if time.perf_counter() > deadline:
            raise _Deadline
        if not rest or open_.sum() == 1:
            if rest:
                c = int(np.flatnonzero(open_)[0])
                if not allowed[rest, c].all():
                    return  # a slot that may not take the last open candidate: no plan
                for k in rest:
                    assign[k] = c
                load = load.copy()
                load[c] += stakes[rest].sum()
                closed[c] = frozenset(rest)
                leaf(load)
                del closed[c]
                for k in rest:
                    assign[k] = -1
            else:
                leaf(load)
            return
        if not (allowed[rest][:, open_]).any(axis=1).all():
            return  # a slot with no open candidate it may take: no plan
        R = float(stakes[rest].sum())
        r = goal - unit @ load
        limit = cut()
        n = min(filled, POOL)
        # every pooled λ bounds the node (any λ in the box does)
        pooled = pool_a[:n] - pool_g[:n] @ load - R * pool_g[:n][:, open_].max(axis=1)
        if n and pooled.max() >= limit:
            claim(float(pooled.max()))
            pruned_bound = min(pruned_bound, float(pooled.max()))
            return
        val, g, frac = lp(r, R, open_)
        claim(val)
        if val >= limit:
            pruned_bound = min(pruned_bound, val)
            return
        cands = np.flatnonzero(open_)
        halves, built = {}, {}
        for c in cands:  # one enumeration per distinct set of slots that may take the candidate
            key = allowed[rest, c].tobytes()
            if key not in built:
                built[key] = _Halves(rest, stakes, allowed[:, c], group_of)
            halves[c] = built[key]
        lo, hi = _intervals(pool_a[:n], pool_g[:n], load, R, open_, limit)
        counts = []
        for c in cands:
            if lo[c] > hi[c]:  # every load of c's is cut off by a line
                claim(limit, (int(c), 0.0, R))
                pruned_bound = min(pruned_bound, limit)
                return
            counts.append(halves[c].count(lo[c], hi[c]))
        # the fewest subsets first (ties: the lowest index); with `counts` only an estimate before refining,
        # every open candidate is refined near the root, where a wrong choice costs the most
        order = sorted(range(len(cands)), key=lambda i: (counts[i], cands[i]))
        pick = None
        for i in (order if depth < REFINE_DEPTH else order[:1]):
            c = int(cands[i])
            ends = _refine(lp, unit, r, R, open_, c, lo[c], hi[c], limit, claim)
            if ends is None:
                pruned_bound = min(pruned_bound, limit)
                return
            k = halves[c].count(*ends)
            if k == 0:
                claim(limit, (c, 0.0, R))
                pruned_bound = min(pruned_bound, limit)
                return
            if pick is None or (k, c) < (pick[0], pick[1]):
                pick = (k, c, ends)
        pruned_bound = min(pruned_bound, limit)  # the loads outside the chosen candidate's interval
        _, c, (a, b) = pick
        if a > 0.0:
            claim(limit, (c, 0.0, a))
        if b < R:
            claim(limit, (c, b, R))
        subsets = halves[c].listing(a, b)
        subsets.sort(key=lambda sv: abs(sv[0] - frac[c]))  # stable: ties keep the listing's order
        stack_bounds.append(val)
        others = open_.copy()
        others[c] = False
        for total, chosen in subsets:
            taken = set(chosen)
            for k in chosen:
                assign[k] = c
            closed[c] = frozenset(chosen)
            nxt = load.copy()
            nxt[c] += total
            node(nxt, others, [k for k in rest if k not in taken], depth + 1)
            del closed[c]
            for k in chosen:
                assign[k] = -1
        stack_bounds.pop()

    finished = True
    order = sorted(range(S), key=lambda j: (-stakes[j], j))
    everyone = allowed.any(axis=0)
    floor = 0.0  # a bound on every plan: the least LP with the largest slot placed on each candidate
    try:
        # The LP spreads every stake fractionally, so it cannot see a slot larger than any candidate's target;
        # placing the largest slot first can (measured on a 20 × 12 fleet with a slot of 7,343 NMR: 71.6 NMR per
        # round against the root LP's 0, the plan 72.0). Its λ stay out of the pool (measured: seeded, 25 × 20
        # took 564 nodes instead of 530).
        big, total = order[0], float(stakes.sum())
        floor = np.inf
        for c in np.flatnonzero(allowed[big]):
            if time.perf_counter() > deadline:
                raise _Deadline
            load = np.zeros(C)
            load[c] = stakes[big]
            floor = min(floor, lp(goal - unit @ load, total - stakes[big], everyone, pooled=False)[0])
        claim(floor)
        if floor >= cut():
            pruned_bound = min(pruned_bound, floor)
        else:
            node(np.zeros(C), everyone, order, 0)
    except _Deadline:
        finished = False
        floor = 0.0 if np.isinf(floor) else floor
    if finished:
        bound = min(pruned_bound, best)
    elif stack_bounds:
        bound = min(pruned_bound, best, *stack_bounds)
    else:
        bound = 0.0
    bound = min(max(bound, floor), best)
    plan = _ordered(best_plan, pb.groups)
    return SearchResult(tuple(plan), best, max(bound, 0.0), finished, nodes, lps)


def _ordered(plan: list[int], groups: list[list[int]]) -> list[int]:
    """Interchangeable slots on non-decreasing candidates (the symmetry rows of the MIP want them so)."""
    plan = list(plan)
    for g in groups:
        for j, c in zip(g, sorted(plan[j] for j in g)):
            plan[j] = c
    return plan


def _intervals(pa: np.ndarray, pg: np.ndarray, load: np.ndarray, rest: float, open_: np.ndarray,
               limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate (C), the loads in [0, rest] that every pooled λ's line leaves below `limit` (lo > hi:
    none)."""
    C = len(load)
    lo, hi = np.zeros(C), np.full(C, rest)
    if not len(pa):
        return lo, hi
    go = np.where(open_[None, :], pg, -np.inf)
    top = np.argmax(go, axis=1)
    first = go[np.arange(len(pa)), top]
    go[np.arange(len(pa)), top] = -np.inf
    second = go.max(axis=1)
    # m: the most g over the open candidates other than c (the second most where c is the most)
    m = np.where(np.arange(C)[None, :] == top[:, None], second[:, None], first[:, None])
    c0 = (pa - pg @ load)[:, None] - rest * m  # the line's value at a = 0
    slope = m - pg
    with np.errstate(divide="ignore", invalid="ignore"):
        at = (limit - c0) / slope  # where each line crosses the limit
    up = slope > 0
    hi = np.minimum(hi, np.where(up, at, np.inf).min(axis=0))
    lo = np.maximum(lo, np.where(slope < 0, at, -np.inf).max(axis=0))
    flat_over = ((slope == 0) & (c0 >= limit)).any(axis=0)
    lo[flat_over], hi[flat_over] = 1.0, 0.0
    return lo, hi


def _cost(unit: np.ndarray, goal: np.ndarray, load: np.ndarray) -> float:
    """f of the loads `load` (NMR per candidate): mean |U·load − P_target| over the rounds, NMR per round."""
    return float(np.mean(np.abs(unit @ load - goal)))


def _loads(plan, stakes: np.ndarray, C: int) -> np.ndarray:
    """NMR per candidate (C) of a plan (candidate index per slot)."""
    load = np.zeros(C)
    np.add.at(load, np.asarray(plan, dtype=int), stakes)
    return load


def _refine(lp, unit, r, rest, open_, c, lo, hi, limit, claim):
    """[lo, hi] narrowed by the LPs that close c at an end, at most KELLEY per end (None: empty)."""
    others = open_.copy()
    others[c] = False
    ends = [lo, hi]
    for side in (1, 0):
        for _ in range(KELLEY):
            a = ends[side]
            val, g, _ = lp(r - a * unit[:, c], rest - a, others)
            if val < limit:
                break  # an end inside the interval: the interval's end
            m = float(g[others].max())
            # the LP's λ as a line in a: r·λ − a·g_c − (rest − a)·m, with r·λ = val + (rest − a)·m + a·g_c
            base = val + (rest - a) * m + a * float(g[c])
            c0, slope = base - rest * m, m - float(g[c])
            if slope > 0:
                ends[1] = min(ends[1], (limit - c0) / slope)
            elif slope < 0:
                ends[0] = max(ends[0], (limit - c0) / slope)
            else:
                claim(val, (c, 0.0, rest))
                return None
            if ends[0] > ends[1]:
                claim(limit, (c, 0.0, rest))
                return None
    return ends[0], ends[1]


class _Halves:
    """The subsets of the slots `rest` that may take a candidate (`ok`), by meeting in the middle: each half's
    subset sums (NMR) sorted; interchangeable slots join lowest index first."""

    def __init__(self, rest: list[int], stakes: np.ndarray, ok: np.ndarray, group_of: dict) -> None:
        ks = [k for k in rest if ok[k]]
        h = len(ks) // 2
        self.parts = []
        for part in (ks[:h], ks[h:]):
            n = len(part)
            bits = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
            keep = np.ones(len(bits), dtype=bool)
            # a later member of a group only with every earlier member still among the slots left
            for i, k in enumerate(part):
                for e in group_of.get(k, ()):
                    if e < k and e in ks:
                        if e in part:
                            keep &= ~bits[:, i] | bits[:, part.index(e)]
            sums = bits[keep] @ stakes[part] if n else np.zeros(1)
            o = np.argsort(sums, kind="stable")
            self.parts.append((np.array(part, dtype=int), bits[keep][o], sums[o]))
        self.cross = [(k, e) for k in ks for e in group_of.get(k, ()) if e < k and e in ks
                      and (k in ks[:h]) != (e in ks[:h])]

    def count(self, lo: float, hi: float) -> int:
        """Subsets with a sum in [lo, hi] (an upper estimate where a group spans both halves)."""
        (_, _, a), (_, _, b) = self.parts
        eps = 1e-9 * max(1.0, abs(hi))
        return int((np.searchsorted(b, hi + eps - a, "right") - np.searchsorted(b, lo - eps - a, "left")).sum())

    def listing(self, lo: float, hi: float) -> list[tuple[float, list[int]]]:
        """The subsets with a sum in [lo, hi]: (sum, slots), by the first half's sum then the second's."""
        (pa, ba, a), (pb, bb, b) = self.parts
        eps = 1e-9 * max(1.0, abs(hi))
        out = []
        for i in range(len(a)):
            j0, j1 = np.searchsorted(b, lo - eps - a[i], "left"), np.searchsorted(b, hi + eps - a[i], "right")
            for j in range(j0, j1):
                chosen = pa[ba[i]].tolist() + pb[bb[j]].tolist()
                if self.cross and any(k in chosen and e not in chosen for k, e in self.cross):
                    continue
                out.append((float(a[i] + b[j]), chosen))
        return out


def _repartition(unit: np.ndarray, goal: np.ndarray, stakes: np.ndarray, allowed: np.ndarray, plan: list[int],
                 deadline: float) -> list[int]:
    """The plan improved by re-partitioning the slots of WIDTH candidates among them (all of its re-partitions
    of at most WIDTH_SLOTS slots at once), first improvement by more than ROUNDING in the candidates'
    lexicographic order, until none improves or the deadline."""
    C = unit.shape[1]
    plan = list(plan)
    load = _loads(plan, stakes, C)
    cur = _cost(unit, goal, load)
    cands = np.flatnonzero(allowed.any(axis=0)).tolist()
    width = min(WIDTH, len(cands))
    digits = {}
    improved = True
    while improved:
        improved = False
        for cs in itertools.combinations(cands, width):
            if time.perf_counter() > deadline:
                return plan
            ks = [k for k, c in enumerate(plan) if c in cs]
            if len(ks) > WIDTH_SLOTS:
                continue
            n = len(ks)
            if n not in digits:
                digits[n] = (np.arange(width ** n)[:, None] // width ** np.arange(n)[None, :]) % width
            asg = digits[n]
            ok = np.ones(len(asg), dtype=bool)
            for i, k in enumerate(ks):
                ok &= allowed[k, np.asarray(cs)[asg[:, i]]]
            asg = asg[ok]
            part = np.zeros((len(asg), width))
            for i, k in enumerate(ks):
                part[np.arange(len(asg)), asg[:, i]] += stakes[k]
            base = unit @ load - unit[:, list(cs)] @ load[list(cs)] - goal
            v = np.abs(base[None, :] + part @ unit[:, list(cs)].T).mean(axis=1)
            i = int(np.argmin(v))  # first of equals: a fixed order
            if v[i] < cur - ROUNDING:
                for p, k in enumerate(ks):
                    plan[k] = cs[asg[i, p]]
                load = _loads(plan, stakes, C)
                cur = _cost(unit, goal, load)
                improved = True
    return plan
