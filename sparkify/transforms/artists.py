"""artists (artist_id → name, location, latitude, longitude)."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

from sparkify import tables
from sparkify.transforms.dedupe import count_non_null, dedupe_by_rank


def build_artists(songs_df: DataFrame) -> DataFrame:
    """One row per artist: the song record with the most non-null artist fields wins, ties to the
    greatest song_id (then the greater values, so that even a song_id landed twice decides the same)."""
    records = songs_df.select(
        "artist_id",
        F.col("artist_name").alias("name"),
        F.col("artist_location").alias("location"),
        F.col("artist_latitude").alias("latitude"),
        F.col("artist_longitude").alias("longitude"),
        "song_id",
    )
    fields = [F.col(c) for c in ("name", "location", "latitude", "longitude")]
    rank = F.struct(count_non_null(*fields), F.col("song_id"), *fields)
    return dedupe_by_rank(records, ["artist_id"], rank).select(*tables.ARTISTS.columns)
