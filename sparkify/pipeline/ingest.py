"""The steps of one batch of raw files: parse and route → quarantine → staging → validation → star tables.

Both jobs compose these steps, so they share every parse, expectation, transform and MERGE rule: the
backfill per chunk of history (``batch_backfill.load``), the stream per micro-batch (``streaming.sink``).
Each step is safe to repeat for the same batch:
quarantine is insert-only by line, staging and pipeline_metrics are written once per batch (the caller
guarantees it: the backfill skips staged files, the stream looks up what a replayed batch wrote), and
the star MERGEs only let better rows win.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, cast

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql.types import StructType

from checkpoints_config import PipelineConfig
from expectations.routing import Verdicts, failed_names, tallies, tally_columns
from expectations.suites import Policy, Suite
from expectations.validation import Checks, DataQualityError, QualityResult, Tallies, Validation
from sparkify import merge, song_keys, tables
from sparkify.background import in_background
from sparkify.local_checkpoints import held_locally
from sparkify.progress import timed
from sparkify.schemas import (
    EVENT_COLUMN_NAMES,
    QUARANTINE_SCHEMA,
    RAW_EVENT_SCHEMA,
    RAW_SONG_SCHEMA,
    REJECTIONS,
)
from sparkify.staging import RAW_LINE, LineParser, explode_lines, is_accepted, with_lineage
from sparkify.transforms.artists import build_artists
from sparkify.transforms.levels import build_level_history
from sparkify.transforms.songplays import (
    MATCH_KEY,
    best_per_play,
    build_plays,
    build_songplays,
    match_songs,
    with_resolved,
)
from sparkify.transforms.songs import build_song_keys, build_songs
from sparkify.transforms.time_table import build_time
from sparkify.transforms.users import build_users

log = logging.getLogger(__name__)


class StarMerge(Protocol):
    """One star table's MERGE for a batch of a dataset's accepted rows; ``exclusive``: no other job writes
    the tables meanwhile (the backfill), so an empty table may take a plain append."""

    def __call__(
        self, spark: SparkSession, config: PipelineConfig, accepted_df: DataFrame, /, exclusive: bool = False
    ) -> None: ...


@dataclass(frozen=True)
class Dataset:
    """What differs between the two kinds of raw file: schema, names, tables, suite, where they land, and
    which star tables a batch of them changes."""

    name: str
    raw_schema: StructType
    renames: dict[str, str]
    staging: tables.TableSpec
    suite_name: str
    landing_key: str  # the ``paths`` setting naming its landing prefix
    has_plays: bool  # its rows hold plays, merged into songplays as soon as they are staged
    # Every star table a batch of its accepted rows changes, one MERGE each. Each reads only the batch
    # and staging, and writes a table no other of them writes: they may run in any order, or at once.
    star_merges: tuple[StarMerge, ...]

    @property
    def staging_columns(self) -> list[str]:
        return [f.name for f in self.staging.schema.fields]


def landing_root(config: PipelineConfig, dataset: Dataset) -> str:
    """The prefix ``dataset``'s raw files land under."""
    return getattr(config.paths, dataset.landing_key)


@dataclass(eq=False)
class Routing:
    """How a job parses and routes one dataset's batches: its suite (policies applied) and the column
    expressions, built once and reused by every batch. Built per batch they were some 4,000 py4j calls:
    planning an events batch took 0.64 s that way, 0.13 s with these (bench/reports/routing.md)."""

    dataset: Dataset
    suite: Suite
    parse: LineParser
    counts: list[Column]  # the batch's counts and the suite's tallies: one aggregate over its rows
    verdicts: dict[StructType, Verdicts] = field(default_factory=dict)  # per parsed schema (one, in fact)

    @classmethod
    def of(cls, dataset: Dataset, checks: Checks) -> Routing:
        suite = checks.suite(dataset.suite_name)
        counts = [
            F.count("*").alias("rows_in"),
            F.sum((~F.col("is_malformed")).cast("int")).alias("rows_staged"),
            F.sum((~is_accepted(F.col(REJECTIONS))).cast("int")).alias("rows_quarantined"),
            F.min("landed_at").alias("oldest_landed_at"),
            *tally_columns(suite, ~F.col("is_malformed")),
        ]
        return cls(dataset, suite, LineParser(dataset.raw_schema, dataset.renames), counts)

    def rows(self, files_df: DataFrame, batch_id: str, started_at: dt.datetime) -> DataFrame:
        """One row per line of ``files_df``: parsed, judged by the suite, stamped with the batch."""
        parsed = self.parse(explode_lines(files_df))
        schema = parsed.schema
        if schema not in self.verdicts:
            self.verdicts[schema] = Verdicts.of(self.suite, schema)
        return parsed.transform(self.verdicts[schema]).transform(with_lineage, batch_id, started_at)


@dataclass(frozen=True)
class BatchResult:
    dataset: str
    batch_id: str
    rows_in: int
    rows_staged: int
    rows_quarantined: int
    seconds: float


@dataclass(frozen=True)
class RoutedBatch:
    """A batch's lines parsed, validated and stamped with the batch, held in memory while its steps run."""

    dataset: Dataset
    batch_id: str
    started_at: dt.datetime
    rows_df: DataFrame  # one row per input line: staging columns, is_malformed, rejections, raw_line
    rows_in: int
    rows_staged: int
    rows_quarantined: int
    oldest_landed_at: int | None
    gate: Validation | None  # GX's outcome for the fail-policy expectations (None: GX off, nothing parsed)
    pending: Future[Validation | None] | None  # GX on the other expectations, running meanwhile

    @property
    def accepted_df(self) -> DataFrame:
        """The rows the star tables take."""
        return self.rows_df.filter(is_accepted(F.col(REJECTIONS))).select(*self.dataset.staging_columns)

    def validated(self) -> Validation | None:
        """GX's outcome on the whole suite, once GX has finished (call it before anything is merged; it
        raises what GX raised). None when GX is off or nothing parsed."""
        if self.pending is None:
            return self.gate
        waiting = (
            nullcontext()
            if self.pending.done()
            else timed(log, f"{self.batch_id}: wait for Great Expectations")
        )
        with waiting:
            rest = self.pending.result()
        return rest if self.gate is None or rest is None else self.gate.plus(rest)

    def result(self, seconds: float) -> BatchResult:
        return BatchResult(
            self.dataset.name, self.batch_id, self.rows_in, self.rows_staged, self.rows_quarantined, seconds
        )


@contextmanager
def routed_batch(
    routing: Routing, files_df: DataFrame, batch_id: str, started_at: dt.datetime, checks: Checks
) -> Iterator[RoutedBatch]:
    """Parse, route and validate one batch of whole raw files (``source_file``, ``landed_at``,
    ``value``; see ``sparkify.sources``) once, for every step that follows; raise before anything is
    written if a ``fail``-policy expectation fails.

    Each row's verdict (``rejections``) is routed here in one pass, and GX validates the parsed rows
    with the same suite; ``tests/test_validation.py`` proves the two agree on every expectation. GX
    checks the ``fail``-policy expectations first; the others only confirm and record what the routing
    decided, so they run on a thread of their own while the caller writes the batch, and
    :meth:`RoutedBatch.validated` waits for them. The counts recorded with GX's verdicts are the
    routing pass's, made in the aggregate that counts the batch.
    """
    dataset, suite = routing.dataset, routing.suite
    rows = routing.rows(files_df, batch_id, started_at).persist(StorageLevel.MEMORY_AND_DISK)
    pending = None
    try:
        with timed(log, f"{batch_id}: read, parse and route"):
            counts = cast(Row, rows.agg(*routing.counts).first())  # an aggregate is one row
        gate = None
        if counts["rows_staged"]:
            parsed = rows.filter(~F.col("is_malformed")).select(*dataset.staging_columns)
            figures = tallies(counts, suite, parsed.schema)
            with timed(log, f"{batch_id}: fail-policy expectations"):
                gate = checks.gate(parsed, suite.name, batch_id, dataset.name, figures)
            stop_on_failures(rows, suite, dataset, gate)
            if gate is not None:
                pending = in_background(
                    rows.sparkSession,
                    validate_rest,
                    checks,
                    parsed,
                    suite.name,
                    batch_id,
                    dataset.name,
                    figures,
                )
        yield RoutedBatch(
            dataset,
            batch_id,
            started_at,
            rows,
            counts["rows_in"],
            counts["rows_staged"] or 0,
            counts["rows_quarantined"] or 0,
            counts["oldest_landed_at"],
            gate,
            pending,
        )
    finally:
        if pending is not None:
            wait([pending])  # GX reads the batch: it stays in memory until GX is done
        rows.unpersist()


def validate_rest(
    checks: Checks, df: DataFrame, suite: str, batch_id: str, dataset: str, figures: Tallies
) -> Validation | None:
    """GX on the expectations the gate left (the body of :func:`routed_batch`'s thread), over a local
    checkpoint of the batch: GX plans a few small queries per expectation, each analyzed over the batch's
    whole plan otherwise."""
    with timed(log, f"{batch_id}: validate with Great Expectations"), held_locally(df) as batch:
        return checks.rest(batch, suite, batch_id, dataset, figures)


def stop_on_failures(
    routed_df: DataFrame, suite: Suite, dataset: Dataset, validation: Validation | None
) -> None:
    """Raise :class:`DataQualityError` if a ``fail``-policy expectation failed (nothing of the batch has
    been written yet): GX's verdict (``gate``), or with GX off, any routed row failing one."""
    if validation is not None:
        validation.stop_on_failures()
        return
    fatal = suite.with_policy(Policy.FAIL)
    if not fatal:
        return
    parsed = routed_df.filter(~F.col("is_malformed"))
    failing = parsed.select(F.explode(failed_names(fatal, parsed.schema)).alias("name"))
    names = sorted({r["name"] for r in failing.distinct().collect()})
    if names:
        raise DataQualityError(
            f"{dataset.name}: rows fail expectation(s) with policy 'fail': {', '.join(names)}"
        )


def quarantine(spark: SparkSession, config: PipelineConfig, batch: RoutedBatch) -> None:
    """Insert every rejected line of the batch once, keyed by (dataset, source_file, line_number): a
    replayed batch adds nothing. The table is partitioned by dataset so the songs and events queries
    never conflict over it."""
    if not batch.rows_quarantined:
        return
    rejected = batch.rows_df.filter(~is_accepted(F.col(REJECTIONS))).select(
        F.lit(batch.dataset.name).alias("dataset"),
        "source_file",
        "line_number",
        RAW_LINE,
        F.col(REJECTIONS).alias("reasons"),
        F.lit(batch.batch_id).alias("batch_id"),
        F.lit(batch.started_at).cast("timestamp").alias("quarantined_at"),
    )
    with timed(log, f"{batch.batch_id}: quarantine"):
        merge.upsert(
            spark,
            config.table_path(tables.QUARANTINE.name),
            rejected.select(*QUARANTINE_SCHEMA.fieldNames()),
            keys=["dataset", "source_file", "line_number"],
            better=None,
            scope=f"t.dataset = '{batch.dataset.name}'",
        )


def record_quality(spark: SparkSession, config: PipelineConfig, validation: Validation | None) -> None:
    """Append GX's outcome on the batch to quality_results, one row per expectation (a plain append:
    the stream skips it for a replayed batch whose rows are there, streaming.exactly_once)."""
    if validation is not None:
        record_results(spark, config, validation.batch_id, validation.results)


def record_results(
    spark: SparkSession, config: PipelineConfig, label: str, results: Sequence[QualityResult]
) -> None:
    """Append ``results`` to quality_results in one commit."""
    if not results:
        return
    schema = tables.QUALITY_RESULTS.schema
    rows = [tuple(getattr(r, f) for f in schema.fieldNames()) for r in results]
    with timed(log, f"{label}: quality_results append"):
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(
            config.table_path(tables.QUALITY_RESULTS.name)
        )


def stage(config: PipelineConfig, batch: RoutedBatch) -> None:
    """Append every parsed row of the batch (accepted or not) to staging: a plain append, so the caller
    makes sure it happens once per batch (the backfill skips staged files, the stream replays:
    streaming.exactly_once)."""
    parsed = batch.rows_df.filter(~F.col("is_malformed")).select(*batch.dataset.staging_columns)
    with timed(log, f"{batch.batch_id}: staging append"):
        parsed.write.format("delta").mode("append").save(config.table_path(batch.dataset.staging.name))


def accepted_rows(staged_df: DataFrame, dataset: Dataset) -> DataFrame:
    """The staged rows the star tables take, by the verdict stored with each when it was staged (staging
    keeps every row that parsed, rejected ones too): a suite edited since never re-judges history."""
    return staged_df.filter(is_accepted(F.col(REJECTIONS))).select(*dataset.staging_columns)


def accepted_staged(spark: SparkSession, config: PipelineConfig, dataset: Dataset) -> DataFrame:
    """Every accepted row of ``dataset``'s staging table."""
    return accepted_rows(spark.read.format("delta").load(config.table_path(dataset.staging.name)), dataset)


def merge_event_plays(
    spark: SparkSession, config: PipelineConfig, events_df: DataFrame, exclusive: bool = False
) -> None:
    """songplays for a batch of events: its plays, matched to every song staged so far."""
    merge_new_plays(spark, config, events_df, read_song_keys(spark, config), exclusive)


def merge_new_plays(
    spark: SparkSession,
    config: PipelineConfig,
    events_df: DataFrame,
    song_keys_df: DataFrame,
    exclusive: bool = False,
    ready: Callable[[], object] = lambda: None,
    resolved: DataFrame | None = None,
) -> None:
    """songplays for an events batch's plays, matched to ``song_keys_df``: the keys of the songs staged
    so far (:func:`read_song_keys`, or a stream's ``sparkify.song_keys.HeldSongKeys``), read after the
    batch's own staging commit, so that a song staged meanwhile is either in them or resolves the staged
    play itself (:func:`resolved_plays`). ``resolved``, such plays (the stream hands them over to keep
    one writer of songplays), go into the same MERGE.

    This is all the stream does after staging before a file's plays are visible: one MERGE, which waits
    for ``ready`` once its source is computed (``sparkify.merge.merge_new_songplays``).
    """
    songplays = build_songplays(events_df, song_keys_df)
    path = config.table_path(tables.SONGPLAYS.name)
    if resolved is None:
        merge.merge_new_songplays(spark, path, songplays, exclusive, ready)
    else:  # keys already there: the full MERGE at once
        merge.merge_songplays(spark, path, with_resolved(songplays, resolved), exclusive, ready)


def read_song_keys(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    """The match keys of every accepted song staged so far, read whole."""
    return song_keys.staged_song_keys(spark.read.format("delta").load(config.table_path(SONGS.staging.name)))


def resolved_plays(spark: SparkSession, config: PipelineConfig, songs_df: DataFrame) -> DataFrame:
    """Late arrival: the staged plays of these songs, with them, wherever they had no song or a greater
    song_id (:func:`merge.merge_songplays` takes only those). Read from all of staging_events."""
    new_keys = build_song_keys(songs_df)
    wanted = new_keys.select(F.col("title").alias("song"), F.col("artist_name").alias("artist")).distinct()
    plays = build_plays(accepted_staged(spark, config, EVENTS)).join(wanted, ["song", "artist"], "left_semi")
    return (
        match_songs(plays, new_keys)
        .filter(F.col("song_id").isNotNull())
        .drop(*MATCH_KEY)
        .transform(best_per_play)
        .select(*tables.SONGPLAYS.columns)
    )


def merge_resolved_plays(
    spark: SparkSession, config: PipelineConfig, songs_df: DataFrame, exclusive: bool = False
) -> None:
    """The :func:`resolved_plays` of these songs into songplays. None while no event is staged, as in a
    first backfill, which takes every song before any event: finding that out from the log is a fraction
    of a second, computing the nothing takes a few (a dozen Spark jobs)."""
    if merge.is_empty(DeltaTable.forPath(spark, config.table_path(EVENTS.staging.name))):
        return
    resolved = resolved_plays(spark, config, songs_df)
    merge.merge_songplays(spark, config.table_path(tables.SONGPLAYS.name), resolved, exclusive)


def merge_song_rows(
    spark: SparkSession, config: PipelineConfig, songs_df: DataFrame, exclusive: bool = False
) -> None:
    """songs for a batch of song records."""
    merge.merge_songs(spark, config.table_path("songs"), build_songs(songs_df), exclusive)


def merge_touched_artists(
    spark: SparkSession, config: PipelineConfig, songs_df: DataFrame, exclusive: bool = False
) -> None:
    """artists for a batch of song records: an artist's row is the best of all its song records, so the
    touched artists are recomputed whole from staging."""
    touched = staged_for_keys(spark, config, SONGS, songs_df, "artist_id")
    merge.merge_artists(spark, config.table_path("artists"), build_artists(touched), exclusive)


def merge_event_time(
    spark: SparkSession, config: PipelineConfig, events_df: DataFrame, exclusive: bool = False
) -> None:
    """time for a batch of events: the start time of each play."""
    merge.merge_time(spark, config.table_path("time"), build_time(build_plays(events_df)), exclusive)


def merge_event_users(
    spark: SparkSession, config: PipelineConfig, events_df: DataFrame, exclusive: bool = False
) -> None:
    """users for a batch of events."""
    merge.merge_users(spark, config.table_path("users"), build_users(events_df), exclusive)


def merge_touched_level_history(
    spark: SparkSession, config: PipelineConfig, events_df: DataFrame, exclusive: bool = False
) -> None:
    """users_level_history for a batch of events: a user's level runs depend on all their events, so
    the touched users' runs are recomputed whole from staging."""
    touched = staged_for_keys(spark, config, EVENTS, events_df.filter(F.col("user_id") != ""), "user_id")
    path = config.table_path("users_level_history")
    merge.merge_level_history(spark, path, build_level_history(touched), exclusive)


def staged_for_keys(
    spark: SparkSession, config: PipelineConfig, dataset: Dataset, batch_df: DataFrame, key: str
) -> DataFrame:
    """Every accepted staged row of ``dataset`` whose ``key`` is in ``batch_df``."""
    return accepted_staged(spark, config, dataset).join(batch_df.select(key).distinct(), key, "left_semi")


SONG_DIMENSIONS: tuple[StarMerge, ...] = (merge_song_rows, merge_touched_artists)
EVENT_DIMENSIONS: tuple[StarMerge, ...] = (merge_event_time, merge_event_users, merge_touched_level_history)


def merge_in_turn(
    spark: SparkSession,
    config: PipelineConfig,
    rows: DataFrame,
    merges: Sequence[StarMerge],
    give_way: Callable[[], object] = lambda: None,
) -> None:
    """``merges`` of a batch's ``rows`` one after the other, the stream's way: ``give_way`` is called
    before each, and the stream waits there while new plays are being merged
    (``streaming.scheduling.Schedule``)."""
    for merge_table in merges:
        give_way()
        merge_table(spark, config, rows)


def record_batch(
    spark: SparkSession,
    config: PipelineConfig,
    query: str,
    result: BatchResult,
    started_at: dt.datetime,
    oldest_landed_at: int | None,
) -> None:
    """One pipeline_metrics row per batch; its presence also marks the batch as fully merged (a plain
    append: see :func:`stage` on writing it once)."""
    finished_at = dt.datetime.now(dt.UTC)
    latency = None if oldest_landed_at is None else int(finished_at.timestamp() * 1000) - oldest_landed_at
    row = (
        query,
        result.batch_id,
        result.rows_in,
        result.rows_staged,
        result.rows_quarantined,
        started_at,
        finished_at,
        int(result.seconds * 1000),
        latency,
    )
    metrics = spark.createDataFrame([row], tables.PIPELINE_METRICS.schema)
    metrics.write.format("delta").mode("append").save(config.table_path(tables.PIPELINE_METRICS.name))


def unfinished_batches(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    """Batches that staged rows but have no pipeline_metrics row: they failed after staging, or are
    running now. The backfill merges its own again on its next run; a stream batch is replayed when
    its query restarts."""
    metrics = spark.read.format("delta").load(config.table_path(tables.PIPELINE_METRICS.name))
    per_dataset = [
        spark.read.format("delta")
        .load(config.table_path(d.staging.name))
        .groupBy("batch_id")
        .agg(F.count("*").alias("rows_staged"), F.min("ingest_time").alias("staged_at"))
        .join(metrics.select("batch_id"), "batch_id", "left_anti")
        .select(F.lit(d.name).alias("dataset"), "batch_id", "rows_staged", "staged_at")
        for d in DATASETS
    ]
    return functools.reduce(DataFrame.unionByName, per_dataset).orderBy("staged_at")


SONGS = Dataset(
    "songs",
    RAW_SONG_SCHEMA,
    {},
    tables.STAGING_SONGS,
    "raw_songs",
    "song_data",
    False,
    # The earlier plays these songs now resolve (late arrival), songs and artists.
    (merge_resolved_plays, *SONG_DIMENSIONS),
)
EVENTS = Dataset(
    "events",
    RAW_EVENT_SCHEMA,
    EVENT_COLUMN_NAMES,
    tables.STAGING_EVENTS,
    "raw_events",
    "log_data",
    True,
    (merge_event_plays, *EVENT_DIMENSIONS),
)
DATASETS = (SONGS, EVENTS)  # in this order: plays look up the songs staged before them
