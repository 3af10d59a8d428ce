"""How the stream's four queries share two cores and the songplays table: one :class:`Schedule` per stream.

- File batches go first (:class:`PlaysFirst`): dimension work waits for them before each MERGE.
- One dimension batch at a time (``Schedule.turns``): the two dimension queries trigger on the same
  instants, and two such batches at once would double the load that holds up the next file batch.
- One writer of songplays (:class:`SongplaysHandover`): the events query. The plays that late songs
  resolve are computed by the songs-dimensions query and go into the events query's next MERGE of new
  plays. Written beside it, their MERGE conflicted with its commits and started over (Delta checks
  conflicts by partition, and both write the current month), and held up the freshness path (README,
  "Concurrent queries, shared tables").
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often a query waiting for the events query looks whether it went idle


class PlaysFirst:
    """Lets dimension work give way to the batches that make new plays visible (the freshness path).

    On two cores a dimension batch running beside a file batch slows it about 2x (bench/reports/
    freshness.png). File batches mark themselves running; a dimension batch waits before each of its
    MERGEs until none is, but never longer than ``max_wait_s``, so a steady backlog of files cannot
    starve the dimensions.
    """

    def __init__(self, max_wait_s: float = 15.0) -> None:
        self.max_wait_s = max_wait_s
        self._running = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def give_way(self) -> bool:
        """Wait until no file batch runs (True), or ``max_wait_s`` (False: the dimensions go anyway)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout=self.max_wait_s)


@dataclass(eq=False)
class Handed:
    """Plays handed over for the events query's next MERGE, and the outcome of that MERGE."""

    plays: DataFrame
    done: Future[None] = field(default_factory=Future)


class SongplaysHandover:
    """Lets the plays late songs resolve go into the events query's own MERGE of new plays.

    :meth:`hand_over` blocks until the plays are written, wherever, and raises what their MERGE raised;
    the query handing them over finishes its batch only then, so a crash before replays it. They are
    written on the caller's thread instead when the events query is idle (no batch running or ended in
    the last ``idle_after_s``: a quiet stream, or ``--available-now``'s dimension phase), whether at
    once or while waiting, or when no events batch has taken them within ``max_wait_s`` (one failed,
    or hangs).
    """

    def __init__(self, max_wait_s: float = 30.0, idle_after_s: float = 5.0) -> None:
        self.max_wait_s = max_wait_s
        self.idle_after_s = idle_after_s
        self._lock = threading.Lock()
        self._writing = 0  # events batches running now
        self._last_end = -math.inf  # time.monotonic() when the last one ended
        self._queue: list[Handed] = []

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """An events batch: the events query is active while it runs, and a little after."""
        with self._lock:
            self._writing += 1
        try:
            yield
        finally:
            with self._lock:
                self._writing -= 1
                self._last_end = time.monotonic()

    @contextlib.contextmanager
    def taken(self) -> Iterator[DataFrame | None]:
        """Within an events batch, around its MERGE: the plays handed over so far as one DataFrame (None:
        none), written once the block ends without an error."""
        with self._lock:
            handed, self._queue = self._queue, []
        if not handed:
            yield None
            return
        try:
            yield functools.reduce(DataFrame.unionByName, (h.plays for h in handed))
        except BaseException as e:
            for h in handed:
                h.done.set_exception(e)
            raise
        for h in handed:
            h.done.set_result(None)

    def idle(self) -> bool:
        """No events batch is running, and none ended in the last ``idle_after_s`` (hold the lock)."""
        return self._writing == 0 and time.monotonic() - self._last_end >= self.idle_after_s

    def hand_over(self, plays: DataFrame, write_here: Callable[[], None]) -> None:
        """Have ``plays`` merged by the events query's next MERGE, or by ``write_here`` on this thread
        (see the class)."""
        handed = Handed(plays)
        with self._lock:
            here = self.idle()
            if not here:
                self._queue.append(handed)
        deadline = time.monotonic() + self.max_wait_s
        while not here:
            try:
                handed.done.result(timeout=POLL_S)
                return
            except FutureTimeout:
                pass
            with self._lock:
                give_up = self.idle() or time.monotonic() >= deadline
                here = give_up and handed in self._queue
                if here:
                    self._queue.remove(handed)
            if give_up and not here:  # taken meanwhile: wait for that MERGE
                handed.done.result()
                return
        write_here()


@dataclass(eq=False)
class Schedule:
    """The scheduling a stream's queries share (see the module's docstring)."""

    plays_first: PlaysFirst = field(default_factory=PlaysFirst)
    turns: threading.Lock = field(default_factory=threading.Lock)
    songplays: SongplaysHandover = field(default_factory=SongplaysHandover)
