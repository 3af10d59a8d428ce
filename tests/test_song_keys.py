"""The stream's held song keys equal the keys read whole from staging_songs, however they were appended."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from sparkify import tables
from sparkify.pipeline import ingest
from sparkify.song_keys import HeldSongKeys, staged_song_keys
from sparkify.tables import ensure_tables
from sparkify.transforms.songplays import build_songplays
from streaming.sink import DimensionSink
from tests.builders import TS, event, events_df, song
from tests.conftest import lake_config

pytestmark = pytest.mark.spark


def staged(spark: SparkSession, *records: tuple[dict, list[str]]) -> DataFrame:
    """Staging rows of song ``records``, each with its stored verdict (the rejections it failed)."""
    schema = tables.STAGING_SONGS.schema
    lineage = {"source_file": "f.json", "line_number": 1, "landed_at": 0, "batch_id": "b",
               "ingest_time": dt.datetime(2026, 1, 1)}  # fmt: skip
    rows = [{**lineage, **record, "rejections": rejections} for record, rejections in records]
    return spark.createDataFrame([tuple(r[f] for f in schema.fieldNames()) for r in rows], schema)


def persistent_rdds(spark: SparkSession) -> int:
    return spark.sparkContext._jsc.sc().getPersistentRDDs().size()


def is_held(spark: SparkSession, checkpointed: DataFrame) -> bool:
    """Whether the blocks of a ``localCheckpoint`` are still kept."""
    rdd_id = checkpointed._jdf.queryExecution().logical().rdd().id()
    return spark.sparkContext._jsc.sc().getPersistentRDDs().contains(rdd_id)


def test_held_keys_follow_every_append_and_free_what_they_replace(spark, tmp_path):
    config = lake_config(tmp_path)
    ensure_tables(spark, config)
    path = config.table_path(tables.STAGING_SONGS.name)
    append = lambda df: df.write.format("delta").mode("append").save(path)  # noqa: E731
    append(staged(spark, (song(song_id="SOA"), []), (song(song_id="SOB", title="B"), ["year_plausible"])))
    held = HeldSongKeys(path)
    with held.current(spark) as first, held.current(spark) as again:
        assert again is first, "nothing appended: the same keys, not read again"
    before = persistent_rdds(spark)

    # A better record of a held song, a new song, a rejected one, and an append of nothing new.
    append(staged(spark, (song(song_id="SOA", year=None), []), (song(song_id="SOA", title="Uprising!"), [])))
    append(staged(spark, (song(song_id="SOC", title="C", artist_name="Other"), [])))
    held.refresh(spark)
    append(staged(spark, (song(song_id="SOD", title="D"), ["duration_positive"])))
    with held.current(spark) as keys:
        whole = staged_song_keys(spark.read.format("delta").load(path))
        assertDataFrameEqual(keys, whole)
        assert sorted(r.song_id for r in keys.collect()) == ["SOA", "SOC"]
        assert {r.title for r in keys.collect()} == {"Uprising!", "C"}
    assert persistent_rdds(spark) == before, "each generation frees the one it replaces"
    held.close()
    assert persistent_rdds(spark) == before - 1


def test_keys_a_batch_reads_outlive_their_replacement_until_it_is_done(spark, tmp_path):
    """The songs query refreshes the keys while an events batch may still be reading the set it took:
    that set is freed when the batch leaves it, not before."""
    config = lake_config(tmp_path)
    ensure_tables(spark, config)
    path = config.table_path(tables.STAGING_SONGS.name)
    append = lambda df: df.write.format("delta").mode("append").save(path)  # noqa: E731
    append(staged(spark, (song(song_id="SOA"), [])))
    held = HeldSongKeys(path)
    with held.current(spark) as taken:
        append(staged(spark, (song(song_id="SOB", title="B"), [])))
        held.refresh(spark)  # the songs query, meanwhile
        assert is_held(spark, taken), "the replaced set is kept while it is read"
        assert sorted(r.song_id for r in taken.collect()) == ["SOA"]
    assert not is_held(spark, taken), "and freed once its reader is done"
    with held.current(spark) as keys:
        assert sorted(r.song_id for r in keys.collect()) == ["SOA", "SOB"]
    held.close()


def test_held_keys_reread_whole_what_the_change_feed_cannot_give(spark, tmp_path):
    config = lake_config(tmp_path)
    ensure_tables(spark, config)
    path = config.table_path(tables.STAGING_SONGS.name)
    staged(spark, (song(song_id="SOA"), [])).write.format("delta").mode("append").save(path)
    held = HeldSongKeys(path)
    held.current(spark)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    staged(spark, (song(song_id="SOB", title="B"), [])).write.format("delta").mode("append").save(path)
    with held.current(spark) as keys:
        assertDataFrameEqual(keys, staged_song_keys(spark.read.format("delta").load(path)))
    held.close()


def test_a_batch_matches_plays_to_updated_keys_without_a_runtime_bloom_filter(spark, tmp_path):
    """Spark's runtime Bloom filter (on by default) joined a batch's plays to keys updated from the change
    feed by inlining the filter's bits into every task: 72 MiB task binaries on the freshness bench. A
    stream batch's settings (``streaming.sink.batch_settings``) leave it out."""
    config = lake_config(tmp_path)
    ensure_tables(spark, config)
    path = config.table_path(tables.STAGING_SONGS.name)
    append = lambda df: df.write.format("delta").mode("append").save(path)  # noqa: E731
    append(staged(spark, (song(song_id="SOA"), [])))

    def songplays_plan(session: SparkSession) -> str:
        held = HeldSongKeys(path)
        held.refresh(session)
        append(staged(session, (song(song_id="SOB", title="B"), [])))
        plays = events_df(session, event(), event(song="B", ts=TS + 1)).persist()
        plays.count()  # in memory with its real size, as a routed batch is
        try:
            with held.current(session) as keys:  # updated from the change feed
                return build_songplays(plays, keys)._jdf.queryExecution().executedPlan().toString()
        finally:
            plays.unpersist()
            held.close()

    assert "might_contain" in songplays_plan(spark.newSession()), "Spark's default: the filter is built"
    batch_session = spark.newSession()
    sink = DimensionSink(config, ingest.EVENTS, checkpoint="unused")
    sink.app_id = "test-app"
    sink.begin_batch(batch_session, 0)
    assert "might_contain" not in songplays_plan(batch_session)
