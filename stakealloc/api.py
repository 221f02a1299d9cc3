"""The Python API: the objects a user composes, over the same stages as the CLI.

    >>> from stakealloc import load_fleet, plan
    >>> fleet = load_fleet("fleet.toml")
    >>> p = plan(fleet)                      # scores from the fleet's source (snapshot or API cache)
    >>> p.to_dict()["slots"][0]["label"]     # the same dict the CLI writes with --json
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Fleet, FleetSpec, Source
from .errors import ConfigError

if TYPE_CHECKING:  # the stages load on first use: `load_fleet` needs none of them
    from .records import Plan
    from .scores import ScoreData
    from .walkforward import BacktestResult


def load_fleet(path: str | Path) -> Fleet | FleetSpec:
    """Read and check a fleet file (ConfigError naming the key on bad input), resolved as far as the file
    allows: a complete Fleet, or, where stakes or live rules come from the API, the FleetSpec that
    `load_scores` resolves."""
    from .config import parse, resolve

    if not isinstance(path, str | Path):
        raise ConfigError(f"path: expected the fleet file's path (str or Path), got {type(path).__name__}",
                          key="path")
    spec = parse(path)
    return spec if spec.needs_api else resolve(spec)


def _checked(fleet, scores) -> ScoreData | None:
    """The API's arguments as the file's are checked (ConfigError naming the argument, never a pandas or
    attribute error): `fleet` is what `load_fleet` returns; `scores`, if given, is a ScoreData whose table
    passes the snapshot's checks (whole rounds in range, finite values, no duplicates), normalised as they do."""
    import pandas as pd

    from .scores import ScoreData, validate_table

    if not isinstance(fleet, Fleet | FleetSpec):
        hint = f"; load it first: load_fleet({str(fleet)!r})" if isinstance(fleet, str | Path) else ""
        raise ConfigError(f"fleet: expected what load_fleet returns, got {type(fleet).__name__}{hint}", key="fleet")
    if scores is None:
        return None
    if not isinstance(scores, ScoreData):
        raise ConfigError(f"scores: expected what load_scores returns (a ScoreData), got {type(scores).__name__}",
                          key="scores")
    if not isinstance(scores.table, pd.DataFrame):
        raise ConfigError(f"scores.table: expected a pandas DataFrame, got {type(scores.table).__name__}",
                          key="scores")
    return replace(scores, table=validate_table(scores.table, "scores.table"))


def _spec(fleet: Fleet | FleetSpec) -> FleetSpec:
    if isinstance(fleet, FleetSpec):
        return fleet
    assert fleet.spec is not None, "a Fleet made by config.resolve carries its spec"
    return fleet.spec


def load_scores(fleet: Fleet | FleetSpec, *, offline: bool = False) -> ScoreData:
    """The score table and the API's facts (stakes, payout rules, the current round) for `fleet`, and the fleet
    resolved with them (`ScoreData.fleet`): the snapshot for `data.source = "snapshot"`, else the Numerai API
    through the cache (`offline`: the cache alone)."""
    _checked(fleet, None)
    if not isinstance(offline, bool):
        raise ConfigError(f"offline: expected True or False, got {offline!r}", key="offline")
    if fleet.data.source is Source.SNAPSHOT:
        from .config import resolve
        from .scores import from_snapshot

        return from_snapshot(fleet if isinstance(fleet, Fleet) else resolve(fleet))
    from .sync import sync

    return sync(_spec(fleet), offline=offline, progress=False)


def _resolved(fleet: Fleet | FleetSpec, sd: ScoreData) -> Fleet:
    """The fleet to plan with: as given when complete (with any overrides made on it), else as the scores'
    facts resolved it."""
    return fleet if isinstance(fleet, Fleet) else sd.fleet


def plan(fleet: Fleet | FleetSpec, scores: ScoreData | None = None) -> Plan:
    """This week's slot plan; loads the scores itself when none are given."""
    from .pipeline import plan as _plan

    scores = _checked(fleet, scores)
    sd = scores if scores is not None else load_scores(fleet)
    return _plan(_resolved(fleet, sd), sd.table, source=sd.source, current_round=sd.current_round, notes=sd.notes,
                 deadline=sd.deadline)


def backtest(fleet: Fleet | FleetSpec, scores: ScoreData | None = None, *, strategies: list[str] | None = None,
             **settings) -> BacktestResult:
    """The walk-forward backtest (`walkforward.run`); `strategies` default to the fleet's risk measure and the
    baselines `equal` and `current`; `settings` are run's: step, lag, jobs, …"""
    from .walkforward import BASELINES, default_jobs, run

    scores = _checked(fleet, scores)
    sd = scores if scores is not None else load_scores(fleet)
    f = _resolved(fleet, sd)
    strategies = [f.portfolio.risk_measure.value, *BASELINES] if strategies is None else strategies
    # all cores, as the CLI: the README's own session took 31.5 minutes in one process
    settings.setdefault("jobs", default_jobs())
    return run(f, sd.table, strategies, rules=sd.rules, **settings)
