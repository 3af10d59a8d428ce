"""The ``foreachBatch`` sinks, each safe to replay.

Two kinds of query run per dataset (see streaming.job):

- :class:`RawFilesSink`, per batch of landed files: parse, quarantine, staging, and for events the
  MERGE that makes the batch's plays visible in songplays. Nothing else, so songplays is fresh.
- :class:`DimensionSink`, per batch of rows the first query appended to staging, on a slower trigger:
  time, users, users_level_history; songs, artists and the earlier plays late songs resolve.

A replayed batch writes nothing twice (streaming.exactly_once), a file the backfill took is not taken
again (streaming.handoff), the queries share cores and songplays by streaming.scheduling, and archiving's
emptied directories go by streaming.pruning.

A batch's label, stored with everything it writes, names the query by the id Spark keeps in its
checkpoint: resetting the checkpoint gives a new id, so the new query's batch 0 is never mistaken for the
old one's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import cast

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession

from checkpoints_config import PipelineConfig, join_path
from expectations.validation import Checks
from sparkify import commits, merge, tables
from sparkify.background import in_background
from sparkify.local_checkpoints import held_locally
from sparkify.pipeline import ingest
from sparkify.song_keys import HeldSongKeys
from streaming import handoff
from streaming.exactly_once import ReplayGuard, recorded, validated
from streaming.pruning import EmptiedDirPruner
from streaming.scheduling import Schedule

log = logging.getLogger(__name__)

STREAM_BATCH_PREFIX = "stream-"  # staging.batch_id of rows a stream query staged (the backfill's differ)


def batch_settings(config: PipelineConfig) -> dict[str, str]:
    """The Spark settings every micro-batch runs with, on its query's own session."""
    return {
        "spark.sql.adaptive.enabled": str(config.stream.adaptive_execution).lower(),
        # Runtime Bloom filters pay off in big shuffle joins, not in a micro-batch's. Joining a batch's
        # plays to song keys updated from the change feed, Spark built one and inlined its bits (up to
        # 8 MB) at each use: every stage of the batch shipped a 72 MiB task binary.
        "spark.sql.optimizer.runtime.bloomFilter.enabled": "false",
        # Without code generation (stream.code_generation), whole stages and the projections tasks make
        # run interpreted. Profiled on the local drip, generating and compiling that code was about a
        # fifth of the JVM's CPU; events batches ran in about half the time without it.
        "spark.sql.codegen.wholeStage": str(config.stream.code_generation).lower(),
        "spark.sql.codegen.factoryMode": "FALLBACK" if config.stream.code_generation else "NO_CODEGEN",
    }


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The id Spark wrote into ``<checkpoint>/metadata`` when the query first started."""
    text = "\n".join(r.value for r in spark.read.text(join_path(checkpoint, "metadata")).collect())
    return json.loads(text)["id"]


def as_listed(batch_df: DataFrame) -> DataFrame:
    """A batch of Spark's file source: the files themselves."""
    return batch_df


@dataclass
class QuerySink:
    """What names a query's batches; holds no session (each batch brings its own)."""

    config: PipelineConfig
    dataset: ingest.Dataset
    checkpoint: str
    app_id: str | None = field(default=None, init=False)
    replays: ReplayGuard = field(default_factory=ReplayGuard, init=False)

    kind = ""  # "" for the raw-file query, "-dimensions" for the dimension query
    pool = "plays"  # Spark's scheduler pool for the batch's jobs (checkpoints_config/fairscheduler.xml)

    @property
    def query(self) -> str:
        """The query's name in pipeline_metrics."""
        return f"stream-{self.dataset.name}{self.kind}"

    def begin_batch(self, spark: SparkSession, batch_id: int) -> str:
        """Put the jobs of this batch (this thread's) in the query's pool, with :func:`batch_settings`
        (``spark`` is the query's own session, which Spark clones at its start), and the batch's label in
        every commit it makes; return the label."""
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", self.pool)
        for key, value in batch_settings(self.config).items():
            spark.conf.set(key, value)
        if self.app_id is None:
            self.app_id = query_id(spark, self.checkpoint)
        label = f"{STREAM_BATCH_PREFIX}{self.dataset.name}{self.kind}-{self.app_id[:8]}-{batch_id:08d}"
        commits.set_note(spark, commits.batch_note(self.query, label))  # what history shows for its commits
        return label

    def record(
        self,
        spark: SparkSession,
        result: ingest.BatchResult,
        started_at: dt.datetime,
        oldest_landed_at: int | None,
        may_replay: bool,
    ) -> None:
        """The batch's pipeline_metrics row, unless a replayed batch had written it already."""
        if not (may_replay and recorded(spark, self.config, self.query, result.batch_id)):
            ingest.record_batch(spark, self.config, self.query, result, started_at, oldest_landed_at)


@dataclass
class RawFilesSink(QuerySink):
    """Landed files → validation → staging → (events) songplays; with a ``pruner``, emptied landing
    directories go."""

    checks: Checks  # the suites and this query's own GX context (load_checks)
    pruner: EmptiedDirPruner | None = None  # when taken files are archived out of the landing prefix
    schedule: Schedule = field(default_factory=Schedule)  # shared by the stream's queries
    # What plays are matched on: a stream's two raw-file queries share them (the songs query refreshes
    # them, the events query reads them); None: this query's own.
    song_keys: HeldSongKeys | None = None
    # The batch's whole files (source_file, landed_at, value) from what its source gives: the files
    # themselves when Spark lists the prefix; read from the announced objects with notifications
    # (streaming.discovery.read_notified_files).
    files_of: Callable[[DataFrame], DataFrame] = field(default=as_listed)
    _newest_staged: int = field(default=-1, init=False)  # handoff.newest_staged at the start
    routing: ingest.Routing = field(init=False)

    def __post_init__(self) -> None:
        self.routing = ingest.Routing.of(self.dataset, self.checks)
        if self.song_keys is None:
            self.song_keys = HeldSongKeys(self.config.table_path(tables.STAGING_SONGS.name))

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        # The events query is songplays' one writer: the resolved plays handed over wait for its MERGEs.
        writing = self.schedule.songplays.writing() if self.dataset.has_plays else contextlib.nullcontext()
        with writing:
            self.take(batch_df, batch_id)

    def take(self, batch_df: DataFrame, batch_id: int) -> None:
        """Take one batch of landed files."""
        spark = batch_df.sparkSession
        label = self.begin_batch(spark, batch_id)
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        may_replay = self.replays.begin(batch_id)
        batch = self.files_of(batch_df).persist(StorageLevel.MEMORY_AND_DISK)  # looked up, then ingested
        try:
            landed = {r.source_file: r.landed_at for r in batch.select("source_file", "landed_at").collect()}
            if not landed:  # notifications: announced for the other dataset, or deleted since
                self.replays.finished(batch_id)
                return
            if may_replay:
                self._newest_staged = handoff.newest_staged(spark, self.config, self.dataset)
            staged: dict[str, set[str]] = {}
            if may_replay or min(landed.values(), default=0) <= self._newest_staged:
                staged = handoff.staged_labels(spark, self.config, self.dataset, list(landed), label)
            elsewhere = handoff.taken_elsewhere(staged, label)
            fresh = batch.filter(~F.col("source_file").isin(elsewhere)) if elsewhere else batch
            routed = ingest.routed_batch(self.routing, fresh, label, started_at, self.checks)
            with self.schedule.plays_first.running(), routed as rows:
                recording = None  # GX's record, written as soon as GX is done, beside the batch's writes
                if not (may_replay and validated(spark, self.config, self.dataset.name, label)):
                    recording = in_background(spark, record_validation, spark, self.config, rows)
                ingest.quarantine(spark, self.config, rows)
                if not handoff.is_staged_under(staged, label):  # else a replay whose append committed
                    ingest.stage(self.config, rows)
                if rows.rows_in:
                    self.after_staging(spark, rows)
                rows.validated()  # raises what GX raised
        finally:
            batch.unpersist()
        result = rows.result(time.monotonic() - started)
        self.record(spark, result, started_at, rows.oldest_landed_at, may_replay)
        if recording is not None:
            recording.result()
        self.replays.finished(batch_id)
        if self.pruner is not None:  # housekeeping, after the batch's plays are visible
            self.pruner(spark, list(landed), batch_id)

    def after_staging(self, spark: SparkSession, rows: ingest.RoutedBatch) -> None:
        """Events: the batch's plays into songplays, matched to the song keys as of now (after the staging
        commit: late songs), with the plays late songs resolved handed over meanwhile. Songs: the keys
        refreshed for the events batches to come."""
        assert self.song_keys is not None
        if not self.dataset.has_plays:
            self.song_keys.refresh(spark)
            return
        with self.song_keys.current(spark) as keys, self.schedule.songplays.taken() as resolved:
            # GX finishes on the whole batch before the MERGE writes; its source is computed beside.
            ingest.merge_new_plays(
                spark, self.config, rows.accepted_df, keys, ready=rows.validated, resolved=resolved
            )


def record_validation(spark: SparkSession, config: PipelineConfig, rows: ingest.RoutedBatch) -> None:
    """quality_results for the batch, once GX has validated it (a wait off the batch's path: not logged
    as the batch's wait for GX)."""
    if rows.pending is not None:
        wait([rows.pending])
    ingest.record_quality(spark, config, rows.validated())


@dataclass
class DimensionSink(QuerySink):
    """Rows the stream staged → the rest of the star. Rows the backfill staged are skipped: it merged
    them itself. Dimension batches take turns and give way to file batches; the songs query hands the
    plays its songs resolve over to the events query (``streaming.scheduling``)."""

    schedule: Schedule = field(default_factory=Schedule)  # shared by the stream's queries

    kind = "-dimensions"
    pool = "dimensions"

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        spark = batch_df.sparkSession
        label = self.begin_batch(spark, batch_id)
        may_replay = self.replays.begin(batch_id)
        with self.schedule.turns:
            started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
            staged = batch_df.filter(F.col("batch_id").startswith(STREAM_BATCH_PREFIX))
            rows = ingest.accepted_rows(staged, self.dataset).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                counts = cast(
                    Row, rows.agg(F.count("*").alias("n"), F.min("landed_at").alias("oldest")).first()
                )
                if counts["n"]:
                    self.merge(spark, rows)
            finally:
                rows.unpersist()
        result = ingest.BatchResult(
            self.dataset.name, label, counts["n"], counts["n"], 0, time.monotonic() - started
        )
        self.record(spark, result, started_at, counts["oldest"], may_replay)
        self.replays.finished(batch_id)

    def merge(self, spark: SparkSession, rows: DataFrame) -> None:
        """The backfill's star MERGEs (``Dataset.star_merges``) less the events' new plays, with the plays the
        batch's late songs resolve handed over to the events query (``streaming.scheduling``)."""
        give_way = self.schedule.plays_first.give_way
        if self.dataset.has_plays:
            ingest.merge_in_turn(spark, self.config, rows, ingest.EVENT_DIMENSIONS, give_way)
            return
        ingest.merge_in_turn(spark, self.config, rows, ingest.SONG_DIMENSIONS, give_way)
        path = self.config.table_path(tables.SONGPLAYS.name)
        # Computed here, off the events query's thread, which then only runs the MERGE.
        with held_locally(ingest.resolved_plays(spark, self.config, rows)) as resolved:
            if not resolved.isEmpty():
                self.schedule.songplays.hand_over(
                    resolved, lambda: merge.merge_songplays(spark, path, resolved)
                )
