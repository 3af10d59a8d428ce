"""Bad inputs end to end: the corpus of tests/bad_inputs.py, each case its own file mixed with good
lines, run once through the backfill and once through the stream (available-now), then checked.

For both runs: nothing crashes; conservation holds (every non-blank line read is staged or quarantined
with a reason, and every staged row no star table takes is quarantined naming its expectation); the
quarantine holds exactly the bad lines with their reasons and text; and the star tables equal those of
a backfill over the good lines alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from pyspark.sql import Column, DataFrame
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import BackfillSummary, run_backfill
from checkpoints_config import PipelineConfig
from streaming.job import run_stream
from tests.bad_inputs import (
    HUGE,
    PARSE_ERROR_PREFIXES,
    corpus,
    land_corpus,
    lines_read,
    quarantined,
    raw_line_digest,
    staged,
)
from tests.conftest import lake_config, star_tables
from tests.test_backfill import assert_same_star_tables

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CASES = corpus()
BY_NAME = {c.name: c for c in CASES}
KEY = ["dataset", "source_file", "line_number"]
KEY_SCHEMA = "dataset STRING, source_file STRING, line_number INT"
STAGING = {"songs": "staging_songs", "events": "staging_events"}


@dataclass(frozen=True)
class Run:
    job: str
    config: PipelineConfig
    landing: Path
    summary: BackfillSummary | None = None

    def load(self, spark, table: str) -> DataFrame:
        return spark.read.format("delta").load(self.config.table_path(table))


def new_lake(tmp_path_factory, name: str, twin: bool = False, **env: str) -> tuple[PipelineConfig, Path]:
    root = tmp_path_factory.mktemp(name)
    land_corpus(root / "landing", CASES, twin=twin)
    return lake_config(root, **env), root / "landing"


@pytest.fixture(scope="module")
def twin_tables(spark, tmp_path_factory) -> dict[str, DataFrame]:
    """The star tables of a backfill over the good lines alone. Without GX: it only records results,
    and rows are routed the same way without it (every good line passes), at a third less time."""
    config, _ = new_lake(
        tmp_path_factory, "bad-inputs-twin", twin=True, SPARKIFY_QUALITY_GREAT_EXPECTATIONS="false"
    )
    run_backfill(spark, config, out=io.StringIO())
    return {name: df.localCheckpoint() for name, df in star_tables(spark, config).items()}


@pytest.fixture(scope="module")
def backfill_run(spark, tmp_path_factory) -> Run:
    config, landing = new_lake(tmp_path_factory, "bad-inputs-backfill")
    return Run("backfill", config, landing, run_backfill(spark, config, out=io.StringIO()))


@pytest.fixture(scope="module")
def stream_run(spark, tmp_path_factory) -> Run:
    config, landing = new_lake(tmp_path_factory, "bad-inputs-stream")
    run_stream(spark, config, available_now=True, out=io.StringIO())
    return Run("stream", config, landing)


@pytest.fixture(scope="module", params=["backfill", "stream"])
def run(request) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


def staged_keys(spark, run: Run) -> DataFrame:
    return (
        run.load(spark, STAGING["songs"])
        .select(F.lit("songs").alias("dataset"), "source_file", "line_number")
        .unionByName(
            run.load(spark, STAGING["events"]).select(
                F.lit("events").alias("dataset"), "source_file", "line_number"
            )
        )
    )


def is_parse_error(reason: Column) -> Column:
    return F.exists(F.array(*[F.lit(p) for p in PARSE_ERROR_PREFIXES]), lambda p: reason.startswith(p))


def keys_df(spark, keys: list[tuple[str, str, int]]) -> DataFrame:
    return spark.createDataFrame(keys, KEY_SCHEMA)


# --- conservation ----------------------------------------------------------------------------------


def test_every_line_read_is_staged_or_quarantined_never_both_for_a_parse_error(spark, run):
    staged_df = staged_keys(spark, run)
    quarantine = run.load(spark, "quarantine")
    read = keys_df(spark, lines_read(run.landing))
    assertDataFrameEqual(staged_df.unionByName(quarantine.select(*KEY)).distinct(), read)
    assertDataFrameEqual(staged_df, keys_df(spark, staged(CASES)))  # each line staged at most once

    # A line that did not parse is quarantined with parse errors only; a staged one with none.
    not_staged = quarantine.join(staged_df, KEY, "left_anti")
    assert not_staged.filter(~F.forall("reasons", is_parse_error)).select(*KEY, "reasons").collect() == []
    both = quarantine.join(staged_df, KEY, "left_semi")
    assert both.filter(F.exists("reasons", is_parse_error)).select(*KEY, "reasons").collect() == []


def test_every_staged_row_no_star_table_takes_is_quarantined_naming_its_expectation(spark, run):
    plays = run.load(spark, STAGING["events"]).filter(F.col("page") == "NextSong")
    songplays = run.load(spark, "songplays")
    untaken_plays = plays.join(
        songplays,
        (plays.user_id.try_cast("bigint") == songplays.user_id)
        & (plays.session_id == songplays.session_id)
        & (plays.item_in_session == songplays.item_in_session)
        & (F.timestamp_millis(plays.ts) == songplays.start_time),
        "left_anti",
    ).select(F.lit("events").alias("dataset"), "source_file", "line_number")
    untaken_songs = (
        run.load(spark, STAGING["songs"])
        .join(run.load(spark, "songs"), ["song_id", "title", "duration"], "left_anti")
        .select(F.lit("songs").alias("dataset"), "source_file", "line_number")
    )
    untaken = untaken_plays.unionByName(untaken_songs)
    rejected = [
        (c.dataset, c.path, n) for c in CASES for n, line in c.numbered() if line.staged and line.reasons
    ]
    assertDataFrameEqual(untaken, keys_df(spark, rejected))

    named = untaken.join(run.load(spark, "quarantine"), KEY).filter(F.size("reasons") > 0)
    assertDataFrameEqual(named.select(*KEY), keys_df(spark, rejected))


# --- the quarantine, exactly -------------------------------------------------------------------------


def test_the_quarantine_holds_exactly_the_bad_lines_with_their_reasons(spark, run):
    actual = run.load(spark, "quarantine").select(*KEY, F.array_sort("reasons").alias("reasons"))
    expected = spark.createDataFrame(quarantined(CASES), f"{KEY_SCHEMA}, reasons ARRAY<STRING>")
    assertDataFrameEqual(actual, expected)


def test_the_quarantine_keeps_each_bad_line_s_text(spark, run):
    """Compared by digest (one bad line is 10 MB); a line that is not UTF-8 is kept with U+FFFD."""
    actual = run.load(spark, "quarantine").select(*KEY, F.sha2("raw_line", 256).alias("digest"))
    expected = [
        (c.dataset, c.path, n, raw_line_digest(line))
        for c in CASES
        for n, line in c.numbered()
        if line.reasons
    ]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, f"{KEY_SCHEMA}, digest STRING"))


# --- the star tables -----------------------------------------------------------------------------


def test_the_star_tables_equal_those_of_the_good_lines_alone(spark, run, twin_tables):
    assert_same_star_tables(spark, run.config, twin_tables)


# --- particular cases ----------------------------------------------------------------------------


def test_non_ascii_names_are_staged_and_merged_intact(spark, run):
    path = BY_NAME["non-ASCII names"].path
    staged_df = run.load(spark, STAGING["events"]).filter(F.col("source_file") == path)
    assertDataFrameEqual(
        staged_df.select("first_name", "last_name", "location", "song", "artist", "user_agent"),
        [("Zoë", "Núñez", "São Paulo, SP", "Jóga", "Björk", "Mozilla/5.0 (Macintosh; 日本語)")],
    )
    users = run.load(spark, "users").filter(F.col("user_id") == 8).select("first_name", "last_name")
    assertDataFrameEqual(users, [("Zoë", "Núñez")])
    songs = run.load(spark, "songs").filter(F.col("song_id") == "SOJOGA").select("title", "artist_id")
    assertDataFrameEqual(songs, [("Jóga", "ARBJORK")])
    artists = run.load(spark, "artists").filter(F.col("artist_id") == "ARBJORK").select("name", "location")
    assertDataFrameEqual(artists, [("Björk", "Reykjavík, Ísland")])
    play = (
        run.load(spark, "songplays").filter(F.col("user_id") == 8).select("song_id", "artist_id", "location")
    )
    assertDataFrameEqual(play, [("SOJOGA", "ARBJORK", "São Paulo, SP")])


def test_a_bom_file_and_unknown_fields_are_staged_like_any_other(spark, run):
    events = run.load(spark, STAGING["events"])
    paths = [BY_NAME[n].path for n in ("event file starting with a BOM", "an extra unknown field")]
    columns = ["source_file", "line_number", "user_id", "session_id", "level"]
    assertDataFrameEqual(
        events.filter(F.col("source_file").isin(paths)).select(*columns),
        [(paths[0], 1, "7", 20, "paid"), (paths[0], 2, "7", 20, "paid"),
         (paths[1], 1, "42", 18, "free"), (paths[1], 2, "42", 18, "free"), (paths[1], 3, "42", 18, "free")],
    )  # fmt: skip
    songs = run.load(spark, STAGING["songs"])
    paths = [BY_NAME[n].path for n in ("song file starting with a BOM", "song with unknown extra fields")]
    assertDataFrameEqual(
        songs.filter(F.col("source_file").isin(paths)).select(
            "source_file", "line_number", "song_id", "title"
        ),
        [(paths[0], 1, "SOBOM", "Starlight"), (paths[1], 1, "SOEXTRA", "Hysteria")],
    )


def test_a_10_mb_line_is_quarantined_whole_and_its_neighbours_staged(spark, run):
    case = BY_NAME["a 10 MB line"]
    staged_df = run.load(spark, STAGING["events"]).filter(F.col("source_file") == case.path)
    assertDataFrameEqual(staged_df.select("line_number", "item_in_session"), [(1, 0), (3, 2)])
    quarantine = run.load(spark, "quarantine").filter(F.col("source_file") == case.path)
    assertDataFrameEqual(
        quarantine.select("line_number", F.length("raw_line").alias("chars")), [(2, len(case.lines[1].data))]
    )
    assert len(case.lines[1].data) > HUGE


def test_the_backfill_counts_every_line_it_read(backfill_run):
    summary = backfill_run.summary
    read = lines_read(backfill_run.landing)
    parsed = staged(CASES)
    assert (summary.rows_in, summary.rows_staged, summary.rows_quarantined) == (
        len(read),
        len(parsed),
        len(quarantined(CASES)),
    )
    # Spark plans no split for an empty file: the jobs never see it (nor list it as pending again).
    assert summary.files == sum(1 for c in CASES if c.lines)


def test_the_stream_stages_and_quarantines_what_the_backfill_does(spark, backfill_run, stream_run):
    def lake(run: Run) -> dict[str, DataFrame]:
        lineage = ["batch_id", "ingest_time", "quarantined_at", "landed_at"]  # each lake has its own copy
        out = {}
        for table in (*STAGING.values(), "quarantine"):
            df = run.load(spark, table).drop(*lineage)
            for big in {"user_agent", "raw_line"} & set(df.columns):  # 10 MB values: compare digests
                df = df.withColumn(big, F.sha2(big, 256))
            out[table] = df
        return out

    streamed = lake(stream_run)
    for table, df in lake(backfill_run).items():
        assertDataFrameEqual(streamed[table], df)
