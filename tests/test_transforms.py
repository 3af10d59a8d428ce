"""Each star table's pure transform, on tiny hand-built inputs, compared as whole DataFrames: the expected
frame is built with the table's own schema (``sparkify.tables``), so each test also checks the transform's
output columns, their order and types against the table it feeds."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from sparkify.keys import songplay_id_of
from sparkify.tables import ARTISTS, SONGPLAYS, SONGS, TIME, USERS, USERS_LEVEL_HISTORY
from sparkify.transforms.artists import build_artists
from sparkify.transforms.levels import build_level_history
from sparkify.transforms.songplays import build_songplays
from sparkify.transforms.songs import build_song_keys, build_songs
from sparkify.transforms.time_table import build_time
from sparkify.transforms.users import build_users
from tests.builders import TS, event, events_df, song, songs_df, utc

pytestmark = pytest.mark.spark

HOUR = 3_600_000
DAY = 24 * HOUR


def test_songplays_match_rule_and_nulls(spark):
    songs = songs_df(
        spark,
        song(song_id="SOB", duration=236.405),  # matches within 0.01 s, but SOA is smaller
        song(song_id="SOA", duration=236.395),
        song(song_id="SOC", artist_name="Not Muse", artist_id="AROTHER"),  # same title, other artist
        song(song_id="SOD", title="Knights of Cydonia", duration=366.0),
    )
    events = events_df(
        spark,
        event(),  # → SOA
        event(item_in_session=4, ts=TS + 1000, length=236.42),  # 0.02 s off SOB, 0.025 off SOA: no match
        event(item_in_session=5, ts=TS + 2000, song="Knights of Cydonia", length=366.0),  # → SOD
        event(
            item_in_session=6, ts=TS + 3000, song=None, artist=None, length=None, location=None
        ),  # null song
        event(
            item_in_session=7, ts=TS + 4000, page="Home", song=None, artist=None, length=None
        ),  # not a play
        event(item_in_session=3),  # the first play again (a file landed twice): one row
    )
    actual = build_songplays(events, build_song_keys(songs))

    def play(item, ts, song_id, artist_id, location="Austin, TX"):
        return (
            songplay_id_of(42, 812, item, ts), utc(ts), 42, "paid", song_id, artist_id, 812, item,
            location, "Mozilla/5.0", 2018, 11,
        )  # fmt: skip

    expected = spark.createDataFrame(
        [
            play(3, TS, "SOA", "ARMUSE"),
            play(4, TS + 1000, None, None),
            play(5, TS + 2000, "SOD", "ARMUSE"),
            play(6, TS + 3000, None, None, location=None),
        ],
        SONGPLAYS.schema,
    )
    assertDataFrameEqual(actual, expected)


def test_songplay_id_is_the_python_twin_and_differs_per_key_part(spark):
    rows = [event(), event(user_id="43"), event(session_id=813), event(item_in_session=4), event(ts=TS + 1)]
    ids = [
        r["songplay_id"]
        for r in build_songplays(events_df(spark, *rows), build_song_keys(songs_df(spark, song()))).collect()
    ]
    expected = {
        songplay_id_of(int(r["user_id"]), r["session_id"], r["item_in_session"], r["ts"]) for r in rows
    }
    assert set(ids) == expected and len(expected) == 5


def test_users_latest_event_wins_with_tie_breaks(spark):
    events = events_df(
        spark,
        event(user_id="42", ts=TS, level="free", first_name="Ada"),
        event(user_id="42", ts=TS + DAY, level="paid", session_id=900, item_in_session=0),
        event(user_id="42", ts=TS + DAY, level="free", session_id=901, item_in_session=0, last_name="Byron"),
        event(user_id="7", ts=TS, level="free", session_id=5, item_in_session=1, gender="M", first_name="Bo"),
        event(user_id="7", ts=TS, level="paid", session_id=5, item_in_session=2, gender="M", first_name="Bo"),
        event(user_id="", ts=TS + 5 * DAY, first_name=None, last_name=None, gender=None, page="Home"),
        event(user_id="9", ts=TS, first_name=None, last_name=None, gender=None, page="Home", level="free"),
    )
    expected = spark.createDataFrame(
        [
            (42, "Ada", "Byron", "F", "free", TS + DAY, 901, 0),
            (7, "Bo", "Lee", "M", "paid", TS, 5, 2),
            (9, None, None, None, "free", TS, 812, 3),
        ],
        USERS.schema,
    )
    assertDataFrameEqual(build_users(events), expected)


def test_songs_one_row_per_song_most_complete_record_wins(spark):
    songs = songs_df(
        spark,
        song(song_id="SO1", title=None, year=2001),
        song(song_id="SO1", title="Uprising", year=None),
        song(song_id="SO2", duration=100.0),
        song(song_id="SO2", duration=101.0),  # as complete: the greater values win
        song(song_id="SO3", artist_id=None, year=0, duration=None),
    )
    expected = spark.createDataFrame(
        [
            ("SO1", "Uprising", "ARMUSE", None, 236.4),
            ("SO2", "Uprising", "ARMUSE", 2009, 101.0),
            ("SO3", "Uprising", None, 0, None),
        ],
        SONGS.schema,
    )
    assertDataFrameEqual(build_songs(songs), expected)


def test_artists_most_non_null_fields_then_greatest_song_id(spark):
    songs = songs_df(
        spark,
        song(song_id="SO1", artist_id="AR1", artist_latitude=None, artist_longitude=None, artist_location=""),
        song(song_id="SO0", artist_id="AR1", artist_name="Muse!", artist_location="Devon"),
        song(song_id="SO5", artist_id="AR2", artist_name="Two", artist_location="A"),
        song(song_id="SO6", artist_id="AR2", artist_name="Two", artist_location="B"),
        song(song_id="SO7", artist_id="AR3", artist_name=None, artist_location=None,
             artist_latitude=None, artist_longitude=None),
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("AR1", "Muse!", "Devon", 51.5, -0.1),
            ("AR2", "Two", "B", 51.5, -0.1),
            ("AR3", None, None, None, None),
        ],
        ARTISTS.schema,
    )
    assertDataFrameEqual(build_artists(songs), expected)


def test_time_is_utc_with_iso_week_and_monday_first(spark):
    monday_new_year_week = 1546214400000  # 2018-12-31 00:00:00 UTC: ISO week 1 of 2019
    sunday = 1542499200000 + 23 * HOUR  # 2018-11-18 23:00 UTC
    plays = build_songplays(
        events_df(spark, event(ts=TS), event(ts=monday_new_year_week, item_in_session=9),
                  event(ts=sunday, item_in_session=10), event(ts=TS, item_in_session=11)),
        build_song_keys(songs_df(spark, song())),
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            (utc(TS), 0, 15, 46, 11, 2018, 4),
            (utc(monday_new_year_week), 0, 31, 1, 12, 2018, 1),
            (utc(sunday), 23, 18, 46, 11, 2018, 7),
        ],
        TIME.schema,
    )
    assertDataFrameEqual(build_time(plays), expected)


def test_level_history_runs_with_validity_and_current(spark):
    t = [TS + i * HOUR for i in range(5)]
    events = events_df(
        spark,
        event(ts=t[3], level="paid", item_in_session=3),
        event(ts=t[0], level="free", item_in_session=0),
        event(ts=t[2], level="paid", item_in_session=2),
        event(ts=t[1], level="free", item_in_session=1),
        event(ts=t[4], level="free", item_in_session=4),
        event(ts=t[4], level="free", item_in_session=4),  # duplicate event
        event(user_id="7", ts=t[2], level="paid"),
        event(user_id="", ts=t[2], level="free", page="Home"),
    )
    expected = spark.createDataFrame(
        [
            (42, "free", utc(t[0]), utc(t[2]), False),
            (42, "paid", utc(t[2]), utc(t[4]), False),
            (42, "free", utc(t[4]), None, True),
            (7, "paid", utc(t[2]), None, True),
        ],
        USERS_LEVEL_HISTORY.schema,
    )
    assertDataFrameEqual(build_level_history(events), expected)
