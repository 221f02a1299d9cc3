"""An exact branch-and-bound for the tracking objective with fixed stakes in one-combination regimes.

There every slot's payout is its stake times its candidate's unit stream u_c(t) = Σ_k p_k · signed score,
so a plan's tracking error depends only on the stake each candidate carries, A_c (NMR):

    f(A) = (1/T) Σ_t |Σ_c A_c · u_c(t) − P_target(t)|   (+ change penalties)   NMR per round

Depth first over the slots, largest stake first (ties: slot order); a node fixes the first slots. Its bound
comes from the dual of the node LP (the remaining stake R spread fractionally over the candidates the
remaining slots may take): any λ ∈ [−1/T, 1/T]^T bounds every completion by weak duality,

    f ≥ r·λ + pen_fixed + Σ_k min_{c allowed for k} (pen_k(c) − s_k · U_c·λ)     (r = P_target − U·A_fixed),

and HiGHS's primal simplex finds the best λ of the LP from the final basis of the pooled λ (below) that
bounds the node best, else the parent's (the dual has one row per candidate; a node changes only its costs).
The bound is recomputed from λ in numpy, so the solver's tolerances cannot make it invalid. Before a node's
LP is solved, the λ of up to POOL recent node LPs are tried on it (most nodes are cut off by one of them,
measured: a sibling's or a cousin's λ fits closely), and on all children of a node at once before any is
visited; an exact tail's partial completions try the POOL_ROWS most recently useful ones. A candidate whose
term lifts the bound past the incumbent is dropped for that slot in the subtree (repeated until nothing
drops), and a child (slot j on c) inherits the bound with its own term.
Interchangeable slots take non-decreasing candidates. Where the remaining slots have at most TAIL_PLANS
completions, or TAIL_AFTER once the node's fixing has narrowed them, they are evaluated exactly (in blocks of
EVAL_ROWS) instead of branched on: built slot by slot, each partial completion kept only
while the inherited Lagrangian bound (additive over the slots) leaves it below the cut-off.

Fewer slots than candidates leave most candidates without stake, which the node LP cannot see: it spreads the
remaining stake over more candidates than there are slots left (measured on the slot benchmark's 9 × 20: 7–10
candidates for 4 slots). Where the candidates number at least one and a half times the slots, the best plan known
gives every slot a candidate of its own, and the plain search has not finished after SPLIT_AFTER node LPs, the
search starts again split by the candidates the plans use: the LP over a set of candidates bounds every plan
within it, and a set is split on its candidate that carries the most stake in the LP's solution into the plans
that take it and those that do not, until it has no more candidates than there are slots; those plans (each must
take every candidate the splits gave it) are then branched on slot by slot. On 9 × 20, 13 sets of 9 candidates of
the 167,960 are left.

Every pruned node's bound is at least the incumbent less the proof tolerance (ABS_GAP, REL_GAP), so a
finished search proves the incumbent within it; the reported bound is the least bound of any pruned node
or, at the deadline, of any node not yet explored. Ties between plans: the incumbent (the search's starting
plan) is replaced only by a plan better by more than ROUNDING, the first such in search order.

Measured against the compact MIP and the primal node LP on the example fleet (benchmarks/README.md,
"Tracking speed")."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..tolerance import ROUNDING
from .problem import ABS_GAP, REL_GAP, SlotProblem

# Measured on the slot benchmark's 9 × 20 tracking row, the 10 captured backtest decisions and the sweep's 16
# hardest (benchmarks/README.md, "Tracking speed"): a pool of 512 instead of 64 leaves 29 % fewer LPs on 9 × 20
# (17,133 → 12,180), and its bounds cost little once they reduce over the candidates with the pool contiguous
POOL = 512  # λ of recent node LPs tried on every node before its own LP (0: none)
POOL_ROWS = 64  # of them, the most recently useful tried on an exact tail's partial completions
POOL_TAIL = 16  # partial completions of an exact tail above which the pool is tried on them
# Where the candidates outnumber the slots by at least half the slots, the best plan known gives every slot its own
# candidate and the plain search has not finished after SPLIT_AFTER node LPs, it starts again split by the
# candidates the plans use (module docstring; None: never). Measured on the slot benchmark's 9 × 20, six more
# synthetic fleets and the step-5 backtest's decisions (benchmarks/README.md, "Tracking speed"): without the last
# two conditions the split was up to 15× slower on fleets where the plain search is quick or plans share candidates
SPLIT_AFTER: int | None = 500
TAIL_PLANS = 8000  # completions of the last slots evaluated at once, without a node LP
TAIL_AFTER = 32768  # completions left after a node's fixing evaluated at once instead of branched on
EVAL_ROWS = 4096  # completions of an exact tail evaluated per block

# trace(fixed, bound, cut, within): every plan that keeps `fixed` (slot → candidate), and where `within` is a pair
# of C masks (allow, need) takes only candidates of allow and every candidate of need, and costs less than `cut`
# costs at least `bound` (NMR per round). For tests of the bounds; None in use.
Trace = Callable[[dict[int, int], float, float, "tuple[np.ndarray, np.ndarray] | None"], None]


@dataclass(frozen=True)
class SearchResult:
    """The best plan found (candidate index per slot), its f (NMR per round, penalties included), the
    search's lower bound, whether the search finished (then the plan is proven within the tolerance), and its
    effort."""

    plan: tuple[int, ...]
    value: float
    bound: float
    finished: bool
    nodes: int
    lps: int


def applies(pb: SlotProblem) -> bool:
    """One combination of multipliers, no idle option and at least one round: a plan is one candidate per
    slot, and λ's box has a side."""
    return (pb.ncombo == 1 and pb.zero is None and pb.per_round is None and pb.streams is not None
            and len(pb.streams.rounds) > 0)


class _Deadline(Exception):
    pass


class _Restart(Exception):
    pass


def search(pb: SlotProblem, unit: np.ndarray, goal: np.ndarray, penalties: list[np.ndarray],
           start: list[int], deadline: float, trace: Trace | None = None) -> SearchResult:
    """Branch and bound from the plan `start` (candidate index per slot) until finished or `deadline`
    (time.perf_counter()). `unit`: T × C unit streams (NMR per round per NMR of stake); `goal`: P_target (T);
    `penalties[j][c]`: slot j's change penalty on candidate c (NMR per round)."""
    S, (T, C) = len(pb.slots), unit.shape
    stakes = np.array([s.stake for s in pb.slots], dtype=float)
    order = sorted(range(S), key=lambda j: (-stakes[j], j))
    position = {j: i for i, j in enumerate(order)}
    group_of = {j: g for g in pb.groups for j in g}
    pens = np.array([np.asarray(p, dtype=float) for p in penalties]).reshape(S, C)  # S × C, NMR per round
    mask0 = np.zeros((S, C), dtype=bool)  # mask[k, c]: slot k may take candidate c (in this subtree)
    for j, a in enumerate(pb.allowed):
        mask0[j, list(a)] = True

    load0 = np.zeros(C)
    for j, c in enumerate(start):
        load0[c] += stakes[j]
    best_plan = list(start)
    best = float(np.mean(np.abs(unit @ load0 - goal))) + float(pens[np.arange(S), start].sum())

    def cut() -> float:
        # a hair inside the proof tolerance: the plan's objective is recomputed by the caller, and its last
        # bits must not carry a finished search's gap past the tolerance
        return best - 0.999 * max(ABS_GAP, REL_GAP * best)

    dual = _DualLP(unit, goal)
    nodes = lps = 0
    # the plans searched: only candidates of within[0], every candidate of within[1] (None: all plans)
    within: tuple[np.ndarray, np.ndarray] | None = None
    need = np.zeros(C, dtype=bool)  # = within[1]: candidates every plan searched must use
    if trace is not None:
        claim = trace

        def trace(fixed: dict[int, int], bound: float, limit: float) -> None:  # type: ignore[no-redef]
            claim(fixed, bound, limit, within)

    pruned_bound = np.inf  # least bound of any node cut off
    stack_bounds: list[float] = []  # bounds of the nodes whose children are being explored
    assign = [0] * S
    pool = _Pool(unit, goal, POOL)

    def fixed(d: int) -> dict[int, int]:
        return {order[i]: assign[order[i]] for i in range(d)}

    def exact(d: int, load: np.ndarray, pen: float, mask: np.ndarray, base: float, slack: np.ndarray) -> None:
        """Every completion of the node's last slots that the Lagrangian bound base + Σ_k slack[k, c_k] (a
        lower bound on each completion's cost), and from the second slot on the pooled λ, leave below the cut-off,
        evaluated at once. The completions are built slot by slot, so those cut off early are never built."""
        nonlocal best, best_plan, pruned_bound
        tail = order[d:]
        limit = cut()
        resid0 = unit @ load - goal  # the fixed slots' residual, T
        wanted = np.flatnonzero(need & (load == 0))  # candidates the tail must still use (stakes are positive)
        combos = np.zeros((1, 0), dtype=int)
        lbs = np.array([base])
        cost = np.array([pen])
        for i, k in enumerate(tail):
            cs = np.flatnonzero(mask[k])
            ext = lbs[:, None] + slack[k, cs][None, :]
            ok = np.ones(ext.shape, dtype=bool)
            for e in group_of.get(k, ()):  # interchangeable slots take non-decreasing candidates
                pos = position[e]
                if pos < d:
                    ok &= (cs >= assign[e])[None, :]
                elif pos < d + i:
                    ok &= cs[None, :] >= combos[:, pos - d][:, None]
            over = ok & (ext >= limit)
            if over.any():
                pruned_bound = min(pruned_bound, float(ext[over].min()))
                if trace is not None:
                    for r, ci in zip(*np.nonzero(over)):
                        trace({**fixed(d), **dict(zip(tail, combos[r].tolist())), k: int(cs[ci])},
                              float(ext[r, ci]), limit)
            rows, cols = np.nonzero(ok & ~over)  # row-major: the completions stay in lexicographic order
            if not len(rows):
                return
            lbs = ext[rows, cols]
            cost = cost[rows] + pens[k, cs[cols]]
            if len(wanted):  # each must be used by the tail: at most as many missing as slots are left after k
                took = (combos[rows][:, :, None] == wanted).any(axis=1) | (cs[cols][:, None] == wanted)
                fits = (~took).sum(axis=1) <= len(tail) - 1 - i
                rows, cols, lbs, cost = rows[fits], cols[fits], lbs[fits], cost[fits]
                if not len(rows):
                    return
            if i == len(tail) - 1:  # the completions: a partial one (row of combos) and a last candidate each
                parents, lasts = rows, cs[cols]
                break
            combos = np.column_stack([combos[rows], cs[cols]])
            if i >= 1 and len(combos) > POOL_TAIL and pool.size:
                # before the next slot multiplies them, the pooled λ on the partial completions (from the second
                # slot on, not only before the last: measured 8 % faster on the slot benchmark's 9 × 20)
                rest = tail[i + 1:]
                vals, which = pool.best(load, combos, stakes[tail[:i + 1]], mask[rest], pens[rest],
                                        stakes[rest][:, None], POOL_ROWS)
                vals = vals + cost
                over = vals >= limit
                if over.any():
                    pruned_bound = min(pruned_bound, float(vals[over].min()))
                    pool.used(int(which[np.flatnonzero(over)[0]]))
                    if trace is not None:
                        for r in np.flatnonzero(over):
                            trace({**fixed(d), **dict(zip(tail, combos[r].tolist()))}, float(vals[r]), limit)
                    combos, lbs, cost = combos[~over], lbs[~over], cost[~over]
                    if not len(combos):
                        return
        # In blocks of EVAL_ROWS completions. A block's partial completions are contiguous (parents is
        # non-decreasing): their residual is built once, and each completion adds its last slot's payout to its
        # partial's (the same floats as adding slot by slot per completion, in the same order).
        vals = np.empty(len(parents))
        scaled = [stakes[k] * unit.T for k in tail]  # C × T per tail slot: its payout on each candidate
        for a in range(0, len(parents), EVAL_ROWS):
            rows = parents[a:a + EVAL_ROWS]
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            part = np.broadcast_to(resid0, (hi - lo, T)).copy()
            for i in range(len(tail) - 1):
                part += scaled[i][combos[lo:hi, i]]
            resid = part[rows - lo] + scaled[-1][lasts[a:a + EVAL_ROWS]]
            vals[a:a + len(rows)] = np.abs(resid).sum(axis=1) / T + cost[a:a + EVAL_ROWS]
        i = int(np.argmin(vals))  # first of equals: a fixed order
        if trace is not None:
            trace(fixed(d), float(vals[i]), limit)
        if vals[i] < best - ROUNDING:
            for pos, k in enumerate(tail):
                assign[k] = int(combos[parents[i], pos]) if pos < len(tail) - 1 else int(lasts[i])
            best, best_plan = float(vals[i]), list(assign)
        pruned_bound = min(pruned_bound, float(vals[i]))

    def lagrangian(lam: np.ndarray, r: np.ndarray, pen: float, tmask: np.ndarray, tpens: np.ndarray,
                   tstakes: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """λ's bound r·λ + pen + Σ_k min_c (pen_k(c) − s_k U_c·λ) over the open slots (`tmask`, `tpens` rows,
        `tstakes` a column), with its terms (open slot × C, ∞ where not allowed) and their least per slot."""
        term = np.where(tmask, tpens - tstakes * (unit.T @ lam)[None, :], np.inf)
        least = term.min(axis=1)
        return float(r @ lam) + pen + float(least.sum()), term, least

    def visit(d: int, load: np.ndarray, pen: float, bound: float, mask: np.ndarray, base: float,
              slack: np.ndarray, basis: object = None) -> None:
        """Explore the node whose first d slots (in `order`) are fixed at `load` with penalties `pen`, known to
        cost at least `bound`; `mask[k]`: the candidates slot k may still take in this subtree; every completion
        x costs at least base + Σ_k slack[k, x_k] (the parent's Lagrangian); `basis`: the parent's LP basis, to
        start from where the pool is empty."""
        nonlocal nodes, lps, pruned_bound, budget
        nodes += 1
        if time.perf_counter() > deadline:
            raise _Deadline
        if lps >= budget:
            if len(set(best_plan)) == S:
                raise _Restart
            budget = np.inf  # the best plan known shares candidates between slots: the split was measured slower
        tail = order[d:]
        if int((need & (load == 0)).sum()) > len(tail):  # fewer slots left than candidates still to be used
            return
        tmask = mask[tail]  # a copy: the fixing below narrows it for this subtree only
        if len(tail) == 1 or np.prod(tmask.sum(axis=1), dtype=float) <= TAIL_PLANS:
            exact(d, load, pen, mask, base, slack)
            return
        r = goal - unit @ load
        allow = tmask.any(axis=0)
        tstakes = stakes[tail][:, None]
        tpens = pens[tail]

        limit = cut()
        if pool.size:
            # the λ of recent node LPs (siblings, cousins): any λ in the box bounds this node too
            vals = pool.bounds(load, tmask, tpens, tstakes) + pen
            p = int(np.argmax(vals))
            if vals[p] >= limit:
                pool.used(p)
                if trace is not None:
                    trace(fixed(d), float(vals[p]), limit)
                pruned_bound = min(pruned_bound, max(bound, float(vals[p])))
                return
        lps += 1
        if pool.size:
            # from the basis of the pooled λ that bounds this node best: half the simplex iterations of the
            # parent's (measured on the captured decisions: 35 → 18 per LP)
            basis = pool.basis[p]
        lam, frac, basis = dual.solve(r, float(stakes[tail].sum()), allow, basis)
        pool.add(lam, basis)
        raw, term, least = lagrangian(lam, r, pen, tmask, tpens, tstakes)
        # Fixing: slot k on c costs at least raw + term_k(c) − least_k; dropping such candidates raises least_k,
        # and so raw, so repeat until nothing drops (or the node itself is cut off). Dropping only raises raw,
        # so the candidates left do not depend on the order they are dropped in.
        while raw < limit:
            worth = raw + term - least[:, None]
            drop = tmask & (worth >= limit)
            if not drop.any():
                break
            if trace is not None:
                for i, c in zip(*np.nonzero(drop)):
                    trace({**fixed(d), tail[i]: int(c)}, float(worth[i, c]), limit)
            pruned_bound = min(pruned_bound, float(worth[drop].min()))
            tmask = tmask & ~drop
            if not tmask.any(axis=1).all():  # a slot with no candidate left: no completion beats the cut-off
                return
            term = np.where(tmask, term, np.inf)
            fresh = term.min(axis=1)
            raw += float((fresh - least).sum())
            least = fresh
        node_bound = max(bound, raw)
        if trace is not None:
            trace(fixed(d), raw, limit)
        if node_bound >= limit:
            pruned_bound = min(pruned_bound, node_bound)
            return
        narrowed = mask.copy()
        narrowed[tail] = tmask
        own_slack = slack.copy()
        own_slack[tail] = term - least[:, None]
        if np.prod(tmask.sum(axis=1), dtype=float) <= TAIL_AFTER:
            exact(d, load, pen, narrowed, raw, own_slack)
            return
        j = order[d]
        lo = max((assign[e] for e in group_of.get(j, ()) if position[e] < d), default=0)
        stack_bounds.append(node_bound)
        # Children in the bound's order of preference (least term, then most stake in the LP's solution, then
        # index): a better plan found early prunes more.
        own = term[0]
        kids = [c for c in sorted(np.flatnonzero(tmask[0]).tolist(), key=lambda c: (own[c], -frac[c], c))
                if c >= lo]  # interchangeable slots take non-decreasing candidates
        # every pooled λ bounds every child at once (one call instead of one per child)
        sub = tail[1:]
        kid = np.array(kids, dtype=int)
        kid_bounds, kid_best = pool.best(load, kid[:, None], stakes[j:j + 1], narrowed[sub], pens[sub],
                                         stakes[sub][:, None])
        for c, pooled, p in zip(kids, (kid_bounds + pens[j, kid] + pen).tolist(), kid_best.tolist()):
            child_base = raw + float(own_slack[j, c])
            child = max(bound, child_base, pooled)
            if trace is not None:
                trace({**fixed(d), j: c}, child, cut())
            if child >= cut():  # cut off by a pooled λ, or the incumbent improved since the fixing
                if pooled >= cut():
                    pool.used(p)
                pruned_bound = min(pruned_bound, child)
                continue
            assign[j] = c
            nxt = load.copy()
            nxt[c] += stakes[j]
            visit(d + 1, nxt, pen + float(pens[j, c]), child, narrowed, child_base, own_slack, basis)
        stack_bounds.pop()

    total = float(stakes.sum())

    def split(allow: np.ndarray, kept: np.ndarray, basis: object) -> None:
        """Every plan that takes only candidates of `allow` and each of `kept`: cut off by the node LP over
        `allow`, else split on the candidate of `allow` outside `kept` that carries the most stake in the LP's
        solution (ties: the lowest index) into the plans that take it (it joins `kept`) and those that do not
        (it leaves `allow`), so that every plan is searched once. Once `allow` has no more candidates than
        there are slots, or `kept` as many (then `allow` is `kept`), those plans are branched on slot by slot
        (`visit`)."""
        nonlocal nodes, lps, pruned_bound, within, need
        nodes += 1
        if time.perf_counter() > deadline:
            raise _Deadline
        if kept.sum() >= S:
            allow = kept
        smask = mask0 & allow[None, :]
        if not smask.any(axis=1).all():  # a slot with none of these candidates: no plan
            return
        within, need = (allow, kept), kept
        limit = cut()
        if pool.size:
            vals = pool.bounds(np.zeros(C), smask, pens, stakes[:, None])
            p = int(np.argmax(vals))
            if vals[p] >= limit:
                pool.used(p)
                if trace is not None:
                    trace({}, float(vals[p]), limit)
                pruned_bound = min(pruned_bound, float(vals[p]))
                return
            basis = pool.basis[p]
        lps += 1
        lam, frac, basis = dual.solve(goal, total, allow, basis)
        pool.add(lam, basis)
        raw = lagrangian(lam, goal, 0.0, smask, pens, stakes[:, None])[0]
        if trace is not None:
            trace({}, raw, limit)
        if raw >= limit:
            pruned_bound = min(pruned_bound, raw)
            return
        if allow.sum() <= S:
            # no Lagrangian yet at the node: its bound −∞ leaves every completion in
            visit(0, np.zeros(C), 0.0, max(raw, 0.0), smask, -np.inf, np.where(smask, 0.0, np.inf), basis)
            return
        open_ = np.flatnonzero(allow & ~kept)
        c = int(open_[np.argmax(frac[open_])])  # first of equals: the lowest index
        stack_bounds.append(raw)
        with_c = kept.copy()
        with_c[c] = True
        split(allow, with_c, basis)
        without = allow.copy()
        without[c] = False
        split(without, kept, basis)
        stack_bounds.pop()

    allow0 = mask0.any(axis=0)
    wide = SPLIT_AFTER is not None and 2 * (int(allow0.sum()) - S) >= S
    budget = SPLIT_AFTER if wide else np.inf
    finished = True
    try:
        try:
            # no Lagrangian yet at the root: its bound −∞ leaves every completion in
            visit(0, np.zeros(C), 0.0, 0.0, mask0, -np.inf, np.where(mask0, 0.0, np.inf))
        except _Restart:
            # The incumbent, the pool and the bounds claimed so far all stay valid; the plans are searched again.
            stack_bounds.clear()
            budget = np.inf
            split(allow0, np.zeros(C, dtype=bool), None)
    except _Deadline:
        finished = False
    if finished:
        bound = min(pruned_bound, best)
    elif stack_bounds:  # what is left unexplored are children of the nodes on the stack
        bound = min(pruned_bound, best, *stack_bounds)
    else:  # stopped before the root's bound was known
        bound = 0.0
    return SearchResult(tuple(best_plan), best, max(bound, 0.0), finished, nodes, lps)


class _Pool:
    """The λ of the last node LPs (at most `size`; the least recently useful one goes first), kept as λ·P_target
    and U_c·λ, to bound a node by every one of them at once, each with its LP's final basis, to start a node's LP
    from."""

    def __init__(self, unit: np.ndarray, goal: np.ndarray, size: int) -> None:
        self.unit, self.goal = unit, goal
        # U_c·λ as C × pool: a max over all candidates takes 5 µs instead of 26 µs over pool × C (timeit,
        # 512 × 20), and the exact tails gather rows instead of columns
        self.gt = np.zeros((unit.shape[1], size))
        self.a = np.zeros(size)
        self.stamp = np.zeros(size, dtype=np.int64)
        self.size = 0
        self.clock = 0
        self.basis: list = [None] * size

    def add(self, lam: np.ndarray, basis: object = None) -> None:
        if not len(self.stamp):
            return
        i = self.size if self.size < len(self.stamp) else int(np.argmin(self.stamp))
        self.size = max(self.size, i + 1)
        self.gt[:, i], self.a[i] = lam @ self.unit, lam @ self.goal
        self.basis[i] = basis
        self.used(i)

    def used(self, i: int) -> None:
        self.clock += 1
        self.stamp[i] = self.clock

    def bounds(self, load: np.ndarray, mask: np.ndarray, pens: np.ndarray, stakes: np.ndarray,
               cols: np.ndarray | None = None) -> np.ndarray:
        """Each pooled λ's (or those of `cols`) Lagrangian bound r·λ + Σ_k min_c (pen_k(c) − s_k U_c·λ) over the
        open slots k (`mask`, `pens` rows, `stakes` a column), r = P_target − U·load (`load`: the fixed slots'
        stake per candidate), penalties fixed so far excluded (NMR per round)."""
        gt, a = (self.gt[:, :self.size], self.a[:self.size]) if cols is None else (self.gt[:, cols], self.a[cols])
        out = a - load @ gt  # r·λ = λ·P_target − (U·λ)·load: C terms per λ instead of T
        free = ~pens.any(axis=1)
        if free.any():
            # slots without penalties: min_c (−s_k U_c·λ) = −s_k max_c U_c·λ, one max per distinct mask row
            # (a node's open slots mostly share one) instead of one per slot
            rows: dict[bytes, list] = {}
            for k in np.flatnonzero(free).tolist():
                key = mask[k].tobytes()
                if key in rows:
                    rows[key][1] += float(stakes[k, 0])
                else:
                    rows[key] = [mask[k], float(stakes[k, 0])]
            for row, s in rows.values():
                out = out - s * (gt.max(axis=0) if row.all() else gt[row].max(axis=0))
        if not free.all():
            rest = ~free
            terms = np.where(mask[rest][:, :, None], pens[rest][:, :, None] - stakes[rest][:, :, None] * gt[None],
                             np.inf)  # open slot × C × pool
            out = out + terms.min(axis=1).sum(axis=0)
        return out

    def best(self, load: np.ndarray, fixed: np.ndarray, fstakes: np.ndarray, mask: np.ndarray, pens: np.ndarray,
             stakes: np.ndarray, top: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """For each row of `fixed` (candidates of further slots, of `fstakes`, taken beside `load` and the open
        slots `mask`/`pens`/`stakes`): the best pooled λ's bound (their penalties excluded) and its index; −∞
        with an empty pool. `top` > 0: only the `top` most recently useful λ (measured on the exact tails'
        partial completions: they cut off more than the λ that bound the node best)."""
        if not self.size:
            return np.full(len(fixed), -np.inf), np.zeros(len(fixed), dtype=int)
        keep = None
        if 0 < top < self.size:
            keep = np.sort(np.argpartition(-self.stamp[:self.size], top)[:top])
        gt = self.gt[:, :self.size] if keep is None else self.gt[:, keep]
        v = self.bounds(load, mask, pens, stakes, keep)[None, :]
        for i, s in enumerate(fstakes):  # rows × pool
            v = v - (s * gt)[fixed[:, i]]
        if v.shape[0] != len(fixed):  # no fixed slot: every row the pool's bounds
            v = np.repeat(v, len(fixed), axis=0)
        which = v.argmax(axis=1)
        return v[np.arange(len(fixed)), which], which if keep is None else keep[which]


class _DualLP:
    """The node LP's dual, max r·λ + R·μ over λ ∈ [−1/T, 1/T]^T, μ free, with U_c·λ + μ ≤ 0 for every
    allowed candidate c, kept in one HiGHS model. Its C rows (the primal has T + 1) and a node's change being
    the costs alone keep the re-solves short: the last basis stays feasible for HiGHS's primal simplex."""

    def __init__(self, unit: np.ndarray, goal: np.ndarray) -> None:
        import highspy

        from .backends import _silence_highs_banner

        T, C = unit.shape
        self.T, self.C = T, C
        _silence_highs_banner()
        h = self.h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        # Presolve would discard the basis each node starts from; one thread: the backtest's workers share
        # cores; primal simplex: the basis stays primal feasible when only the costs change; no scaling:
        # measured fewer iterations per node on the example
        h.setOptionValue("presolve", "off")
        h.setOptionValue("threads", 1)
        h.setOptionValue("simplex_strategy", 4)
        h.setOptionValue("simplex_scale_strategy", 0)
        self.inf = inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = T + 1, C
        lp.col_cost_ = np.zeros(T + 1)
        lp.col_lower_ = np.concatenate([np.full(T, -1.0 / T), [-inf]])
        lp.col_upper_ = np.concatenate([np.full(T, 1.0 / T), [inf]])
        lp.row_lower_ = np.full(C, -inf)
        lp.row_upper_ = np.zeros(C)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise  # row c: U_c over the rounds, then 1 for μ
        nz = [np.flatnonzero(unit[:, c]) for c in range(C)]
        lp.a_matrix_.start_ = np.cumsum([0] + [len(i) + 1 for i in nz]).astype(np.int32)
        lp.a_matrix_.index_ = np.concatenate([np.append(i, T) for i in nz]).astype(np.int32)
        lp.a_matrix_.value_ = np.concatenate([np.append(unit[i, c], 1.0) for c, i in enumerate(nz)])
        h.passModel(lp)
        self.cols = np.arange(T + 1, dtype=np.int32)
        self.rows = np.arange(C, dtype=np.int32)
        self.lower = np.full(C, -inf)
        self.allow: np.ndarray | None = None

    def solve(self, r: np.ndarray, rest: float, allow: np.ndarray,
              basis: object) -> tuple[np.ndarray, np.ndarray, object]:
        """λ (T, in the box whatever the solver's status), the LP's stake per candidate (C, for ordering) and
        the final basis. Starts from `basis` where given (measured: the best pooled λ's takes half the
        iterations of the parent's, which takes fewer than the last node's)."""
        import highspy

        h, T = self.h, self.T
        h.changeColsCost(T + 1, self.cols, -np.concatenate([r, [rest]]))
        if self.allow is None or not np.array_equal(self.allow, allow):
            h.changeRowsBounds(self.C, self.rows, self.lower, np.where(allow, 0.0, self.inf))
            self.allow = allow.copy()
        if basis is not None:
            h.setBasis(basis)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            # HiGHS sometimes stops at once from a warm basis (status unknown; measured: 4 of 3,811 LPs on the slot
            # benchmark's 25 × 20, 1 of 18,350 in 50 backtest decisions): once more from scratch
            h.clearSolver()
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return np.zeros(T), np.zeros(self.C), None  # numerical trouble: λ = 0 bounds by the penalties
        return *self._solution(), h.getBasis()

    def _solution(self) -> tuple[np.ndarray, np.ndarray]:
        sol = self.h.getSolution()
        return (np.clip(np.asarray(sol.col_value[:self.T]), -1.0 / self.T, 1.0 / self.T),
                np.abs(np.asarray(sol.row_dual)))
