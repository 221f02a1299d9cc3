"""The tracking objective: a slot plan whose per-round payout follows the target portfolio's.

    minimise  (1/T) Σ_t |P_plan(t) − P_target(t)|  +  change_penalty · #changed slots   (NMR per round)

over the window's rounds t (those the HRP weights were fitted on, after the missing-data policy), with
the linear payout P(t) = Σ_(model, side, score) exposure × score(t) (unclipped, without payout factor;
a short side's score negated; a missing score counts as 0). Unlike the nominal L1 of exposures, this
lets a correlated instrument carry an uncovered one's target at little cost.

Solving: the candidates are the exposure objective's. Every slot j has options o = (candidate,
combination), each a per-round payout vector V_j[o] = s_j · Σ_k p_k · r_(c,k) (NMR). A greedy plan
(largest stake first) is improved by local search (single-slot moves, then swaps of two slots' options)
on the residual P_plan − P_target, all options of a slot scored at once with numpy. The compact MIP
(one binary per slot × option, exactly one per slot, one bounded pair e⁺_t, e⁻_t per round,
interchangeable slots ordered) is then solved by the named solver from that plan (HiGHS) within the
time limit; the reported plan is the better of the two, with the solver's bound and the same
optimal / feasible rule as the exposure objective.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import SolverName
from .errors import OptimizationError
from .regimes import Regime
from .targets import Target


@dataclass(frozen=True)
class Streams:
    """Per-round scores of every (model, score) over the window's rounds, NaN counted as 0.

    `values[(model, score)]`: shape (T,), the long side's score; the short side is its negative."""

    rounds: tuple[int, ...]
    values: dict[tuple[str, str], np.ndarray]

    def signed(self, model: str, side: str, score: str) -> np.ndarray:
        v = self.values.get((model, score))
        if v is None:
            return np.zeros(len(self.rounds))
        return -v if side == "short" else v


def streams(table: pd.DataFrame, rounds: list[int], models: tuple[str, ...], regime: Regime) -> Streams:
    """The window's scores from a score table whose scores carry the regime's names (`scores.payout_table`)."""
    rows = table[table["model"].isin(models) & table["score"].isin(regime.scores) & table["round"].isin(rounds)]
    values = {}
    for k in regime.scores:
        wide = rows[rows["score"] == k].pivot(index="round", columns="model", values="value").reindex(
            index=list(rounds), columns=list(models))
        for m in models:
            values[(m, k)] = np.nan_to_num(wide[m].to_numpy(dtype=float), nan=0.0)
    return Streams(tuple(int(r) for r in rounds), values)


def target_payout(st: Streams, targets: tuple[Target, ...]) -> np.ndarray:
    """P_target(t), NMR per round: Σ target × signed score."""
    out = np.zeros(len(st.rounds))
    for t in sorted(targets, key=lambda t: (t.model, t.side, t.score)):  # a fixed order of summation
        out = out + t.target * st.signed(t.model, t.side, t.score)
    return out


def plan_payout(st: Streams, held: list[tuple[str, str, dict[str, float], float]]) -> np.ndarray:
    """P_plan(t), NMR per round, for slots given as (model, side, multipliers by score, stake)."""
    out = np.zeros(len(st.rounds))
    for model, side, mults, stake in held:
        for k in sorted(mults):
            if mults[k]:
                out = out + stake * mults[k] * st.signed(model, side, k)
    return out


def tracking_error(plan: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute per-round difference, NMR per round."""
    return float(np.mean(np.abs(plan - target))) if len(plan) else 0.0


# --- solving ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """Each slot's options (candidate index, combination) and their payout vectors, rows × T."""

    choices: list[list[tuple[int, int]]]
    vectors: list[np.ndarray]
    penalties: list[np.ndarray]  # change penalty of each option


def _options(slots, refs, allowed, idle, regime: Regime, st: Streams, change_penalty: float) -> _Options:
    from .slots import Choice, is_changed

    zero = regime.zero_combination()
    base = {(c, k): st.signed(refs[c].model, refs[c].side, regime.scores[k])
            for c in range(len(refs)) for k in range(len(regime.scores))}
    choices, vectors, penalties = [], [], []
    for j, s in enumerate(slots):
        opts = [(c, p) for c in allowed[j] for p in range(len(regime.combinations)) if p != zero or c == idle[j]]
        V = np.zeros((len(opts), len(st.rounds)))
        for i, (c, p) in enumerate(opts):
            for k, m in enumerate(regime.combinations[p]):
                if m:
                    V[i] += s.stake * m * base[c, k]
        pen = np.array([change_penalty * is_changed(s, Choice(refs[c], p)) if change_penalty else 0.0
                        for c, p in opts])
        choices.append(opts)
        vectors.append(V)
        penalties.append(pen)
    return _Options(choices, vectors, penalties)


def _objective(resid: np.ndarray, pen: float) -> float:
    return float(np.mean(np.abs(resid))) + pen


def _local(opt: _Options, g: np.ndarray, pick: list[int], deadline: float) -> list[int]:
    """Single-slot moves and pairwise swaps of options until none improves (or the deadline)."""
    S = len(pick)
    resid = -g + sum(opt.vectors[j][pick[j]] for j in range(S))
    for _ in range(100):
        improved = False
        for j in range(S):
            if time.perf_counter() > deadline:
                return pick
            rest = resid - opt.vectors[j][pick[j]]
            scores = np.mean(np.abs(rest[None, :] + opt.vectors[j]), axis=1) + opt.penalties[j]
            best = int(np.argmin(scores))  # first of equals: options are in a fixed order
            if scores[best] < scores[pick[j]] - 1e-12:
                pick[j] = best
                improved = True
            resid = rest + opt.vectors[j][pick[j]]
        for a in range(S):
            for b in range(a + 1, S):
                if time.perf_counter() > deadline:
                    return pick
                # swap the (candidate, combination) choices of slots a and b where both may take them
                ca, cb = opt.choices[a][pick[a]], opt.choices[b][pick[b]]
                if ca == cb or cb not in opt.choices[a] or ca not in opt.choices[b]:
                    continue
                ia, ib = opt.choices[a].index(cb), opt.choices[b].index(ca)
                new = resid - opt.vectors[a][pick[a]] - opt.vectors[b][pick[b]] + opt.vectors[a][ia] + opt.vectors[b][ib]
                before = _objective(resid, opt.penalties[a][pick[a]] + opt.penalties[b][pick[b]])
                after = _objective(new, opt.penalties[a][ia] + opt.penalties[b][ib])
                if after < before - 1e-12:
                    pick[a], pick[b], resid = ia, ib, new
                    improved = True
        if not improved:
            break
    return pick


PAIR_WORK = 2_000_000  # options(a) × options(b) × rounds above which a pair is not re-solved jointly


def _pairs(opt: _Options, g: np.ndarray, pick: list[int], deadline: float) -> tuple[list[int], bool]:
    """Every pair of slots re-assigned jointly and exactly (all their option pairs at once, numpy)."""
    S = len(pick)
    resid = -g + sum(opt.vectors[j][pick[j]] for j in range(S))
    improved = False
    for a in range(S):
        for b in range(a + 1, S):
            Va, Vb = opt.vectors[a], opt.vectors[b]
            if Va.shape[0] * Vb.shape[0] * len(g) > PAIR_WORK:
                continue
            if time.perf_counter() > deadline:
                return pick, improved
            rest = resid - Va[pick[a]] - Vb[pick[b]]
            cost = (np.mean(np.abs(rest[None, None, :] + Va[:, None, :] + Vb[None, :, :]), axis=2)
                    + opt.penalties[a][:, None] + opt.penalties[b][None, :])
            ia, ib = np.unravel_index(int(np.argmin(cost)), cost.shape)  # first of equals: a fixed order
            if cost[ia, ib] < cost[pick[a], pick[b]] - 1e-12:
                pick[a], pick[b] = int(ia), int(ib)
                improved = True
            resid = rest + Va[pick[a]] + Vb[pick[b]]
    return pick, improved


def _improve(opt: _Options, g: np.ndarray, pick: list[int], deadline: float) -> list[int]:
    """Local search, then joint re-assignment of pairs, repeated until neither improves (or the deadline)."""
    while True:
        pick = _local(opt, g, pick, deadline)
        pick, improved = _pairs(opt, g, pick, deadline)
        if not improved or time.perf_counter() > deadline:
            return pick


MIP_MAX_NONZEROS = 150_000  # options × rounds above which the MIP is not built (measured: PuLP's build time)
SEARCH_STARTS = 2000  # starts when the MIP is not built: as many as 90 % of the time limit allows
STARTS = 32  # greedy starts: the first by stake, the others in seeded random orders with seeded noise
NOISE = 0.002  # the noise's scale, as a share of the target portfolio's mean absolute payout per round


def _greedy(opt: _Options, g: np.ndarray, stakes: list[float], deadline: float, starts: int = STARTS) -> list[int]:
    """Best of STARTS greedy constructions, each improved by local search and pair moves. The tracking
    landscape is rugged (on the example fleet the best plan differs from the stake-ordered greedy's local
    optimum in every slot), so several seeded starts; a fixed count, so a run repeats exactly unless the
    deadline cuts it short."""
    S = len(stakes)
    rng = np.random.default_rng(20261130)
    scale = NOISE * float(np.mean(np.abs(g))) if len(g) else 0.0
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
        pick = _improve(opt, g, pick, deadline)
        value = _objective(-g + sum(opt.vectors[j][pick[j]] for j in range(S)),
                           float(sum(opt.penalties[j][pick[j]] for j in range(S))))
        if best is None or value < best[0] - 1e-12:
            best = (value, pick)
    assert best is not None
    return best[1]


def _mip(opt: _Options, g: np.ndarray, groups, ncombo: int, solver: SolverName, time_limit: float,
         warm: list[int] | None) -> tuple[list[int] | None, float, str, bool]:
    import pulp

    from .slots import _run

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
    for grp in groups:  # interchangeable slots: their options in non-decreasing order
        for a, b in zip(grp, grp[1:]):
            ka = pulp.LpAffineExpression([(v, c * ncombo + p) for v, (c, p) in zip(x[a], opt.choices[a])])
            kb = pulp.LpAffineExpression([(v, c * ncombo + p) for v, (c, p) in zip(x[b], opt.choices[b])])
            prob += ka <= kb, f"sym_{a}_{b}"
    if warm is not None and solver is SolverName.HIGHS:
        for j in range(S):
            for i, v in enumerate(x[j]):
                v.setInitialValue(1 if i == warm[j] else 0)
    bound, status_text, said_optimal, sol_ok = _run(prob, solver, deadline, warm is not None)
    bound = bound if math.isfinite(bound) else 0.0
    if not sol_ok:
        return None, bound, status_text, False
    return [max(range(len(x[j])), key=lambda i: x[j][i].value() or 0.0) for j in range(S)], bound, status_text, \
        said_optimal


def solve(slots, targets: tuple[Target, ...], regime: Regime, models: tuple[str, ...], st: Streams, *,
          solver: SolverName = SolverName.HIGHS, time_limit: float = 60.0, change_penalty: float = 0.0):
    """Best plan for the tracking objective; a `slots.SlotPlan` whose objective is NMR per round."""
    from .slots import (ABS_GAP, GREEDY_SHARE, REL_GAP, Choice, SlotPlan, SolverInfo, _order_groups,
                        _symmetry_groups, candidates, evaluate, is_changed)

    if not st.rounds:
        raise OptimizationError("the tracking objective needs the window's rounds; none were given")
    t0 = time.perf_counter()
    refs, allowed, idle = candidates(slots, targets, models, change_penalty)
    opt = _options(slots, refs, allowed, idle, regime, st, change_penalty)
    g = target_payout(st, targets)
    size = sum(V.shape[0] for V in opt.vectors) * len(g)
    build = size <= MIP_MAX_NONZEROS
    # Without a program to run, the search has (nearly) the whole time limit, and more starts.
    heur = _greedy(opt, g, [s.stake for s in slots], t0 + (GREEDY_SHARE if build else 0.9) * time_limit,
                   STARTS if build else SEARCH_STARTS)
    ncombo = len(regime.combinations)
    groups = _symmetry_groups(slots, allowed, change_penalty)
    # The symmetry rows want interchangeable slots' options in order: reorder the warm plan to match.
    as_cp = _order_groups([opt.choices[j][i] for j, i in enumerate(heur)], groups, ncombo)
    warm = [opt.choices[j].index(cp) for j, cp in enumerate(as_cp)]

    def value(pick: list[int]) -> float:
        resid = -g + sum(opt.vectors[j][pick[j]] for j in range(len(pick)))
        return _objective(resid, float(sum(opt.penalties[j][pick[j]] for j in range(len(pick)))))

    left = time_limit - (time.perf_counter() - t0)
    if not build:
        # Building such a program in PuLP alone would outlast the time limit: the searched plan stands, its
        # bound the trivial 0 (status feasible, the whole objective as gap).
        pick, bound, said_optimal = None, 0.0, False
        status_text = f"not built: {size:,} round-constraint coefficients > {MIP_MAX_NONZEROS:,}"
    else:
        pick, bound, status_text, said_optimal = _mip(opt, g, groups, ncombo, solver, max(left, 1.0), warm)
    source = "solver"
    if pick is None or value(warm) < value(pick) - 1e-9:
        pick, source = warm, "heuristic"
    choices = [Choice(refs[opt.choices[j][i][0]], opt.choices[j][i][1]) for j, i in enumerate(pick)]
    objective = value(pick)
    bound = min(bound, objective)
    gap = max(objective - bound, 0.0)
    proven = said_optimal and gap <= max(ABS_GAP, REL_GAP * objective)
    dev, pen = evaluate(slots, choices, targets, regime, change_penalty)
    info = SolverInfo(name=solver.value, status="optimal" if proven else "feasible", objective=objective,
                      bound=bound, gap=gap, seconds=time.perf_counter() - t0, solver_status=status_text, source=source,
                      formulation="tracking", objective_kind="tracking")
    return SlotPlan(choices=tuple(choices), changed=tuple(is_changed(s, c) for s, c in zip(slots, choices)),
                    deviation=dev, penalty=pen, solver=info)
