"""``sparkify stream``: four queries into the star tables until stopped.

Per dataset (songs, events), a query over the landing prefix takes new files into staging (events: and
their plays into songplays), and a second query over what the first appended to staging merges the
rest on a slower trigger: the dimensions, and the earlier plays late songs resolve. Splitting them
keeps a file's way into songplays short (the freshness target) while the rest, which rescans staged
history, catches up in bulk.

SIGTERM or SIGINT asks the queries to stop once their current micro-batch is done; a restart resumes
from the checkpoints. ``--available-now`` takes what has landed and stops, through the same code path:
first the raw-file queries, then the dimension queries over everything they staged.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TextIO, cast

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.util import inheritable_thread_target

from checkpoints_config import PipelineConfig
from expectations.validation import load_checks
from sparkify import tables
from sparkify.pipeline import ingest
from sparkify.s3 import aws_client
from sparkify.song_keys import HeldSongKeys
from sparkify.sources import archived_root
from streaming.discovery import QueueDrainer, notified_file_stream, queue_url, read_notified_files
from streaming.listener import BatchLogger
from streaming.pruning import EmptiedDirPruner
from streaming.scheduling import Schedule
from streaming.sink import STREAM_BATCH_PREFIX, DimensionSink, RawFilesSink
from streaming.sources import raw_file_stream, staging_stream

POLL_S = 0.5


def start_raw_query(
    spark: SparkSession,
    config: PipelineConfig,
    dataset: ingest.Dataset,
    trigger: dict[str, Any],
    schedule: Schedule,
    song_keys: HeldSongKeys,
) -> StreamingQuery:
    """New files under ``dataset``'s landing prefix → staging (→ songplays for events)."""
    root = ingest.landing_root(config, dataset)
    checkpoint = config.checkpoint_path(dataset.name)
    checks = load_checks(config.quality)
    if config.stream.discovery == "notifications":  # announced objects, read one by one
        stream_df = notified_file_stream(spark, config, dataset)
        sink = RawFilesSink(
            config, dataset, checkpoint, checks, None, schedule, song_keys, partial(read_notified_files, root)
        )
        return start(stream_df, dataset.name, checkpoint, sink, trigger)
    archive = config.stream.clean_source == "archive"  # else nothing under the prefix is moved
    stream_df = raw_file_stream(
        spark, root, config.stream.max_files_per_trigger, config.archive_path(root) if archive else None
    )
    pruner = EmptiedDirPruner(root, archived_root(config.archive_path(root), root)) if archive else None
    sink = RawFilesSink(config, dataset, checkpoint, checks, pruner, schedule, song_keys)
    return start(stream_df, dataset.name, checkpoint, sink, trigger)


def start_dimension_query(
    spark: SparkSession,
    config: PipelineConfig,
    dataset: ingest.Dataset,
    trigger: dict[str, Any],
    schedule: Schedule,
) -> StreamingQuery:
    """Rows appended to ``dataset``'s staging table → the rest of the star (see ``DimensionSink``)."""
    name = f"{dataset.name}-dimensions"
    checkpoint = config.checkpoint_path(name)
    stream_df = staging_stream(
        spark, config.table_path(dataset.staging.name), dimension_start_version(spark, config, dataset)
    )
    sink = DimensionSink(config, dataset, checkpoint, schedule)
    return start(stream_df, name, checkpoint, sink, trigger)


def start(
    stream_df: DataFrame,
    name: str,
    checkpoint: str,
    sink: Callable[[DataFrame, int], None],
    trigger: dict[str, Any],
) -> StreamingQuery:
    writer = stream_df.writeStream.queryName(name).option("checkpointLocation", checkpoint)
    return writer.foreachBatch(sink).trigger(**trigger).start()


def dimension_start_version(spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset) -> int:
    """Where a new dimension query starts reading staging (a restarted one goes on from its checkpoint).

    From the current version while no stream batch has been staged yet (what is there came from the
    backfill, which merged its own dimensions), otherwise from the start: a reset checkpoint must
    not skip stream batches, and going over them again changes nothing.
    """
    path = config.table_path(dataset.staging.name)
    staged_by_stream = (
        spark.read.format("delta").load(path).filter(F.col("batch_id").startswith(STREAM_BATCH_PREFIX))
    )
    if not staged_by_stream.isEmpty():
        return 0
    return cast(Row, DeltaTable.forPath(spark, path).history(1).first())["version"]


def start_queries(
    spark: SparkSession, config: PipelineConfig, available_now: bool = False, phase: str = "all"
) -> list[StreamingQuery]:
    """Start the queries of ``phase`` (``raw``, ``dimensions`` or ``all``), each with its own checkpoint.

    Dimension queries start first, so that their starting version (for a new checkpoint) is read
    before any raw query appends to staging.
    """
    tables.ensure_tables(spark, config)
    stream = config.stream
    now = {"availableNow": True}
    queries = []
    schedule = Schedule()
    if phase in ("dimensions", "all"):
        trigger = now if available_now else {"processingTime": stream.dimensions_trigger_interval}
        queries += [start_dimension_query(spark, config, d, trigger, schedule) for d in ingest.DATASETS]
    if phase in ("raw", "all"):
        interval = {
            ingest.SONGS.name: stream.songs_trigger_interval,
            ingest.EVENTS.name: stream.trigger_interval,
        }
        song_keys = HeldSongKeys(config.table_path(tables.STAGING_SONGS.name))  # songs refresh, events read
        for d in ingest.DATASETS:
            trigger = now if available_now else {"processingTime": interval[d.name]}
            queries.append(start_raw_query(spark, config, d, trigger, schedule, song_keys))
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
    """Run the queries until they finish (available-now), one fails, or ``stop`` is set."""
    stop = stop or threading.Event()
    listener = BatchLogger()
    spark.streams.addListener(listener)
    try:
        with announced_files(spark, config, available_now, out):
            # Available-now drains the raw files first: the dimension queries then see all they staged.
            for phase in ("raw", "dimensions") if available_now else ("all",):
                queries = start_queries(spark, config, available_now, phase)
                print(f"[stream] started {', '.join(q.name for q in queries)}; checkpoints under "
                      f"{config.checkpoint_path('')}", file=out, flush=True)  # fmt: skip
                run_until_done(queries, stop)
                if stop.is_set():
                    break
    finally:
        spark.streams.removeListener(listener)
    print("[stream] stopped", file=out, flush=True)


@contextmanager
def announced_files(
    spark: SparkSession, config: PipelineConfig, available_now: bool, out: TextIO
) -> Iterator[None]:
    """With ``stream.discovery = "notifications"``, the queue's notifications recorded in landed_files
    while the queries run (``streaming.discovery``): all of them first for ``available_now``, else on a
    thread of their own until the queries stop."""
    if config.stream.discovery != "notifications":
        yield
        return
    tables.ensure_tables(spark, config)
    sqs = aws_client(config, "sqs")
    url = queue_url(sqs, config.stream.notifications_queue)
    drainer = QueueDrainer(spark, config, sqs, url, config.stream.max_files_per_trigger)
    if available_now:
        print(f"[stream] {drainer.drain_all():,} new file(s) announced on {url}", file=out, flush=True)
        yield
        return
    done = threading.Event()
    thread = threading.Thread(
        target=inheritable_thread_target(spark)(drainer.run), args=(done,), name="sparkify-drain"
    )
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def run_until_done(queries: list[StreamingQuery], stop: threading.Event) -> None:
    """Wait while any query runs and ``stop`` is not set; then stop them all between micro-batches and
    raise if one failed."""
    try:
        while any(q.isActive for q in queries) and not stop.is_set():
            if any(q.exception() is not None for q in queries):
                break
            time.sleep(POLL_S)
    finally:
        stop_gracefully(queries)
    for query in queries:
        error = query.exception()
        if error is not None:
            raise RuntimeError(f"streaming query {query.name} failed: {error}") from None
