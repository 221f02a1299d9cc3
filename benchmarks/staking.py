"""Per-round stakes against fixed stakes, out of sample, on the example fleet.

The same slots, NMR, regime (classic-r1343) and data: `fleet.toml` as it is (the plan sets each slot's
per-round stake, Σ = B = 250 NMR per round) against its fixed-stake twin (`system = "fixed"`, each slot's
stake its current per-round stake, which also sum to 250: the plan chooses references only). Both are
walked forward with the same settings (default lag 65, the fleet's objective and measure) and compared by
mean payout, Sharpe and out-of-sample tracking error.

    python benchmarks/staking.py [--step 10] [--time-limit 10] [--jobs N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stakealloc import backtest, load_fleet, load_scores  # noqa: E402
from stakealloc.walkforward import default_jobs  # noqa: E402


def fixed_twin(text: str) -> str:
    """fleet.toml with fixed stakes: each slot's stake = its current per-round stake; no per-round keys."""
    text = re.sub(r'^system = "per-round".*$', 'system = "fixed"', text, flags=re.M)
    text = re.sub(r"^(nmr|per_round|open_rounds|stake_step|min_stake|mode) = .*$\n", "", text, flags=re.M)
    text = re.sub(r"^max_stake = .*$\n", "", text, flags=re.M)
    return re.sub(r"^current_stake = ([0-9.]+).*$", r"stake = \1", text, flags=re.M)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=default_jobs())
    a = ap.parse_args()
    text = (ROOT / "fleet.toml").read_text()
    d = Path(tempfile.mkdtemp())
    (d / "fixed.toml").write_text(fixed_twin(text))
    rows = []
    for name, path in (("per-round stakes", ROOT / "fleet.toml"), ("fixed stakes", d / "fixed.toml")):
        fleet = load_fleet(path)
        from dataclasses import replace

        fleet = replace(fleet, solver=replace(fleet.solver, time_limit=a.time_limit))
        t0 = time.perf_counter()
        res = backtest(fleet, load_scores(fleet), step=a.step, jobs=a.jobs)
        rows.append((name, res, time.perf_counter() - t0))
    s = rows[0][1].settings
    print(f"decisions every {s.step} rounds from {s.first_decision} to {s.last_decision} ({s.decisions}), "
          f"lag {s.lag}, objective {s.objective}, time limit {a.time_limit:g} s, payouts in NMR per round "
          f"(B = {s.total_stake:g})\n")
    print("| staking | strategy | mean NMR/round | mean % of B | Sharpe | non-overlapping Sharpe | "
          "out-of-sample tracking error (NMR/round) | plans not proven | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, res, secs in rows:
        for k, m in res.strategies.items():
            te = "" if m.tracking_error is None else f"{m.tracking_error:.3f}"
            print(f"| {name} | {k} | {m.mean:.2f} | {m.mean_pct:.3f} | {m.sharpe:.3f} | "
                  f"{m.non_overlapping.sharpe:.3f} | {te} | {res.settings.unproven.get(k, '')} | {secs:.0f} |")


if __name__ == "__main__":
    main()
