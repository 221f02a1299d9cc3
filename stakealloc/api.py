"""The Python API: the objects a user composes, over the same stages as the CLI.

    >>> from stakealloc import load_fleet, plan
    >>> fleet = load_fleet("fleet.toml")
    >>> p = plan(fleet)                      # scores from the fleet's source (snapshot or API cache)
    >>> p.to_dict()["slots"][0]["label"]     # the same dict the CLI writes with --json
"""

from __future__ import annotations

from pathlib import Path

from .config import Fleet, Source
from .report import Plan
from .scores import ScoreData


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a fleet file (ConfigError naming the key on bad input)."""
    from .config import load_fleet as _load

    return _load(path)


def load_scores(fleet: Fleet, *, offline: bool = False) -> ScoreData:
    """The score table and the API's facts (stakes, payout rules, the current round) for `fleet`: the snapshot
    for `data.source = "snapshot"`, else the Numerai API through the cache (`offline`: the cache alone)."""
    if fleet.data.source is Source.SNAPSHOT:
        from .scores import from_snapshot

        return from_snapshot(fleet)
    from .sync import sync

    return sync(fleet, offline=offline, progress=False)


def plan(fleet: Fleet, scores: ScoreData | None = None) -> Plan:
    """This week's slot plan; loads the scores itself when none are given."""
    from .pipeline import plan as _plan

    sd = scores if scores is not None else load_scores(fleet)
    return _plan(sd.fleet, sd.table, source=sd.source, current_round=sd.current_round, notes=sd.notes)


def run_backtest(fleet: Fleet, scores: ScoreData | None = None, *, strategies: list[str] | None = None,
                 **settings):
    """The walk-forward backtest (`backtest.run`); `strategies` default to the fleet's risk measure and the
    baselines `equal` and `current`; `settings` are run's: step, lag, jobs, …"""
    from . import backtest as bt

    sd = scores if scores is not None else load_scores(fleet)
    strategies = strategies or [sd.fleet.portfolio.risk_measure.value, *bt.BASELINES]
    return bt.run(sd.fleet, sd.table, strategies, rules=sd.rules, **settings)
