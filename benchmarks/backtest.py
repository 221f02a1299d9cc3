"""Backtest benchmark: the full 13-measure walk-forward on the bundled data, and per-measure HRP cost
against riskfolio-lib's own HCPortfolio HRP on the same window (the reference, measured in the same run).

    python benchmarks/walkforward.py
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from stakealloc import instruments, walkforward
from stakealloc.api import load_fleet
from stakealloc.hrp import RiskMeasure, hrp, riskfolio_hrp
from stakealloc.pipeline import regime_table
from stakealloc.scores import load_bundled

MEASURES = ["MV", "MAD", "MSV", "FLPM", "SLPM", "CVaR", "EVaR", "WR", "MDD", "ADD", "CDaR", "EDaR", "UCI"]


def main() -> None:
    # the fixed-stake example, on which the figures in benchmarks/README.md were measured
    fleet = load_fleet(Path(__file__).resolve().parents[1] / "examples" / "classic-2024.toml")
    table = load_bundled()
    inst = instruments.build(regime_table(fleet, table, "the bundled snapshot"), fleet.models, fleet.payout.regime,
                             fleet.portfolio)
    X = inst.returns
    riskfolio_hrp(X, RiskMeasure.MV)  # import cost out of the timings
    print(f"HRP on one window ({X.shape[0]} rounds × {X.shape[1]} instruments), best of 3, ms")
    print("| measure | stakealloc | riskfolio HCPortfolio | ratio (riskfolio / ours) |")
    print("|---|---|---|---|")
    for rm in MEASURES:
        ours = min(_time(lambda rm=rm: hrp(X, RiskMeasure(rm))) for _ in range(3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = min(_time(lambda rm=rm: riskfolio_hrp(X, RiskMeasure(rm))) for _ in range(3))
        print(f"| {rm} | {ours * 1e3:.1f} | {ref * 1e3:.1f} | {ref / ours:.1f} |")
    t0 = time.perf_counter()
    res = walkforward.run(fleet, table, MEASURES + ["equal", "current"], step=5)
    total = time.perf_counter() - t0
    n = res.settings.decisions
    print(f"\nfull backtest: {len(MEASURES)} measures + 2 baselines × {n} decisions (+ in-sample fits): {total:.1f} s, "
          f"{total / (n * len(MEASURES)) * 1e3:.0f} ms per (measure, decision)")


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
