"""How the stream's four queries share two cores and the songplays table: one :class:`Schedule` per stream.

- File batches go first (:class:`PlaysFirst`): dimension work waits for them before each MERGE.
- One dimension batch at a time (``Schedule.turns``): the two dimension queries trigger on the same
  instants, and two such batches at once would double the load that holds up the next file batch.
- One writer of songplays (:class:`SongplaysHandover`): the events query. The plays that late songs
  resolve are computed by the songs-dimensions query and merged by the events query's thread between
  two of its batches, instead of beside them, where every commit of new plays made the resolution's MERGE
  conflict and start over (Delta checks conflicts by partition, and both write the current month).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


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
    """A songplays write handed over, and its outcome."""

    work: Callable[[], None]
    done: Future[None] = field(default_factory=Future)

    def run(self) -> None:
        try:
            self.work()
        except BaseException as e:  # the outcome belongs to the query that handed it over
            self.done.set_exception(e)
        else:
            self.done.set_result(None)


class SongplaysHandover:
    """Lets another query's songplays writes run on the events query's thread, between its batches.

    :meth:`hand_over` blocks until the write is done, wherever it ran, and raises what it raised; the
    query handing over finishes its batch only then, so a crash before replays it. The write runs on the
    caller's own thread when no events batch is running (an idle stream, or ``--available-now``'s
    dimension phase), or when none has taken it within ``max_wait_s`` (an events batch that failed).
    """

    def __init__(self, max_wait_s: float = 30.0) -> None:
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._writing = 0  # events batches running now
        self._queue: list[Handed] = []

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """An events batch: when it ends without an error, it runs what was handed over meanwhile."""
        with self._lock:
            self._writing += 1
        try:
            yield
        except BaseException:
            with self._lock:
                self._writing -= 1
            raise
        with self._lock:
            self._writing -= 1
            handed, self._queue = self._queue, []
        for item in handed:
            item.run()
            if item.done.exception() is not None:
                log.warning("a songplays write handed over failed: %s", item.done.exception())

    def hand_over(self, work: Callable[[], None]) -> None:
        """Run ``work`` (a songplays write) on the events query's thread after its running batch."""
        item = Handed(work)
        with self._lock:
            here = self._writing == 0
            if not here:
                self._queue.append(item)
        if here:
            work()
            return
        try:
            item.done.result(timeout=self.max_wait_s)
            return
        except FutureTimeout:
            with self._lock:
                here = item in self._queue
                if here:
                    self._queue.remove(item)
        if here:
            log.info("no events batch took the songplays write in %.0f s: writing it here", self.max_wait_s)
            work()
        else:  # taken meanwhile: wait for it
            item.done.result()


@dataclass(eq=False)
class Schedule:
    """The scheduling a stream's queries share (see the module's docstring)."""

    plays_first: PlaysFirst = field(default_factory=PlaysFirst)
    turns: threading.Lock = field(default_factory=threading.Lock)
    songplays: SongplaysHandover = field(default_factory=SongplaysHandover)
