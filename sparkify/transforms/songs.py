"""songs (song_id → title, artist_id, year, duration) and the keys plays are matched on."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from sparkify import tables
from sparkify.transforms.dedupe import Side, count_non_null, dedupe_by_rank

SONG_KEY_COLUMNS = ["song_id", "title", "artist_name", "duration", "artist_id", "year"]


def song_rank(c: Side = F.col) -> Column:
    """Better song record: more fields set, then the greater values (a total order on the row)."""
    fields = [c("title"), c("artist_id"), c("year"), c("duration")]
    return F.struct(count_non_null(*fields).alias("fields_set"), *fields)


def build_songs(songs_df: DataFrame) -> DataFrame:
    """One row per song_id from accepted staged song records."""
    return dedupe_by_rank(songs_df.select(*tables.SONGS.columns), ["song_id"], song_rank())


def build_song_keys(songs_df: DataFrame) -> DataFrame:
    """What a play is matched on, per song_id, taken from the same record that wins in ``songs``.

    ``artist_name`` is the song record's own (as in the Million Song Dataset file), so a match does not
    depend on which record happens to win the ``artists`` table.
    """
    keys = songs_df.select(*SONG_KEY_COLUMNS)
    return dedupe_by_rank(keys, ["song_id"], F.struct(song_rank(), F.col("artist_name")))
