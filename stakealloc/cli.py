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
from importlib.metadata import PackageNotFoundError, version

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
        spec = spec.with_overrides(time_limit=args.time_limit)
    return spec


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
    from . import api

    spec = _load(args)
    _check_outputs(args, spec)
    p = api.plan(spec, offline=getattr(args, "offline", False), progress=_progress_enabled(args))
    _write_outputs(p, args)
    _print_plan(p, args)
    return 0


def cmd_validate(args) -> int:
    from . import api
    from .report import validation_text

    sys.stdout.write(validation_text(api.validate(args.fleet)))
    return 0


def cmd_assign(args) -> int:
    from . import api

    spec = _load(args)
    _check_outputs(args, spec, args.targets)
    p = api.assign(spec, args.targets, offline=getattr(args, "offline", False))
    _write_outputs(p, args)
    _print_plan(p, args)
    return 0


def cmd_fetch(args) -> int:
    from . import api
    from .report import fetch_text

    sys.stdout.write(fetch_text(api.fetch(_load(args), progress=_progress_enabled(args))))
    return 0


def cmd_accept(args) -> int:
    from .accept import accept

    path, n = accept(args.plan, args.fleet)
    print(f"{path}: {n} slot(s) updated to the plan")
    return 0


def cmd_slots(args) -> int:
    from . import api
    from .report import slots_toml

    for line in slots_toml(api.account_slots(tournament=args.tournament, per_round=args.staking == "per-round")):
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
    from . import api, atomic
    from .report import backtest_text

    spec = _load(args)
    _check_outputs(args, spec)
    strategies = _strategies(args.risk_measures, key="--risk-measures")
    res = api.backtest(spec, strategies=strategies, step=args.step, lag=args.lag, jobs=_jobs(args.jobs),
                       time_limit=args.decision_time_limit, offline=getattr(args, "offline", False),
                       progress=_progress_enabled(args))
    if args.json:
        atomic.output(args.json, json.dumps(res.to_dict(), indent=1, allow_nan=False) + "\n", key="--json")
    sys.stdout.write(backtest_text(res, f"stakealloc backtest on {res.origin}: {', '.join(strategies)}"))
    return 0


DECISION_HELP = ("seconds per decision's slot program (default: solver.time_limit, at most 10; plans not proven "
                 "in it are counted)")


def _split(text: str | None) -> list[str] | None:
    """A comma-separated flag value as its parts (None: the flag was not given)."""
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def cmd_sweep(args) -> int:
    from . import api
    from .report import sweep_result_text

    res = api.sweep(_load(args), args.out, risk_measures=_split(args.risk_measures), lookbacks=_split(args.lookbacks),
                    linkages=_split(args.linkages), objectives=_split(args.objectives), step=args.step,
                    lag=args.lag, jobs=_jobs(args.jobs), time_limit=args.decision_time_limit, dask=args.dask,
                    dask_timeout=args.dask_timeout,
                    offline=getattr(args, "offline", False), progress=_progress_enabled(args))
    for n in res.meta.get("notes", []):
        logging.getLogger("stakealloc").warning(f"sweep: {n}")
    sys.stdout.write(sweep_result_text(res, args.out))
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
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", dest="decision_time_limit",
                   help=DECISION_HELP)
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
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", dest="decision_time_limit",
                   help=DECISION_HELP)
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
         "dask": "--dask", "dask_timeout": "--dask-timeout", "lookbacks": "--lookbacks", "out": "--out",
         "risk_measures": "--risk-measures", "linkages": "--linkages", "objectives": "--objectives",
         "time_limit": "--time-limit"}


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
