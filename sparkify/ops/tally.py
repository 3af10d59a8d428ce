"""How many micro-batches a running stream has finished, from Spark's progress events: the stream's
live note on the terminal (its per-batch details are in the log, streaming.listener)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

if TYPE_CHECKING:
    from pyspark.sql.streaming.listener import (
        QueryIdleEvent,
        QueryProgressEvent,
        QueryStartedEvent,
        QueryTerminatedEvent,
    )


class BatchTally(StreamingQueryListener):
    """Counts the micro-batches that read something (an idle trigger is no batch to a reader), across
    every query of the session, and calls ``on_batch`` with the count after each."""

    def __init__(self, on_batch: Callable[[int], None]) -> None:
        self.batches = 0
        self.on_batch = on_batch

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        pass

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        if event.progress.numInputRows:
            self.batches += 1
            self.on_batch(self.batches)

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        pass


@contextmanager
def tallying(spark: SparkSession, on_batch: Callable[[int], None]) -> Iterator[BatchTally]:
    """A :class:`BatchTally` listening to ``spark``'s queries while the block runs."""
    tally = BatchTally(on_batch)
    spark.streams.addListener(tally)
    try:
        yield tally
    finally:
        spark.streams.removeListener(tally)
