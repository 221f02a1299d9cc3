"""Worker processes (joblib's loky pool) for the backtest and the sweep, in one place.

Ctrl-C in a terminal sends SIGINT to the whole process group, workers included: each worker would print its
own KeyboardInterrupt traceback under the CLI's one line, starting up or at work. So workers never take SIGINT
(the parent alone decides, and its interruption kills them), and an interrupted parent shuts the pool down
and releases the pool's semaphores before it leaves, since it may leave by `os._exit` (see
`slots.backends.leave`), which skips the finalizers that would release them, and loky's resource tracker
then warns of "leaked semlock objects"."""

from __future__ import annotations

import multiprocessing.util
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from multiprocessing import resource_tracker


def _task(parent: int, fn: Callable, args: tuple):
    if os.getpid() != parent:  # a worker (perhaps started after the block below): Ctrl-C is the parent's
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return fn(*args)


def for_each(fn: Callable, arg_tuples: Iterable[tuple], jobs: int, take: Callable) -> None:
    """`take(fn(*args))` for each of `arg_tuples`, in submission order, `fn` running in `jobs` worker processes
    and `take` in this one (an interrupt inside either releases the pool)."""
    from joblib import Parallel, delayed

    parent = os.getpid()
    mask = hasattr(signal, "pthread_sigmask")
    results = None
    try:
        # The pool's workers start (fork, exec, imports: a second or more) inside this call, and its helper
        # threads are created here: with SIGINT blocked meanwhile, both inherit the block and never see the
        # terminal's Ctrl-C; this thread then takes it as before (a signal pending meanwhile arrives at the
        # unblock, inside this `try`).
        # Both resource trackers start first: starting, the standard library's unblocks SIGINT outright.
        from joblib.externals.loky.backend import resource_tracker as loky_tracker

        resource_tracker.ensure_running()
        loky_tracker.ensure_running()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if mask else None
        try:
            results = Parallel(n_jobs=jobs, return_as="generator")(delayed(_task)(parent, fn, a) for a in arg_tuples)
        finally:
            if mask:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for result in results:
            take(result)
    except (KeyboardInterrupt, SystemExit):
        with _quiet_pool_manager():
            if results is not None:
                # An interrupt in `take` (between results) leaves the generator open; collected later, joblib
                # would warn that the tasks still at work were cancelled, under the CLI's one line. Cancelling
                # them is the point: close it now, without that warning.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*You could benefit from adjusting the input task",
                                            category=UserWarning)
                    results.close()
            _release_pool()
        raise


@contextmanager
def _quiet_pool_manager():
    """While an interrupted pool is cancelled and shut down, loky's manager thread may still queue a task the
    cancelling just removed and die of a KeyError, its traceback printed under the CLI's one line (seen once in
    CI, in the sweep's Ctrl-C test). The pool is being discarded: that thread's exception is dropped; every other
    thread's goes to the hook as before. The shutdown joins the thread, so the hook is restored after it."""
    hook = threading.excepthook

    def quiet(args: threading.ExceptHookArgs) -> None:
        if args.thread is None or args.thread.name != "ExecutorManagerThread":
            hook(args)

    threading.excepthook = quiet
    try:
        yield
    finally:
        threading.excepthook = hook


def _release_pool() -> None:
    """Kill the reusable pool's workers and run the semaphores' finalizers now, not at an exit that may skip
    them. Private to loky and multiprocessing, hence guarded: at worst the resource tracker's warning returns."""
    try:
        from joblib.externals.loky import reusable_executor

        executor = reusable_executor._executor
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=True)
            reusable_executor._executor = None
        multiprocessing.util._run_finalizers(0)
    except Exception:  # noqa: BLE001 - cleanup on the way out must never mask the interrupt
        pass
