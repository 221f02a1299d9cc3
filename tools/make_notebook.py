"""Write notebooks/risk_measure_sensitivity.ipynb (cells only; run it to fill outputs)."""

import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("""# Which risk measure? An out-of-sample answer

The forum thread compared HRP risk measures in sample, with full look-ahead, and found volatility worst and
drawdown measures best. Here the same question is asked **out of sample** on the bundled real scores
(Numerai Classic, rounds 843–1197), with `stakealloc`'s own pipeline:

* at each decision round *d* (every 5 rounds: a week of daily rounds) only rounds *r* with *r* + lag < *d*
  are used; the lag comes from the payout scores' horizon: a daily round's 20-day score is final
  1 + 2 + 20 business days later, plus 2 rounds of processing, so lag = 25;
* the real pipeline runs on that window (instruments, HRP, targets, the slot program) for the fixed-stake
  example fleet (`examples/classic-2024.toml`, regime `classic-2024`: every slot pays 0.5×v2_corr20 + 2×mmc,
  read from the snapshot's canonical 20-day columns `canon_corr` and `canon_mmc` as the fleet file states);
* the plan is held for 5 rounds and paid by Numerai's formula, stake × clip(Σ factor × multiplier × score, ±0.05),
  with the payout factors stated below (the snapshot carries no round's own rules);
* baselines: `equal` (equal weights on the same eligible instruments) and `current` (every slot keeps what it
  submits today: the do-nothing plan)."""),
    code("""import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stakealloc import api, backtest, load_fleet, load_scores, weights

ROOT = Path.cwd() if (Path.cwd() / "fleet.toml").exists() else Path.cwd().parent
# The measures are compared under the exposure objective (proven in a fraction of a second per plan); the
# two objectives are compared further down.
fleet = load_fleet(ROOT / "examples" / "classic-2024.toml").with_overrides(objective="exposure")
scores = load_scores(fleet)  # the bundled snapshot
MEASURES = ["MV", "MAD", "CVaR", "EVaR", "WR", "MDD", "CDaR", "UCI"]
STEP = 5  # the lag is derived from the payout scores' horizon (25 for 20-day scores)
strategies = MEASURES + ["equal", "current"]
res = backtest(fleet, scores, strategies=strategies, step=STEP)
s = res.settings
print(f"decisions every {s.step} rounds from {s.first_decision} to {s.last_decision} ({s.decisions}); "
      f"payouts booked on rounds {s.rounds[0]}–{s.rounds[1]}; lag {s.lag} ({s.lag_source})")
print(f"payout = stake × clip(Σ factor × multiplier × score, ±{s.clip:g}); factors "
      + ", ".join(f"{k} {v:g}" for k, v in s.payout_factors.items()))"""),
    md("""## Out of sample beside in sample

Left: walk forward. Right: weights fitted once on *all* rounds and held throughout, which uses the future
(look-ahead), as the forum comparison did. `nonoverlap` columns use every 20th round only: consecutive daily
rounds' 20-day scores overlap and correlate at about 0.9, so 250 booked rounds hold only about 13 independent
observations."""),
    code("""def frame(tab):
    rows = {}
    for k, m in tab.items():
        no = m.non_overlapping
        rows[k] = {"mean %": m.mean_pct, "Sharpe": m.sharpe, "max DD NMR": m.max_drawdown,
                   "CVaR5 NMR": m.cvar5, "turnover": m.turnover,
                   "nonoverlap mean %": no.mean_pct, "nonoverlap Sharpe": no.sharpe}
    return pd.DataFrame(rows).T

oos, ins = frame(res.strategies), frame(res.in_sample)
side_by_side = pd.concat({"out of sample": oos, "in sample (look-ahead)": ins.drop(columns="turnover")}, axis=1)
side_by_side.round(3)"""),
    code("""fig, ax = plt.subplots(1, 2, figsize=(11, 3.6), dpi=70)
cum = res.payouts.cumsum()
cum.plot(ax=ax[0], lw=1)
ax[0].legend(fontsize=6, ncol=2)
ax[0].set_title("cumulative payout (NMR), out of sample"); ax[0].set_xlabel("round")
dd = cum.cummax().clip(lower=0) - cum
dd.plot(ax=ax[1], lw=1)
ax[1].set_title("drawdown (NMR)"); ax[1].set_xlabel("round")
ax[1].legend(fontsize=6, ncol=2)
plt.tight_layout(); plt.show()"""),
    md("## Weights over time (CDaR) and the latest window's dendrogram"),
    code("""w = pd.DataFrame({d.round: d.weights for d in res.decisions if d.strategy == "CDaR"}).fillna(0.0)
w = w.loc[w.max(axis=1).sort_values(ascending=False).index]
fig, ax = plt.subplots(1, 2, figsize=(11, 4), dpi=70, gridspec_kw={"width_ratios": [3, 2]})
im = ax[0].imshow(w.to_numpy(), aspect="auto", cmap="viridis")
ax[0].set_yticks(range(len(w.index)), [i.replace("_payout", "") for i in w.index], fontsize=6)
ax[0].set_xticks(range(0, w.shape[1], 10), w.columns[::10], fontsize=7)
ax[0].set_title("HRP weight (CDaR) at each decision round"); fig.colorbar(im, ax=ax[0])
from scipy.cluster.hierarchy import dendrogram
wt = weights(fleet.with_overrides(risk_measure="CDaR"), scores)  # this week's HRP step
ret = wt.inst.returns
dendrogram(wt.result.linkage, labels=[c.replace("_payout", "") for c in ret.columns], orientation="right",
           ax=ax[1], leaf_font_size=6)
ax[1].set_title(f"dendrogram, rounds {ret.index[0]}–{ret.index[-1]}")
plt.tight_layout(); plt.show()"""),
    md("""## Reading

Every statement below is computed from the tables above when the notebook runs (none is written beforehand)."""),
    code("""from IPython.display import Markdown

oos_sharpe = {k: m.sharpe for k, m in res.strategies.items()}
ins_sharpe = {k: m.sharpe for k, m in res.in_sample.items()}
best = max(oos_sharpe, key=lambda k: (oos_sharpe[k], k))
best_in = max(ins_sharpe, key=lambda k: (ins_sharpe[k], k))
drawdown = [k for k in ("MDD", "CDaR", "UCI") if k in ins_sharpe]
dd_beats_mv = sum(ins_sharpe[k] > ins_sharpe["MV"] for k in drawdown)
turn = {k: m.turnover for k, m in res.strategies.items() if k not in ("current",)}
lines = [
    f"* **Out of sample the best Sharpe is {best}'s** ({oos_sharpe[best]:.3f}); "
    f"in sample (look-ahead) it is {best_in}'s ({ins_sharpe[best_in]:.3f}).",
    f"* In sample, {dd_beats_mv} of the {len(drawdown)} drawdown measures run here ({', '.join(drawdown)}) beat "
    f"volatility (MV, Sharpe {ins_sharpe['MV']:.3f}); out of sample, "
    f"{sum(oos_sharpe[k] > oos_sharpe['MV'] for k in drawdown)} of them do.",
    f"* The verdict of the backtest: {s.verdict} (90 % block-bootstrap intervals over the held rounds, blocks "
    f"of {s.bootstrap.block} rounds; the table in `stakealloc backtest`).",
    f"* Turnover (slots changed per decision): lowest {min(turn, key=turn.get)} ({min(turn.values()):.2f}), "
    f"highest {max(turn, key=turn.get)} ({max(turn.values()):.2f}).",
    "* Caveats: one fleet, one period (2025–2026 daily rounds), a constant payout factor of 1, and the short "
    "side approximated by negated scores."]
print(f"stated-best: {best}")
Markdown("\\n".join(lines))""", metadata={"tags": ["reading"]}),
    md("""## Which slot objective? Exposure against tracking, out of sample

The slot program can minimise the nominal deviation Σ|achieved − target| (`exposure`) or the tracking error,
the mean |plan payout − target payout| per round over the weights' window (`tracking`). Here both run the same
walk forward (every 20 rounds, to keep this notebook quick) for three measures and `equal`; `track` is the
out-of-sample tracking error (NMR per round) of each held plan against its own decision's target portfolio.
The tracking solves get 1 s each here, so some plans are the best found rather than proven (`unproven`)."""),
    code("""CMP = ["CVaR", "CDaR", "MDD"]
cmp = {}
for objective in ("exposure", "tracking"):
    f = fleet.with_overrides(objective=objective, time_limit=1.0)
    cmp[objective] = backtest(f, scores, strategies=CMP + ["equal"], step=20)
rows = {(o, k): {"mean %": m.mean_pct, "Sharpe": m.sharpe, "track NMR/round": m.tracking_error,
                 "turnover": m.turnover, "unproven": r.settings.unproven[k]}
        for o, r in cmp.items() for k, m in r.strategies.items()}
pd.DataFrame(rows).T.round(3)"""),
    code("""fig, ax = plt.subplots(1, 2, figsize=(11, 3.4), dpi=70)
for o, r in cmp.items():
    r.payouts[["CVaR"]].cumsum().rename(columns={"CVaR": f"CVaR, {o}"}).plot(ax=ax[0], lw=1)
te = pd.DataFrame({o: {k: m.tracking_error for k, m in r.strategies.items()} for o, r in cmp.items()})
te.plot.bar(ax=ax[1])
ax[0].set_title("cumulative payout (NMR), out of sample"); ax[1].set_title("tracking error (NMR per round)")
plt.tight_layout(); plt.show()"""),
    md("""## A small sweep: risk measure × lookback

`stakealloc sweep` runs the same walk forward over a grid of settings (here every 20 rounds, to stay quick) and
draws the out-of-sample Sharpe as a heatmap; on a cluster, the same call takes `dask=` a scheduler address."""),
    code("""import tempfile

from IPython.display import Image

out = Path(tempfile.mkdtemp()) / "sweep"
sw = api.sweep(fleet, out, scores, risk_measures=["MV", "CVaR", "MDD"], lookbacks=[60, 100], linkages=["single"],
               objectives=["exposure"], step=20)
display(sw.table[["risk_measure", "lookback", "mean_pct", "sharpe", "max_drawdown", "nonoverlap_sharpe",
                  "decisions"]].round(3))
Image(filename=str(out / "heatmap.png"))"""),
    md("""## Per-round stakes: today's game

Since round 1343 Classic stakes per round (Atomic Blockchain Staking): the plan also sets every slot's
per-round stake, summing to the budget. `fleet.toml` plans that game (`classic-r1343`, the bundled 20-day
scores standing in for the 60-day ones). Below: its plan, then its walk forward beside the same slots
holding today's per-round stakes fixed (the fixed-stake twin of `benchmarks/staking.py`), every 20 rounds
under the exposure objective to stay quick (`benchmarks/README.md` has the tracking comparison)."""),
    code("""import sys

from stakealloc import plan

sys.path.insert(0, str(ROOT / "benchmarks"))
from staking import fixed_twin

pr_fleet = load_fleet(ROOT / "fleet.toml").with_overrides(objective="exposure")
pr_scores = load_scores(pr_fleet)
p = plan(pr_fleet, pr_scores)
print(f"per-round budget {p.staking.per_round_budget:g} NMR, Σ stakes {sum(r.stake for r in p.slots):g} NMR, "
      f"solver {p.solver.status}")
display(pd.DataFrame([{"slot": r.slot, "submits": f"{r.current} → {r.label}", "current stake": r.current_stake,
                       "per-round stake": r.stake, "changed": r.changed} for r in p.slots]))
twin_path = Path(tempfile.mkdtemp()) / "fixed.toml"
twin_path.write_text(fixed_twin((ROOT / "fleet.toml").read_text()))
twin = load_fleet(twin_path).with_overrides(objective="exposure")
per = {"per-round stakes": backtest(pr_fleet, pr_scores, strategies=["CVaR", "equal", "current"], step=20),
       "fixed stakes": backtest(twin, load_scores(twin), strategies=["CVaR", "equal", "current"], step=20)}
pd.DataFrame({(n, k): {"mean NMR/round": m.mean, "mean % of B": m.mean_pct, "Sharpe": m.sharpe,
                       "track NMR/round": m.tracking_error}
              for n, r in per.items() for k, m in r.strategies.items()}).T.round(3)"""),
    code("""fig, ax = plt.subplots(figsize=(6, 3.2), dpi=70)
for n, r in per.items():
    r.payouts["CVaR"].cumsum().plot(ax=ax, lw=1, label=f"CVaR, {n}")
per["per-round stakes"].payouts["current"].cumsum().plot(ax=ax, lw=1, ls="--", label="current")
ax.legend(fontsize=7); ax.set_title("cumulative payout (NMR), out of sample"); ax.set_xlabel("round")
plt.tight_layout(); plt.show()"""),
    code("""# The out-of-sample table as JSON: tests compare it with `stakealloc backtest --json` for the same settings.
doc = res.to_dict()
print(json.dumps({"settings": doc["settings"], "strategies": doc["strategies"]}, sort_keys=True))""",
         metadata={"tags": ["oos-json"]}),
]
nb["cells"] = cells
nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/risk_measure_sensitivity.ipynb")
print("written")
