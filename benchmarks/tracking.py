"""The tracking objective's speed (issue "tracking plans, backtests and sweeps 10-100x faster"): this
checkout against the shipped code of a reference commit (default 4d3eeb2, the issue's starting commit),
both measured in the same run, alternating, each in its own interpreter with its tree first on sys.path.

    python benchmarks/tracking.py [--reference COMMIT] [--quick]

Rows:
- `run examples/classic-2024.toml` (fixed stakes, objective tracking): median of 5 wall times against the
  import floor `python -c "import numpy, pandas, scipy.cluster.hierarchy, pulp, highspy"` (median of 5), and
  against the same imports ended by `os._exit(0)`: the floor without the interpreter's teardown, which
  `stakealloc` skips once its outputs are complete (`slots.backends.leave`), so that gain is shown apart;
- the slot benchmark's tracking rows (classic-2024, 9/25/50/100 slots × 6/20 models, 10 s limit; the
  instances of benchmarks/slots.py);
- the README's 3-measure backtest (CVaR, CDaR, MDD) of the fixed-stake example, jobs 2, at --step 5 (the
  issue's; --quick: 40) with --time-limit 10 for both trees (ours' default), and ours under
  --objective exposure: the README's "Why tracking is the default" table, per measure and objective;
- the issue's sweep (MV, CVaR × lookbacks 60, 100, step 20, jobs 2) under the fleet's objective.

Every ratio is reference / this checkout (> 1: this checkout is faster)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import numpy, pandas, scipy.cluster.hierarchy, pulp, highspy"
FLOOR_NO_TEARDOWN = FLOOR + "; import os; os._exit(0)"
ROWS = """
import json, sys, time
sys.path.insert(1, {bench!r})  # after the tree (the working directory): the instances from this checkout
import numpy as np
from slots import instance
import stakealloc
from stakealloc import payout, tracking
from stakealloc.regimes import PRESETS
from stakealloc.slots import SlotProblem, solve
from stakealloc.types import Objective
regime = PRESETS["classic-2024"]
out = []
for S, K in ((9, 6), (9, 20), (25, 6), (25, 20), (50, 6), (50, 20), (100, 6), (100, 20)):
    slots, tg, models = instance(S, K, regime, 1)
    rng = np.random.default_rng(8)
    base = rng.normal(0.0, 0.02, 80)
    values = {{(m, k): 0.6 * base + rng.normal(0.001, 0.015, 80) for m in models for k in regime.scores}}
    st = (payout.ScoreCube.from_streams(tuple(range(80)), values) if hasattr(payout, "ScoreCube")
          else tracking.Streams(tuple(range(80)), values))
    pb = SlotProblem.build(slots, tg, regime, models, objective=Objective.TRACKING, streams=st)
    t0 = time.perf_counter()
    sv = solve(pb, time_limit=10).solver
    out.append([S, K, time.perf_counter() - t0, str(sv.status), sv.objective, sv.gap])
print(json.dumps(out))
print(stakealloc.__file__)
"""


def env_for(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("CI", None)
    # both trees' bytecode cached after the first run, as an installed wheel has it (pip compiles on install)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str], tree: Path, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env_for(tree), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} in {tree}: exit {r.returncode}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0, r


def reference_tree(commit: str, into: Path) -> Path:
    tree = into / f"ref-{commit}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                   capture_output=True)
    return tree


def rows_table(py: str, trees: dict[str, Path]) -> None:
    """The slot benchmark's tracking rows (classic-2024, 10 s) in each tree, as a Markdown table."""
    rows = {}
    for name, tree in trees.items():
        # run in the tree: `python -c` puts the working directory first on sys.path
        _, r = timed([py, "-c", ROWS.format(bench=str(ROOT / "benchmarks"))], tree, tree)
        *_, got, where = r.stdout.strip().splitlines()
        assert Path(where).resolve().is_relative_to(tree.resolve()), (name, where)
        rows[name] = json.loads(got)
    print("| S × K | reference s | status | objective | gap | ours s | status | objective | gap | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worse = []
    for rr, ro in zip(rows["reference"], rows["ours"]):
        print(f"| {rr[0]} × {rr[1]} | {rr[2]:.2f} | {rr[3]} | {rr[4]:.3f} | {rr[5]:.3f} | {ro[2]:.2f} | "
              f"{ro[3]} | {ro[4]:.3f} | {ro[5]:.3f} | {rr[2] / ro[2]:.1f} |")
        if ro[4] > rr[4] + 0.01:
            worse.append(f"{rr[0]} × {rr[1]}")
    assert not worse, f"worse than the reference at the same time limit: {', '.join(worse)}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default="4d3eeb2")
    ap.add_argument("--quick", action="store_true", help="backtest at step 40, no sweep")
    ap.add_argument("--step", default="5", help="the backtest's rounds between decisions (default 5)")
    ap.add_argument("--rows", action="store_true", help="the slot benchmark's tracking rows only")
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        ref = reference_tree(a.reference, tmpd)
        try:
            trees = {"reference": ref, "ours": ROOT}
            print(f"reference {a.reference}; this checkout {ROOT}; {time.strftime('%Y-%m-%d %H:%M')}\n")
            if a.rows:
                rows_table(py, trees)
                return
            # 1. run of the fixed-stake example
            times = {"floor": [], "floor without teardown": [], "reference": [], "ours": []}
            status = {}
            for _ in range(5):
                times["floor"].append(timed([py, "-c", FLOOR], ROOT, ROOT)[0])
                times["floor without teardown"].append(timed([py, "-c", FLOOR_NO_TEARDOWN], ROOT, ROOT)[0])
                for name, tree in trees.items():
                    out = tmpd / f"{name}.json"
                    t, _ = timed([py, "-m", "stakealloc", "run", "examples/classic-2024.toml", "--json", str(out)],
                                 tree, tree)
                    times[name].append(t)
                    status[name] = json.loads(out.read_text())["solver"]
            floor = statistics.median(times["floor"])
            bare = statistics.median(times["floor without teardown"])
            print("| `run examples/classic-2024.toml` (tracking) | median s | × import floor "
                  "| × floor without teardown | status | formulation | objective NMR/round |")
            print("|---|---|---|---|---|---|---|")
            print(f"| import floor | {floor:.2f} | 1.00 | {floor / bare:.2f} | | | |")
            print(f"| import floor without teardown | {bare:.2f} | {bare / floor:.2f} | 1.00 | | | |")
            for name in trees:
                m = statistics.median(times[name])
                sv = status[name]
                print(f"| {name} | {m:.2f} | {m / floor:.2f} | {m / bare:.2f} | {sv['status']} | "
                      f"{sv['formulation']} | {sv['objective']:.6f} |")
            ratio = statistics.median(times["reference"]) / statistics.median(times["ours"])
            print(f"\nrun: reference / ours = {ratio:.1f}×\n")
            # 2. the slot benchmark's tracking rows
            rows_table(py, trees)
            # 3. the 3-measure backtest
            step = "40" if a.quick else a.step
            print(f"\n3-measure backtest of examples/classic-2024.toml (CVaR, CDaR, MDD), step {step}, jobs 2:\n")
            print("| tree | objective | time limit per decision | s | plans not proven |")
            print("|---|---|---|---|---|")
            bt, table = {}, []
            same = ["--time-limit", "10"]  # ours: also its default (solver.time_limit 30, capped at 10)
            for name, tree, extra in (("reference", ref, same), ("ours", ROOT, same),
                                      ("ours", ROOT, [*same, "--objective", "exposure"])):
                out = tmpd / "bt.json"
                t, _ = timed([py, "-m", "stakealloc", "backtest", "examples/classic-2024.toml", "--risk-measures",
                              "CVaR,CDaR,MDD", "--step", step, "--jobs", "2", "--quiet", "--json", str(out), *extra],
                             tree, tree)
                d = json.loads(out.read_text())
                objective = d["settings"]["objective"]
                unproven = sum(d["settings"]["unproven"].get(m, 0) for m in ("CVaR", "CDaR", "MDD"))
                plans = d["settings"]["decisions"] * 3
                bt[(name, objective)] = t
                print(f"| {name} | {objective} | 10 | {t:.1f} | {unproven} of {plans} |")
                if name == "ours":
                    table += [(m, objective, d["strategies"][m], d["settings"]["unproven"].get(m, 0),
                               d["settings"]["decisions"]) for m in ("CVaR", "CDaR", "MDD")]
            print("\nout of sample, ours (the README's 'Why tracking is the default'):\n")
            print("| measure | objective | mean NMR/round | Sharpe | out-of-sample tracking error (NMR/round) | "
                  "plans not proven in 10 s |")
            print("|---|---|---|---|---|---|")
            for m, objective, r, un, n in sorted(table, key=lambda x: (("CVaR", "CDaR", "MDD").index(x[0]), x[1])):
                print(f"| {m} | {objective} | {r['mean']:.2f} | {r['sharpe']:.3f} | {r['tracking_error']:.2f} | "
                      f"{un} of {n} |")
            speedup = bt[("reference", "tracking")] / bt[("ours", "tracking")]
            print(f"\nbacktest at 10 s per decision: reference / ours = {speedup:.1f}×")
            if a.quick:
                return
            # 4. the sweep
            print("\nsweep examples/classic-2024.toml --risk-measures MV,CVaR --lookbacks 60,100 --step 20 --jobs 2:\n")
            print("| tree | s |")
            print("|---|---|")
            sw = {}
            for name, tree in trees.items():
                t, _ = timed([py, "-m", "stakealloc", "sweep", "examples/classic-2024.toml", "--risk-measures",
                              "MV,CVaR", "--lookbacks", "60,100", "--step", "20", "--jobs", "2", "--quiet", "--out",
                              str(tmpd / f"sweep-{name}")], tree, tree)
                sw[name] = t
                print(f"| {name} | {t:.1f} |")
            print(f"\nsweep: reference / ours = {sw['reference'] / sw['ours']:.1f}×")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref)], capture_output=True)


if __name__ == "__main__":
    main()
