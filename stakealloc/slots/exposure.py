"""The exposure objective's value and rows: NMR of Σ|achieved − target| plus change penalties.

`value` and `proves` score a fixed-stake plan given as (candidate, combination) per slot, as the compact and
set-partitioning programs, the greedy and the neighbourhood search use them; they refuse a tracking or a
per-round problem rather than answer with the wrong objective. `per_round_rows` are the objective's rows in
the per-round program (`perround`). Its fixed-stake solve is `exposure_solve`; `objective.Exposure` joins
them."""

from __future__ import annotations

from ..errors import OptimizationError
from ..types import Objective, Ref
from .problem import ABS_GAP, REL_GAP, SlotProblem, SolveResult

KEY = Objective.EXPOSURE


def _check(pb: SlotProblem) -> None:
    if pb.objective is not KEY or pb.per_round is not None:
        raise OptimizationError(f"the exposure objective evaluated on a {pb.objective.value}"
                                + (" per-round" if pb.per_round is not None else "") + " problem")


def value(pb: SlotProblem, plan) -> float:
    """Deviation + penalty, NMR, of `plan`."""
    _check(pb)
    return sum(pb.evaluate(pb.choices(plan)))


def proves(pb: SlotProblem, res: SolveResult) -> bool:
    """Whether a program's result is a proven optimum by the plan's own objective."""
    if res.plan is None or not res.said_optimal:
        return False
    obj = value(pb, res.plan)
    return obj - res.bound <= max(ABS_GAP, REL_GAP * obj)


def per_round_rows(pb: SlotProblem, prob, stake_on, start=None):
    """The objective's rows in the per-round program: (objective expression, its constant), NMR per round.

    `stake_on`: per option, ((candidate, combination), NMR per unit, the stake variable in units, the
    option's funded indicator). Σ|exposure − target| per (candidate, score), exactly split into over +
    under; `under ≥ t − t·Σ funded` makes the relaxation see the cost of a target no option funds. `start`
    needs no auxiliary value (the rows hold for any plan)."""
    import pulp

    regime = pb.regime
    expo: dict[tuple[int, int], list] = {}
    funded: dict[tuple[int, int], list] = {}  # (candidate, score) -> the indicators of options paying it
    for (c, p), coef, var, fund in stake_on:
        for kk, m in enumerate(regime.combinations[p]):
            if m:
                expo.setdefault((c, kk), []).append(coef * m * var)
                funded.setdefault((c, kk), []).append(fund)
    dev = []
    tmap = pb.target_map
    keys = sorted(set(expo) | {(pb.refs.index(Ref(m, sd)), regime.scores.index(k))
                               for (m, sd, k), v in tmap.items() if v > 0 and Ref(m, sd) in pb.refs})
    for c, kk in keys:
        tv = tmap.get((pb.refs[c].model, pb.refs[c].side, regime.scores[kk]), 0.0)
        e = pulp.lpSum(expo.get((c, kk), []))
        if tv > 0:
            over = pulp.LpVariable(f"o_{c}_{kk}", 0)
            under = pulp.LpVariable(f"n_{c}_{kk}", 0)
            prob += e - tv == over - under
            prob += under >= tv - tv * pulp.lpSum(funded.get((c, kk), []))
            dev += [over, under]
        else:
            dev.append(e)
    # targets on candidates no slot may take are missed whatever the plan: a constant
    const = sum(v for (m, sd, k), v in tmap.items() if Ref(m, sd) not in pb.refs)
    return pulp.lpSum(dev), const
