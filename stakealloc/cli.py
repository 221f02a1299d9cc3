"""Command line: `stakealloc run|validate|assign|accept|fetch|slots|backtest|sweep`.

Errors from the StakeallocError hierarchy are printed as one message (never a
traceback) and mapped to exit codes: 2 bad input, 3 data or API, 4 optimisation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import __version__
from .errors import ConfigError, StakeallocError


def _progress_enabled(args) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def _load(args):
    """The fleet file as written (a FleetSpec), with the command line's overrides."""
    from .config import Objective, parse, parse_risk_measure

    spec = parse(args.fleet)
    if getattr(args, "risk_measure", None):
        spec = spec.with_overrides(risk_measure=parse_risk_measure(args.risk_measure, key="--risk-measure"))
    if getattr(args, "objective", None):
        spec = spec.with_overrides(objective=Objective(args.objective))
    if getattr(args, "time_limit", None) is not None:
        if not args.time_limit > 0:
            raise ConfigError(f"--time-limit: must be > 0 seconds, got {args.time_limit:g}")

        spec = replace(spec, solver=replace(spec.solver, time_limit=args.time_limit))
    return spec


def _scores(spec, args):
    """ScoreData: the fleet resolved with the API's stakes and live rules, the score table, its source, the round."""
    from .config import Source, resolve

    if spec.data.source is Source.SNAPSHOT:
        from .scores import from_snapshot

        return from_snapshot(resolve(spec))
    from .sync import sync

    return sync(spec, offline=getattr(args, "offline", False), progress=_progress_enabled(args))


def _read_text(path: str, flag: str) -> str:
    """A text file named on the command line, or exit 2 naming the flag."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{flag}: no such file {path!r}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{flag}: {path}: cannot read ({type(e).__name__})") from None


def _write_outputs(plan, args) -> None:
    from . import atomic, report

    # Everything is computed before anything is written; each file is replaced atomically.
    if getattr(args, "json", None):
        atomic.output(args.json, report.json_text(plan), key="--json")
    if getattr(args, "csv", None):
        atomic.output(args.csv, report.csv_text(plan), key="--csv")
    if getattr(args, "changes", None):
        atomic.output(args.changes, report.changes_text(plan), key="--changes")


def _check_outputs(args, spec, *extra_inputs: str) -> None:
    """Outputs never replace inputs (the fleet file, a snapshot, a targets file), one another, or a read-only
    file: checked before any work."""
    from . import atomic

    outputs = {f"--{k}": getattr(args, k) for k in ("json", "csv", "changes") if getattr(args, k, None) is not None}
    inputs = [args.fleet, *extra_inputs]
    if spec.data.snapshot != "bundled":
        inputs.append(spec.data.snapshot)
    atomic.check_outputs(outputs, inputs)


def _print_plan(p, args) -> None:
    """The text plan on stdout, or on stderr where stdout carries a document (`--json -`, `--csv -`, …)."""
    from .report import render

    to_stdout = any(getattr(args, k, None) == "-" for k in ("json", "csv", "changes"))
    (sys.stderr if to_stdout else sys.stdout).write(render(p))


def cmd_run(args) -> int:
    from .pipeline import plan as make_plan

    spec = _load(args)
    _check_outputs(args, spec)
    sd = _scores(spec, args)
    p = make_plan(sd.fleet, sd.table, source=sd.source, current_round=sd.current_round, notes=sd.notes,
                  deadline=sd.deadline)
    _write_outputs(p, args)
    _print_plan(p, args)
    return 0


def cmd_validate(args) -> int:
    from .config import DEFAULT_OBJECTIVE, Source, resolve

    spec = _load(args)
    if spec.needs_api:  # the file is checked; what the API states is checked when it is fetched
        r = spec.payout.regime
        print(f"{args.fleet}: ok: {len(spec.models)} models, {len(spec.slots)} slots, regime "
              + ("live (the open round’s rules, from the API)" if r is None
                 else f"{r.name} ({len(r.combinations)} combination(s))")
              + ", "
              f"risk measure {spec.portfolio.risk_measure.value}, slot objective "
              f"{(spec.objective or DEFAULT_OBJECTIVE).value}, tournament {spec.data.tournament.value}; "
              f"stakes not in the file and live rules come from the API")
        return 0
    fleet = resolve(spec)
    if fleet.data.source is Source.SNAPSHOT:
        from .pipeline import check_models
        from .scores import load_snapshot

        check_models(fleet, load_snapshot(fleet.data.snapshot), f"snapshot {fleet.data.snapshot}")
    r = fleet.payout.regime
    print(f"{args.fleet}: ok: {len(fleet.models)} models, {len(fleet.slots)} slots, regime "
          f"{r.name} ({len(r.combinations)} combination(s)), "
          f"risk measure {fleet.portfolio.risk_measure.value}, leverage {fleet.portfolio.leverage:g}, "
          f"slot objective {fleet.solver.objective.value}, tournament {fleet.data.tournament.value}, "
          + (f"per-round stakes: budget {fleet.staking.budget:g} NMR per round" if fleet.staking.per_round_system
             else "fixed stakes"))
    return 0


def cmd_assign(args) -> int:
    from . import targets
    from .config import Objective, resolve
    from .pipeline import assemble

    spec = _load(args)
    _check_outputs(args, spec, args.targets)
    if spec.objective is None:
        # The default objective needs the weights' window; given targets have none, so assign uses exposure.
        spec = spec.with_overrides(objective=Objective.EXPOSURE)
    fleet = _scores(spec, args).fleet if spec.needs_api else resolve(spec)
    if fleet.solver.objective is Objective.TRACKING:
        raise ConfigError('solver.objective: "tracking" follows the target portfolio\'s payout over the weights\' '
                          'window, which given targets do not have; run assign with --objective exposure')
    tg = targets.parse_csv(_read_text(args.targets, "--targets"), args.targets, fleet.payout.regime, fleet.models,
                           fleet.portfolio.leverage)
    p = assemble(fleet, tg, table=None, wt=None, source=f"targets {args.targets}")
    _write_outputs(p, args)
    _print_plan(p, args)
    return 0


def cmd_fetch(args) -> int:
    from .config import Source

    spec = _load(args)
    if spec.data.source is not Source.NUMERAI:
        raise ConfigError('data.source: fetch downloads from the API; set data.source = "numerai"')
    sd = _scores(spec, args)
    fleet = sd.fleet
    rounds = sd.table[sd.table["resolved"]]["round"]
    names = sorted(sd.table["score"].unique())
    print(f"{sd.source}: {len(fleet.models)} models, {len(sd.table)} scores ({', '.join(names)}), resolved rounds "
          f"{int(rounds.min()) if len(rounds) else '-'}–{int(rounds.max()) if len(rounds) else '-'}"
          + (f"; current round {sd.current_round}" if sd.current_round else "")
          + f"; payout rules of {len(sd.rules)} rounds")
    return 0


def cmd_accept(args) -> int:
    from .accept import accept

    path, n = accept(args.plan, args.fleet)
    print(f"{path}: {n} slot(s) updated to the plan")
    return 0


def cmd_slots(args) -> int:
    from .config import Tournament
    from .numerai import Client

    client = Client.from_env(tournament=Tournament(args.tournament).number)
    for line in client.slots_toml(per_round=args.staking == "per-round"):
        print(line)
    return 0


def _strategies(text: str, *, key: str) -> list[str]:
    """Risk-measure codes from a comma-separated list (`key` names it in errors), then the baselines."""
    from .walkforward import BASELINES, check_strategies

    out = [p.strip() for p in text.split(",") if p.strip() and p.strip() not in BASELINES]
    if not out:
        raise ConfigError(f"{key}: name at least one risk measure")
    return check_strategies(out, key=key) + list(BASELINES)


def _jobs(given: int | None) -> int:
    """--jobs: default all cores; more than the cores is capped, with a note (each worker is a process)."""
    from .walkforward import default_jobs

    cores = default_jobs()
    if given is None:
        return cores
    if given < 1:
        raise ConfigError(f"--jobs: must be ≥ 1, got {given}")
    if given > cores:
        logging.getLogger("stakealloc").warning(f"--jobs {given} is more than the {cores} cores; using {cores}")
        return cores
    return given


def cmd_backtest(args) -> int:
    from . import atomic
    from .report import backtest_text
    from .walkforward import run

    spec = _load(args)
    _check_outputs(args, spec)
    strategies = _strategies(args.risk_measures, key="--risk-measures")
    sd = _scores(spec, args)
    jobs = _jobs(args.jobs)
    res = run(sd.fleet, sd.table, strategies, step=args.step, lag=args.lag, progress=_progress_enabled(args),
              rules=sd.rules, jobs=jobs)
    if args.json:
        atomic.output(args.json, json.dumps(res.to_dict(), indent=1, allow_nan=False) + "\n", key="--json")
    sys.stdout.write(backtest_text(res, f"stakealloc backtest on {sd.source}: {', '.join(strategies)}"))
    return 0


def _parse_list(text: str, key: str, kind, what: str) -> list:
    """A comma-separated flag value, each part checked by `kind` (`what` it must be, for the message);
    duplicates dropped, order kept."""
    out = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        try:
            out.append(kind(part))
        except ConfigError as e:
            raise ConfigError(f"{key}: {part!r}: {str(e).split(': ', 1)[-1]}") from None
        except ValueError:
            raise ConfigError(f"{key}: {part!r} is not {what}") from None
    if not out:
        raise ConfigError(f"{key}: name at least one value")
    return list(dict.fromkeys(out))


def _sweep_axes(spec, args) -> tuple[list[str], list[int], list[str], list[str]]:
    """The sweep's grid from its flags: measures, lookbacks, linkages, objectives (the fleet's where not given)."""
    from .config import DEFAULT_OBJECTIVE, LINKAGES, Objective, parse_risk_measure

    def linkage(p: str) -> str:
        if p not in LINKAGES:
            raise ValueError(f"not one of {', '.join(LINKAGES)}")
        return p

    ms = _parse_list(args.risk_measures, "--risk-measures",
                     lambda p: parse_risk_measure(p, key="--risk-measures").value, "a risk measure")
    lbs = (_parse_list(args.lookbacks, "--lookbacks", int, "a whole number of rounds") if args.lookbacks
           else [spec.portfolio.lookback])
    lks = (_parse_list(args.linkages, "--linkages", linkage, f"a linkage ({', '.join(LINKAGES)})") if args.linkages
           else [spec.portfolio.linkage])
    obs = (_parse_list(args.objectives, "--objectives", lambda p: Objective(p.lower()).value,
                       "an objective (exposure, tracking)") if args.objectives
           else [(spec.objective or DEFAULT_OBJECTIVE).value])
    return ms, lbs, lks, obs


def cmd_sweep(args) -> int:
    from . import sweep

    spec = _load(args)
    measures, lookbacks, linkages, objectives = _sweep_axes(spec, args)
    if args.step < 1:
        raise ConfigError(f"--step: must be ≥ 1, got {args.step}")
    jobs = _jobs(args.jobs)
    if args.dask is not None and not args.dask.strip():
        raise ConfigError("--dask: an empty address; give the scheduler's, e.g. tcp://HOST:8786")
    if not args.out.strip():
        raise ConfigError("--out: an empty path; name the sweep's directory")
    if not 0 < args.dask_timeout <= 30:
        raise ConfigError(f"--dask-timeout: must be in (0, 30] seconds, got {args.dask_timeout:g}")
    sd = _scores(spec, args)
    meta = sweep.run(sd.fleet, sd.table, sd.rules, Path(args.out), measures=measures, lookbacks=lookbacks,
                     linkages=linkages, objectives=objectives, step=args.step, lag=args.lag, jobs=jobs,
                     dask=args.dask, dask_timeout=args.dask_timeout, progress=_progress_enabled(args))
    import pandas as pd

    from .report import sweep_text

    for n in meta.get("notes", []):
        logging.getLogger("stakealloc").warning(f"sweep: {n}")
    print(f"{args.out}: sweep.csv, heatmap.png, meta.json; {meta['cells_computed']} cells computed, "
          f"{meta['cells_reused']} reused ({meta['executor']})")
    sys.stdout.write(sweep_text(pd.read_csv(Path(args.out) / "sweep.csv")))
    return 0


def installed_version() -> str:
    """The installed distribution's version (its metadata, read from `stakealloc.__version__` at build time);
    the source tree's where stakealloc runs uninstalled."""
    try:
        return version("stakealloc")
    except PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="stakealloc", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"stakealloc {installed_version()}")
    sub = ap.add_subparsers(dest="command", required=True)

    def fleet_arg(p):
        p.add_argument("fleet", help="fleet file (TOML)")

    p = sub.add_parser("run", help="plan this week's slot assignment")
    fleet_arg(p)
    p.add_argument("--risk-measure", help="override portfolio.risk_measure (riskfolio code, e.g. CVaR)")
    p.add_argument("--objective", choices=("exposure", "tracking"), help="override solver.objective")
    p.add_argument("--json", metavar="PATH", help="also write the plan as JSON ('-': stdout)")
    p.add_argument("--csv", metavar="PATH", help="also write the slot table as CSV")
    p.add_argument("--changes", metavar="PATH",
                   help="also write only the slots that change (model, submit, stake, mode) as CSV: what to enter "
                        "on numer.ai")
    p.add_argument("--offline", action="store_true", help="use the cache only (data.source = numerai)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a fleet file without solving")
    fleet_arg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("assign", help="map given targets (CSV model,side,score,target in NMR) onto the slots")
    fleet_arg(p)
    p.add_argument("--targets", required=True, metavar="CSV", help="the targets: model,side,score,target (NMR)")
    p.add_argument("--objective", choices=("exposure",),
                   help="the slot objective (given targets have no window to track: exposure, the default)")
    p.add_argument("--json", metavar="PATH", help="also write the plan as JSON ('-': stdout)")
    p.add_argument("--csv", metavar="PATH", help="also write the slot table as CSV ('-': stdout)")
    p.add_argument("--changes", metavar="PATH", help="also write only the slots that change, as CSV")
    p.add_argument("--offline", action="store_true", help="use the cache only (data.source = numerai)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("fetch", help="download or refresh scores and stakes into the cache")
    fleet_arg(p)
    p.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("accept", help="after applying a plan on numer.ai: write it into the fleet file as current")
    p.add_argument("plan", help="the plan's JSON (stakealloc run --json PATH)")
    p.add_argument("--fleet", metavar="PATH", help="the fleet file to update (default: the plan's own)")
    p.set_defaults(func=cmd_accept)

    p = sub.add_parser("slots", help="list your account's models as [[slots]] (needs NUMERAI_PUBLIC_ID/SECRET_KEY)")
    p.add_argument("--tournament", choices=("classic", "signals", "crypto"), default="classic",
                   help="the tournament whose models to list (default classic)")
    p.add_argument("--staking", choices=("per-round", "fixed"), default="per-round",
                   help="per-round: each model's current per-round stake (stakeTransactions; the default, Numerai's "
                        "system since 2026); fixed: its stake and the open round's default multipliers")
    p.set_defaults(func=cmd_slots)

    p = sub.add_parser("backtest", help="walk-forward comparison of risk measures")
    fleet_arg(p)
    p.add_argument("--risk-measures", default="MV,CVaR,MDD",
                   help="comma-separated riskfolio codes, any case (default MV,CVaR,MDD)")
    p.add_argument("--step", type=int, default=5, help="rounds between decisions (default 5: a week)")
    p.add_argument("--lag", type=int, default=None,
                   help="round r is usable at decision d when r + lag < d (default: from the payout scores' horizons, "
                        "25 for 20-day scores, 65 for 60-day ones)")
    p.add_argument("--objective", choices=("exposure", "tracking"), help="override solver.objective")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="override solver.time_limit for every slot solve (plans not proven in it are counted)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes for the decisions (default: all cores; 1: in this process)")
    p.add_argument("--json", metavar="PATH", help="also write every decision and payout as JSON")
    p.add_argument("--offline", action="store_true", help="use the cache only (data.source = numerai)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_backtest)
    p = sub.add_parser("sweep", help="backtest a grid of settings (resumable; joblib or a Dask cluster)")
    fleet_arg(p)
    p.add_argument("--out", required=True, metavar="DIR", help="sweep.csv, heatmap.png, meta.json and the cells")
    p.add_argument("--risk-measures", default="MV,CVaR,MDD",
                   help="comma-separated riskfolio codes, any case (default MV,CVaR,MDD)")
    p.add_argument("--lookbacks", help="comma-separated resolved rounds (default: the fleet's)")
    p.add_argument("--linkages", help="comma-separated linkages (default: the fleet's)")
    p.add_argument("--objectives", help="comma-separated slot objectives: exposure, tracking (default: the fleet's)")
    p.add_argument("--step", type=int, default=5, help="rounds between decisions (default 5)")
    p.add_argument("--lag", type=int, default=None, help="as for backtest (default: from the payout scores)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="local worker processes (default: all cores)")
    p.add_argument("--dask", metavar="tcp://HOST:PORT", help="run the cells on this dask.distributed scheduler")
    p.add_argument("--dask-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long to try to reach the scheduler (default 10, at most 30)")
    p.add_argument("--offline", action="store_true", help="use the cache only (data.source = numerai)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_sweep)
    return ap


def _secrets() -> tuple[str, ...]:
    from .numerai import url_secrets

    vals = [os.environ.get("NUMERAI_PUBLIC_ID"), os.environ.get("NUMERAI_SECRET_KEY"),
            *url_secrets(os.environ.get("STAKEALLOC_API_URL") or "")]
    return tuple(v.strip() for v in vals if v and v.strip())


def _escape(text: str) -> str:
    """Control characters shown, not obeyed: a server's text cannot forge lines or drive the terminal."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _say(msg: str) -> None:
    from .numerai import scrub

    print(_escape(scrub(msg, _secrets())), file=sys.stderr)


# Library parameters the CLI sets from a flag: an error naming the parameter names the flag instead.
FLAGS = {"step": "--step", "lag": "--lag", "jobs": "--jobs", "offline": "--offline", "targets": "--targets",
         "dask": "--dask", "lookbacks": "--lookbacks", "out": "--out"}


def _as_flag(e: StakeallocError) -> str:
    msg = str(e)
    flag = FLAGS.get(e.key or "")
    if flag and msg.startswith(f"{e.key}:"):
        return flag + msg[len(e.key):]  # type: ignore[arg-type]
    return msg


class _Warnings(logging.Handler):
    """The library's warnings (logger "stakealloc") on stderr, one line each, secrets scrubbed; looked up at
    each message so that a redirected stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        _say(f"stakealloc: warning: {record.getMessage()}")


def _log_warnings() -> None:
    log = logging.getLogger("stakealloc")
    if not any(isinstance(h, _Warnings) for h in log.handlers):
        log.addHandler(_Warnings(logging.WARNING))
        log.propagate = False


def _load_solvers() -> None:
    """Import PuLP and HiGHS with SIGINT and SIGTERM held back: PuLP probes its solvers in a bare `except`,
    so an interrupt during the import was swallowed there and left HiGHS "Not Available" (an internal error
    instead of exit 130). A signal that arrives meanwhile is delivered once the import is done."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        import highspy  # noqa: F401
        import pulp  # noqa: F401
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_SOLVING = {"run", "assign", "backtest", "sweep"}


def main(argv: list[str] | None = None) -> int:
    """Exit 0 ok, 2 bad input, 3 data or API, 4 optimisation, 130 interrupted (Ctrl-C or SIGTERM); 1 only
    for a bug."""
    from . import interrupts

    args = build_parser().parse_args(argv)
    _log_warnings()
    on_main = threading.current_thread() is threading.main_thread()
    # SIGTERM (systemd, cron time-outs) ends a run as Ctrl-C does.
    old = {sig: signal.signal(sig, interrupts.handler) for sig in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
    interrupts.reset()
    try:
        if args.command in _SOLVING and on_main:
            _load_solvers()
        return args.func(args)
    except StakeallocError as e:
        _say(f"stakealloc: error: {_as_flag(e)}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("stakealloc: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except MemoryError:
        _say("stakealloc: error: out of memory")
        return 3
    except Exception as e:  # a bug: one line, no traceback, no secret
        if interrupts.interrupted():  # the interrupt, turned into another error by a library
            _say("stakealloc: interrupted")
            return 130
        _say(f"stakealloc: internal error: {type(e).__name__}: {e}")
        return 1
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        interrupts.reset()  # the record is the process's: a library caller after main() starts clean


def run_main() -> None:
    """The console script: `main`, then leave the process so that a solver thread still running (after
    Ctrl-C) cannot abort the interpreter's teardown."""
    from .slots.backends import leave

    leave(main())


if __name__ == "__main__":  # pragma: no cover
    run_main()
