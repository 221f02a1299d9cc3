"""Progress on stderr for long work (downloads, backtests): shown on a terminal, silent otherwise."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled, self.n = total, label, enabled and total > 0, 0

    def step(self, what: str) -> None:
        self.n += 1
        if self.enabled:
            width = 24
            done = int(width * self.n / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * done}{'.' * (width - done)}] {self.n}/{self.total} "
                             f"{what[:30]:<30}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
