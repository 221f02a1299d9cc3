"""The group costs (the columns) of the slot program as exact set partitioning, for small fleets in separable regimes.

A plan splits the slots into one group per candidate (model, side), possibly empty. In a *separable*
regime (its combinations are every pairing of per-score multiplier sets: classic-2023, classic-2024) the
multipliers of one score can be chosen without regard to the others, so the best a group M of slots can
do for candidate c costs

    cost(c, M) = Σ_k min over per-slot multipliers m_j ∈ V_k of |Σ_(j∈M) s_j·m_j − t_ck|   (+ penalties)

and each score's minimum is a nearest-subset-sum problem. It is found exactly, for every group M at once,
by meet-in-the-middle: the slots are split into two halves, every subset of each half gets its sorted
reachable sums, and each pair of subsets is one vectorised binary search. The program then picks one
group per candidate so that every slot is in exactly one:

    min Σ cost(c, M)·y[c, M]   s.t.  Σ_M y[c, M] = 1 per candidate,  Σ_(c, M ∋ j) y[c, M] = 1 per slot.

Its relaxation cannot share a slot between groups at no cost, as the compact formulation's can, so it
proves the 9-slot forum case at once (benchmarks/README.md). The number of groups grows as 2^S, hence
small fleets only (`column_work` estimates the effort; callers fall back to the compact program).

Change penalties: a slot that is not on its current candidate, or has no current, pays λ wherever it goes;
a slot on its current candidate with unknown current multipliers pays nothing; a slot on its current
candidate with known multipliers pays nothing only if it keeps them. The last kind ("keepers") couple the
scores, so each subset K of a candidate's keepers is a variant with those slots fixed and the targets
shifted by their exposure, and cost(c, M) is the minimum over the variants with K ⊆ M.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..regimes import Regime
from ..tolerance import IMPROVEMENT, ROUNDING
from .problem import SlotProblem

# When the whole program is solved this way (measured, benchmarks/README.md): up to 10 slots
# (SearchOptions.partition_max_slots; 2^S groups per candidate), ~0.5 s of column costs and 30 000 columns;
# beyond either the compact program proved as fast or faster.
MAX_VARIANTS = 64  # keeper subsets over all candidates
WORK_BUDGET = 5e7  # estimated elementary operations (partial sums built + binary searches), ~0.5 s
MAX_COLUMNS = 30_000


def separable_values(regime: Regime) -> tuple[tuple[float, ...], ...] | None:
    """Per score, its multiplier values, when the combinations are exactly their Cartesian product."""
    vals = tuple(tuple(sorted({c[k] for c in regime.combinations})) for k in range(len(regime.scores)))
    if math.prod(len(v) for v in vals) != len(set(regime.combinations)):
        return None
    return vals


def _split(n: int, nv: int, q: int) -> tuple[int, float]:
    """(slots in the first half, estimated work) for n slots, nv values per slot and q targets."""
    best = (0, math.inf)
    for a in range(n + 1):
        build = (1 + nv) ** a + (1 + nv) ** (n - a)  # Σ over subsets of a half of nv^|subset|
        search = q * 2 ** a * (1 + nv) ** (n - a) * max(1.0, math.log2(nv ** a + 1))
        if build + search < best[1]:
            best = (a, build + search)
    return best


def _subset_sums(stakes: list[float], values: np.ndarray) -> list[np.ndarray]:
    """Sorted distinct reachable sums for every subset (bit i = stakes[i]) of `stakes`, NMR."""
    out = [np.zeros(1)]
    for i, s in enumerate(stakes):
        add = s * values
        for m in range(1 << i):
            out.append(np.unique((out[m][:, None] + add[None, :]).ravel()))
    return out


def nearest_all(stakes: list[float], values: tuple[float, ...], targets: np.ndarray) -> np.ndarray:
    """N[q, M] = min over m_j ∈ values of |Σ_(j∈M) stakes_j·m_j − targets[q]| for every subset M (bit j =
    stakes[j]) of the slots; shape (len(targets), 2^n), NMR."""
    n, q = len(stakes), len(targets)
    v = np.asarray(values, dtype=float)
    if len(values) == 1:  # one multiplier: the sum is fixed, no search
        sums = np.zeros(1)
        for s in stakes:
            sums = np.concatenate([sums, sums + s * v[0]])
        return np.abs(sums[None, :] - targets[:, None])
    a, _ = _split(n, len(values), q)
    left = _subset_sums(stakes[:a], v)
    right = _subset_sums(stakes[a:], v)
    out = np.empty((q, 1 << n))
    for mb, xb in enumerate(right):
        flat = (targets[:, None] - xb[None, :]).ravel()
        for ma, xa in enumerate(left):
            pos = np.searchsorted(xa, flat)
            hi = xa[np.minimum(pos, xa.size - 1)]
            lo = xa[np.maximum(pos - 1, 0)]
            d = np.minimum(np.abs(hi - flat), np.abs(flat - lo))
            out[:, ma | (mb << a)] = d.reshape(q, -1).min(axis=1)
    return out


def nearest_choice(stakes: list[float], values: tuple[float, ...], t: float) -> tuple[float, list[int]]:
    """(min |Σ_j stakes_j·values[i_j] − t|, the i_j) for one group; among equal sums the first found in a
    fixed enumeration order (indices in lexicographic order within each half) is taken."""
    n = len(stakes)
    v = np.asarray(values, dtype=float)
    a = (n + 1) // 2

    def enum(st: list[float]) -> tuple[np.ndarray, np.ndarray]:
        if not st:
            return np.zeros(1), np.zeros((1, 0), dtype=int)
        idx = np.stack([g.ravel() for g in np.meshgrid(*[np.arange(len(v))] * len(st), indexing="ij")], axis=1)
        return (v[idx] * np.asarray(st)).sum(axis=1), idx

    sa, ia = enum(stakes[:a])
    sb, ib = enum(stakes[a:])
    order = np.argsort(sa, kind="stable")
    sa, ia = sa[order], ia[order]
    q = t - sb
    pos = np.searchsorted(sa, q)
    hi = np.minimum(pos, sa.size - 1)
    lo = np.maximum(pos - 1, 0)
    dhi, dlo = np.abs(sa[hi] - q), np.abs(q - sa[lo])
    pick = np.where(dlo <= dhi, lo, hi)
    d = np.minimum(dlo, dhi)
    b = int(np.argmin(d))
    return float(d[b]), [int(i) for i in ia[pick[b]]] + [int(i) for i in ib[b]]


@dataclass(frozen=True)
class Columns:
    """Every group's exact cost. members[c]: slot indices that may take candidate c (bit i of a mask is
    members[c][i]); cost[c]: shape (2^len(members[c]),), NMR."""

    members: list[list[int]]
    cost: list[np.ndarray]


def _keepers(pb: SlotProblem, c: int, members: list[int]) -> list[int]:
    """Positions (in members) of slots whose current is candidate c with known multipliers."""
    if pb.change_penalty <= 0:
        return []
    return [i for i, j in enumerate(members)
            if pb.slots[j].current == pb.refs[c] and pb.slots[j].current_combo is not None]


def _free_penalty(pb: SlotProblem, c: int, j: int) -> float:
    """Penalty for slot j on candidate c when it does not keep its current multipliers."""
    if pb.change_penalty <= 0:
        return 0.0
    s = pb.slots[j]
    return 0.0 if (s.current == pb.refs[c] and s.current_combo is None) else pb.change_penalty


def column_work(pb: SlotProblem) -> tuple[float, int] | None:
    """(estimated effort of `column_costs` in elementary operations, number of columns), or None when the
    formulation does not apply (regime not separable, too many keeper variants, more than 20 slots)."""
    slots, allowed = pb.slots, pb.allowed
    vals = separable_values(pb.regime)
    if vals is None or len(slots) > 20:
        return None
    work, variants, ncols = 0.0, 0, 0
    for c in range(len(pb.refs)):
        members = [j for j in range(len(slots)) if c in allowed[j]]
        nvar = 2 ** len(_keepers(pb, c, members))
        variants += nvar
        ncols += 2 ** len(members)
        for v in vals:
            if len(v) > 1:
                work += _split(len(members), len(v), nvar)[1]
            else:
                work += nvar * 2 ** len(members)
    if variants > MAX_VARIANTS:
        return None
    return work, ncols


def applies(pb: SlotProblem, max_slots: int) -> bool:
    """Whether `solve` uses the set-partitioning program for the whole fleet (up to `max_slots` slots and
    the limits above)."""
    if len(pb.slots) > max_slots:
        return False
    wc = column_work(pb)
    return wc is not None and wc[0] <= WORK_BUDGET and wc[1] <= MAX_COLUMNS


def column_costs(pb: SlotProblem) -> Columns:
    """Exact cost of every (candidate, group of slots) column; see the module docstring."""
    slots, refs, allowed, regime = pb.slots, pb.refs, pb.allowed, pb.regime
    vals = separable_values(regime)
    assert vals is not None
    tg = pb.target_map
    members_all, costs = [], []
    for c, r in enumerate(refs):
        members = [j for j in range(len(slots)) if c in allowed[j]]
        n = len(members)
        t = np.array([tg.get((r.model, r.side, k), 0.0) for k in regime.scores])
        keep = _keepers(pb, c, members)
        masks = np.arange(1 << n)
        fp = np.array([_free_penalty(pb, c, j) for j in members])
        free_pen = np.zeros(1 << n)
        for i in range(n):
            free_pen[(masks >> i) & 1 == 1] += fp[i]
        # Variants: every subset of keepers, as a mask over members, with the targets that remain.
        variants = []
        for bits in range(1 << len(keep)):
            kmask, shift = 0, np.zeros(len(regime.scores))
            for b, i in enumerate(keep):
                if bits >> b & 1:
                    kmask |= 1 << i
                    shift += slots[members[i]].stake * np.array(regime.combinations[slots[members[i]].current_combo])
            variants.append((kmask, t - shift))
        stakes = [slots[j].stake for j in members]
        total = np.zeros((len(variants), 1 << n))
        for k, v in enumerate(vals):
            total += nearest_all(stakes, v, np.array([tk[k] for _, tk in variants]))
        cost = np.full(1 << n, np.inf)
        for (kmask, _), row in zip(variants, total):
            sel = masks[(masks & kmask) == kmask]
            rest = sel ^ kmask
            cost[sel] = np.minimum(cost[sel], free_pen[rest] + row[rest])
        members_all.append(members)
        costs.append(cost)
    return Columns(members_all, costs)


def group_choice(pb: SlotProblem, c: int, group: list[int]) -> tuple[float, list[int]]:
    """(cost, combination index per slot of `group`) of the best multipliers for candidate c and `group`
    (slot indices). Variants are tried in order of their keeper mask and the first best is taken."""
    slots, regime, change_penalty = pb.slots, pb.regime, pb.change_penalty
    vals = separable_values(regime)
    assert vals is not None
    index = {combo: p for p, combo in enumerate(regime.combinations)}
    tg = pb.target_map
    r = pb.refs[c]
    t = [tg.get((r.model, r.side, k), 0.0) for k in regime.scores]
    keep = [j for j in group if change_penalty > 0 and slots[j].current == r and slots[j].current_combo is not None]
    best: tuple[float, list[int]] | None = None
    for bits in range(1 << len(keep)):
        kept = {j for b, j in enumerate(keep) if bits >> b & 1}
        free = [j for j in group if j not in kept]
        cost = sum(_free_penalty(pb, c, j) for j in free)
        per_slot = {j: list(regime.combinations[slots[j].current_combo]) for j in kept}
        for j in free:
            per_slot[j] = [0.0] * len(regime.scores)
        for k, v in enumerate(vals):
            tk = t[k] - sum(slots[j].stake * regime.combinations[slots[j].current_combo][k] for j in kept)
            d, pick = nearest_choice([slots[j].stake for j in free], v, tk)
            cost += d
            for j, i in zip(free, pick):
                per_slot[j][k] = v[i]
        if best is None or cost < best[0] - IMPROVEMENT:
            best = (cost, [index[tuple(per_slot[j])] for j in group])
    assert best is not None
    return best


def _global_masks(members: list[int]) -> np.ndarray:
    """For every mask over `members` (bit i = members[i]), the same group as a mask over all slots."""
    glob = np.zeros(1 << len(members), dtype=np.int64)
    for i, j in enumerate(members):
        glob[1 << i:1 << (i + 1)] = glob[:1 << i] | (1 << j)
    return glob


def global_costs(cols: Columns, n_slots: int) -> list[np.ndarray]:
    """Each candidate's costs indexed by masks over all slots (bit j = slot j); inf where a group holds a
    slot that may not take the candidate."""
    out = []
    for members, cost in zip(cols.members, cols.cost):
        g = np.full(1 << n_slots, np.inf)
        g[_global_masks(members)] = cost
        out.append(g)
    return out


@functools.lru_cache(maxsize=16)
def _submask_pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (m, s) with s ⊆ m over n bits, sorted by m, and where each m's run starts: 3^n pairs.
    Each bit is in neither, in m only, or in both (digit 0, 1, 2)."""
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    digits = np.indices((3,) * n, dtype=np.int8).reshape(n, -1)
    w = np.int64(1) << np.arange(n, dtype=np.int64)
    m_arr = (digits >= 1).T.astype(np.int64) @ w
    s_arr = (digits == 2).T.astype(np.int64) @ w
    order = np.argsort(m_arr, kind="stable")
    m_arr, s_arr = m_arr[order], s_arr[order]
    starts = np.searchsorted(m_arr, np.arange(1 << n))
    return m_arr, s_arr, starts


def best_partition(cols: Columns, n_slots: int) -> tuple[float, list[int]]:
    """Exact optimum over the columns by dynamic programming over slot subsets, and one group (mask over
    all slots) per candidate. f_c[m] = min over s ⊆ m of f_(c−1)[m \\ s] + cost_c[s]; 3^S pairs per
    candidate. Ties: the smallest group mask for the last candidate first, and so on backwards."""
    g = global_costs(cols, n_slots)
    m_arr, s_arr, starts = _submask_pairs(n_slots)
    f = np.full(1 << n_slots, np.inf)
    f[0] = 0.0
    stages = [f]
    for gc in g:
        with np.errstate(invalid="ignore"):
            vals = f[m_arr ^ s_arr] + gc[s_arr]
        f = np.minimum.reduceat(vals, starts)
        stages.append(f)
    full = (1 << n_slots) - 1
    masks: list[int] = []
    m = full
    for c in range(len(g) - 1, -1, -1):
        prev, gc = stages[c], g[c]
        best, pick = math.inf, 0
        s = 0
        while True:  # submasks of m in increasing order
            v = prev[m ^ s] + gc[s]
            if v < best - ROUNDING:
                best, pick = v, s
            if s == m:
                break
            s = (s - m) & m
        masks.append(pick)
        m ^= pick
    masks.reverse()
    return float(stages[-1][full]), masks


def subset_min(costs: np.ndarray, n_slots: int) -> np.ndarray:
    """best[X] = min over M ⊆ X of costs[M], for every mask X over n_slots bits (sum-over-subsets DP)."""
    best = costs.copy()
    idx = np.arange(1 << n_slots)
    for b in range(n_slots):
        has = (idx >> b) & 1 == 1
        best[has] = np.minimum(best[has], best[idx[has] ^ (1 << b)])
    return best


def column_floor(cols: Columns, n_slots: int) -> list[np.ndarray]:
    """floor[c][M] (M over members of c): cost(c, M) plus, for every other candidate, its cheapest group
    among the slots outside M. Every plan that uses column (c, M) costs at least this much."""
    g = global_costs(cols, n_slots)
    sub = [subset_min(gc, n_slots) for gc in g]
    total = np.sum(sub, axis=0)
    full = (1 << n_slots) - 1
    out = []
    for c, members in enumerate(cols.members):
        rest = full ^ _global_masks(members)
        with np.errstate(invalid="ignore"):
            out.append(cols.cost[c] + total[rest] - sub[c][rest])
    return out


def strict_columns(cols: Columns) -> list[np.ndarray]:
    """Per candidate, which groups need every member: cost(c, M) < cost(c, M \\ {j}) for all j ∈ M.

    With an all-zero combination and no change penalty a slot may idle at no cost, and a member that does
    not lower its group's cost can idle instead without raising the objective. Repeating that turns any
    plan into one of strict groups that is as good, so an optimum exists among strict groups, with idle
    slots left out of every group (the program is then set packing). Costs are monotone exactly in floats
    (a zero contribution adds exactly 0 to every sum), so the strict comparison needs no tolerance.
    """
    out = []
    for cost in cols.cost:
        n = len(cost).bit_length() - 1
        idx = np.arange(len(cost))
        ok = np.ones(len(cost), dtype=bool)
        for b in range(n):
            has = (idx >> b) & 1 == 1
            ok[has] &= cost[has] < cost[idx[has] ^ (1 << b)]
        out.append(ok)
    return out


def strip(cost: np.ndarray, mask: int) -> int:
    """Drop members that do not lower the group's cost (lowest bit first, repeated) until it is strict."""
    changed = True
    while changed:
        changed = False
        for b in range(len(cost).bit_length() - 1):
            if mask >> b & 1 and cost[mask ^ (1 << b)] <= cost[mask]:
                mask ^= 1 << b
                changed = True
                break
    return mask
