"""Running a PuLP program with the named solver: HiGHS in a thread the main thread can interrupt, with
its time limit from the moment it starts and an optional starting plan; CBC with its log parsed for what
PuLP does not report (the bound, and whether it proved optimality)."""

from __future__ import annotations

import atexit
import os
import re
import sys
import tempfile
import threading
import time

from ..types import SolverName
from .problem import ABS_GAP, REL_GAP

SOLVER_THREAD = "stakealloc-solver"


def solver_running() -> bool:
    """Whether a native solver run is still going on in its thread (abandoned or interrupted)."""
    return any(t.name == SOLVER_THREAD and t.is_alive() for t in threading.enumerate())


INTERRUPTED = 130


def leave(code: int) -> None:
    """End the process with `code` once the command is done, without the interpreter's teardown.

    Every output is complete by then (files are written atomically and closed; the standard streams are
    flushed here), so the teardown would only free, one module and object at a time, memory the system takes
    back at once: 100–150 ms of every command with pandas, SciPy and HiGHS loaded (benchmarks/tracking.py
    measures it on the import floor). atexit handlers still run. Where another non-daemon thread still runs,
    the process exits as Python does, waiting for it. While a native solver thread still runs, or after an
    interrupt once HiGHS is loaded (its scheduler may be mid-run or mid-start), the atexit handlers are
    skipped too: the teardown then destroyed HiGHS under it (SIGABRT, "terminate called without an active
    exception": measured with SIGTERM right after the import)."""
    hard = solver_running() or (code == INTERRUPTED and "highspy" in sys.modules)
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's and PyPy's; else exit as usual
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not hard and (others or run_exit_functions is None):
        sys.exit(code)
    if not hard:
        run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed pipe (the reader left), a closed or no stream
            pass
    os._exit(code)


def wait_for(fn, until: float) -> bool:
    """Run `fn` in a daemon thread, waiting in short steps so that Ctrl-C (KeyboardInterrupt, which Python
    delivers to the main thread only) is honoured at once, not when the native solver returns; False when it
    is still running at `until` (time.perf_counter()), which leaves it to finish in the background."""
    box: dict = {}

    def work() -> None:
        try:
            fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=work, daemon=True, name=SOLVER_THREAD)
    t.start()
    from .. import interrupts

    while t.is_alive():
        t.join(0.05)
        interrupts.check()  # a signal a library swallowed still ends the wait
        if t.is_alive() and time.perf_counter() > until:
            return False
    if "error" in box:
        raise box["error"]
    return True


def run(prob, solver: SolverName, deadline: float, *, warm: bool = False, presolve: bool = True,
        grace: float = 2.0) -> tuple[float, str, bool, bool]:
    """Solve `prob` with the named solver until `deadline` (time.perf_counter()). Returns (best bound,
    the solver's own status text, solver says optimal, a solution exists). With `warm` (HiGHS only) the
    variables' initial values are the starting plan; `presolve` False turns HiGHS's presolve off. A HiGHS
    run still going `grace` seconds past the deadline is abandoned."""
    import pulp

    if solver is SolverName.CBC:
        # No starting plan for CBC: with one, the bundled CBC 2.10.3 claimed optimality for plans up to 1.3 %
        # worse than HiGHS's proven optimum in 4 of 40 small instances (none without; benchmarks/README.md).
        log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        log.close()
        try:
            # Probing off: the bundled CBC 2.10.3 was measured claiming false optimality with probing on.
            cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=max(deadline - time.perf_counter(), 0.01), gapAbs=ABS_GAP,
                                    gapRel=REL_GAP, threads=1, logPath=log.name, options=["probing off"])
            prob.solve(cmd)
            with open(log.name) as f:
                text = f.read()
        finally:
            os.unlink(log.name)
        said_optimal, bound = _parse_cbc_log(text, prob)
        sol_ok = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        status_text = f"{pulp.LpStatus[prob.status]} (sol_status {prob.sol_status}); {_cbc_result_line(text)}"
    else:
        # `solve` passes a starting plan only after the neighbourhood search: the plain greedy plan was
        # measured to slow HiGHS's proofs (benchmarks/README.md).
        cmd = _highs_cmd(deadline, warm, presolve)  # in this thread: it may redirect the process's stdout
        if not wait_for(lambda: prob.solve(cmd), deadline + grace):
            return 0.0, f"abandoned: HiGHS ran past its time limit + {grace:g} s", False, False
        import highspy

        h = prob.solverModel
        ms = h.getModelStatus()
        info = h.getInfo()
        said_optimal = ms == highspy.HighsModelStatus.kOptimal
        bound = float(info.mip_dual_bound)
        sol_ok = info.primal_solution_status == 2  # kSolutionStatusFeasible
        status_text = f"{h.modelStatusToString(ms)}"
    return bound, status_text, said_optimal, sol_ok


_HIGHS_BANNER_SILENCED = False


def symmetry_rows(prob, groups: list[list[int]], options: list[list[tuple[tuple[int, int], object]]],
                  ncombo: int) -> None:
    """The rows every fixed-stake program shares: interchangeable slots (`groups`) take their options in
    non-decreasing (candidate, combination) order. `options[j]`: slot j's ((candidate, combination), binary)."""
    import pulp

    for g in groups:
        for a, b in zip(g, g[1:]):
            ka = pulp.LpAffineExpression([(v, c * ncombo + p) for (c, p), v in options[a]])
            kb = pulp.LpAffineExpression([(v, c * ncombo + p) for (c, p), v in options[b]])
            prob += ka <= kb, f"sym_{a}_{b}"


def warm_start(options: list[list[tuple[tuple[int, int], object]]], warm: list[tuple[int, int]] | None,
               solver: SolverName) -> bool:
    """Set each slot's binaries to the warm plan ((candidate, combination) per slot) where the solver takes a
    starting plan (HiGHS; CBC with one claimed false optima, see `run`); whether it was set."""
    if warm is None or solver is not SolverName.HIGHS:
        return False
    for j, opts in enumerate(options):
        for cp, v in opts:
            v.setInitialValue(1 if cp == warm[j] else 0)
    return True


def _silence_highs_banner() -> None:
    """HiGHS prints its banner to the process's stdout (file descriptor 1, below Python) when the first
    `Highs` object is made, whatever `output_flag` says; it would stand before the plan. Make that first
    object with descriptor 1 pointing at /dev/null. Once per process."""
    global _HIGHS_BANNER_SILENCED
    if _HIGHS_BANNER_SILENCED:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _HIGHS_BANNER_SILENCED = True


def _highs_cmd(deadline: float, warm: bool, presolve: bool = True):
    """PuLP's HiGHS API solver whose time limit runs to `deadline` (time.perf_counter()) from the moment
    HiGHS starts, so PuLP's model transfer (seconds at 100k binaries) is not added to the limit; with
    `warm`, it also hands HiGHS the variables' initial values, which PuLP does not pass."""
    import highspy
    import pulp

    _silence_highs_banner()

    class Highs(pulp.HiGHS):
        def callSolver(self, lp):
            h = lp.solverModel
            h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
            if not presolve:
                h.setOptionValue("presolve", "off")
            if warm:
                sol = highspy.HighsSolution()
                sol.col_value = [v.varValue if v.varValue is not None else 0.0 for v in lp.variables()]
                sol.value_valid = True
                h.setSolution(sol)
            h.run()

    return Highs(msg=False, gapAbs=ABS_GAP, gapRel=REL_GAP, threads=1, random_seed=0)


def _cbc_result_line(text: str) -> str:
    m = re.search(r"^Result - (.*)$", text, re.M)
    return m.group(1).strip() if m else "no result line"


def _parse_cbc_log(text: str, prob) -> tuple[bool, float]:
    """(CBC proved optimality, best bound) from CBC's log; PuLP reports neither faithfully."""
    result = _cbc_result_line(text)
    said_optimal = result.startswith("Optimal solution found")
    m = re.search(r"^Lower bound:\s*(-?[0-9.eE+-]+)", text, re.M)
    if m:
        return said_optimal, float(m.group(1))
    # CBC omits the summary's bound when presolve or the root solves it outright.
    m = re.search(r"^Objective value:\s*(-?[0-9.eE+-]+)", text, re.M)
    if said_optimal and m:
        return True, float(m.group(1))
    return False, 0.0
