"""The tracking objective's solver (the objective and its measure: stakealloc/tracking.py).

Solving: the candidates are the exposure objective's. Every slot j has options o = (candidate,
combination), each a per-round payout vector V_j[o] = s_j · Σ_k p_k · r_(c,k) (NMR). A greedy plan
(largest stake first) is improved by local search (single-slot moves, then swaps of two slots' options)
on the residual P_plan − P_target, all options of a slot scored at once with numpy. In one-combination
regimes with HiGHS, an exact branch and bound over the candidates' stakes runs next, from that plan, for up to
`tracking_bb_share` of the time limit: by candidates (`tracking_bc`) with more slots than candidates (up to
its MAX_SLOTS, no change penalties), else slot by slot (`tracking_bb`; `tracking_bb_share_many` with
more slots than candidates, where the MIP was measured to reach better plans); where it finishes, its plan is
proven. Else (and in every other regime) the compact MIP (one binary per slot × option, exactly one per slot,
one bounded pair e⁺_t, e⁻_t per round, interchangeable slots ordered) is then solved by the named solver from
that plan (HiGHS) within the time limit; the reported plan is the better of the two, with the solver's bound and
the same optimal / feasible rule as the exposure objective.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import OptimizationError
from ..payout import held_exposures, linear_payout
from ..tolerance import IMPROVEMENT, ROUNDING
from ..tracking import target_payout
from ..types import Formulation, Objective, PlanSource, SolverName
from . import tracking_bb, tracking_bc
from .backends import run, symmetry_rows, warm_start
from .problem import (
    Choice,
    SearchOptions,
    SlotPlan,
    SlotProblem,
    is_changed,
    solver_info,
)

KEY = Objective.TRACKING


@dataclass(frozen=True)
class _Options:
    """Each slot's options (candidate index, combination) and their payout vectors, rows × T."""

    choices: list[list[tuple[int, int]]]
    vectors: list[np.ndarray]
    penalties: list[np.ndarray]  # change penalty of each option


def _options(pb: SlotProblem) -> _Options:
    slots, refs, allowed, idle, regime, change_penalty = (pb.slots, pb.refs, pb.allowed, pb.idle, pb.regime,
                                                          pb.change_penalty)
    st = pb.streams
    assert st is not None
    zero = pb.zero
    vector: dict[tuple[float, int, int], np.ndarray] = {}  # (stake, candidate, combination): slots share them
    choices, vectors, penalties = [], [], []
    for j, s in enumerate(slots):
        opts = [(c, p) for c in allowed[j] for p in range(len(regime.combinations)) if p != zero or c == idle[j]]
        V = np.zeros((len(opts), len(st.rounds)))
        for i, (c, p) in enumerate(opts):
            if (s.stake, c, p) not in vector:
                vector[s.stake, c, p] = linear_payout(st, held_exposures(
                    refs[c].model, refs[c].side, regime.as_dict(p), s.stake))
            V[i] = vector[s.stake, c, p]
        pen = np.array([change_penalty * is_changed(s, Choice(refs[c], p)) if change_penalty else 0.0
                        for c, p in opts])
        choices.append(opts)
        vectors.append(V)
        penalties.append(pen)
    return _Options(choices, vectors, penalties)


def plan_value(pb: SlotProblem, plan) -> float:
    """NMR per round: mean |P_plan − P_target| over the window plus change penalties, of a fixed-stake plan
    given as (candidate, combination) per slot; a per-round or an exposure problem is refused."""
    if pb.objective is not KEY or pb.per_round is not None or pb.streams is None:
        raise OptimizationError("the tracking objective evaluated on a problem without tracking streams or "
                                "with per-round stakes")
    refs, regime = pb.refs, pb.regime
    pay = linear_payout(pb.streams, [e for s, (c, p) in zip(pb.slots, plan) for e in held_exposures(
        refs[c].model, refs[c].side, regime.as_dict(p), s.stake)])
    pen = pb.change_penalty * sum(is_changed(s, Choice(refs[c], p)) for s, (c, p) in zip(pb.slots, plan))
    return float(np.mean(np.abs(pay - target_payout(pb.streams, pb.targets)))) + pen


def _objective(resid: np.ndarray, pen: float) -> float:
    # sum / T, not np.mean: the same float (one reduction, one division), without np.mean's overhead in the
    # local search's inner loop
    return float(np.abs(resid).sum()) / len(resid) + pen


def _local(opt: _Options, g: np.ndarray, pick: list[int], deadline: float) -> list[int]:
    """Single-slot moves and pairwise swaps of options until none improves (or the deadline)."""
    S = len(pick)
    index = [{ch: i for i, ch in reversed(list(enumerate(chs)))} for chs in opt.choices]  # first of equals
    resid = -g + sum(opt.vectors[j][pick[j]] for j in range(S))
    for _ in range(100):
        improved = False
        for j in range(S):
            if time.perf_counter() > deadline:
                return pick
            rest = resid - opt.vectors[j][pick[j]]
            scores = np.abs(rest[None, :] + opt.vectors[j]).sum(axis=1) / len(rest) + opt.penalties[j]
            best = int(np.argmin(scores))  # first of equals: options are in a fixed order
            if scores[best] < scores[pick[j]] - ROUNDING:
                pick[j] = best
                improved = True
            resid = rest + opt.vectors[j][pick[j]]
        for a in range(S):
            if time.perf_counter() > deadline:
                return pick
            first = a + 1
            while first < S:
                # Swap the (candidate, combination) choices of slots a and b where both may take them: every b
                # from `first` on at once, the first that improves taken (the order of a pair-by-pair scan; the
                # same floats: the same operations in the same order, row by row)
                ca = opt.choices[a][pick[a]]
                pairs = []  # (b, a's index of b's choice, b's index of a's choice)
                for b in range(first, S):
                    cb = opt.choices[b][pick[b]]
                    if cb != ca and cb in index[a] and ca in index[b]:
                        pairs.append((b, index[a][cb], index[b][ca]))
                if not pairs:
                    break
                Va = opt.vectors[a]
                new = (((resid - Va[pick[a]])[None, :] - np.array([opt.vectors[b][pick[b]] for b, _, _ in pairs]))
                       + Va[[ia for _, ia, _ in pairs]]) + np.array([opt.vectors[b][ib] for b, _, ib in pairs])
                after = np.abs(new).sum(axis=1) / len(resid)
                here = float(np.abs(resid).sum()) / len(resid)
                for i, (b, ia, ib) in enumerate(pairs):
                    before = here + (opt.penalties[a][pick[a]] + opt.penalties[b][pick[b]])
                    if float(after[i]) + (opt.penalties[a][ia] + opt.penalties[b][ib]) < before - ROUNDING:
                        pick[a], pick[b], resid = ia, ib, new[i]
                        improved = True
                        first = b + 1
                        break
                else:
                    break
        if not improved:
            break
    return pick


def _pairs(opt: _Options, g: np.ndarray, pick: list[int], deadline: float, work: int) -> tuple[list[int], bool]:
    """Every pair of slots re-assigned jointly and exactly (all their option pairs at once, numpy), where
    options(a) × options(b) × rounds is at most `work`."""
    S, T = len(pick), len(g)
    resid = -g + sum(opt.vectors[j][pick[j]] for j in range(S))
    improved = False
    buf = np.empty(0)
    for a in range(S):
        for b in range(a + 1, S):
            Va, Vb = opt.vectors[a], opt.vectors[b]
            if Va.shape[0] * Vb.shape[0] * T > work:
                continue
            if time.perf_counter() > deadline:
                return pick, improved
            rest = resid - Va[pick[a]] - Vb[pick[b]]
            # one buffer, in place: the same floats as mean(|rest + Va + Vb|), without three temporaries of
            # options(a) × options(b) × rounds (measured: about 10 % of the greedy's time on the example)
            if buf.size < Va.shape[0] * Vb.shape[0] * T:
                buf = np.empty(Va.shape[0] * Vb.shape[0] * T)
            both = buf[:Va.shape[0] * Vb.shape[0] * T].reshape(Va.shape[0], Vb.shape[0], T)
            np.add((rest[None, :] + Va)[:, None, :], Vb[None, :, :], out=both)
            np.abs(both, out=both)
            cost = (both.sum(axis=2) / T + opt.penalties[a][:, None] + opt.penalties[b][None, :])
            ia, ib = np.unravel_index(int(np.argmin(cost)), cost.shape)  # first of equals: a fixed order
            if cost[ia, ib] < cost[pick[a], pick[b]] - ROUNDING:
                pick[a], pick[b] = int(ia), int(ib)
                improved = True
            resid = rest + Va[pick[a]] + Vb[pick[b]]
    return pick, improved


def _improve(opt: _Options, g: np.ndarray, pick: list[int], deadline: float, pair_work: int) -> list[int]:
    """Local search, then joint re-assignment of pairs, repeated until neither improves (or the deadline)."""
    while True:
        pick = _local(opt, g, pick, deadline)
        pick, improved = _pairs(opt, g, pick, deadline, pair_work)
        if not improved or time.perf_counter() > deadline:
            return pick


def _greedy(opt: _Options, g: np.ndarray, stakes: list[float], deadline: float, starts: int, noise: float,
            pair_work: int) -> list[int]:
    """Best of `starts` greedy constructions, each improved by local search and pair moves. The tracking
    landscape is rugged (on the example fleet the best plan differs from the stake-ordered greedy's local
    optimum in every slot), so several seeded starts; a fixed count, so a run repeats exactly unless the
    deadline cuts it short."""
    S = len(stakes)
    rng = np.random.default_rng(20261130)
    scale = noise * float(np.mean(np.abs(g))) if len(g) else 0.0
    best: tuple[float, list[int]] | None = None
    for start in range(starts):
        if start and time.perf_counter() > deadline:
            break
        order = sorted(range(S), key=lambda j: (-stakes[j], j)) if start == 0 else rng.permutation(S).tolist()
        pick = [0] * S
        resid = -g.copy()
        for j in order:
            scores = np.mean(np.abs(resid[None, :] + opt.vectors[j]), axis=1) + opt.penalties[j]
            if start:
                scores = scores + rng.exponential(scale, size=len(scores))
            pick[j] = int(np.argmin(scores))
            resid = resid + opt.vectors[j][pick[j]]
        pick = _improve(opt, g, pick, deadline, pair_work)
        value = _objective(-g + sum(opt.vectors[j][pick[j]] for j in range(S)),
                           float(sum(opt.penalties[j][pick[j]] for j in range(S))))
        if best is None or value < best[0] - ROUNDING:
            best = (value, pick)
    assert best is not None
    return best[1]


def _mip(opt: _Options, g: np.ndarray, groups, ncombo: int, solver: SolverName, time_limit: float,
         warm: list[int] | None, grace: float) -> tuple[list[int] | None, float, str, bool]:
    """The compact tracking program; (option index per slot or None, bound, solver's status, said optimal)."""
    import pulp

    deadline = time.perf_counter() + time_limit
    S, T = len(opt.vectors), len(g)
    prob = pulp.LpProblem("tracking", pulp.LpMinimize)
    x = [[pulp.LpVariable(f"x_{j}_{i}", cat="Binary") for i in range(len(opt.choices[j]))] for j in range(S)]
    for j in range(S):
        prob += pulp.lpSum(x[j]) == 1, f"one_choice_{j}"
    hi = sum(V.max(axis=0) for V in opt.vectors) - g  # the largest and smallest residual each round can take
    lo = sum(V.min(axis=0) for V in opt.vectors) - g
    terms = []
    for t in range(T):
        z = pulp.LpVariable(f"abs_{t}", lowBound=0, upBound=max(float(hi[t]), float(-lo[t]), 0.0))
        expr = pulp.LpAffineExpression([(x[j][i], float(opt.vectors[j][i, t])) for j in range(S)
                                        for i in range(len(x[j])) if opt.vectors[j][i, t] != 0.0])
        prob += z >= expr - float(g[t]), f"over_{t}"
        prob += z >= float(g[t]) - expr, f"under_{t}"
        terms += [(z, 1.0 / T)]
    terms += [(x[j][i], float(opt.penalties[j][i])) for j in range(S) for i in range(len(x[j]))
              if opt.penalties[j][i]]
    prob += pulp.LpAffineExpression(terms)
    options = [list(zip(opt.choices[j], x[j])) for j in range(S)]
    symmetry_rows(prob, groups, options, ncombo)
    warm_start(options, None if warm is None else [opt.choices[j][i] for j, i in enumerate(warm)], solver)
    bound, status_text, said_optimal, sol_ok = run(prob, solver, deadline, warm=warm is not None, grace=grace)
    bound = bound if math.isfinite(bound) else 0.0
    if not sol_ok:
        return None, bound, status_text, False
    return [max(range(len(x[j])), key=lambda i: x[j][i].value() or 0.0) for j in range(S)], bound, status_text, \
        said_optimal


def _branch_and_bound(pb: SlotProblem, opt: _Options, g: np.ndarray, warm: list[int], deadline: float,
                      by_candidates: bool):
    """The exact search from the warm plan, on the candidates' unit streams (one combination): by candidates
    (`tracking_bc`, where it applies), else slot by slot."""
    refs, regime = pb.refs, pb.regime
    unit = np.array([linear_payout(pb.streams, held_exposures(r.model, r.side, regime.as_dict(0), 1.0))
                     for r in refs]).T
    penalties = []
    for j in range(len(pb.slots)):
        pen = np.zeros(len(refs))
        for (c, _p), v in zip(opt.choices[j], opt.penalties[j]):
            pen[c] = v
        penalties.append(pen)
    start = [opt.choices[j][i][0] for j, i in enumerate(warm)]
    if by_candidates:
        return tracking_bc.search(pb, unit, g, start, deadline)
    return tracking_bb.search(pb, unit, g, penalties, start, deadline)


def solve_tracking(pb: SlotProblem, *, solver: SolverName, time_limit: float, options: SearchOptions) -> SlotPlan:
    """Best plan for the tracking objective; a SlotPlan whose objective is NMR per round."""
    o = options
    slots, refs = pb.slots, pb.refs
    assert pb.streams is not None  # SlotProblem.build checks it
    t0 = time.perf_counter()
    opt = _options(pb)
    g = target_payout(pb.streams, pb.targets)
    size = sum(V.shape[0] for V in opt.vectors) * len(g)
    build = size <= o.tracking_mip_max_nonzeros
    exact_search = tracking_bb.applies(pb) and solver is SolverName.HIGHS and o.tracking_bb
    # Without a program to run, the search has (nearly) the whole time limit, and more starts; before the branch
    # and bound, fewer (it needs a good plan to cut with, not the best one).
    # More slots than candidates: the search by candidates where it applies, after as few starts as the slot-by-slot
    # search (measured on the slot benchmark's 25 × 20: proven in 3.9 s after 32 starts, 3.5 s after 16, 3.2 s
    # after 4, unproven at 10 s after 1); else the MIP gets most of the time (SearchOptions.tracking_bb_share_many),
    # and the greedy all its starts, as without the search.
    many = len(slots) > len(set().union(*map(set, pb.allowed)))
    by_candidates = exact_search and tracking_bc.applies(pb, opt.penalties)
    if not build:
        starts = o.tracking_search_starts
    elif exact_search and (not many or by_candidates):
        starts = o.tracking_bb_starts
    else:
        starts = o.tracking_starts
    heur = _greedy(opt, g, [s.stake for s in slots], t0 + (o.greedy_share if build else 0.9) * time_limit,
                   starts, o.tracking_noise, o.tracking_pair_work)
    ncombo = pb.ncombo
    groups = pb.groups
    # The symmetry rows want interchangeable slots' options in order: reorder the warm plan to match.
    as_cp = pb.order_groups([opt.choices[j][i] for j, i in enumerate(heur)])
    warm = [opt.choices[j].index(cp) for j, cp in enumerate(as_cp)]

    def value(pick: list[int]) -> float:
        resid = -g + sum(opt.vectors[j][pick[j]] for j in range(len(pick)))
        return _objective(resid, float(sum(opt.penalties[j][pick[j]] for j in range(len(pick)))))

    formulation = Formulation.TRACKING
    searched = None
    if exact_search:
        # One combination: the exact branch and bound over the candidates' stakes first (measured several
        # times faster than the MIP on the example); where it does not finish, the MIP gets the rest, from
        # its best plan, and the better of both bounds stands.
        share = o.tracking_bb_share_many if many and build and not by_candidates else o.tracking_bb_share
        searched = _branch_and_bound(pb, opt, g, warm, t0 + share * time_limit, by_candidates)
        # the symmetry rows want interchangeable slots in order: the search keeps them so
        warm = [opt.choices[j].index((c, 0)) for j, c in enumerate(searched.plan)]
    left = time_limit - (time.perf_counter() - t0)
    if searched is not None and searched.finished:
        pick, bound, said_optimal = list(warm), searched.bound, True
        status_text = f"branch and bound: {searched.nodes:,} nodes, {searched.lps:,} LPs (HiGHS), finished"
        formulation = Formulation.BRANCH_AND_BOUND
    elif not build:
        # Building such a program in PuLP alone would outlast the time limit: the searched plan stands, its
        # bound the trivial 0 (status feasible, the whole objective as gap).
        pick, bound, said_optimal = None, 0.0 if searched is None else searched.bound, False
        status_text = f"not built: {size:,} round-constraint coefficients > {o.tracking_mip_max_nonzeros:,}"
    else:
        pick, bound, status_text, said_optimal = _mip(opt, g, groups, ncombo, solver, max(left, 1.0), warm,
                                                      o.solve_grace)
        if searched is not None:
            bound = max(bound, searched.bound)  # both bound the same program
    if searched is not None and not searched.finished:
        status_text += f"; branch and bound stopped after {searched.nodes:,} nodes (bound {searched.bound:.6g})"
    source = PlanSource.SOLVER
    if pick is None or value(warm) < value(pick) - IMPROVEMENT:
        pick, source = warm, PlanSource.HEURISTIC
    choices = [Choice(refs[opt.choices[j][i][0]], opt.choices[j][i][1]) for j, i in enumerate(pick)]
    dev, pen = pb.evaluate(choices)
    info = solver_info(solver, objective=value(pick), bound=bound, said_optimal=said_optimal, t0=t0,
                       solver_status=status_text, source=source, formulation=formulation,
                       objective_kind=KEY, time_limit=time_limit)
    return SlotPlan(choices=tuple(choices), changed=tuple(is_changed(s, c) for s, c in zip(slots, choices)),
                    deviation=dev, penalty=pen, solver=info)


def per_round_rows(pb: SlotProblem, prob, stake_on, start=None):
    """The objective's rows in the per-round program: (objective expression, its constant 0), NMR per round.

    `stake_on`: per option, ((candidate, combination), NMR per unit, the stake variable in units, its funded
    indicator). One z_t ≥ |Σ stake × r_(option)(t) − P_target(t)| per round; with `start` (candidate,
    combination, stake NMR per slot) the z_t take that plan's residuals, for a warm start."""
    import pulp

    st = pb.streams
    assert st is not None
    regime = pb.regime
    T = len(st.rounds)
    goal = target_payout(st, pb.targets)
    vec = {(c, p): linear_payout(st, held_exposures(pb.refs[c].model, pb.refs[c].side, regime.as_dict(p), 1.0))
           for c in range(len(pb.refs)) for p in range(len(regime.combinations))}
    z = [pulp.LpVariable(f"z_{t}", 0) for t in range(T)]
    terms = [(coef * vec[cp], var) for cp, coef, var, _fund in stake_on]
    for t in range(T):
        expr = pulp.lpSum(float(w[t]) * var for w, var in terms if w[t] != 0)
        prob += z[t] >= expr - float(goal[t])
        prob += z[t] >= float(goal[t]) - expr
    if start is not None:
        resid = -goal
        for c, p, sv in start:
            resid = resid + sv * vec[c, p]
        for t in range(T):
            z[t].varValue = abs(float(resid[t]))
    return pulp.lpSum(z) * (1.0 / T), 0.0


def relax_and_fix(pb: SlotProblem) -> list[tuple[int, int, float]] | None:
    """A tracking plan for the plain case (one combination, interchangeable slots whose cap covers the budget,
    no pins, minimum or change penalty): the continuous L1 fit of the target payout over candidate totals,
    the n largest kept, the fit again on those, rounded to the grid by largest remainder. None elsewhere."""
    from scipy.optimize import linprog

    pr = pb.per_round
    st = pb.streams
    assert pr is not None and st is not None
    n, N = len(pb.slots), pr.units(pr.budget)
    combos = [p for p in range(len(pb.regime.combinations)) if p != pb.zero]
    if (len(combos) != 1 or pb.change_penalty > 0 or pr.min_stake > 0 or len(set(pb.allowed)) != 1
            or any(s.pin is not None for s in pb.slots) or any(pr.units(c) < N for c in pr.caps)):
        return None
    p0, cands = combos[0], list(pb.allowed[0])
    R = np.array([linear_payout(st, held_exposures(pb.refs[c].model, pb.refs[c].side, pb.regime.as_dict(p0), 1.0))
                  for c in cands]).T
    g = target_payout(st, pb.targets)
    T = len(g)

    def fit(cols: list[int]) -> np.ndarray:
        k = len(cols)
        A = R[:, cols]
        # variables: totals (k), then z (T); z ≥ ±(A·S − g); Σ S = B
        A_ub = np.block([[A, -np.eye(T)], [-A, -np.eye(T)]])
        b_ub = np.concatenate([g, -g])
        res = linprog(np.concatenate([np.zeros(k), np.full(T, 1.0 / T)]), A_ub=A_ub, b_ub=b_ub,
                      A_eq=np.concatenate([np.ones(k), np.zeros(T)])[None, :], b_eq=[pr.budget],
                      bounds=[(0, pr.budget)] * k + [(0, None)] * T, method="highs")
        return res.x[:k] if res.status == 0 else np.zeros(k)

    S = fit(list(range(len(cands))))
    keep = sorted(sorted(range(len(cands)), key=lambda i: (-S[i], i))[:n])
    S = fit(keep) / pr.step
    units = np.floor(S).astype(int)
    for i in sorted(range(len(keep)), key=lambda i: (-(S[i] - units[i]), i))[:N - int(units.sum())]:
        units[i] += 1
    if units.sum() != N:
        return None
    plan = [(pb.idle[j], p0, 0.0) for j in range(n)]
    for j, (i, su) in enumerate((i, su) for i, su in zip(keep, units) if su > 0):
        plan[j] = (cands[i], p0, su * pr.step)
    return plan
