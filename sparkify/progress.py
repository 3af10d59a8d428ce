"""Progress of long work on stderr: done of total, elapsed, ETA."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Progress:
    """Report ``done`` of ``total`` units with elapsed time and a linear ETA.

    Example:
        >>> p = Progress("songs", total=10, unit="files", stream=sys.stdout, clock=lambda: 0.0)
        >>> p.advance(5, note="2 rows")
        [songs] 5/10 files (50%), 2 rows, elapsed 0s, ETA 0s
    """

    label: str
    total: int
    unit: str = "files"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    done: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def advance(self, n: int, note: str = "") -> None:
        self.done += n
        self.say(note)

    def say(self, note: str = "") -> None:
        elapsed = self.clock() - self.started
        pct = 100 * self.done / self.total if self.total else 100
        eta = elapsed * (self.total - self.done) / self.done if self.done else 0.0
        parts = [f"[{self.label}] {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%)"]
        if note:
            parts.append(note)
        parts += [f"elapsed {format_seconds(elapsed)}", f"ETA {format_seconds(eta)}"]
        print(", ".join(parts), file=self.stream, flush=True)


@contextmanager
def timed(log: logging.Logger, step: str) -> Iterator[None]:
    """Log how long ``step`` took (INFO), so slow steps of a batch show in the job's log."""
    started = time.monotonic()
    try:
        yield
    finally:
        log.info("%s took %.2fs", step, time.monotonic() - started)
