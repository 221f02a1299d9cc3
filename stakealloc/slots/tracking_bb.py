"""An exact branch-and-bound for the tracking objective with fixed stakes in one-combination regimes.

There every slot's payout is its stake times its candidate's unit stream u_c(t) = Σ_k p_k · signed score,
so a plan's tracking error depends only on the stake each candidate carries, A_c (NMR):

    f(A) = (1/T) Σ_t |Σ_c A_c · u_c(t) − P_target(t)|   (+ change penalties)   NMR per round

Depth first over the slots, largest stake first (ties: slot order); a node fixes the first slots. Its
bound is the node LP: the remaining stake R spread fractionally over the candidates the remaining slots
may take (min f(A_fixed + a), a ≥ 0, Σ a = R), solved by HiGHS's dual simplex from the previous node's
basis, plus the fixed slots' penalties and each remaining slot's least penalty. A child (slot j on c) is
bounded first by the LP's reduced cost of a_c (the parent's value + d_c · s_j is a valid bound of the
child's LP), and its own LP is solved only where that does not prune it. Interchangeable slots take
non-decreasing candidates. Where the last slots have at most TAIL_PLANS completions, they are evaluated
exactly, at once, instead of branched on.

Every pruned node's bound is at least the incumbent less the proof tolerance (ABS_GAP, REL_GAP), so a
finished search proves the incumbent within it; the reported bound is the least bound of any pruned node
or, at the deadline, of any node not yet explored. Ties between plans: the incumbent (the search's starting
plan) is replaced only by a plan better by more than ROUNDING, the first such in search order.

Measured against the compact MIP on the example fleet (benchmarks/README.md, "Tracking speed")."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from ..tolerance import ROUNDING
from .problem import ABS_GAP, REL_GAP, SlotProblem

TAIL_PLANS = 64  # completions of the last slots evaluated at once instead of branching on them


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
    """One combination of multipliers and no idle option: a plan is one candidate per slot."""
    return pb.ncombo == 1 and pb.zero is None and pb.per_round is None and pb.streams is not None


def search(pb: SlotProblem, unit: np.ndarray, goal: np.ndarray, penalties: list[np.ndarray],
           start: list[int], deadline: float) -> SearchResult:
    """Branch and bound from the plan `start` (candidate index per slot) until finished or `deadline`
    (time.perf_counter()). `unit`: T × C unit streams (NMR per round per NMR of stake); `goal`: P_target (T);
    `penalties[j][c]`: slot j's change penalty on candidate c (NMR per round)."""
    import highspy

    from .backends import _silence_highs_banner

    S, (T, C) = len(pb.slots), unit.shape
    stakes = np.array([s.stake for s in pb.slots], dtype=float)
    order = sorted(range(S), key=lambda j: (-stakes[j], j))
    allowed0 = [tuple(sorted(a)) for a in pb.allowed]
    position = {j: i for i, j in enumerate(order)}
    group_of = {j: g for g in pb.groups for j in g}
    minpen = [float(p[list(a)].min()) if len(a) else 0.0 for p, a in zip(penalties, allowed0)]

    def value(load: np.ndarray, pen: float) -> float:
        return float(np.mean(np.abs(unit @ load - goal))) + pen

    load0 = np.zeros(C)
    for j, c in enumerate(start):
        load0[c] += stakes[j]
    best_plan = list(start)
    best = value(load0, sum(float(penalties[j][c]) for j, c in enumerate(start)))

    def tol() -> float:
        # a hair inside the proof tolerance: the plan's objective is recomputed by the caller, and its last
        # bits must not carry a finished search's gap past the tolerance
        return 0.999 * max(ABS_GAP, REL_GAP * best)

    _silence_highs_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    # Presolve would discard the basis each node starts from; one thread: the backtest's workers share cores
    h.setOptionValue("presolve", "off")
    h.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    # columns: a_c (C), then the residual's parts e⁺_t, e⁻_t (T each); rows: U a − e⁺ + e⁻ = r
    # (r = goal − U·fixed), Σ a = R. Equality rows: half the rows of the |·| ≥ ± form, so faster re-solves.
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = C + 2 * T, T + 1
    lp.col_cost_ = np.concatenate([np.zeros(C), np.full(2 * T, 1.0 / T)])
    lp.col_lower_ = np.zeros(C + 2 * T)
    lp.col_upper_ = np.concatenate([np.full(C, stakes.sum()), np.full(2 * T, inf)])
    lp.row_lower_ = np.concatenate([goal, [0.0]])
    lp.row_upper_ = np.concatenate([goal, [0.0]])
    cols = []  # column-wise: a_c has U[:, c] in the T rows and 1 in the last; e±_t is ∓1 in row t
    for c in range(C):
        nz = np.flatnonzero(unit[:, c])
        cols.append((np.concatenate([nz, [T]]), np.concatenate([unit[nz, c], [1.0]])))
    for sign in (-1.0, 1.0):
        for t in range(T):
            cols.append((np.array([t]), np.array([sign])))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.cumsum([0] + [len(i) for i, _ in cols]).astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate([i for i, _ in cols]).astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate([v for _, v in cols])
    h.passModel(lp)
    rows = np.arange(T + 1, dtype=np.int32)
    acols = np.arange(C, dtype=np.int32)
    zeros_c = np.zeros(C)
    nodes = lps = 0
    pruned_bound = np.inf  # least bound of any node cut off
    stack_bounds: list[float] = []  # bounds of the nodes whose children are being explored

    def node_lp(load: np.ndarray, rest: float, allow: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        rhs = np.concatenate([goal - unit @ load, [rest]])
        h.changeRowsBounds(T + 1, rows, rhs, rhs)
        h.changeColsBounds(C, acols, zeros_c, np.where(allow, rest, 0.0))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:  # numerical trouble: no bound from it
            return 0.0, zeros_c, zeros_c
        sol = h.getSolution()
        return (float(h.getInfo().objective_function_value), np.maximum(np.asarray(sol.col_dual[:C]), 0.0),
                np.asarray(sol.col_value[:C]))

    class Deadline(Exception):
        pass

    assign = [0] * S

    def visit(d: int, load: np.ndarray, pen: float, bound: float, allowed: list[tuple[int, ...]]) -> None:
        """Explore the node whose first d slots (in `order`) are fixed at `load` with penalties `pen`;
        `allowed[k]`: the candidates slot k may still take in this subtree."""
        nonlocal best, best_plan, nodes, lps, pruned_bound
        nodes += 1
        if time.perf_counter() > deadline:
            raise Deadline
        j = order[d]
        tail = order[d:]
        if len(tail) == 1 or int(np.prod([len(allowed[k]) for k in tail], dtype=float)) <= TAIL_PLANS:
            # the last slot's (or slots') every completion, evaluated exactly at once (cheaper than LPs)
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
            rows_ = np.arange(len(combos))
            for i, k in enumerate(tail):
                loads[rows_, combos[:, i]] += stakes[k]  # one slot per column: no repeated index in a row
                pens += penalties[k][combos[:, i]]
            vals = np.mean(np.abs(loads @ unit.T - goal[None, :]), axis=1) + pens
            i = int(np.argmin(vals))  # first of equals: a fixed order
            if vals[i] < best - ROUNDING:
                for pos, k in enumerate(tail):
                    assign[k] = int(combos[i, pos])
                best, best_plan = float(vals[i]), list(assign)
            pruned_bound = min(pruned_bound, float(vals[i]))
            return
        rest = float(sum(stakes[k] for k in tail))
        allow = np.zeros(C, dtype=bool)
        for k in tail:
            allow[list(allowed[k])] = True
        lps += 1
        z, dual, frac = node_lp(load, rest, allow)
        later = sum(minpen[k] for k in tail)
        node_bound = max(bound, z + pen + later)
        if node_bound >= best - tol():
            pruned_bound = min(pruned_bound, node_bound)
            return
        # Reduced-cost fixing: slot k on c costs at least z + d_c·s_k (+ its penalty over its least) in every
        # completion, so in this subtree k keeps only the candidates where that stays below the incumbent.
        cut = best - tol()
        narrowed = list(allowed)
        for k in tail:
            worth = node_bound + dual[list(allowed[k])] * stakes[k] + penalties[k][list(allowed[k])] - minpen[k]
            narrowed[k] = tuple(c for c, w in zip(allowed[k], worth) if w < cut)
            if len(narrowed[k]) < len(allowed[k]):
                pruned_bound = min(pruned_bound, float(worth[worth >= cut].min()))
            if not narrowed[k]:
                return
        lo = max((assign[e] for e in group_of.get(j, ()) if position[e] < d), default=0)
        stack_bounds.append(node_bound)
        # Children in the LP's order of preference (least reduced cost, then most stake in the LP's solution,
        # then index): a better plan found early prunes more.
        for c in sorted(narrowed[j], key=lambda c: (dual[c], -frac[c], c)):
            if c < lo:  # interchangeable slots take non-decreasing candidates
                continue
            child = node_bound + dual[c] * stakes[j] + float(penalties[j][c]) - minpen[j]
            assign[j] = c
            nxt = load.copy()
            nxt[c] += stakes[j]
            visit(d + 1, nxt, pen + float(penalties[j][c]), child, narrowed)
        stack_bounds.pop()

    finished = True
    try:
        visit(0, np.zeros(C), 0.0, 0.0, allowed0)
    except Deadline:
        finished = False
    if finished:
        bound = min(pruned_bound, best)
    elif stack_bounds:  # what is left unexplored are children of the nodes on the stack
        bound = min(pruned_bound, best, *stack_bounds)
    else:  # stopped before the root's bound was known
        bound = 0.0
    return SearchResult(tuple(best_plan), best, max(bound, 0.0), finished, nodes, lps)
