"""Time travel and audit: tables by name, as of a version or a timestamp, history, restore, changes."""

from __future__ import annotations

import io
import json

import pyspark.sql.functions as F
import pytest
from pyspark.testing import assertDataFrameEqual

from sparkify import merge
from sparkify.ops.output import print_rows
from sparkify.ops.queries import (
    read_table,
    register_tables,
    restore_table,
    table_changes,
    table_history,
    tables_named_in,
)
from sparkify.tables import SONGS, ensure_tables
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


V1 = [("SO1", "Uprising", "ARMUSE", None, 236.4)]
V2 = [("SO1", "Uprising", "ARMUSE", 2009, 236.4), ("SO2", "Uprising", "ARMUSE", 2009, 236.4)]


def test_read_as_of_version_and_timestamp(spark, two_versions):
    assertDataFrameEqual(
        read_table(spark, two_versions, "songs", version=1), spark.createDataFrame(V1, SONGS.schema)
    )
    assertDataFrameEqual(read_table(spark, two_versions, "songs"), spark.createDataFrame(V2, SONGS.schema))
    history = {r.version: r for r in table_history(spark, two_versions, "songs").collect()}
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
    assert table_history(spark, two_versions, "songs").first().operation == "RESTORE"


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
    df = spark.createDataFrame([("SO1", None, 1.5)], "song_id STRING, title STRING, duration DOUBLE")
    out = io.StringIO()
    print_rows(df, "json", out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"song_id": "SO1", "title": None, "duration": 1.5}
    ]
    out = io.StringIO()
    print_rows(df, "csv", out)
    assert out.getvalue().splitlines() == ["song_id,title,duration", "SO1,,1.5"]
    out = io.StringIO()
    print_rows(df, "table", out)
    assert out.getvalue().splitlines() == [
        "song_id  title  duration",
        "-------  -----  --------",
        "SO1      NULL   1.5",
        "(1 row)",
    ]
