"""The slot program: give every staking slot one (model, side) and one allowed
multiplier combination so the achieved exposures come as close to the targets as possible.

    minimise  Σ_(model,side,score) |achieved − target|  +  change_penalty · #changed slots   (NMR)

Two formulations, both solved by the named PuLP solver with explicit gap tolerances:

- Set partitioning (`_solve_partition`, partition.py) for small fleets (up to 10 slots) in separable
  regimes (classic-2023, classic-2024, custom products): one column per (candidate, group of slots) with
  the group's exact best multipliers. A subset DP over the columns finds the optimum in milliseconds and
  is the starting plan; the solver proves it on the columns that survive a per-column floor.
- Compact (`_solve_pulp`) otherwise: one binary w[j,c,p] per slot j, candidate c = (model, side) and
  allowed combination p, exactly one per slot; achieved exposure A[c,k] = Σ_j,p s_j·p_k·w[j,c,p]; |A − t|
  through bounded over/under variables. Only candidates with a positive target (plus pins, and currents
  when a change penalty is set) enter, and the all-zero combination (an idle slot) exists once per slot,
  with the slot's idle candidate. Interchangeable slots (equal stake, same constraints) are ordered by
  (candidate, combination) index to break symmetry. Measured and dropped (benchmarks/README.md): separate
  model and combination binaries (a much weaker relaxation) and chord cuts through the nearest reachable
  exposures around each target (slower proofs on 9 of 10 instances).

Time limit T with the compact program: greedy + local search (at most 0.2 T); below LNS_MIN_SLOTS slots,
the full program with the rest. From LNS_MIN_SLOTS slots on: a first attempt at the full program
(0.15 T, up to PROBE_MAX_BINARIES); unless that proves the optimum, a large-neighbourhood search that
re-solves small sub-problems exactly (the column DP in separable regimes, the compact program otherwise;
until 0.55 T or no neighbourhood improves), then the full program again with the rest, HiGHS started
from the searched plan (CBC gets no starting plan: with one it claimed false optima). The heuristic plan
is also the fallback, so the result is never worse than it.

Ties between equally good plans are broken by the solver on a model built in a fixed order (slots as
in the fleet file, candidates in target order) plus the symmetry ordering, from a starting plan chosen
by a fixed rule; objectives are summed in a fixed order, so rounding does not depend on PYTHONHASHSEED.
Both solvers are deterministic for a fixed model, so the same inputs give the same plan when it is proven
optimal. A plan that stops at the time limit (status `feasible`) depends on how far the search got, so
on machine speed.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass

from .config import Ref, SolverName
from .errors import OptimizationError
from .regimes import Regime
from .targets import Target

ABS_GAP = 0.01  # NMR
REL_GAP = 1e-4


@dataclass(frozen=True)
class SlotInput:
    name: str
    stake: float  # NMR
    current: Ref | None = None
    current_combo: int | None = None  # index into regime.combinations
    pin: Ref | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    ref: Ref
    combo: int  # index into regime.combinations


@dataclass(frozen=True)
class SolverInfo:
    name: str
    status: str  # optimal | feasible (no plan at all is an OptimizationError, exit 4)
    objective: float  # NMR (deviation + change penalties), recomputed from the plan
    bound: float  # NMR, best lower bound proven by the solver
    gap: float  # objective − bound, NMR
    seconds: float
    solver_status: str  # what the solver itself said
    source: str  # "solver" | "dp" (the exact subset DP, no solver call) | "heuristic" (greedy + local +
    # neighbourhood search found the better plan)
    formulation: str = "compact"  # "partition" (exact set partitioning, small fleets) | "compact" | "tracking"
    objective_kind: str = "exposure"  # "exposure": NMR of Σ|achieved − target|; "tracking": NMR per round


@dataclass(frozen=True)
class SlotPlan:
    choices: tuple[Choice, ...]  # one per slot, in input order
    changed: tuple[bool, ...]  # differs from the slot's current (model, side, multipliers)
    deviation: float  # Σ |achieved − target|, NMR
    penalty: float  # change_penalty × changed slots, NMR
    solver: SolverInfo


# --- evaluation ----------------------------------------------------------------


def is_changed(slot: SlotInput, choice: Choice) -> bool:
    """A slot is unchanged when it keeps its current (model, side) and, where known, its multipliers."""
    if slot.current is None:
        return True
    if choice.ref != slot.current:
        return True
    return slot.current_combo is not None and choice.combo != slot.current_combo


def achieved(slots: list[SlotInput], choices: list[Choice], regime: Regime) -> dict[tuple[str, str, str], float]:
    """Exposure (NMR) per (model, side, score): Σ over slots of stake × multiplier."""
    out: dict[tuple[str, str, str], float] = {}
    for s, c in zip(slots, choices):
        for k, p in zip(regime.scores, regime.combinations[c.combo]):
            if p:
                key = (c.ref.model, c.ref.side, k)
                out[key] = out.get(key, 0.0) + s.stake * p
    return out


def evaluate(slots: list[SlotInput], choices: list[Choice], targets: tuple[Target, ...], regime: Regime,
             change_penalty: float) -> tuple[float, float]:
    """(deviation, penalty) of a plan, in NMR."""
    ach = achieved(slots, choices, regime)
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    # Summed in sorted key order: a set's order depends on PYTHONHASHSEED, and so would the last bits of
    # the sum, which decide between plans that tie (measured: 16 of 100 backtest plans differed by run).
    dev = sum(abs(ach.get(key, 0.0) - tg.get(key, 0.0)) for key in sorted(set(ach) | set(tg)))
    pen = change_penalty * sum(is_changed(s, c) for s, c in zip(slots, choices))
    return dev, pen


# --- candidates ------------------------------------------------------------------


def candidates(slots: list[SlotInput], targets: tuple[Target, ...], models: tuple[str, ...],
               change_penalty: float) -> tuple[list[Ref], list[list[int]], list[int]]:
    """(candidate refs, allowed candidate indices per slot, idle candidate per slot)."""
    refs: list[Ref] = []
    for t in targets:
        r = Ref(t.model, t.side)
        if t.target > 0 and r not in refs:
            refs.append(r)
    for s in slots:
        for r in (s.pin, s.current if change_penalty > 0 else None):
            if r is not None and r not in refs:
                refs.append(r)
    allowed: list[list[int]] = []
    idle: list[int] = []
    for s in slots:
        if s.pin is not None:
            a = [refs.index(s.pin)]
        else:
            a = [i for i, r in enumerate(refs) if r.model not in s.exclude]
            if not a:
                # Every target model is excluded for this slot: it must still submit something.
                fallback = Ref(next(m for m in models if m not in s.exclude), "long")
                if fallback not in refs:
                    refs.append(fallback)
                a = [refs.index(fallback)]
        allowed.append(a)
        # An idle slot (all-zero multipliers) keeps its current model when it may, else its first option.
        idle.append(refs.index(s.current) if s.current in refs and refs.index(s.current) in a else a[0])
    return refs, allowed, idle


# --- greedy + local search ---------------------------------------------------------


class _State:
    """Incremental objective for greedy and local search."""

    def __init__(self, slots, refs, regime, targets, change_penalty):
        self.slots, self.refs, self.regime, self.lam = slots, refs, regime, change_penalty
        self.t = {(t.model, t.side, t.score): t.target for t in targets}
        self.a: dict[tuple[str, str, str], float] = {}
        self.vec = [[(k, p) for k, p in zip(regime.scores, c) if p] for c in regime.combinations]

    def _delta(self, j: int, c: int, p: int, sign: float, a: dict) -> float:
        s = self.slots[j].stake
        ref = self.refs[c]
        d = 0.0
        for k, m in self.vec[p]:
            key = (ref.model, ref.side, k)
            t = self.t.get(key, 0.0)
            cur = a.get(key, 0.0)
            d += abs(cur + sign * s * m - t) - abs(cur - t)
        return d

    def apply(self, j: int, c: int, p: int, sign: float) -> None:
        s = self.slots[j].stake
        ref = self.refs[c]
        for k, m in self.vec[p]:
            key = (ref.model, ref.side, k)
            self.a[key] = self.a.get(key, 0.0) + sign * s * m

    def pen(self, j: int, c: int, p: int) -> float:
        return self.lam * is_changed(self.slots[j], Choice(self.refs[c], p)) if self.lam else 0.0


def greedy(slots, refs, allowed, idle, regime, targets, change_penalty,
           deadline: float = math.inf) -> list[tuple[int, int]]:
    """Largest stake first, each slot to the move that lowers the objective most; then local search
    (single-slot moves and swaps) until no move improves or `deadline` (time.perf_counter()) passes."""
    st = _State(slots, refs, regime, targets, change_penalty)
    zero = regime.zero_combination()
    plan: list[tuple[int, int] | None] = [None] * len(slots)
    for j in sorted(range(len(slots)), key=lambda j: (-slots[j].stake, j)):
        best = None
        for c in allowed[j]:
            for p in range(len(regime.combinations)):
                if p == zero and c != idle[j]:
                    continue
                v = st._delta(j, c, p, +1, st.a) + st.pen(j, c, p)
                if best is None or v < best[0] - 1e-12:
                    best = (v, c, p)
        assert best is not None
        plan[j] = (best[1], best[2])
        st.apply(j, best[1], best[2], +1)
    return _local_search(st, plan, allowed, idle, zero, deadline)  # type: ignore[arg-type]


def _local_search(st: _State, plan: list[tuple[int, int]], allowed, idle, zero,
                  deadline: float = math.inf) -> list[tuple[int, int]]:
    n = len(plan)
    ncombo = len(st.regime.combinations)
    for _ in range(200):
        if time.perf_counter() > deadline:
            break
        improved = False
        for j in range(n):  # single-slot moves
            c0, p0 = plan[j]
            st.apply(j, c0, p0, -1)
            base = st._delta(j, c0, p0, +1, st.a) + st.pen(j, c0, p0)
            best = (base, c0, p0)
            for c in allowed[j]:
                for p in range(ncombo):
                    if p == zero and c != idle[j]:
                        continue
                    v = st._delta(j, c, p, +1, st.a) + st.pen(j, c, p)
                    if v < best[0] - 1e-9:
                        best = (v, c, p)
            plan[j] = (best[1], best[2])
            st.apply(j, best[1], best[2], +1)
            improved |= (best[1], best[2]) != (c0, p0)
        for i in range(n):  # swap the choices of two slots
            for j in range(i + 1, n):
                (ci, pi), (cj, pj) = plan[i], plan[j]
                if (ci, pi) == (cj, pj) or ci not in allowed[j] or cj not in allowed[i]:
                    continue
                if (pj == zero and cj != idle[i]) or (pi == zero and ci != idle[j]):
                    continue
                if st.slots[i].stake == st.slots[j].stake and not st.lam:
                    continue  # swapping equal stakes changes nothing
                # Only the exposures of the two candidates change, so only their deviations are compared.
                keys = [(r.model, r.side, k) for r in (st.refs[ci], st.refs[cj]) for k in st.regime.scores]
                before = _objective(st, keys)
                st.apply(i, ci, pi, -1); st.apply(j, cj, pj, -1)  # noqa: E702
                st.apply(i, cj, pj, +1); st.apply(j, ci, pi, +1)  # noqa: E702
                after = (_objective(st, keys) + st.pen(i, cj, pj) + st.pen(j, ci, pi) - st.pen(i, ci, pi)
                         - st.pen(j, cj, pj))
                if after < before - 1e-9:
                    plan[i], plan[j] = (cj, pj), (ci, pi)
                    improved = True
                else:
                    st.apply(i, cj, pj, -1); st.apply(j, ci, pi, -1)  # noqa: E702
                    st.apply(i, ci, pi, +1); st.apply(j, cj, pj, +1)  # noqa: E702
        if not improved:
            break
    return plan


def _objective(st: _State, keys) -> float:
    """Σ |achieved − target| over `keys` (distinct (model, side, score) triples), NMR."""
    return sum(abs(st.a.get(k, 0.0) - st.t.get(k, 0.0)) for k in dict.fromkeys(keys))  # fixed order


# --- the integer program ----------------------------------------------------------------


def _symmetry_groups(slots: list[SlotInput], allowed, change_penalty) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for j, s in enumerate(slots):
        key = (s.stake, tuple(allowed[j]), s.pin, (s.current, s.current_combo) if change_penalty > 0 else None,
               s.exclude)
        groups.setdefault(key, []).append(j)
    return [g for g in groups.values() if len(g) > 1]


def _order_groups(plan, groups, ncombo):
    """Permute choices inside each group of interchangeable slots to satisfy the symmetry ordering."""
    plan = list(plan)
    for g in groups:
        vals = sorted((plan[j] for j in g), key=lambda cp: cp[0] * ncombo + cp[1])
        for j, v in zip(g, vals):
            plan[j] = v
    return plan


def _solve_pulp(slots, refs, allowed, idle, regime, targets, change_penalty, solver: SolverName,
                time_limit: float, warm: list[tuple[int, int]] | None, groups,
                ) -> tuple[list[tuple[int, int]] | None, float, str, bool]:
    """Build and solve the MIP. Returns (plan or None, bound, solver's own status text, solver says optimal).

    `warm` is handed to HiGHS as a starting plan (CBC ignores it, see `_run`).
    """
    import pulp

    deadline = time.perf_counter() + time_limit
    S, C, P = len(slots), len(refs), len(regime.combinations)
    K = range(len(regime.scores))
    pmax = [max(c[k] for c in regime.combinations) for k in K]
    zero = regime.zero_combination()
    prob = pulp.LpProblem("slots", pulp.LpMinimize)
    # One binary per (slot, candidate, combination); the all-zero combination only with the slot's idle
    # candidate, since an idle slot's model does not matter.
    per_slot: list[list[tuple[int, int, object]]] = []
    for j in range(S):
        per_slot.append([(c, p, pulp.LpVariable(f"w_{j}_{c}_{p}", cat="Binary"))
                         for c in allowed[j] for p in range(P) if p != zero or c == idle[j]])
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    expo: dict[tuple[int, int], list] = {(c, k): [] for c in range(C) for k in K}
    for j in range(S):
        for c, p, v in per_slot[j]:
            for k in K:
                m = regime.combinations[p][k]
                if m:
                    expo[c, k].append((v, slots[j].stake * m))
    for j in range(S):
        prob += pulp.lpSum(v for _, _, v in per_slot[j]) == 1, f"one_choice_{j}"
    dev_terms = []
    total_cap = [sum(sl.stake for sl in slots) * pmax[k] for k in K]
    for c in range(C):
        for k in K:
            key = (refs[c].model, refs[c].side, regime.scores[k])
            t = tg.get(key, 0.0)
            if not expo[c, k] and t == 0:
                continue
            up = pulp.LpVariable(f"over_{c}_{k}", lowBound=0, upBound=max(total_cap[k] - t, 0.0))
            dn = pulp.LpVariable(f"under_{c}_{k}", lowBound=0, upBound=t)
            a_ck = pulp.LpAffineExpression(expo[c, k])
            prob += a_ck - t == up - dn, f"dev_{c}_{k}"
            dev_terms += [up, dn]
    pen_terms = []
    # Penalties every plan pays (slots with no current, or whose current cannot be kept) stay out of the
    # program: PuLP does not hand the objective's constant to the solvers, so the bound they report would
    # lack it (measured: a 3-slot case reported as unproven by exactly one penalty). It is added back below.
    constant = 0.0
    if change_penalty > 0:
        for j, sl in enumerate(slots):
            c0 = refs.index(sl.current) if sl.current in refs else None
            keep = [v for c, p, v in per_slot[j] if c == c0 and (sl.current_combo is None or p == sl.current_combo)]
            if sl.current is None or not keep:
                constant += change_penalty
                continue
            ch = pulp.LpVariable(f"changed_{j}", lowBound=0, upBound=1)
            prob += ch >= 1 - pulp.lpSum(keep), f"chg_{j}"
            pen_terms.append(change_penalty * ch)
    prob += pulp.lpSum(dev_terms) + pulp.lpSum(pen_terms)
    for g in groups:
        for a, b in zip(g, g[1:]):
            ka = pulp.LpAffineExpression([(v, c * P + p) for c, p, v in per_slot[a]])
            kb = pulp.LpAffineExpression([(v, c * P + p) for c, p, v in per_slot[b]])
            prob += ka <= kb, f"sym_{a}_{b}"

    if warm is not None and solver is SolverName.HIGHS:
        for j in range(S):
            for c, p, v in per_slot[j]:
                v.setInitialValue(1 if warm[j] == (c, p) else 0)
    bound, status_text, said_optimal, sol_ok = _run(prob, solver, deadline, warm is not None)
    bound = (bound if math.isfinite(bound) else 0.0) + constant
    if not sol_ok:
        return None, bound, status_text, False
    plan = []
    for j in range(S):
        c, p, _v = max(per_slot[j], key=lambda cpv: cpv[2].value() or 0.0)
        plan.append((c, p))
    return plan, bound, status_text, said_optimal


SOLVE_GRACE = 2.0  # seconds a solver may run past its deadline before it is abandoned
BUILD_SECONDS_PER_BINARY = 8e-5  # PuLP's build, transfer and read-back per binary (measured: 105k binaries, 8 s)


def _wait_for(fn, until: float) -> bool:
    """Run `fn` in a daemon thread, waiting in short steps so that Ctrl-C (KeyboardInterrupt, which Python
    delivers to the main thread only) is honoured at once, not when the native solver returns; False when it
    is still running at `until` (time.perf_counter()), which leaves it to finish in the background."""
    import threading

    box: dict = {}

    def work() -> None:
        try:
            fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=work, daemon=True, name="stakealloc-solver")
    t.start()
    while t.is_alive():
        t.join(0.05)
        if t.is_alive() and time.perf_counter() > until:
            return False
    if "error" in box:
        raise box["error"]
    return True


def _run(prob, solver: SolverName, deadline: float, warm: bool, presolve: bool = True,
         ) -> tuple[float, str, bool, bool]:
    """Solve `prob` with the named solver until `deadline` (time.perf_counter()). Returns (best bound,
    the solver's own status text, solver says optimal, a solution exists). With `warm` (HiGHS only) the
    variables' initial values are the starting plan; `presolve` False turns HiGHS's presolve off."""
    import pulp

    if solver is SolverName.CBC:
        # No starting plan for CBC: with one, the bundled CBC 2.10.3 claimed optimality for plans up to 1.3 %
        # worse than HiGHS's proven optimum in 4 of 40 small instances (none without; benchmarks/README.md).
        log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        log.close()
        try:
            # Probing off: the bundled CBC 2.10.3 was measured claiming false optimality with probing on.
            cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=max(deadline - time.perf_counter(), 0.01), gapAbs=ABS_GAP,
                                    gapRel=REL_GAP, threads=1, logPath=log.name, options=["probing off"])
            prob.solve(cmd)
            with open(log.name) as f:
                text = f.read()
        finally:
            os.unlink(log.name)
        said_optimal, bound = _parse_cbc_log(text, prob)
        sol_ok = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        status_text = f"{pulp.LpStatus[prob.status]} (sol_status {prob.sol_status}); {_cbc_result_line(text)}"
    else:
        # `solve` passes a starting plan only after the neighbourhood search: the plain greedy plan was
        # measured to slow HiGHS's proofs (benchmarks/README.md).
        cmd = _highs_cmd(deadline, warm, presolve)  # in this thread: it may redirect the process's stdout
        if not _wait_for(lambda: prob.solve(cmd), deadline + SOLVE_GRACE):
            return 0.0, f"abandoned: HiGHS ran past its time limit + {SOLVE_GRACE:g} s", False, False
        import highspy

        h = prob.solverModel
        ms = h.getModelStatus()
        info = h.getInfo()
        said_optimal = ms == highspy.HighsModelStatus.kOptimal
        bound = float(info.mip_dual_bound)
        sol_ok = info.primal_solution_status == 2  # kSolutionStatusFeasible
        status_text = f"{h.modelStatusToString(ms)}"
    return bound, status_text, said_optimal, sol_ok


DP_STATUS = "exact: the subset DP over every column (no solver call)"
EXACT_DP = True  # the partition formulation's DP optimum stands as proven (see `_solve_partition`)


def _solve_partition(slots, refs, allowed, idle, regime, targets, change_penalty, solver: SolverName,
                     time_limit: float, heur: list[tuple[int, int]], exact_dp: bool = True,
                     ) -> tuple[list[tuple[int, int]] | None, float, str, bool]:
    """The set-partitioning program (partition.py); returns as `_solve_pulp` does.

    `partition.column_costs` enumerates every column exactly and `partition.best_partition` is an exact
    DP over all of them, so its optimum is the program's: with `exact_dp` it stands as proven (bound =
    its objective, status text DP_STATUS) and no solver runs. Without, the named solver proves it:

    Columns that cannot be in a plan better than the starting plan are left out: a column (c, M) whose
    floor, cost(c, M) + Σ_(c' ≠ c) min over M' outside M of cost(c', M'), is above the starting plan's
    objective (`partition.column_floor`). Every optimal plan
    keeps its columns, so the optimum and any bound the solver proves are those of the full program;
    the starting plan's own columns are always kept, so the program stays feasible. The starting plan is
    the better of `heur` and the subset DP's (`partition.best_partition`).
    """
    import numpy as np
    import pulp

    from . import partition

    deadline = time.perf_counter() + time_limit
    cols = partition.column_costs(slots, refs, allowed, regime, targets, change_penalty)
    upper = _obj(slots, refs, heur, targets, regime, change_penalty)
    zero = regime.zero_combination()
    start = []
    for c, members in enumerate(cols.members):
        pos = {j: i for i, j in enumerate(members)}
        start.append(sum(1 << pos[j] for j, (hc, p) in enumerate(heur)
                             if (hc if p != zero else idle[j]) == c and j in pos))
    # The subset DP over the same columns is exact and takes milliseconds; its plan is the starting plan
    # and its objective the cut-off for columns, so the program below only has to prove it.
    dp_obj, dp_masks = partition.best_partition(cols, len(slots))
    if exact_dp and math.isfinite(dp_obj):
        plan = _group_plan(slots, refs, regime, targets, change_penalty,
                           [[j for j in range(len(slots)) if m >> j & 1] for m in dp_masks])
        for j, x in enumerate(plan):
            if x is None or x[1] == zero:
                plan[j] = (idle[j], zero)  # an idle slot goes to its idle candidate (as below)
        return plan, dp_obj, DP_STATUS, True  # type: ignore[return-value]
    if dp_obj <= upper + 1e-9 * max(1.0, upper):  # on a tie the DP's plan, whatever the rounding
        upper = dp_obj
        start = [sum(1 << i for i, j in enumerate(members) if m >> j & 1)
                     for members, m in zip(cols.members, dp_masks)]
    floor = partition.column_floor(cols, len(slots))
    # Set packing over strict groups where a slot can idle at no cost (partition.strict_columns).
    packing = zero is not None and change_penalty == 0
    if packing:
        strict = partition.strict_columns(cols)
        start = [partition.strip(cost, m) for cost, m in zip(cols.cost, start)]
    slack = 1e-6 * max(1.0, upper)
    prob = pulp.LpProblem("partition", pulp.LpMinimize)
    per_slot: list[list] = [[] for _ in slots]
    chosen: list[list[tuple[int, object]]] = []
    terms = []
    for c, (members, cost) in enumerate(zip(cols.members, cols.cost)):
        keep = np.nonzero((floor[c] <= upper + slack) & (strict[c] if packing else True))[0].tolist()
        if start[c] not in keep:
            keep.append(start[c])
        col = []
        for m in sorted(keep):
            v = pulp.LpVariable(f"y_{c}_{m}", cat="Binary")
            v.setInitialValue(1 if m == start[c] else 0)
            col.append((m, v))
            terms.append((v, float(cost[m])))
            for i, j in enumerate(members):
                if m >> i & 1:
                    per_slot[j].append(v)
        prob += pulp.lpSum(v for _, v in col) == 1, f"cand_{c}"
        chosen.append(col)
    for j, vs in enumerate(per_slot):
        if packing:
            if vs:
                prob += pulp.lpSum(vs) <= 1, f"slot_{j}"
        else:
            prob += pulp.lpSum(vs) == 1, f"slot_{j}"
    prob += pulp.LpAffineExpression(terms)
    # HiGHS's presolve (probing thousands of columns) took half its time on the 9-slot forum case and
    # removed ~10 % of the columns; off, the forum draws prove in about half the time (benchmarks/README.md).
    bound, status_text, said_optimal, sol_ok = _run(prob, solver, deadline, solver is SolverName.HIGHS,
                                                    presolve=False)
    bound = bound if math.isfinite(bound) else 0.0
    if not sol_ok:
        return None, bound, status_text, False
    groups = []
    for c, col in enumerate(chosen):
        m = max(col, key=lambda mv: mv[1].value() or 0.0)[0]
        groups.append([j for i, j in enumerate(cols.members[c]) if m >> i & 1])
    plan = _group_plan(slots, refs, regime, targets, change_penalty, groups)
    for j, x in enumerate(plan):
        if x is None:
            if not packing:
                return None, bound, status_text + "; a slot was left without a column", False
            plan[j] = (idle[j], zero)  # in no group: idle
        elif x[1] == zero:
            # An idle slot goes to its idle candidate: same exposure, never a larger change penalty.
            plan[j] = (idle[j], zero)
    return plan, bound, status_text, said_optimal  # type: ignore[return-value]


def _group_plan(slots, refs, regime, targets, change_penalty, groups: list[list[int]],
                ) -> list[tuple[int, int] | None]:
    """(candidate index, combination) per slot from one group of slot indices per candidate (index into
    refs), each group with its best multipliers (`partition.group_choice`); None for slots in no group."""
    from . import partition

    plan: list[tuple[int, int] | None] = [None] * len(slots)
    for c, group in enumerate(groups):
        if group:
            _cost, combos = partition.group_choice(slots, refs, regime, targets, change_penalty, c, group)
            for j, p in zip(group, combos):
                plan[j] = (c, p)
    return plan


# --- large-neighbourhood search -------------------------------------------------------------

LNS_MIN_SLOTS = 12  # below this the full program proves quickly; no neighbourhood search
# Slots re-optimised together in one sub-problem: sized so that a sub-problem usually proves in well
# under LNS_SUB_LIMIT (measured: benchmarks/README.md).
LNS_FREE_SLOTS = {True: 12, False: 6}  # by regime.single
LNS_SUB_LIMIT = 0.5  # seconds per sub-problem
LNS_KICKS = 8  # kicks in a row without a better plan before the search ends
LNS_KICK_SLOTS = 4  # slots a kick moves
KICK_MIN_GAP = 0.5  # relative gap of the first attempt above which the search kicks (measured)
# The same for sub-problems solved by the column DP (separable regimes), in growing sizes: the smaller
# converges fast, the larger then finds what it cannot (measured, benchmarks/README.md).
PART_FREE_SLOTS: dict[bool, tuple[int, ...]] | None = {True: (12,), False: (6, 8)}
LNS_SHARE = 0.55  # of the time limit: greedy, first attempt and neighbourhood search end by then
GREEDY_SHARE = 0.2  # of the time limit, at most, for greedy + local search
PROBE_SHARE = 0.15  # of the time limit for a first attempt at the full program (LNS_MIN_SLOTS slots and up)
PROBE_MAX_BINARIES = 30_000  # no first attempt beyond this many (slot, candidate, combination) binaries


_HIGHS_BANNER_SILENCED = False


def _silence_highs_banner() -> None:
    """HiGHS prints its banner to the process's stdout (file descriptor 1, below Python) when the first
    `Highs` object is made, whatever `output_flag` says; it would stand before the plan. Make that first
    object with descriptor 1 pointing at /dev/null. Once per process."""
    global _HIGHS_BANNER_SILENCED
    if _HIGHS_BANNER_SILENCED:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _HIGHS_BANNER_SILENCED = True


def _highs_cmd(deadline: float, warm: bool, presolve: bool = True):
    """PuLP's HiGHS API solver whose time limit runs to `deadline` (time.perf_counter()) from the moment
    HiGHS starts, so PuLP's model transfer (seconds at 100k binaries) is not added to the limit; with
    `warm`, it also hands HiGHS the variables' initial values, which PuLP does not pass."""
    import highspy
    import pulp

    _silence_highs_banner()

    class Highs(pulp.HiGHS):
        def callSolver(self, lp):
            h = lp.solverModel
            h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
            if not presolve:
                h.setOptionValue("presolve", "off")
            if warm:
                sol = highspy.HighsSolution()
                sol.col_value = [v.varValue if v.varValue is not None else 0.0 for v in lp.variables()]
                sol.value_valid = True
                h.setSolution(sol)
            h.run()

    return Highs(msg=False, gapAbs=ABS_GAP, gapRel=REL_GAP, threads=1, random_seed=0)


def _candidate_balance(slots, refs, regime, targets, plan) -> list[tuple[float, float]]:
    """Per candidate: (Σ_k |achieved − target|, Σ_k (achieved − target)), NMR."""
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    ach = achieved(slots, [Choice(refs[c], p) for c, p in plan], regime)
    out = []
    for r in refs:
        d = [ach.get((r.model, r.side, k), 0.0) - tg.get((r.model, r.side, k), 0.0) for k in regime.scores]
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

    seeds = sorted((c for c in range(len(bal)) if bal[c][0] > 1e-9 and allowed_any[c]),
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


def _improve(slots, refs, allowed, idle, regime, targets, change_penalty, solver, plan, deadline,
             kicks: int | None = None):
    """Large-neighbourhood search: re-solve small sub-problems (the slots on a few candidates, re-assigned
    among those candidates) exactly and keep every improvement until no neighbourhood improves; then kick
    the best plan (LNS_KICK_SLOTS slots moved at random, seeded) and search again, keeping the best, until
    `kicks` (default LNS_KICKS) kicks in a row found nothing better or `deadline` (time.perf_counter())
    passes. Returns the best plan; without the deadline a run repeats exactly."""
    import numpy as np

    args = (slots, refs, allowed, idle, regime, targets, change_penalty, solver)
    best, it = _descend(*args, plan, deadline, 0)
    best_obj = _obj(slots, refs, best, targets, regime, change_penalty)
    zero = regime.zero_combination()
    fails = 0
    kicks = LNS_KICKS if kicks is None else kicks
    while fails < kicks and time.perf_counter() < deadline:
        rng = np.random.default_rng([it, fails])
        kicked = list(best)
        for j in rng.choice(len(slots), size=min(LNS_KICK_SLOTS, len(slots)), replace=False).tolist():
            c = int(rng.choice(allowed[j]))
            p = int(rng.integers(len(regime.combinations)))
            kicked[j] = (idle[j], p) if p == zero else (c, p)
        trial, it = _descend(*args, kicked, deadline, it)
        new = _obj(slots, refs, trial, targets, regime, change_penalty)
        if new < best_obj - 1e-9:
            best, best_obj, fails = trial, new, 0
        else:
            fails += 1
    return best


def _descend(slots, refs, allowed, idle, regime, targets, change_penalty, solver, plan, deadline, it):
    """One descent of the neighbourhood search from `plan` (see `_improve`) until no neighbourhood
    improves it or `deadline`. `it` seeds the slot samples; returns (plan, `it` advanced past the seeds
    used) so the next descent draws new samples."""
    plan = list(plan)
    zero = regime.zero_combination()
    allowed_any = [any(c in a for a in allowed) for c in range(len(refs))]
    obj = _obj(slots, refs, plan, targets, regime, change_penalty)
    from . import partition

    # Separable regimes: sub-problems are solved exactly by the column DP, in milliseconds, so they can be
    # larger than the compact program's (PART_FREE_SLOTS; measured, benchmarks/README.md).
    exact = PART_FREE_SLOTS is not None and partition.separable_values(regime) is not None
    caps = PART_FREE_SLOTS[regime.single] if exact else (LNS_FREE_SLOTS[regime.single],)
    size = 0  # index into caps: the neighbourhood grows when the smaller one no longer improves
    cap = caps[0]
    rnd = 0
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    while time.perf_counter() < deadline:
        bal = _candidate_balance(slots, refs, regime, targets, plan)
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
            sub_slots = [slots[j] for j in free]
            stay = [j for j, (c, _p) in enumerate(plan) if c in gs and j not in fs]
            res = None
            if exact:
                # What the group's slots outside the neighbourhood carry stays; the rest is the target.
                fixed = achieved([slots[j] for j in stay], [Choice(refs[plan[j][0]], plan[j][1]) for j in stay],
                                 regime)
                left_t = tuple(Target(r.model, r.side, k, tg.get((r.model, r.side, k), 0.0)
                                      - fixed.get((r.model, r.side, k), 0.0))
                               for r in (refs[c] for c in group) for k in regime.scores)
                res = _sub_partition(sub_slots, refs, [allowed[j] for j in free], regime, left_t, change_penalty,
                                     group)
            if res is None:
                if stay:
                    continue  # a sampled neighbourhood: the compact program takes whole candidates only
                keys = {(refs[c].model, refs[c].side) for c in group}
                sub_targets = tuple(t for t in targets if (t.model, t.side) in keys)
                sub_allowed = [[c for c in allowed[j] if c in gs] for j in free]
                sub_idle = [idle[j] if idle[j] in gs else a[0] for j, a in zip(free, sub_allowed)]
                groups = _symmetry_groups(sub_slots, sub_allowed, change_penalty)
                res, _b, _st, _opt = _solve_pulp(sub_slots, refs, sub_allowed, sub_idle, regime, sub_targets,
                                                 change_penalty, solver, min(LNS_SUB_LIMIT, left), None, groups)
            if res is None:
                continue
            trial = list(plan)
            for j, (c, p) in zip(free, res):
                trial[j] = (idle[j], p) if p == zero else (c, p)
            new = _obj(slots, refs, trial, targets, regime, change_penalty)
            if new < obj - 1e-9:
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


def _sub_partition(sub_slots, refs, sub_allowed, regime, sub_targets, change_penalty, group,
                   ) -> list[tuple[int, int]] | None:
    """Exact best re-assignment of `sub_slots` among the candidates `group` (indices into refs) by the
    column DP (partition.py), as (candidate index into refs, combination) per slot; None when the
    formulation does not apply (too many keeper variants)."""
    from . import partition

    sub_refs = [refs[c] for c in group]
    local = [[i for i, c in enumerate(group) if c in a] for a in sub_allowed]
    if partition.column_work(sub_slots, sub_refs, local, regime, change_penalty) is None:
        return None
    cols = partition.column_costs(sub_slots, sub_refs, local, regime, sub_targets, change_penalty)
    opt, masks = partition.best_partition(cols, len(sub_slots))
    if not math.isfinite(opt):
        return None
    groups = [[j for j in range(len(sub_slots)) if m >> j & 1] for m in masks]
    plan = _group_plan(sub_slots, sub_refs, regime, sub_targets, change_penalty, groups)
    return [(group[c], p) for c, p in plan]  # type: ignore[misc]  # every slot is in a group


def _cbc_result_line(text: str) -> str:
    m = re.search(r"^Result - (.*)$", text, re.M)
    return m.group(1).strip() if m else "no result line"


def _parse_cbc_log(text: str, prob) -> tuple[bool, float]:
    """(CBC proved optimality, best bound) from CBC's log; PuLP reports neither faithfully."""
    result = _cbc_result_line(text)
    said_optimal = result.startswith("Optimal solution found")
    m = re.search(r"^Lower bound:\s*(-?[0-9.eE+-]+)", text, re.M)
    if m:
        return said_optimal, float(m.group(1))
    # CBC omits the summary's bound when presolve or the root solves it outright.
    m = re.search(r"^Objective value:\s*(-?[0-9.eE+-]+)", text, re.M)
    if said_optimal and m:
        return True, float(m.group(1))
    return False, 0.0


def _obj(slots, refs, plan, targets, regime, change_penalty) -> float:
    """Objective (deviation + penalty, NMR) of a plan given as (candidate index, combination) per slot."""
    return sum(evaluate(slots, [Choice(refs[c], p) for c, p in plan], targets, regime, change_penalty))


def _proves(res, slots, refs, targets, regime, change_penalty) -> bool:
    """Whether a `_solve_pulp` result is a proven optimum by the plan's own objective."""
    plan, bound, _text, said_optimal = res
    if plan is None or not said_optimal:
        return False
    obj = _obj(slots, refs, plan, targets, regime, change_penalty)
    return obj - bound <= max(ABS_GAP, REL_GAP * obj)


def solve(slots: list[SlotInput], targets: tuple[Target, ...], regime: Regime, models: tuple[str, ...], *,
          solver: SolverName = SolverName.HIGHS, time_limit: float = 60.0, change_penalty: float = 0.0,
          exact_dp: bool | None = None) -> SlotPlan:
    """Best plan for `slots` against `targets`; status carries whether it is proven optimal.

    With `exact_dp`, a fleet in the set-partitioning formulation takes the exact subset DP's optimum as
    proven (`solver.source` "dp"); without, the named solver proves it (tests use both). None: EXACT_DP."""
    if not slots:
        raise OptimizationError("no slots to assign")
    for s in slots:
        if not (s.stake > 0 and math.isfinite(s.stake)):
            raise OptimizationError(f"slot {s.name}: stake {s.stake} is not a positive number")
    for t in targets:
        if not (math.isfinite(t.target) and t.target >= 0):
            raise OptimizationError(f"target of {t.model} {t.side} {t.score} is {t.target}")
    t0 = time.perf_counter()
    refs, allowed, idle = candidates(slots, targets, models, change_penalty)
    groups = _symmetry_groups(slots, allowed, change_penalty)
    ncombo = len(regime.combinations)
    heur = greedy(slots, refs, allowed, idle, regime, targets, change_penalty, t0 + GREEDY_SHARE * time_limit)
    args = (slots, refs, allowed, idle, regime, targets, change_penalty, solver)
    first = None
    result = None  # the program's answer, once no further program is to be run
    from . import partition

    formulation = "partition" if partition.applies(slots, refs, allowed, regime, change_penalty) else "compact"
    if formulation == "partition":
        left = time_limit - (time.perf_counter() - t0)
        result = _solve_partition(*args, max(left, 1.0), heur, EXACT_DP if exact_dp is None else exact_dp)
    elif len(slots) >= LNS_MIN_SLOTS:
        # A short first attempt at the full program: many mid-size fleets prove within it, and then the
        # neighbourhood search would only delay the answer. Not for very large programs: they never proved
        # in it, and handing PuLP's model to the solver alone took seconds of the search's time.
        if sum(len(a) for a in allowed) * ncombo <= PROBE_MAX_BINARIES:
            first = _solve_pulp(*args, PROBE_SHARE * time_limit, None, groups)
            if _proves(first, slots, refs, targets, regime, change_penalty):
                result = first
            if first[0] is not None and _obj(slots, refs, first[0], targets, regime, change_penalty) < \
                    _obj(slots, refs, heur, targets, regime, change_penalty):
                heur = first[0]
        if result is None:
            # Kicks only where the full program is unlikely to close the gap in its remaining time: they
            # use the whole search window, which delayed proofs (classic-2024 50 × 6: 3.6 s instead of
            # 1.8 s) where the first attempt had already come within KICK_MIN_GAP.
            gap = None
            if first is not None and first[0] is not None:
                fo = _obj(slots, refs, first[0], targets, regime, change_penalty)
                gap = (fo - first[1]) / fo if fo > 0 else 0.0
            kicks = LNS_KICKS if gap is None or gap > KICK_MIN_GAP else 0
            heur = _improve(*args, heur, t0 + LNS_SHARE * time_limit, kicks)
    warm = _order_groups(heur, groups, ncombo)
    warm_choices = [Choice(refs[c], p) for c, p in warm]
    warm_obj = sum(evaluate(slots, warm_choices, targets, regime, change_penalty))
    if result is not None:
        plan, bound, status_text, said_optimal = result
    else:
        left = time_limit - (time.perf_counter() - t0)
        searched = len(slots) >= LNS_MIN_SLOTS
        binaries = sum(len(a) for a in allowed) * ncombo
        if searched and binaries * BUILD_SECONDS_PER_BINARY > left:
            # PuLP alone would take longer to hand this program over than the time left (measured: 4 s for
            # 105k binaries): the searched plan stands, with the first attempt's bound if there was one.
            plan, bound, said_optimal = None, first[1] if first is not None else 0.0, False
            status_text = f"not run: {binaries:,} binaries cannot be built in the {max(left, 0):.1f} s left"
        else:
            plan, bound, status_text, said_optimal = _solve_pulp(*args, max(left, 1.0), warm if searched else None,
                                                                 groups)
            if first is not None:
                bound = max(bound, first[1])  # both bounds are valid for the same program
    source = "dp" if status_text == DP_STATUS else "solver"
    if plan is None:
        choices = warm_choices
        source = "heuristic"
    else:
        choices = [Choice(refs[c], p) for c, p in plan]
        obj = sum(evaluate(slots, choices, targets, regime, change_penalty))
        if warm_obj < obj - 1e-9:
            choices, source = warm_choices, "heuristic"
    dev, pen = evaluate(slots, choices, targets, regime, change_penalty)
    objective = dev + pen
    bound = min(bound, objective)
    gap = max(objective - bound, 0.0)
    proven = said_optimal and gap <= max(ABS_GAP, REL_GAP * objective)
    info = SolverInfo(name=solver.value, status="optimal" if proven else "feasible", objective=objective,
                      bound=bound, gap=gap, seconds=time.perf_counter() - t0, solver_status=status_text, source=source,
                      formulation=formulation)
    return SlotPlan(choices=tuple(choices), changed=tuple(is_changed(s, c) for s, c in zip(slots, choices)),
                    deviation=dev, penalty=pen, solver=info)


def capacity_notes(slots: list[SlotInput], targets: tuple[Target, ...], regime: Regime) -> list[dict]:
    """Targets the slots cannot carry: per score, Σ targets above total stake × the largest multiplier."""
    total = sum(s.stake for s in slots)
    notes = []
    for k in regime.scores:
        ask = sum(t.target for t in targets if t.score == k)
        cap = total * regime.max_multiplier(k)
        if ask > cap + 1e-6:
            notes.append({"score": k, "target": ask, "capacity": cap, "unreachable": ask - cap,
                          "why": f"the {k} targets add up to {ask:.1f} NMR but the slots carry at most "
                                 f"{cap:.1f} NMR of {k} ({total:.1f} NMR × {regime.max_multiplier(k):g} max multiplier)"})
    return notes
