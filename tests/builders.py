"""Tiny hand-built inputs for the Spark tests: staged events and songs with explicit schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from sparkify.schemas import LINEAGE_FIELDS, STAGING_EVENTS_SCHEMA, STAGING_SONGS_SCHEMA, VERDICT_FIELD

LINEAGE = {f.name for f in LINEAGE_FIELDS} | {VERDICT_FIELD.name}  # the raw fields are what builders set
EVENT_SCHEMA = StructType([f for f in STAGING_EVENTS_SCHEMA.fields if f.name not in LINEAGE])
SONG_SCHEMA = StructType([f for f in STAGING_SONGS_SCHEMA.fields if f.name not in LINEAGE])

# 2018-11-15 00:30:26.796 UTC, a Thursday.
TS = 1542241826796


def event(**overrides: Any) -> dict[str, Any]:
    row = {
        "artist": "Muse", "auth": "Logged In", "first_name": "Ada", "gender": "F", "item_in_session": 3,
        "last_name": "Lee", "length": 236.4, "level": "paid", "location": "Austin, TX", "method": "PUT",
        "page": "NextSong", "registration": 1540919166796.0, "session_id": 812, "song": "Uprising",
        "status": 200, "ts": TS, "user_agent": "Mozilla/5.0", "user_id": "42",
    }  # fmt: skip
    row.update(overrides)
    return row


def song(**overrides: Any) -> dict[str, Any]:
    row = {
        "num_songs": 1, "artist_id": "ARMUSE", "artist_latitude": 51.5, "artist_longitude": -0.1,
        "artist_location": "Teignmouth", "artist_name": "Muse", "song_id": "SOUPRISING", "title": "Uprising",
        "duration": 236.4, "year": 2009,
    }  # fmt: skip
    row.update(overrides)
    return row


def events_df(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    return spark.createDataFrame([tuple(r[f] for f in EVENT_SCHEMA.fieldNames()) for r in rows], EVENT_SCHEMA)


def songs_df(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    return spark.createDataFrame([tuple(r[f] for f in SONG_SCHEMA.fieldNames()) for r in rows], SONG_SCHEMA)


def utc(ms: int) -> dt.datetime:
    """What Spark hands back for a TIMESTAMP (naive, in the UTC session and process time zone)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None)
