"""songplays: one row per NextSong event, matched to the song it played when that song is known."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from sparkify import tables
from sparkify.keys import is_play, parse_user_id, songplay_id
from sparkify.transforms.dedupe import Side, dedupe_by_rank

DURATION_TOLERANCE_S = 0.01
MATCH_KEY = ["song", "artist", "length"]


def songplay_rank(c: Side = F.col) -> Column:
    """Better row for the same play (smaller is better): one with a song, then the smaller song_id, then
    the smaller values."""
    values = ("song_id", "artist_id", "level", "location", "user_agent")
    return F.struct(c("song_id").isNull().alias("no_song"), *(c(name) for name in values))


def build_plays(events_df: DataFrame) -> DataFrame:
    """Accepted NextSong events with their parsed key, start time and match fields."""
    start_time = F.timestamp_millis(F.col("ts"))
    user_id = parse_user_id(F.col("user_id"))
    return events_df.filter(is_play(F.col("page"))).select(
        songplay_id(user_id, F.col("session_id"), F.col("item_in_session"), F.col("ts")).alias("songplay_id"),
        start_time.alias("start_time"),
        user_id.alias("user_id"),
        "level",
        "session_id",
        "item_in_session",
        "location",
        "user_agent",
        F.year(start_time).alias("year"),
        F.month(start_time).alias("month"),
        *MATCH_KEY,
    )


def match_songs(plays_df: DataFrame, song_keys_df: DataFrame) -> DataFrame:
    """Add song_id/artist_id: the song whose title, artist name and duration (±0.01 s) match; if several,
    the smallest song_id; none: null.

    Matching runs on the distinct (song, artist, length) triples, far fewer than plays.
    """
    triples = plays_df.select(*MATCH_KEY).distinct()
    k = song_keys_df.alias("k")
    matches = (
        triples.alias("p")
        .join(
            k,
            (F.col("p.song") == F.col("k.title"))
            & (F.col("p.artist") == F.col("k.artist_name"))
            & (F.abs(F.col("p.length") - F.col("k.duration")) <= DURATION_TOLERANCE_S),
        )
        .groupBy(*(F.col(f"p.{c}").alias(c) for c in MATCH_KEY))
        .agg(F.min(F.struct("k.song_id", "k.artist_id")).alias("best"))
    )
    on = [plays_df[c].eqNullSafe(matches[c]) for c in MATCH_KEY]
    return plays_df.join(matches, on, "left").select(
        *(plays_df[c] for c in plays_df.columns),
        F.col("best.song_id").alias("song_id"),
        F.col("best.artist_id").alias("artist_id"),
    )


def best_per_play(songplays_df: DataFrame) -> DataFrame:
    """One row per songplay_id: the best by :func:`songplay_rank`, as the MERGE into songplays keeps."""
    return dedupe_by_rank(songplays_df, ["songplay_id"], songplay_rank(), keep="min")


def build_songplays(events_df: DataFrame, song_keys_df: DataFrame) -> DataFrame:
    """Accepted events + the known songs' match keys → one songplays row per play."""
    return best_per_play(match_songs(build_plays(events_df), song_keys_df).select(*tables.SONGPLAYS.columns))


def with_resolved(songplays_df: DataFrame, resolved_df: DataFrame) -> DataFrame:
    """A batch's songplays and plays that late songs resolved (some of them the batch's own), one row per
    songplay_id: the best, as the MERGE would keep."""
    return best_per_play(songplays_df.unionByName(resolved_df))
