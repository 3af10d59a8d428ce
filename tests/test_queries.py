"""Time travel and audit: tables by name, as of a version or a timestamp, history, restore, changes;
and ``sparkify query`` on both engines (DuckDB over delta-rs, and Spark) giving the same answers."""

from __future__ import annotations

import datetime as dt
import io
import json
import os

import pyspark.sql.functions as F
import pytest
from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from sparkify import merge
from sparkify.ops import cli, lake_sql
from sparkify.ops.output import print_rows, spark_rows
from sparkify.ops.queries import (
    read_table,
    register_tables,
    register_versions,
    restore_table,
    table_changes,
)
from sparkify.ops.time_travel import LATEST, format_moment, parse_as_of, tables_named_in
from sparkify.tables import ALL_TABLES, SONGS, ensure_tables
from sparkify.transforms.artists import build_artists
from sparkify.transforms.songs import build_songs
from tests.builders import song, songs_df

pytestmark = pytest.mark.spark


@pytest.fixture
def two_versions(spark, lake):
    """songs at version 1 (one incomplete song) and version 2 (completed, plus a new one)."""
    ensure_tables(spark, lake)
    path = lake.table_path("songs")
    merge.merge_songs(spark, path, build_songs(songs_df(spark, song(song_id="SO1", year=None))))
    merge.merge_songs(spark, path, build_songs(songs_df(spark, song(song_id="SO1"), song(song_id="SO2"))))
    return lake


def spark_history(spark, config):
    """songs' history as Spark reads it (times from the log files, as its timestampAsOf resolves)."""
    return DeltaTable.forPath(spark, config.table_path("songs")).history()


V1 = [("SO1", "Uprising", "ARMUSE", None, 236.4)]
V2 = [("SO1", "Uprising", "ARMUSE", 2009, 236.4), ("SO2", "Uprising", "ARMUSE", 2009, 236.4)]


def test_read_as_of_version_and_timestamp(spark, two_versions):
    assertDataFrameEqual(
        read_table(spark, two_versions, "songs", version=1), spark.createDataFrame(V1, SONGS.schema)
    )
    assertDataFrameEqual(read_table(spark, two_versions, "songs"), spark.createDataFrame(V2, SONGS.schema))
    history = {r.version: r for r in spark_history(spark, two_versions).collect()}
    assert sorted(history) == [0, 1, 2]
    at_v1 = history[1].timestamp.isoformat(sep=" ")
    assertDataFrameEqual(
        read_table(spark, two_versions, "songs", timestamp=at_v1), spark.createDataFrame(V1, SONGS.schema)
    )


def test_sql_by_table_name_as_of_a_version(spark, two_versions):
    sql = "SELECT COUNT(*) AS n FROM songs"
    assert tables_named_in(sql) == ["songs"]
    register_tables(spark, two_versions, version=1, names=tables_named_in(sql))
    assert spark.sql(sql).first().n == 1
    register_tables(spark, two_versions)
    assert spark.sql("SELECT COUNT(*) AS n FROM songs").first().n == 2
    assert spark.sql("SELECT COUNT(*) AS n FROM `time`").first().n == 0


def test_restore_puts_a_version_back_as_a_new_commit(spark, two_versions):
    restore_table(spark, two_versions, "songs", 1)
    assertDataFrameEqual(read_table(spark, two_versions, "songs"), spark.createDataFrame(V1, SONGS.schema))
    assert spark_history(spark, two_versions).first().operation == "RESTORE"


def test_changes_between_versions_from_the_change_data_feed(spark, two_versions):
    changes = (
        table_changes(spark, two_versions, "songs", 2, 2)
        .select("song_id", "year", "_change_type")
        .orderBy("song_id", F.col("_change_type").desc())
        .collect()
    )
    assert [(r.song_id, r.year, r._change_type) for r in changes] == [
        ("SO1", None, "update_preimage"),
        ("SO1", 2009, "update_postimage"),
        ("SO2", 2009, "insert"),
    ]


def test_bad_table_name_and_arguments_are_refused(spark, two_versions):
    with pytest.raises(ValueError, match="unknown table 'song'"):
        read_table(spark, two_versions, "song")
    with pytest.raises(ValueError, match="not both"):
        read_table(spark, two_versions, "songs", version=1, timestamp="2026-01-01")
    with pytest.raises(ValueError, match="from <= to"):
        table_changes(spark, two_versions, "songs", 2, 1)


def test_print_rows_formats(spark):
    df = spark.createDataFrame(
        [("SO1", None, 1.5, dt.datetime(2018, 11, 15, 0, 30, 26, 796000))],
        "song_id STRING, title STRING, duration DOUBLE, start_time TIMESTAMP",
    )
    out = io.StringIO()
    print_rows(df, "json", out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"song_id": "SO1", "title": None, "duration": 1.5, "start_time": "2018-11-15T00:30:26.796000+00:00"}
    ]
    out = io.StringIO()
    print_rows(df, "csv", out)
    assert out.getvalue().splitlines() == [
        "song_id,title,duration,start_time",
        "SO1,,1.5,2018-11-15 00:30:26.796000+00:00",
    ]
    out = io.StringIO()
    print_rows(df, "table", out)
    assert out.getvalue().splitlines() == [
        "song_id  title  duration  start_time",
        "-------  -----  --------  --------------------------------",
        "SO1      NULL   1.5       2018-11-15 00:30:26.796000+00:00",
        "(1 row)",
    ]


# --- sparkify query: both engines ---


def normalised(rows: list[tuple]) -> list[tuple]:
    """Rows in an order both engines share (neither promises one without ORDER BY), each value as it
    compares: every timestamp must come aware (DuckDB gives UTC, Spark's naive local time is made UTC by
    spark_rows), and equal instants compare equal whatever their tzinfo object. Dates, doubles (the same
    Parquet bits), booleans, arrays (lists) and nulls come as the same Python values from both."""
    naive = [v for row in rows for v in row if isinstance(v, dt.datetime) and v.tzinfo is None]
    assert not naive, f"a timestamp came without its zone: {naive[:3]}"
    return sorted(rows, key=lambda row: [(v is None, str(v)) for v in row])


def duckdb_result(config, sql, as_of=LATEST):
    result = lake_sql.query_rows(lake_sql.open_at_versions(config, tables_named_in(sql), as_of), sql)
    return result.columns, [row for batch in result.batches for row in batch]


def spark_result(spark, config, sql, as_of=LATEST):
    versions = lake_sql.pin_versions(config, tables_named_in(sql), as_of)
    register_versions(spark, config, versions)
    try:
        result = spark_rows(spark.sql(sql))
        return result.columns, [row for batch in result.batches for row in batch]
    finally:
        for name in versions:
            spark.catalog.dropTempView(name)


def test_both_engines_read_every_table_alike(spark, reference):
    """Every table of a lake the pipeline wrote (backfill with GX: staging, quarantine, quality results,
    metrics and the star tables), read whole by each engine."""
    config = reference[0]
    for spec in ALL_TABLES:
        sql = f"SELECT * FROM {spec.name}"
        duck_columns, duck_rows = duckdb_result(config, sql)
        spark_columns, spark_rows_ = spark_result(spark, config, sql)
        assert duck_columns == spark_columns == tuple(spec.columns), spec.name
        assert normalised(duck_rows) == normalised(spark_rows_), spec.name
        truth = spark.read.format("delta").load(config.table_path(spec.name)).count()
        assert len(duck_rows) == truth, spec.name
        if spec.name in (
            "songplays",
            "users",
            "songs",
            "artists",
            "time",
            "staging_events",
            "quality_results",
        ):
            assert truth > 0, f"{spec.name} is empty: the comparison would prove little"


def commit_time(config, name: str) -> int:
    """The latest commit's time as it records it (epoch ms): what time travel resolves against."""
    return lake_sql.open_table(config, name).history(1)[0]["timestamp"]


def moment_between(before_ms: int, after_ms: int) -> str:
    middle = dt.datetime.fromtimestamp((before_ms + after_ms) / 2000, dt.UTC)
    return middle.isoformat(timespec="milliseconds")


@pytest.fixture
def query_env(spark, monkeypatch):
    """``cli.main`` reads its lake from the environment and runs Spark queries in the test session."""
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(cli, "start_spark", lambda *a: spark)

    def point_at(config):
        monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", config.paths.output_root)

    return point_at


def query_json(capsys, *argv: str) -> dict[str, list[dict]]:
    """The JSON lines ``sparkify query ARGV`` prints, per engine; each line must parse as one object."""
    results = {}
    for engine in ("duckdb", "spark"):
        assert cli.main(["query", *argv, "--format", "json", "--engine", engine]) == 0
        captured = capsys.readouterr()
        results[engine] = [json.loads(line) for line in captured.out.splitlines()]
        assert captured.err == "", captured.err
    return results


def test_a_version_and_a_moment_read_the_table_as_it_was_on_both_engines(two_versions, query_env, capsys):
    query_env(two_versions)
    then = [dict(zip(SONGS.columns, row, strict=True)) for row in V1]
    latest = [dict(zip(SONGS.columns, row, strict=True)) for row in V2]
    sql = "SELECT * FROM songs ORDER BY song_id"
    at_v1 = moment_between(
        *(lake_sql.open_table(two_versions, "songs").history()[i]["timestamp"] for i in (1, 0))
    )
    assert query_json(capsys, sql, "--as-of-version", "1") == {"duckdb": then, "spark": then}
    assert query_json(capsys, sql, "--as-of-timestamp", at_v1) == {"duckdb": then, "spark": then}
    assert query_json(capsys, sql) == {"duckdb": latest, "spark": latest}


@pytest.fixture
def interleaved(spark, lake):
    """songs and artists committed in turn, so that at one moment they stand at different versions:
    songs v1, artists v1, songs v2, songs v3, artists v2. Returns (config, each commit's time)."""
    ensure_tables(spark, lake)

    def commit_song(song_id: str) -> int:
        merge.merge_songs(
            spark, lake.table_path("songs"), build_songs(songs_df(spark, song(song_id=song_id)))
        )
        return commit_time(lake, "songs")

    def commit_artist(location: str | None) -> int:
        artist_df = build_artists(songs_df(spark, song(song_id="SO1", artist_location=location)))
        merge.merge_artists(spark, lake.table_path("artists"), artist_df)  # more fields known: it wins
        return commit_time(lake, "artists")

    times = [
        commit_song("SO1"),
        commit_artist(None),
        commit_song("SO2"),
        commit_song("SO3"),
        commit_artist("Teignmouth"),
    ]
    return lake, times


def test_a_multi_table_query_at_a_moment_reads_each_table_at_its_own_version(interleaved, query_env, capsys):
    config, times = interleaved
    query_env(config)
    moment = moment_between(times[3], times[4])  # after songs v3, before artists v2
    sql = "SELECT s.song_id, a.location FROM songs s JOIN artists a ON s.artist_id = a.artist_id ORDER BY 1"

    assert lake_sql.pin_versions(
        config, ["songs", "artists"], parse_as_of(None, moment, dt.datetime.now(dt.UTC))
    ) == {"songs": 3, "artists": 1}
    then = [{"song_id": s, "location": None} for s in ("SO1", "SO2", "SO3")]
    assert query_json(capsys, sql, "--as-of-timestamp", moment) == {"duckdb": then, "spark": then}
    now = [{"song_id": s, "location": "Teignmouth"} for s in ("SO1", "SO2", "SO3")]
    assert query_json(capsys, sql) == {"duckdb": now, "spark": now}
    pairs = [{"song_id": "SO1", "location": "Teignmouth"}]
    assert query_json(capsys, sql, "--as-of-version", "songs=1,artists=2") == {
        "duckdb": pairs,
        "spark": pairs,
    }


def test_mistakes_are_refused_alike_on_both_engines(two_versions, query_env, capsys):
    query_env(two_versions)
    first = lake_sql.open_table(two_versions, "songs").history()[-1]["timestamp"]
    before = dt.datetime.fromtimestamp(first / 1000 - 1, dt.UTC)
    cases = {
        (
            "SELECT * FROM songs",
            "--as-of-version",
            "9",
        ): "songs has versions 0 to 2; version 9 does not exist",
        ("SELECT * FROM songs", "--as-of-timestamp", before.isoformat()): (
            f"--as-of-timestamp {format_moment(before)} is before songs's first commit (version 0, "
        ),
        (
            "SELECT * FROM songs",
            "--as-of-timestamp",
            "2999-01-01",
        ): "--as-of-timestamp 2999-01-01 00:00:00.000",
        ("SELECT * FROM songs JOIN artists USING (artist_id)", "--as-of-version", "1"): (
            "--as-of-version 1 fits a query on one table, and this one names songs, artists"
        ),
        ("SELECT * FROM songs", "--as-of-version", "song=1"): "unknown table 'song'",
    }
    for engine in ("duckdb", "spark"):
        for argv, start in cases.items():
            assert cli.main(["query", *argv, "--engine", engine]) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("sparkify: " + start), (engine, err)


def test_a_table_with_deletion_vectors_reads_the_same_on_both_engines(spark, two_versions):
    """Our tables write none (``delta.enableDeletionVectors`` is off), but a lake whose owner turns them on
    must still read right: a pyarrow dataset of the files would show the deleted row."""
    path = two_versions.table_path("songs")
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.sql(f"OPTIMIZE delta.`{path}`")  # both songs in one file: deleting one needs a vector
    spark.sql(f"DELETE FROM delta.`{path}` WHERE song_id = 'SO2'")
    table = lake_sql.open_table(two_versions, "songs")
    assert "deletionVectors" in (table.protocol().reader_features or [])
    assert table.deletion_vectors().read_all().num_rows == 1  # the delete left a vector, not a new file

    sql = "SELECT * FROM songs"
    assert (
        duckdb_result(two_versions, sql)
        == spark_result(spark, two_versions, sql)
        == (
            tuple(SONGS.columns),
            [V2[0]],
        )
    )
