"""Speed benchmark for the fast path, in one process, each figure a ratio against a reference measured
in the same run (interleaved, best of N):

1. HRP (stakealloc.hrp, native risk measures) against riskfolio-lib's HCPortfolio HRP on the same window,
   for MV, CVaR, MDD, CDaR and EDaR at 24 and 50 instruments × 100 rounds of the bundled data: the ratio
   (goal ≥ 20× for every measure) and the largest weight difference.
2. `stakealloc run {FIXED} --objective exposure` as a process against the import floor
   `python -c "import numpy, pandas, scipy.cluster.hierarchy, pulp, highspy"` (goal ≤ 1.5×).
3. The 13-measure walk-forward backtest of the example fleet (every 5 rounds, objective exposure) with
   --jobs 1 and with all cores (goal ≤ 30 s on 2 cores).

    python benchmarks/speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED = "examples/classic-2024.toml"  # the fixed-stake example (fleet.toml plans per-round stakes)
MEASURES = ["MV", "MAD", "MSV", "FLPM", "SLPM", "CVaR", "EVaR", "WR", "MDD", "ADD", "CDaR", "EDaR", "UCI"]
HRP_MEASURES = ["MV", "CVaR", "MDD", "CDaR", "EDaR"]
FLOOR = "import numpy, pandas, scipy.cluster.hierarchy, pulp, highspy"


def windows():
    """24- and 50-instrument windows of 100 rounds: the bundled models' CORR and MMC streams, one side each."""
    from stakealloc.config import Missing, Portfolio
    from stakealloc.instruments import build
    from stakealloc.regimes import custom_regime
    from stakealloc.scores import load_bundled

    table = load_bundled()
    regime = custom_regime(["canon_corr", "canon_mmc"], [[1.0, 0.0], [0.0, 1.0]])
    # Near-duplicates kept (max_correlation 1): HRP sees them as the tight clusters they are.
    p = Portfolio(leverage=1.0, lookback=100, min_rounds=30, missing=Missing.ZERO,
                  max_correlation=1.0)
    X = build(table, tuple(sorted(table["model"].unique())), regime, p).returns
    assert X.shape[1] >= 50, X.shape
    return {24: X.iloc[:, :24], 50: X.iloc[:, :50]}


def best(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def hrp_rows(repeat: int) -> list[str]:
    from stakealloc.hrp import RiskMeasure, hrp, riskfolio_hrp

    rows = []
    for n, X in windows().items():
        riskfolio_hrp(X, RiskMeasure.MV)  # imports out of the timings
        for rm in HRP_MEASURES:
            r = RiskMeasure(rm)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours_t, ref_t = [], []
                for _ in range(repeat):  # interleaved
                    ours_t.append(best(lambda X=X, r=r: hrp(X, r), 1))
                    ref_t.append(best(lambda X=X, r=r: riskfolio_hrp(X, r), 1))
                ours, ref = hrp(X, r).weights, riskfolio_hrp(X, r)
            dw = float((ours - ref).abs().max())
            rows.append(f"| {rm} | {n} × {X.shape[0]} | {min(ours_t) * 1e3:.2f} | {min(ref_t) * 1e3:.1f} | "
                        f"{min(ref_t) / min(ours_t):.0f}× | {dw:.1e} |")
    return rows


def run_rows(repeat: int) -> list[str]:
    exe = Path(sys.executable).parent / "stakealloc"
    run_t, floor_t = [], []
    for _ in range(repeat):  # interleaved processes
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR], check=True)
        floor_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([str(exe), "run", FIXED, "--objective", "exposure"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        run_t.append(time.perf_counter() - t0)
    r, f = min(run_t), min(floor_t)
    import json
    import tempfile

    out = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    subprocess.run([str(exe), "run", FIXED, "--json", str(out / "t.json")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    tr = time.perf_counter() - t0
    subprocess.run([str(exe), "run", FIXED, "--objective", "exposure", "--json", str(out / "e.json")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    t, e = (json.loads((out / n).read_text()) for n in ("t.json", "e.json"))
    return [f"| `stakealloc run {FIXED} --objective exposure` | {r:.2f} s | import floor {f:.2f} s | {r / f:.2f}× |",
            f"| `stakealloc run {FIXED}` (objective tracking, {t['solver']['status']}) | {tr:.2f} s | "
            f"import floor {f:.2f} s | {tr / f:.1f}× |",
            f"| tracking error in the window, tracking plan | {t['tracking_error']:.2f} NMR/round | exposure plan "
            f"{e['tracking_error']:.2f} | {t['tracking_error'] / e['tracking_error']:.2f}× |",
            f"| nominal deviation, tracking plan | {t['deviation']:,.0f} NMR | exposure plan {e['deviation']:,.0f} | "
            f"{t['deviation'] / e['deviation']:.2f}× |"]


def backtest_rows() -> list[str]:
    from stakealloc import walkforward
    from stakealloc.api import load_fleet
    from stakealloc.config import Objective
    from stakealloc.scores import load_bundled

    fleet = load_fleet(ROOT / FIXED)
    table = load_bundled()
    rows = []
    for jobs in (1, walkforward.default_jobs()):
        t0 = time.perf_counter()
        res = walkforward.run(fleet.with_overrides(objective=Objective.EXPOSURE), table,
                           MEASURES + ["equal", "current"], step=5, jobs=jobs)
        rows.append(f"| 13 measures + 2 baselines × {res.settings.decisions} decisions | --jobs {jobs} | "
                    f"{time.perf_counter() - t0:.1f} s |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}\n")
    print("| measure | window | stakealloc ms | riskfolio HCPortfolio ms | ratio | max abs weight difference |")
    print("|---|---|---|---|---|---|")
    print("\n".join(hrp_rows(a.repeat)))
    print("\n| what | time | reference | ratio |\n|---|---|---|---|")
    print("\n".join(run_rows(a.repeat)))
    print("\n| backtest | jobs | wall time |\n|---|---|---|")
    print("\n".join(backtest_rows()))


if __name__ == "__main__":
    main()
