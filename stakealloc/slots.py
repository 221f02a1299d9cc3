"""The slot program (design §5): give every staking slot one (model, side) and one allowed
multiplier combination so the achieved exposures come as close to the targets as possible.

    minimise  Σ_(model,side,score) |achieved − target|  +  change_penalty · #changed slots   (NMR)

Formulation (`_solve_pulp`): one binary w[j,c,p] per slot j, candidate c = (model, side) and allowed
combination p, exactly one per slot; achieved exposure A[c,k] = Σ_j,p s_j·p_k·w[j,c,p]; |A − t| through
bounded over/under variables. A formulation with separate model and combination binaries linked by
exposure variables (S·(C+P) binaries) was measured too: its relaxation is much weaker and it proved
optimality far less often (benchmarks/README.md), so the extended one is used. Only candidates with a
positive target (plus pins, and currents when a change penalty is set) enter, and the all-zero
combination (an idle slot) exists once per slot, with the slot's idle candidate. Slots that are
interchangeable (equal stake, same constraints) are ordered by (candidate, combination) index to break
symmetry. A greedy plan improved by local search is CBC's warm start and, for both solvers, the fallback, so
a time-limited solve is never worse than it.

Ties between equally good plans are broken by the solver on a model built in a fixed order (slots as
in the fleet file, candidates in target order) plus the symmetry ordering; both solvers used here are
deterministic for a fixed model, so the same inputs give the same plan.
"""

from __future__ import annotations

import math
import os
import re
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
    status: str  # optimal | feasible | infeasible
    objective: float  # NMR (deviation + change penalties), recomputed from the plan
    bound: float  # NMR, best lower bound proven by the solver
    gap: float  # objective − bound, NMR
    seconds: float
    solver_status: str  # what the solver itself said
    source: str  # "solver" | "warm start" (the greedy + local-search plan was better)


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
    dev = sum(abs(ach.get(key, 0.0) - tg.get(key, 0.0)) for key in set(ach) | set(tg))
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


def greedy(slots, refs, allowed, idle, regime, targets, change_penalty) -> list[tuple[int, int]]:
    """Largest stake first, each slot to the move that lowers the objective most; then local search."""
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
    return _local_search(st, plan, allowed, idle, zero)  # type: ignore[arg-type]


def _local_search(st: _State, plan: list[tuple[int, int]], allowed, idle, zero) -> list[tuple[int, int]]:
    n = len(plan)
    ncombo = len(st.regime.combinations)
    for _ in range(200):
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
                before = _objective(st)
                st.apply(i, ci, pi, -1); st.apply(j, cj, pj, -1)  # noqa: E702
                st.apply(i, cj, pj, +1); st.apply(j, ci, pi, +1)  # noqa: E702
                after = _objective(st) + st.pen(i, cj, pj) + st.pen(j, ci, pi) - st.pen(i, ci, pi) - st.pen(j, cj, pj)
                if after < before - 1e-9:
                    plan[i], plan[j] = (cj, pj), (ci, pi)
                    improved = True
                else:
                    st.apply(i, cj, pj, -1); st.apply(j, ci, pi, -1)  # noqa: E702
                    st.apply(i, ci, pi, +1); st.apply(j, cj, pj, +1)  # noqa: E702
        if not improved:
            break
    return plan


def _objective(st: _State) -> float:
    keys = set(st.a) | set(st.t)
    return sum(abs(st.a.get(k, 0.0) - st.t.get(k, 0.0)) for k in keys)


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
                time_limit: float, warm: list[tuple[int, int]], groups) -> tuple[list[tuple[int, int]] | None, float, str, bool]:
    """Build and solve the MIP. Returns (plan or None, bound, solver's own status text, solver says optimal)."""
    import pulp

    S, C, P = len(slots), len(refs), len(regime.combinations)
    K = list(range(len(regime.scores)))
    pmax = [max(c[k] for c in regime.combinations) for k in K]
    zero = regime.zero_combination()
    prob = pulp.LpProblem("slots", pulp.LpMinimize)
    # One binary per (slot, candidate, combination); the all-zero combination only with the slot's idle
    # candidate, since an idle slot's model does not matter.
    w = {(j, c, p): pulp.LpVariable(f"w_{j}_{c}_{p}", cat="Binary")
         for j in range(S) for c in allowed[j] for p in range(P) if p != zero or c == idle[j]}
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    expo: dict[tuple[int, int], list] = {(c, k): [] for c in range(C) for k in K}
    for (j, c, p), v in w.items():
        for k in K:
            m = regime.combinations[p][k]
            if m:
                expo[c, k].append(slots[j].stake * m * v)
    for j in range(S):
        prob += pulp.lpSum(v for (jj, _, _), v in w.items() if jj == j) == 1, f"one_choice_{j}"
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
            prob += pulp.lpSum(expo[c, k]) - t == up - dn, f"dev_{c}_{k}"
            dev_terms += [up, dn]
    pen_terms = []
    if change_penalty > 0:
        for j, sl in enumerate(slots):
            c0 = refs.index(sl.current) if sl.current in refs else None
            keep = [v for (jj, c, p), v in w.items()
                    if jj == j and c == c0 and (sl.current_combo is None or p == sl.current_combo)]
            if sl.current is None or not keep:
                pen_terms.append(change_penalty)
                continue
            ch = pulp.LpVariable(f"changed_{j}", lowBound=0, upBound=1)
            prob += ch >= 1 - pulp.lpSum(keep), f"chg_{j}"
            pen_terms.append(change_penalty * ch)
    prob += pulp.lpSum(dev_terms) + pulp.lpSum(pen_terms)
    for g in groups:
        for a, b in zip(g, g[1:]):
            ka = pulp.lpSum((c * P + p) * v for (jj, c, p), v in w.items() if jj == a)
            kb = pulp.lpSum((c * P + p) * v for (jj, c, p), v in w.items() if jj == b)
            prob += ka <= kb, f"sym_{a}_{b}"

    # Warm start values.
    for (j, c, p), v in w.items():
        v.setInitialValue(1 if warm[j] == (c, p) else 0)

    if solver is SolverName.CBC:
        log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        log.close()
        try:
            # Probing off: the bundled CBC 2.10.3 was measured claiming false optimality with probing on.
            cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapAbs=ABS_GAP, gapRel=REL_GAP, warmStart=True,
                                    threads=1, logPath=log.name, options=["probing off"])
            prob.solve(cmd)
            with open(log.name) as f:
                text = f.read()
        finally:
            os.unlink(log.name)
        said_optimal, bound = _parse_cbc_log(text, prob)
        sol_ok = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        status_text = f"{pulp.LpStatus[prob.status]} (sol_status {prob.sol_status}); {_cbc_result_line(text)}"
    else:
        # No warm start for HiGHS: injecting the greedy plan was measured to slow its proofs (50 slots x 6
        # models: 9.1 s with it, 3.1 s without); the greedy plan remains the fallback below.
        cmd = pulp.HiGHS(msg=False, timeLimit=time_limit, gapAbs=ABS_GAP, gapRel=REL_GAP, threads=1, random_seed=0)
        prob.solve(cmd)
        import highspy

        h = prob.solverModel
        ms = h.getModelStatus()
        info = h.getInfo()
        said_optimal = ms == highspy.HighsModelStatus.kOptimal
        bound = float(info.mip_dual_bound)
        sol_ok = info.primal_solution_status == 2  # kSolutionStatusFeasible
        status_text = f"{h.modelStatusToString(ms)}"
    if not sol_ok:
        return None, bound if math.isfinite(bound) else 0.0, status_text, False
    plan = []
    for j in range(S):
        (_, c, p), _v = max(((key, v) for key, v in w.items() if key[0] == j), key=lambda kv: kv[1].value() or 0.0)
        plan.append((c, p))
    return plan, bound if math.isfinite(bound) else 0.0, status_text, said_optimal


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


def solve(slots: list[SlotInput], targets: tuple[Target, ...], regime: Regime, models: tuple[str, ...], *,
          solver: SolverName = SolverName.HIGHS, time_limit: float = 60.0, change_penalty: float = 0.0) -> SlotPlan:
    """Best plan for `slots` against `targets`; status carries whether it is proven optimal."""
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
    warm = _order_groups(greedy(slots, refs, allowed, idle, regime, targets, change_penalty), groups, ncombo)
    warm_choices = [Choice(refs[c], p) for c, p in warm]
    warm_obj = sum(evaluate(slots, warm_choices, targets, regime, change_penalty))
    plan, bound, status_text, said_optimal = _solve_pulp(
        slots, refs, allowed, idle, regime, targets, change_penalty, solver, time_limit, warm, groups)
    source = "solver"
    if plan is None:
        choices = warm_choices
        source = "warm start"
    else:
        choices = [Choice(refs[c], p) for c, p in plan]
        obj = sum(evaluate(slots, choices, targets, regime, change_penalty))
        if warm_obj < obj - 1e-9:
            choices, source = warm_choices, "warm start"
    dev, pen = evaluate(slots, choices, targets, regime, change_penalty)
    objective = dev + pen
    bound = min(bound, objective)
    gap = max(objective - bound, 0.0)
    proven = said_optimal and gap <= max(ABS_GAP, REL_GAP * objective)
    info = SolverInfo(name=solver.value, status="optimal" if proven else "feasible", objective=objective,
                      bound=bound, gap=gap, seconds=time.perf_counter() - t0, solver_status=status_text, source=source)
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
