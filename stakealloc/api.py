"""The Python API: the one front door. The CLI parses its flags, calls one function here and renders the result
with `report`; a library caller does the same.

    >>> from stakealloc import load_fleet, plan
    >>> fleet = load_fleet("fleet.toml")
    >>> p = plan(fleet)                      # scores from the fleet's source (snapshot or API cache)
    >>> p.to_dict()["slots"][0]["label"]     # the same dict the CLI writes with --json

Arguments are checked as the fleet file's keys are: a wrong type or value is a ConfigError naming the
argument (the CLI names its flag instead), never an error from pandas or pathlib.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Fleet, FleetSpec, Source
from .errors import ConfigError

if TYPE_CHECKING:  # the stages load on first use: `load_fleet` needs none of them
    from .numerai import AccountSlots
    from .pipeline import Weights
    from .records import BacktestResult, Plan, SweepResult, Validation
    from .scores import ScoreData


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


def _fleet(fleet) -> Fleet | FleetSpec:
    if not isinstance(fleet, Fleet | FleetSpec):
        hint = f"; load it first: load_fleet({str(fleet)!r})" if isinstance(fleet, str | Path) else ""
        raise ConfigError(f"fleet: expected what load_fleet returns, got {type(fleet).__name__}{hint}", key="fleet")
    return fleet


def _scores(fleet, scores, *, offline: bool = False, progress: bool = False) -> ScoreData:
    """`scores` checked (a ScoreData whose table passes the snapshot's checks: whole rounds in range, finite
    values, no duplicates), or loaded for `fleet` when None."""
    import pandas as pd

    from .scores import ScoreData

    if scores is None:
        return load_scores(fleet, offline=offline, progress=progress)
    if not isinstance(scores, ScoreData):
        raise ConfigError(f"scores: expected what load_scores returns (a ScoreData), got {type(scores).__name__}",
                          key="scores")
    if not isinstance(scores.table, pd.DataFrame):
        raise ConfigError(f"scores.table: expected a pandas DataFrame, got {type(scores.table).__name__}",
                          key="scores")
    return scores.validated()


_KINDS = {bool: "True or False", str: "a string", str | Path: "a path (str or Path)"}


def _flag(name: str, value, kind) -> None:
    """ConfigError naming `name` unless `value` is of `kind` (a bool is not a number here)."""
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{name}: expected {_KINDS[kind]}, got {value!r}", key=name)


def _spec(fleet: Fleet | FleetSpec) -> FleetSpec:
    if isinstance(fleet, FleetSpec):
        return fleet
    assert fleet.spec is not None, "a Fleet made by config.resolve carries its spec"
    return fleet.spec


def load_scores(fleet: Fleet | FleetSpec, *, offline: bool = False, progress: bool = False) -> ScoreData:
    """The score table and the API's facts (stakes, payout rules, the current round) for `fleet`, and the fleet
    resolved with them (`ScoreData.fleet`): the snapshot for `data.source = "snapshot"`, else the Numerai API
    through the cache (`offline`: the cache alone; `progress`: a bar on stderr)."""
    _fleet(fleet)
    _flag("offline", offline, bool)
    _flag("progress", progress, bool)
    if fleet.data.source is Source.SNAPSHOT:
        from .config import resolve
        from .scores import from_snapshot

        return from_snapshot(fleet if isinstance(fleet, Fleet) else resolve(fleet))
    from .sync import sync

    return sync(_spec(fleet), offline=offline, progress=progress)


def _resolved(fleet: Fleet | FleetSpec, sd: ScoreData) -> Fleet:
    """The fleet to plan with: as given when complete (with any overrides made on it), else as the scores'
    facts resolved it."""
    return fleet if isinstance(fleet, Fleet) else sd.fleet


def plan(fleet: Fleet | FleetSpec, scores: ScoreData | None = None, *, offline: bool = False,
         progress: bool = False) -> Plan:
    """This week's slot plan; loads the scores itself when none are given (`offline`, `progress`: as
    `load_scores`)."""
    from .pipeline import plan as _plan

    sd = _scores(_fleet(fleet), scores, offline=offline, progress=progress)
    return _plan(_resolved(fleet, sd), sd.table, origin=sd.origin, current_round=sd.current_round, notes=sd.notes,
                 deadline=sd.deadline)


def weights(fleet: Fleet | FleetSpec, scores: ScoreData | None = None, *, offline: bool = False) -> Weights:
    """The HRP step of `plan` on its own: the eligible instruments of the fleet's window (`inst.returns`:
    rounds × instruments, per-round score), the clustering (`result.linkage`, `result.order`) and the weights
    (`weights`: ≥ 0, summing to 1, after min_weight), as this week's plan uses them."""
    from .pipeline import regime_table, weigh

    sd = _scores(_fleet(fleet), scores, offline=offline)
    f = _resolved(fleet, sd)
    return weigh(f, regime_table(f, sd.table, sd.origin))


def assign(fleet: Fleet | FleetSpec, targets: str | Path, *, offline: bool = False) -> Plan:
    """The slot plan for target exposures you computed yourself: `targets` is a CSV `model,side,score,target`
    (NMR). No scores are needed but the API's stakes where the file leaves them to it. Under the default
    objective the plan uses `exposure`: tracking needs the weights' window, which given targets lack."""
    from . import objectives
    from . import targets as _targets
    from .config import Objective, resolve
    from .pipeline import assemble

    _fleet(fleet)
    _flag("targets", targets, str | Path)
    spec = _spec(fleet)
    if spec.solver.objective is None:  # the default objective, not the file's word: exposure, as stated above
        fleet = fleet.with_overrides(objective=Objective.EXPOSURE)
    f = fleet if isinstance(fleet, Fleet) else (load_scores(fleet, offline=offline).fleet if fleet.needs_api
                                                else resolve(fleet))
    if objectives.of(f.solver.objective).needs_streams:
        raise ConfigError(f'solver.objective: "{f.solver.objective.value}" follows '
                          f'{objectives.of(f.solver.objective).what}, which given targets do not have; run assign '
                          'with --objective exposure')
    tg = _targets.parse_csv(_read_text(targets, "targets"), str(targets), f.payout.regime, f.models,
                            f.portfolio.leverage)
    return assemble(f, tg, table=None, wt=None, origin=f"targets {targets}")


def _read_text(path: str | Path, key: str) -> str:
    """A text file an argument names, or ConfigError naming the argument."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{key}: no such file {str(path)!r}", key=key) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{key}: {path}: cannot read ({type(e).__name__})", key=key) from None


def backtest(fleet: Fleet | FleetSpec, scores: ScoreData | None = None, *, strategies: list[str] | None = None,
             step: int = 5, lag: int | None = None, start: int | None = None, jobs: int | None = None,
             time_limit: float | None = None, offline: bool = False, progress: bool = False) -> BacktestResult:
    """The walk-forward backtest: `strategies` (risk-measure codes and the baselines; default the fleet's risk
    measure, `equal` and `current`) decided every `step` rounds from round `start` (default: the first with
    enough history), each decision seeing only scores resolved `lag` rounds before it (default: derived from the
    payout scores' horizon), across `jobs` processes (default: every core), each decision's slot program
    given `time_limit` seconds (default: the fleet's solver.time_limit, at most 10 s; unproven plans are
    counted in the result)."""
    from .walkforward import BASELINES, decision_time_limit, default_jobs, run

    sd = _scores(_fleet(fleet), scores, offline=offline, progress=progress)
    f = _resolved(fleet, sd)
    f = f.with_overrides(time_limit=decision_time_limit(f, time_limit))
    strategies = [f.portfolio.risk_measure.value, *BASELINES] if strategies is None else strategies
    # all cores by default, as the CLI: the README's own session took 31.5 minutes in one process
    res = run(f, sd.table, strategies, rules=sd.rules, step=step, lag=lag, start=start,
              jobs=default_jobs() if jobs is None else jobs, progress=progress)
    return replace(res, origin=sd.origin)


def sweep(fleet: Fleet | FleetSpec, out: str | Path, scores: ScoreData | None = None, *,
          risk_measures: list[str], lookbacks: list[int] | None = None, linkages: list[str] | None = None,
          objectives: list[str] | None = None, step: int = 5, lag: int | None = None, jobs: int | None = None,
          time_limit: float | None = None, dask: str | None = None, dask_timeout: float = 10.0,
          offline: bool = False, progress: bool = False) -> SweepResult:
    """Backtest a grid of settings (risk measures × lookbacks × linkages × objectives; each axis but the
    measures defaults to the fleet's) into the directory `out` (sweep.csv, heatmap.png, meta.json; resumable:
    cells already computed under the same inputs are reused), on `jobs` local processes or the workers of the
    Dask scheduler at `dask`, reached within `dask_timeout` seconds; `time_limit`: seconds per decision, as
    for `backtest`."""
    import pandas as pd

    from . import sweep as _sweep
    from .config import DEFAULT_OBJECTIVE
    from .records import SweepResult
    from .walkforward import decision_time_limit, default_jobs

    _fleet(fleet)
    _flag("out", out, str | Path)
    if not str(out).strip():
        raise ConfigError("out: an empty path; name the sweep's directory", key="out")
    if dask is not None:
        _flag("dask", dask, str)
        if not dask.strip():
            raise ConfigError("dask: an empty address; give the scheduler's, e.g. tcp://HOST:8786", key="dask")
    number = isinstance(dask_timeout, int | float) and not isinstance(dask_timeout, bool)
    if not (number and math.isfinite(dask_timeout) and 0 < dask_timeout <= 30):
        shown = f"{dask_timeout:g}" if number else repr(dask_timeout)
        raise ConfigError(f"dask_timeout: must be in (0, 30] seconds, got {shown}", key="dask_timeout")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"step: must be a whole number ≥ 1, got {step!r}", key="step")
    spec = _spec(fleet)
    pf = spec.portfolio
    measures = _sweep.axis("risk_measures", risk_measures, _sweep.risk_measure)
    lbs = _sweep.axis("lookbacks", [pf.lookback] if lookbacks is None else lookbacks, _sweep.lookback)
    lks = _sweep.axis("linkages", [pf.linkage] if linkages is None else linkages, _sweep.linkage)
    obs = _sweep.axis("objectives", [(spec.solver.objective or DEFAULT_OBJECTIVE).value] if objectives is None
                      else objectives, _sweep.objective)
    sd = _scores(fleet, scores, offline=offline, progress=progress)
    path = Path(out)
    f = _resolved(fleet, sd)
    f = f.with_overrides(time_limit=decision_time_limit(f, time_limit))
    meta = _sweep.run(f, sd.table, sd.rules, path, measures=measures, lookbacks=lbs,
                      linkages=lks, objectives=obs, step=step, lag=lag, jobs=default_jobs() if jobs is None else jobs,
                      dask=dask, dask_timeout=float(dask_timeout), progress=progress)
    return SweepResult(out=path, meta=meta, table=pd.read_csv(path / "sweep.csv"))


def validate(fleet_path: str | Path) -> Validation:
    """Check a fleet file without solving: every key, and, on a snapshot, that its models have scores there
    (ConfigError naming what is wrong). What the API states is checked when it is fetched."""
    from .config import DEFAULT_OBJECTIVE
    from .records import Validation

    fleet = load_fleet(fleet_path)
    if isinstance(fleet, FleetSpec):
        r = fleet.payout.regime
        return Validation(path=str(fleet_path), models=len(fleet.models), slots=len(fleet.slots),
                          regime=None if r is None else r.name,
                          combinations=None if r is None else len(r.combinations),
                          risk_measure=fleet.portfolio.risk_measure.value,
                          objective=(fleet.objective or DEFAULT_OBJECTIVE).value,
                          tournament=fleet.data.tournament.value, needs_api=True)
    if fleet.data.source is Source.SNAPSHOT:
        from .pipeline import check_models
        from .scores import load_snapshot

        check_models(fleet, load_snapshot(fleet.data.snapshot), f"snapshot {fleet.data.snapshot}")
    r = fleet.payout.regime
    return Validation(path=str(fleet_path), models=len(fleet.models), slots=len(fleet.slots), regime=r.name,
                      combinations=len(r.combinations), risk_measure=fleet.portfolio.risk_measure.value,
                      objective=fleet.solver.objective.value, tournament=fleet.data.tournament.value,
                      needs_api=False, leverage=fleet.portfolio.leverage,
                      budget=fleet.staking.budget if fleet.staking.per_round_system else None)


def account_slots(*, tournament: str = "classic", per_round: bool = True) -> AccountSlots:
    """Your account's models in `tournament` (classic, signals or crypto) as slots, from the API with the keys
    in NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY: under per-round staking each model's current per-round stake,
    under fixed stakes its stake and the open round's default multipliers. `report.slots_toml` writes them as
    the fleet file's `[[slots]]`."""
    from .config import Tournament
    from .numerai import Client

    _flag("per_round", per_round, bool)
    try:
        number = Tournament(tournament).number
    except ValueError:
        raise ConfigError(f"tournament: {tournament!r} is not one of {', '.join(t.value for t in Tournament)}",
                          key="tournament") from None
    return Client.from_env(tournament=number).account_slots(per_round=per_round)


def fetch(fleet: Fleet | FleetSpec, *, progress: bool = False) -> ScoreData:
    """Download (or refresh) the fleet's scores and the API's facts into the cache, for `run --offline`."""
    _fleet(fleet)
    if fleet.data.source is not Source.NUMERAI:
        raise ConfigError('data.source: fetch downloads from the API; set data.source = "numerai"')
    return load_scores(fleet, progress=progress)
