"""Ctrl-C and SIGTERM, recorded: libraries sometimes swallow the KeyboardInterrupt a signal raises (PuLP
probes solvers in a bare `except`; a C extension's import turns it into ImportError), so the CLI's handler
also records it, and the solver's wait loop and the CLI's error mapping honour the record."""

from __future__ import annotations

_interrupted = False


def handler(signum, frame) -> None:
    """The CLI's SIGINT and SIGTERM handler: record, then raise as Python's own SIGINT handler does."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    return _interrupted


def check() -> None:
    """Raise KeyboardInterrupt if a signal was recorded (and perhaps swallowed since)."""
    if _interrupted:
        raise KeyboardInterrupt


def reset() -> None:
    global _interrupted
    _interrupted = False
