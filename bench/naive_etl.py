"""The naive batch job the backfill is measured against: the classic Udacity ``etl.py``, one shot.

Read every song and event JSON file, build the five star tables with ``dropDuplicates``, overwrite
them as Parquet. No staging, no validation, no MERGE, no quarantine, no resumability: the floor a
real pipeline pays its guarantees on top of. One deliberate change from the classic: it parses with
the explicit schemas of ``sparkify.schemas`` instead of schema inference, so both jobs parse the same
way and the comparison measures the pipeline, not the inference pass. Like the classic, it caches
nothing, so the song files are scanned for songs, artists and the songplays join, and the event
files for users, time and songplays.

    .venv/bin/python bench/naive_etl.py --songs DIR --logs DIR --out DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from sparkify.schemas import RAW_EVENT_SCHEMA, RAW_SONG_SCHEMA

SONG_GLOB = "*/*/*/*.json"  # song_data/<A>/<B>/<C>/TR….json
LOG_GLOB = "*/*/*.json"  # log_data/<yyyy>/<mm>/<yyyy-mm-dd>-events.json


def build_session(app: str = "naive-etl") -> SparkSession:
    """A plain local session, as the classic job builds one: no Delta, no tuning beyond the basics."""
    return (
        SparkSession.builder.appName(app)
        .master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def read_songs(spark: SparkSession, songs_dir: str) -> DataFrame:
    return spark.read.json(f"{songs_dir.rstrip('/')}/{SONG_GLOB}", schema=RAW_SONG_SCHEMA)


def read_plays(spark: SparkSession, logs_dir: str) -> DataFrame:
    """NextSong events with their start time: the classic job keeps nothing else."""
    return (
        spark.read.json(f"{logs_dir.rstrip('/')}/{LOG_GLOB}", schema=RAW_EVENT_SCHEMA)
        .filter(F.col("page") == "NextSong")
        .withColumn("start_time", F.timestamp_millis("ts"))
    )


def songs_table(songs_df: DataFrame) -> DataFrame:
    return songs_df.select("song_id", "title", "artist_id", "year", "duration").dropDuplicates(["song_id"])


def artists_table(songs_df: DataFrame) -> DataFrame:
    return songs_df.select(
        "artist_id",
        F.col("artist_name").alias("name"),
        F.col("artist_location").alias("location"),
        F.col("artist_latitude").alias("latitude"),
        F.col("artist_longitude").alias("longitude"),
    ).dropDuplicates(["artist_id"])


def users_table(plays_df: DataFrame) -> DataFrame:
    return plays_df.select(
        F.col("userId").alias("user_id"),
        F.col("firstName").alias("first_name"),
        F.col("lastName").alias("last_name"),
        "gender",
        "level",
    ).dropDuplicates(["user_id"])


def time_table(plays_df: DataFrame) -> DataFrame:
    start = F.col("start_time")
    return (
        plays_df.select("start_time")
        .dropDuplicates()
        .select(
            "start_time",
            F.hour(start).alias("hour"),
            F.dayofmonth(start).alias("day"),
            F.weekofyear(start).alias("week"),
            F.month(start).alias("month"),
            F.year(start).alias("year"),
            F.dayofweek(start).alias("weekday"),
        )
    )


def songplays_table(plays_df: DataFrame, songs_df: DataFrame) -> DataFrame:
    """Plays left-joined to songs on exact title, artist name and duration, as the classic job does."""
    matched = plays_df.dropDuplicates().join(
        songs_df,
        (plays_df.song == songs_df.title)
        & (plays_df.artist == songs_df.artist_name)
        & (plays_df.length == songs_df.duration),
        "left",
    )
    return matched.select(
        F.monotonically_increasing_id().alias("songplay_id"),
        "start_time",
        F.col("userId").alias("user_id"),
        "level",
        "song_id",
        "artist_id",
        F.col("sessionId").alias("session_id"),
        "location",
        F.col("userAgent").alias("user_agent"),
        F.year("start_time").alias("year"),
        F.month("start_time").alias("month"),
    )


def write_parquet(df: DataFrame, path: str, partition_by: Sequence[str] = ()) -> None:
    writer = df.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(path)


def run(spark: SparkSession, songs_dir: str, logs_dir: str, out_dir: str) -> None:
    """Extract, transform, load; one stderr line per table so a slow step shows."""
    out = out_dir.rstrip("/")
    songs_df = read_songs(spark, songs_dir)
    plays_df = read_plays(spark, logs_dir)
    steps = [
        ("songs", songs_table(songs_df), ("year", "artist_id")),
        ("artists", artists_table(songs_df), ()),
        ("users", users_table(plays_df), ()),
        ("time", time_table(plays_df), ("year", "month")),
        ("songplays", songplays_table(plays_df, songs_df), ("year", "month")),
    ]
    for name, table_df, partition_by in steps:
        began = time.monotonic()
        write_parquet(table_df, f"{out}/{name}", partition_by)
        print(f"[naive] {name}: written in {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", required=True, help="song_data directory")
    parser.add_argument("--logs", required=True, help="log_data directory")
    parser.add_argument("--out", required=True, help="output directory (tables overwritten)")
    args = parser.parse_args(argv)

    began = time.monotonic()
    spark = build_session()
    spark.sparkContext.setLogLevel("WARN")
    print(f"[naive] session up in {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    try:
        run(spark, args.songs, args.logs, args.out)
    finally:
        spark.stop()
    print(f"naive: 5 tables written to {args.out} in {time.monotonic() - began:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
