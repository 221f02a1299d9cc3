"""An exact branch-and-bound for the tracking objective with fixed stakes in one-combination regimes.

There every slot's payout is its stake times its candidate's unit stream u_c(t) = Σ_k p_k · signed score,
so a plan's tracking error depends only on the stake each candidate carries, A_c (NMR):

    f(A) = (1/T) Σ_t |Σ_c A_c · u_c(t) − P_target(t)|   (+ change penalties)   NMR per round

Depth first over the slots, largest stake first (ties: slot order); a node fixes the first slots. Its bound
comes from the dual of the node LP (the remaining stake R spread fractionally over the candidates the
remaining slots may take): any λ ∈ [−1/T, 1/T]^T bounds every completion by weak duality,

    f ≥ r·λ + pen_fixed + Σ_k min_{c allowed for k} (pen_k(c) − s_k · U_c·λ)     (r = P_target − U·A_fixed),

and HiGHS's primal simplex finds the best λ of the LP from the parent node's basis (the dual has one row per
candidate; a node changes only its costs; after FIRST_ITERATIONS the unfinished λ is tried as the cut-off).
The bound is recomputed from λ in numpy, so the solver's tolerances cannot make it invalid. A candidate whose
term lifts the bound past the incumbent is dropped for that slot in the subtree (repeated until nothing
drops), and a child (slot j on c) inherits the bound with its own term. Interchangeable slots take
non-decreasing candidates. Where the remaining slots have at most TAIL_PLANS completions, or TAIL_AFTER once
the node's fixing has narrowed them, they are evaluated exactly, at once, instead of branched on.

Every pruned node's bound is at least the incumbent less the proof tolerance (ABS_GAP, REL_GAP), so a
finished search proves the incumbent within it; the reported bound is the least bound of any pruned node
or, at the deadline, of any node not yet explored. Ties between plans: the incumbent (the search's starting
plan) is replaced only by a plan better by more than ROUNDING, the first such in search order.

Measured against the compact MIP and the primal node LP on the example fleet (benchmarks/README.md,
"Tracking speed")."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..tolerance import ROUNDING
from .problem import ABS_GAP, REL_GAP, SlotProblem

TAIL_PLANS = 64  # completions of the last slots evaluated at once, without a node LP
TAIL_AFTER = 4096  # completions left after a node's fixing evaluated at once instead of branched on
FIRST_ITERATIONS = 25  # simplex iterations of a node LP before its λ is tried as a cut-off

# trace(fixed, bound, cut): every plan that keeps `fixed` (slot → candidate) and costs less than `cut` costs at
# least `bound` (NMR per round). For tests of the bounds; None in use.
Trace = Callable[[dict[int, int], float, float], None]


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


def search(pb: SlotProblem, unit: np.ndarray, goal: np.ndarray, penalties: list[np.ndarray],
           start: list[int], deadline: float, trace: Trace | None = None) -> SearchResult:
    """Branch and bound from the plan `start` (candidate index per slot) until finished or `deadline`
    (time.perf_counter()). `unit`: T × C unit streams (NMR per round per NMR of stake); `goal`: P_target (T);
    `penalties[j][c]`: slot j's change penalty on candidate c (NMR per round)."""
    S, C = len(pb.slots), unit.shape[1]
    stakes = np.array([s.stake for s in pb.slots], dtype=float)
    order = sorted(range(S), key=lambda j: (-stakes[j], j))
    allowed0 = [tuple(sorted(a)) for a in pb.allowed]
    position = {j: i for i, j in enumerate(order)}
    group_of = {j: g for g in pb.groups for j in g}

    load0 = np.zeros(C)
    for j, c in enumerate(start):
        load0[c] += stakes[j]
    best_plan = list(start)
    best = float(np.mean(np.abs(unit @ load0 - goal))) + sum(float(penalties[j][c]) for j, c in enumerate(start))

    def cut() -> float:
        # a hair inside the proof tolerance: the plan's objective is recomputed by the caller, and its last
        # bits must not carry a finished search's gap past the tolerance
        return best - 0.999 * max(ABS_GAP, REL_GAP * best)

    dual = _DualLP(unit, goal)
    nodes = lps = 0
    pruned_bound = np.inf  # least bound of any node cut off
    stack_bounds: list[float] = []  # bounds of the nodes whose children are being explored
    assign = [0] * S

    def fixed(d: int) -> dict[int, int]:
        return {order[i]: assign[order[i]] for i in range(d)}

    def exact(d: int, load: np.ndarray, pen: float, allowed: list[tuple[int, ...]]) -> None:
        """Every completion of the node's last slots, evaluated at once (cheaper than branching on them)."""
        nonlocal best, best_plan, pruned_bound
        tail = order[d:]
        combos = np.array(list(itertools.product(*(allowed[k] for k in tail))), dtype=int)
        keep = np.ones(len(combos), dtype=bool)
        for i, k in enumerate(tail):  # interchangeable slots take non-decreasing candidates
            for e in group_of.get(k, ()):
                pos = position[e]
                if pos < d:
                    keep &= combos[:, i] >= assign[e]
                elif pos < d + i:
                    keep &= combos[:, i] >= combos[:, pos - d]
        combos = combos[keep]
        if not len(combos):
            return
        loads = np.tile(load, (len(combos), 1))
        pens = np.full(len(combos), pen)
        rows = np.arange(len(combos))
        for i, k in enumerate(tail):
            loads[rows, combos[:, i]] += stakes[k]  # one slot per statement: no repeated index in a row
            pens += penalties[k][combos[:, i]]
        vals = np.mean(np.abs(loads @ unit.T - goal[None, :]), axis=1) + pens
        i = int(np.argmin(vals))  # first of equals: a fixed order
        if trace is not None:
            trace(fixed(d), float(vals[i]), cut())
        if vals[i] < best - ROUNDING:
            for pos, k in enumerate(tail):
                assign[k] = int(combos[i, pos])
            best, best_plan = float(vals[i]), list(assign)
        pruned_bound = min(pruned_bound, float(vals[i]))

    def visit(d: int, load: np.ndarray, pen: float, bound: float, allowed: list[tuple[int, ...]],
              basis: object = None) -> None:
        """Explore the node whose first d slots (in `order`) are fixed at `load` with penalties `pen`, known to
        cost at least `bound`; `allowed[k]`: the candidates slot k may still take in this subtree; `basis`: the
        parent's LP basis, to start from."""
        nonlocal nodes, lps, pruned_bound
        nodes += 1
        if time.perf_counter() > deadline:
            raise _Deadline
        tail = order[d:]
        if len(tail) == 1 or np.prod([len(allowed[k]) for k in tail], dtype=float) <= TAIL_PLANS:
            exact(d, load, pen, allowed)
            return
        lps += 1
        r = goal - unit @ load
        allow = np.zeros(C, dtype=bool)
        for k in tail:
            allow[list(allowed[k])] = True
        sets = {k: list(allowed[k]) for k in tail}

        def lagrangian(lam: np.ndarray) -> tuple[float, dict[int, np.ndarray], dict[int, float]]:
            g = unit.T @ lam
            term = {k: penalties[k][cs] - stakes[k] * g[cs] for k, cs in sets.items()}
            least = {k: float(v.min()) for k, v in term.items()}
            return float(r @ lam) + pen + sum(least.values()), term, least

        limit = cut()
        tried: dict = {}  # the unfinished λ's bound, kept where it cuts the node off (solve then returns it)

        def enough(lam: np.ndarray) -> bool:
            tried["lam"], tried["bound"] = lam, lagrangian(lam)
            return tried["bound"][0] >= limit

        lam, frac, basis = dual.solve(r, float(stakes[tail].sum()), allow, basis, enough)
        raw, term, least = tried["bound"] if tried.get("lam") is lam else lagrangian(lam)
        # Fixing: slot k on c costs at least raw + term_k(c) − least_k; dropping such candidates raises least_k,
        # and so raw, so repeat until nothing drops (or the node itself is cut off).
        narrowed = list(allowed)
        changed = raw < limit
        while changed:
            changed = False
            for k in tail:
                worth = raw + term[k] - least[k]
                keep = worth < limit
                if keep.all():
                    continue
                if trace is not None:
                    for c, w in zip(narrowed[k], worth):
                        if w >= limit:
                            trace({**fixed(d), k: c}, float(w), limit)
                pruned_bound = min(pruned_bound, float(worth[~keep].min()))
                if not keep.any():
                    return
                narrowed[k] = tuple(c for c, kept in zip(narrowed[k], keep) if kept)
                term[k] = term[k][keep]
                raw += float(term[k].min()) - least[k]
                least[k] = float(term[k].min())
                changed = raw < limit
        node_bound = max(bound, raw)
        if trace is not None:
            trace(fixed(d), raw, limit)
        if node_bound >= limit:
            pruned_bound = min(pruned_bound, node_bound)
            return
        if np.prod([len(narrowed[k]) for k in tail], dtype=float) <= TAIL_AFTER:
            exact(d, load, pen, narrowed)
            return
        j = order[d]
        lo = max((assign[e] for e in group_of.get(j, ()) if position[e] < d), default=0)
        stack_bounds.append(node_bound)
        # Children in the bound's order of preference (least term, then most stake in the LP's solution, then
        # index): a better plan found early prunes more.
        own = dict(zip(narrowed[j], term[j]))
        for c in sorted(narrowed[j], key=lambda c: (own[c], -frac[c], c)):
            if c < lo:  # interchangeable slots take non-decreasing candidates
                continue
            child = max(bound, raw + own[c] - least[j])
            if trace is not None:
                trace({**fixed(d), j: c}, child, cut())
            if child >= cut():  # the incumbent improved since the fixing
                pruned_bound = min(pruned_bound, child)
                continue
            assign[j] = c
            nxt = load.copy()
            nxt[c] += stakes[j]
            visit(d + 1, nxt, pen + float(penalties[j][c]), child, narrowed, basis)
        stack_bounds.pop()

    finished = True
    try:
        visit(0, np.zeros(C), 0.0, 0.0, allowed0)
    except _Deadline:
        finished = False
    if finished:
        bound = min(pruned_bound, best)
    elif stack_bounds:  # what is left unexplored are children of the nodes on the stack
        bound = min(pruned_bound, best, *stack_bounds)
    else:  # stopped before the root's bound was known
        bound = 0.0
    return SearchResult(tuple(best_plan), best, max(bound, 0.0), finished, nodes, lps)


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

    def solve(self, r: np.ndarray, rest: float, allow: np.ndarray, basis: object,
              enough: Callable[[np.ndarray], bool]) -> tuple[np.ndarray, np.ndarray, object]:
        """λ (T, in the box whatever the solver's status), the LP's stake per candidate (C, for ordering) and
        the final basis. Starts from `basis` where given (the parent's: fewer iterations than the last node's,
        measured); every simplex iterate is a feasible λ, so after FIRST_ITERATIONS the search asks `enough`
        whether λ already cuts the node off, and only else lets the simplex finish."""
        import highspy

        h, T = self.h, self.T
        h.changeColsCost(T + 1, self.cols, -np.concatenate([r, [rest]]))
        if self.allow is None or not np.array_equal(self.allow, allow):
            h.changeRowsBounds(self.C, self.rows, self.lower, np.where(allow, 0.0, self.inf))
            self.allow = allow.copy()
        if basis is not None:
            h.setBasis(basis)
        h.setOptionValue("simplex_iteration_limit", FIRST_ITERATIONS)
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kIterationLimit:
            lam, frac = self._solution()
            if enough(lam):
                return lam, frac, h.getBasis()
            h.setOptionValue("simplex_iteration_limit", 2**31 - 1)
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return np.zeros(T), np.zeros(self.C), None  # numerical trouble: λ = 0 bounds by the penalties
        return *self._solution(), h.getBasis()

    def _solution(self) -> tuple[np.ndarray, np.ndarray]:
        sol = self.h.getSolution()
        return (np.clip(np.asarray(sol.col_value[:self.T]), -1.0 / self.T, 1.0 / self.T),
                np.abs(np.asarray(sol.row_dual)))
