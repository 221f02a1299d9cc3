"""Greedy construction and local search for the exposure objective: the starting plan of every solve."""

from __future__ import annotations

import math
import time

from ..tolerance import IMPROVEMENT, ROUNDING
from .problem import Choice, PlanCP, SlotProblem, is_changed


class _State:
    """Incremental objective for greedy and local search: the achieved exposure of the plan so far."""

    def __init__(self, pb: SlotProblem):
        self.pb, self.slots, self.refs, self.regime, self.lam = pb, pb.slots, pb.refs, pb.regime, pb.change_penalty
        self.t = pb.target_map
        self.a: dict[tuple[str, str, str], float] = {}
        self.vec = [[(k, p) for k, p in zip(pb.regime.scores, c) if p] for c in pb.regime.combinations]

    def delta(self, j: int, c: int, p: int, sign: float) -> float:
        """Change of Σ|achieved − target| (NMR) if slot j's stake × combination p is added (sign +1) to, or
        removed (−1) from, candidate c."""
        s = self.slots[j].stake
        ref = self.refs[c]
        d = 0.0
        for k, m in self.vec[p]:
            key = (ref.model, ref.side, k)
            t = self.t.get(key, 0.0)
            cur = self.a.get(key, 0.0)
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

    def objective(self, keys) -> float:
        """Σ |achieved − target| over `keys` (distinct (model, side, score) triples), NMR."""
        return sum(abs(self.a.get(k, 0.0) - self.t.get(k, 0.0)) for k in dict.fromkeys(keys))  # fixed order


def greedy(pb: SlotProblem, deadline: float = math.inf) -> PlanCP:
    """Largest stake first (ties: slot order), each slot to the move that lowers the objective most (ties:
    the first candidate, then combination, in index order); then local search (single-slot moves and
    swaps) until no move improves or `deadline` (time.perf_counter()) passes."""
    st = _State(pb)
    zero = pb.zero
    plan: list[tuple[int, int] | None] = [None] * len(pb.slots)
    for j in sorted(range(len(pb.slots)), key=lambda j: (-pb.slots[j].stake, j)):
        best = None
        for c in pb.allowed[j]:
            for p in range(pb.ncombo):
                if p == zero and c != pb.idle[j]:
                    continue
                v = st.delta(j, c, p, +1) + st.pen(j, c, p)
                if best is None or v < best[0] - ROUNDING:
                    best = (v, c, p)
        assert best is not None
        plan[j] = (best[1], best[2])
        st.apply(j, best[1], best[2], +1)
    return _local_search(st, plan, deadline)  # type: ignore[arg-type]


def _local_search(st: _State, plan: PlanCP, deadline: float = math.inf) -> PlanCP:
    pb = st.pb
    allowed, idle, zero = pb.allowed, pb.idle, pb.zero
    n = len(plan)
    for _ in range(200):
        if time.perf_counter() > deadline:
            break
        improved = False
        for j in range(n):  # single-slot moves
            c0, p0 = plan[j]
            st.apply(j, c0, p0, -1)
            base = st.delta(j, c0, p0, +1) + st.pen(j, c0, p0)
            best = (base, c0, p0)
            for c in allowed[j]:
                for p in range(pb.ncombo):
                    if p == zero and c != idle[j]:
                        continue
                    v = st.delta(j, c, p, +1) + st.pen(j, c, p)
                    if v < best[0] - IMPROVEMENT:
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
                before = st.objective(keys)
                st.apply(i, ci, pi, -1); st.apply(j, cj, pj, -1)  # noqa: E702
                st.apply(i, cj, pj, +1); st.apply(j, ci, pi, +1)  # noqa: E702
                after = (st.objective(keys) + st.pen(i, cj, pj) + st.pen(j, ci, pi) - st.pen(i, ci, pi)
                         - st.pen(j, cj, pj))
                if after < before - IMPROVEMENT:
                    plan[i], plan[j] = (cj, pj), (ci, pi)
                    improved = True
                else:
                    st.apply(i, cj, pj, -1); st.apply(j, ci, pi, -1)  # noqa: E702
                    st.apply(i, ci, pi, +1); st.apply(j, cj, pj, +1)  # noqa: E702
        if not improved:
            break
    return plan
