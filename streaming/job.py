"""``sparkify stream``: two file-stream queries (songs, logs) into the star tables until stopped.

SIGTERM or SIGINT asks the queries to stop once their current micro-batch is done; a restart resumes
from the checkpoints. ``--available-now`` takes what has landed and stops, through the same code path.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from checkpoints_config import PipelineConfig
from sparkify import ingest, tables
from streaming.listener import BatchLogger
from streaming.sink import MicroBatchSink
from streaming.sources import raw_file_stream

POLL_S = 0.5


@dataclass(frozen=True)
class QuerySpec:
    name: str
    dataset: ingest.Dataset
    root: str


def query_specs(config: PipelineConfig) -> tuple[QuerySpec, ...]:
    return (
        QuerySpec("songs", ingest.SONGS, config.paths.song_data),
        QuerySpec("events", ingest.EVENTS, config.paths.log_data),
    )


def start_queries(
    spark: SparkSession, config: PipelineConfig, available_now: bool = False
) -> list[StreamingQuery]:
    """Start one query per source, each with its own checkpoint and foreachBatch sink."""
    tables.ensure_tables(spark, config)
    queries = []
    for spec in query_specs(config):
        checkpoint = config.checkpoint_path(spec.name)
        writer = (
            raw_file_stream(spark, spec.root, config.stream.max_files_per_trigger)
            .writeStream.queryName(spec.name)
            .option("checkpointLocation", checkpoint)
            .foreachBatch(MicroBatchSink(config, spec.dataset, checkpoint))
        )
        trigger = (
            {"availableNow": True} if available_now else {"processingTime": config.stream.trigger_interval}
        )
        queries.append(writer.trigger(**trigger).start())
    return queries


def stop_gracefully(queries: list[StreamingQuery], timeout_s: float = 600.0) -> None:
    """Stop each query between micro-batches: wait until no trigger is running, then stop it."""
    deadline = time.monotonic() + timeout_s
    for query in queries:
        while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the driver mid-batch."""
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_stream(
    spark: SparkSession,
    config: PipelineConfig,
    available_now: bool = False,
    stop: threading.Event | None = None,
    out: TextIO = sys.stderr,
) -> None:
    """Run both queries until they finish (available-now), one fails, or ``stop`` is set."""
    stop = stop or threading.Event()
    listener = BatchLogger()
    spark.streams.addListener(listener)
    queries = start_queries(spark, config, available_now)
    print(f"[stream] started {', '.join(q.name for q in queries)}; checkpoints under "
          f"{config.checkpoint_path('')}", file=out, flush=True)  # fmt: skip
    try:
        while any(q.isActive for q in queries) and not stop.is_set():
            failed = [q for q in queries if q.exception() is not None]
            if failed:
                break
            time.sleep(POLL_S)
    finally:
        stop_gracefully(queries)
        spark.streams.removeListener(listener)
    for query in queries:
        error = query.exception()
        if error is not None:
            raise RuntimeError(f"streaming query {query.name} failed: {error}") from None
    print("[stream] stopped", file=out, flush=True)
