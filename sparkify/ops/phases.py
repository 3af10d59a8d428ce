"""Long work on the terminal: one line per phase, with a spinner, what it is doing now and its time.

On a terminal the running phase is a live line (rich): spinner, name, elapsed time, its latest note;
when the phase ends the line is replaced by its outcome. Anywhere else (a pipe, CI, a file) and with
``--verbose`` (log lines scrolling past would tear a live line) each phase prints one plain line when it
ends, with no control characters. Every note also goes to the log (logger ``sparkify.ops.phases``), so
the terminal keeps the outcome and the log keeps the steps.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.table import Column
from rich.text import Text

from sparkify.progress import format_seconds

log = logging.getLogger(__name__)
NAME_WIDTH = 9  # the longest phase name of the demo ("generate", "backfill") and a space


def counted(n: int, noun: str) -> str:
    """``1 file``, ``2,000 files``, ``3 micro-batches``."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


def shown(path: str | Path) -> str:
    """A local path as a person would type it: relative when under the working directory."""
    text = str(path)
    if "://" in text or not os.path.isabs(text):
        return text
    relative = os.path.relpath(text)
    return text if relative.startswith("..") else relative


class Phase:
    """A running phase. ``note`` says what it is doing now (live on a terminal, always in the log);
    ``done`` sets what its finished line says."""

    def __init__(self, name: str, on_note: Callable[[str], None]) -> None:
        self.name = name
        self.summary = ""
        self._on_note = on_note

    def note(self, text: str) -> None:
        log.info("%s: %s", self.name, text)
        self._on_note(text)

    def done(self, summary: str) -> None:
        self.summary = summary

    def stream(self) -> TextIO:
        """A text stream whose every line becomes a note: for the jobs that report on an ``out``."""
        return NoteStream(self.note)


class NoteStream(io.StringIO):
    """Hands each complete, non-blank line written to it to ``note`` (and keeps none of them)."""

    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__()
        self._note = note
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._note(line.strip())
        return len(text)


class Elapsed(ProgressColumn):
    """The running phase's time, in the finished lines' format."""

    def render(self, task: Task) -> Text:
        return Text(f"{format_seconds(task.elapsed or 0.0):>6}")


class Phases:
    """The phases of one command, shown on ``out``: live lines when ``live``, plain lines otherwise.

    Example:
        >>> phases = Phases(sys.stdout, live=False, clock=lambda: 0.0)
        >>> with phases.phase("generate") as p:
        ...     p.done("400 song files")
        generate     0s  400 song files
    """

    def __init__(self, out: TextIO, live: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.live = live
        self.clock = clock

    @classmethod
    def for_terminal(cls, verbose: bool = False, out: TextIO | None = None) -> Phases:
        """Live on a terminal rich can draw on (``NO_COLOR``, ``TERM=dumb`` and ``TTY_COMPATIBLE=0`` are
        honoured), plain otherwise and with ``verbose``."""
        out = out or sys.stdout
        console = Console(file=out)
        return cls(out, live=console.is_terminal and not console.is_dumb_terminal and not verbose)

    def say(self, text: str = "") -> None:
        """A line of the command's report (a summary, a hint), printed between phases."""
        print(text, file=self.out, flush=True)

    @contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        """Show ``name`` running while the block runs, then one line: its time and ``done``'s summary
        (or ``failed``/``interrupted`` when the block raised)."""
        started = self.clock()
        phase = Phase(name, lambda _: None)
        outcome = "failed"
        try:
            with self._running(name) as on_note:
                phase = Phase(name, on_note)
                yield phase
            outcome = "done"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            seconds = self.clock() - started
            log.info("%s: %s in %.1fs. %s", name, outcome, seconds, phase.summary)
            summary = phase.summary if outcome == "done" else outcome
            self._finished(name, format_seconds(seconds), summary, ok=outcome == "done")

    @contextmanager
    def _running(self, name: str) -> Iterator[Callable[[str], None]]:
        """A callable that shows a note beside the running phase: a live line, or nothing when plain."""
        if not self.live:
            yield lambda _: None
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn(f"{name:<{NAME_WIDTH}}", table_column=Column(no_wrap=True)),
            Elapsed(),
            TextColumn("{task.fields[note]}", markup=False, table_column=Column(no_wrap=True, ratio=1)),
            console=Console(file=self.out),
            transient=True,
            refresh_per_second=8,
            expand=True,
        )
        task = progress.add_task(name, note="")
        with progress:
            yield lambda note: progress.update(task, note=note)

    def _finished(self, name: str, seconds: str, summary: str, ok: bool) -> None:
        line = f"{name:<{NAME_WIDTH}}{seconds:>6}  {summary}".rstrip()
        if not self.live:
            self.say(line)
            return
        mark = Text("✓ ", style="green") if ok else Text("✗ ", style="bold red")
        Console(file=self.out).print(Text.assemble(mark, line), soft_wrap=True)
        self.out.flush()
