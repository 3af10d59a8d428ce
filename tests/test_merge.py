"""The MERGE writers: small targets, sources with matched, unmatched and duplicate keys, and replays."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from sparkify import merge
from sparkify.tables import ARTISTS, SONGPLAYS, SONGS, TIME, USERS, USERS_LEVEL_HISTORY, ensure_tables
from sparkify.transforms.songs import build_songs
from sparkify.transforms.users import build_users
from tests.builders import TS, event, events_df, song, songs_df, utc
from tests.conftest import lake_config

pytestmark = pytest.mark.spark


def table(spark, lake, spec):
    return spark.read.format("delta").load(lake.table_path(spec.name))


def write(spark, lake, spec, rows):
    spark.createDataFrame(rows, spec.schema).write.format("delta").mode("append").save(
        lake.table_path(spec.name)
    )


def play(pid, song_id, artist_id, level="free", month=11):
    return (pid, utc(TS), 42, level, song_id, artist_id, 812, 3, "Austin, TX", "Mozilla", 2018, month)


@pytest.mark.parametrize("writer", [merge.merge_songplays, merge.merge_new_songplays])
def test_songplays_only_a_better_row_wins_and_replay_changes_nothing(spark, lake, writer):
    """Both writers alike: the new plays' writer inserts p4 first, then needs its full MERGE because
    p1..p3 were there."""
    ensure_tables(spark, lake)
    write(
        spark, lake, SONGPLAYS, [play("p1", None, None), play("p2", "SO5", "AR5"), play("p3", "SO1", "AR1")]
    )
    batch = spark.createDataFrame(
        [
            play("p1", "SO9", "AR9"),  # had no song: takes one
            play("p2", "SO3", "AR3"),  # smaller song_id: wins
            play("p3", "SO2", "AR2"),  # greater song_id: loses
            play("p4", None, None, month=12),  # new play: inserted
        ],
        SONGPLAYS.schema,
    )
    expected = spark.createDataFrame(
        [
            play("p1", "SO9", "AR9"),
            play("p2", "SO3", "AR3"),
            play("p3", "SO1", "AR1"),
            play("p4", None, None, month=12),
        ],
        SONGPLAYS.schema,
    )
    path = lake.table_path("songplays")
    writer(spark, path, batch)
    assertDataFrameEqual(table(spark, lake, SONGPLAYS), expected)
    writer(spark, path, batch)
    assertDataFrameEqual(table(spark, lake, SONGPLAYS), expected)
    # A worse version of a play arriving later (no song) does not undo the match.
    writer(spark, path, spark.createDataFrame([play("p1", None, None)], SONGPLAYS.schema))
    assertDataFrameEqual(table(spark, lake, SONGPLAYS), expected)


def test_songplays_merge_touches_only_the_batch_months(spark, lake):
    ensure_tables(spark, lake)
    write(spark, lake, SONGPLAYS, [play("p1", None, None, month=10), play("p2", None, None, month=11)])
    merge.merge_songplays(
        spark, lake.table_path("songplays"), spark.createDataFrame([play("p3", "S", "A")], SONGPLAYS.schema)
    )
    last = spark.sql(f"DESCRIBE HISTORY delta.`{lake.table_path('songplays')}` LIMIT 1").first()
    assert last["operation"] == "MERGE"
    assert (
        last["operationMetrics"]["numTargetFilesRemoved"] == "0"
    )  # the October/November files were not rewritten
    assert sorted(r["songplay_id"] for r in table(spark, lake, SONGPLAYS).collect()) == ["p1", "p2", "p3"]


def test_users_latest_wins_whatever_the_batch_order(spark, lake, tmp_path):
    early = event(ts=TS, level="free")
    late = event(ts=TS + 1000, level="paid", item_in_session=4)
    tie_lower = event(ts=TS + 1000, level="free", session_id=1, item_in_session=9)
    results = []
    orders = [[[early], [late, tie_lower]], [[late], [early], [tie_lower]], [[tie_lower, early], [late]]]
    for i, order in enumerate(orders):
        cfg = lake_config(tmp_path / f"order{i}")
        ensure_tables(spark, cfg)
        for batch in order:
            merge.merge_users(spark, cfg.table_path("users"), build_users(events_df(spark, *batch)))
        results.append(table(spark, cfg, USERS))
    expected = spark.createDataFrame([(42, "Ada", "Lee", "F", "paid", TS + 1000, 812, 4)], USERS.schema)
    for result in results:
        assertDataFrameEqual(result, expected)


def test_songs_merge_keeps_the_more_complete_record(spark, lake):
    ensure_tables(spark, lake)
    path = lake.table_path("songs")
    merge.merge_songs(
        spark, path, build_songs(songs_df(spark, song(song_id="SO1", year=None), song(song_id="SO2")))
    )
    merge.merge_songs(
        spark, path, build_songs(songs_df(spark, song(song_id="SO1"), song(song_id="SO2", title=None)))
    )
    expected = spark.createDataFrame(
        [("SO1", "Uprising", "ARMUSE", 2009, 236.4), ("SO2", "Uprising", "ARMUSE", 2009, 236.4)], SONGS.schema
    )
    assertDataFrameEqual(table(spark, lake, SONGS), expected)


def test_time_insert_only(spark, lake):
    ensure_tables(spark, lake)
    path = lake.table_path("time")
    row = (utc(TS), 0, 15, 46, 11, 2018, 4)
    merge.merge_time(spark, path, spark.createDataFrame([row], TIME.schema))
    merge.merge_time(
        spark, path, spark.createDataFrame([row, (utc(TS + 1), 0, 15, 46, 11, 2018, 4)], TIME.schema)
    )
    expected = spark.createDataFrame([row, (utc(TS + 1), 0, 15, 46, 11, 2018, 4)], TIME.schema)
    assertDataFrameEqual(table(spark, lake, TIME), expected)


def test_replace_for_keys_deletes_stale_rows_of_touched_owners_only(spark, lake):
    ensure_tables(spark, lake)
    path = lake.table_path("users_level_history")
    write(spark, lake, USERS_LEVEL_HISTORY, [
        (42, "free", utc(TS), None, True),
        (7, "paid", utc(TS), None, True),
    ])  # fmt: skip
    fresh = spark.createDataFrame(
        [(42, "free", utc(TS - 10), utc(TS + 5), False), (42, "paid", utc(TS + 5), None, True)],
        USERS_LEVEL_HISTORY.schema,
    )
    merge.merge_level_history(spark, path, fresh)
    merge.merge_level_history(spark, path, fresh)  # replay: no change
    expected = spark.createDataFrame(
        [
            (42, "free", utc(TS - 10), utc(TS + 5), False),
            (42, "paid", utc(TS + 5), None, True),
            (7, "paid", utc(TS), None, True),
        ],
        USERS_LEVEL_HISTORY.schema,
    )
    assertDataFrameEqual(table(spark, lake, USERS_LEVEL_HISTORY), expected)


def test_artists_replaced_whole_per_artist(spark, lake):
    ensure_tables(spark, lake)
    path = lake.table_path("artists")
    write(spark, lake, ARTISTS, [("AR1", "Old", None, None, None), ("AR2", "Two", "X", 1.0, 2.0)])
    merge.merge_artists(
        spark, path, spark.createDataFrame([("AR1", "New", "Devon", 1.0, 1.0)], ARTISTS.schema)
    )
    expected = spark.createDataFrame(
        [("AR1", "New", "Devon", 1.0, 1.0), ("AR2", "Two", "X", 1.0, 2.0)], ARTISTS.schema
    )
    assertDataFrameEqual(table(spark, lake, ARTISTS), expected)
