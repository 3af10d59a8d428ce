"""The streaming job: available-now runs, restarts, replayed batches and the hand-off with the backfill
all end in the star tables of a one-shot backfill over the same files."""

from __future__ import annotations

import io
import os
import shutil
import time

import pyspark.sql.functions as F
import pytest

from batch_backfill.job import run_backfill
from sparkify import ingest
from sparkify.sources import read_whole_files
from sparkify.tables import ensure_tables
from streaming import handoff
from streaming.job import run_stream
from streaming.sink import DimensionSink, EmptiedDirPruner, HadoopDirs, LocalDirs, RawFilesSink
from tests.conftest import lake_config
from tests.landing import ALL_FILES, land
from tests.test_backfill import assert_same_star_tables

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]


def staged_lines(spark, config, table="staging_events"):
    return spark.read.format("delta").load(config.table_path(table)).select("source_file", "line_number")


def test_available_now_equals_the_backfill_and_restart_takes_only_new_files(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    run_stream(spark, config, available_now=True, out=io.StringIO())
    assert_same_star_tables(spark, config, expected)

    # Restart from the checkpoints with one more file (a day landed again under another name).
    day = tmp_path / "landing/log_data/2018/11/2018-11-16-events.json"
    again = day.with_name("2018-11-16-events-again.json")
    shutil.copy(day, again)
    run_stream(spark, config, available_now=True, out=io.StringIO())
    assert_same_star_tables(spark, config, expected)

    # The first run's files were archived (cleanSource) under their full paths once the next batch
    # was planned; the second run's file waits for the next.
    archive = tmp_path / "landing/_archive"
    assert (archive / str(day).lstrip("/")).is_file() and not day.exists()
    assert again.is_file()
    staged = staged_lines(spark, config)
    assert staged.count() == staged.distinct().count()
    assert staged.filter(F.col("source_file").endswith("-again.json")).count() == 4


def test_a_replayed_micro_batch_changes_nothing(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    for dataset, root in ((ingest.SONGS, config.paths.song_data), (ingest.EVENTS, config.paths.log_data)):
        sink = RawFilesSink(config, dataset, checkpoint="unused")
        sink.app_id = f"test-app-{dataset.name}"
        batch = read_whole_files(spark, root)
        sink(batch, 0)
        sink(batch, 0)  # the same batch id again, as after a crash before the checkpoint commit
    for dataset in (ingest.SONGS, ingest.EVENTS):
        sink = DimensionSink(config, dataset, checkpoint="unused")
        sink.app_id = f"test-dim-{dataset.name}"
        staged = spark.read.format("delta").load(config.table_path(dataset.staging.name))
        sink(staged, 0)
        sink(staged, 0)
    assert_same_star_tables(spark, config, expected)
    for table in ("staging_events", "staging_songs"):
        staged = staged_lines(spark, config, table)
        assert staged.count() == staged.distinct().count()
    metrics = spark.read.format("delta").load(config.table_path("pipeline_metrics"))
    assert metrics.count() == 4  # one row per (query, batch), replays included


def test_backfill_then_stream_hand_off_takes_each_file_once(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing", only=[f for f in ALL_FILES if "2018/12" not in f])
    run_backfill(spark, config, out=io.StringIO())
    land(tmp_path / "landing", only=[f for f in ALL_FILES if "2018/12" in f])  # landed after the backfill
    run_stream(spark, config, available_now=True, out=io.StringIO())
    assert_same_star_tables(spark, config, expected)
    staged = staged_lines(spark, config)
    assert staged.count() == staged.distinct().count()
    stream_batches = (
        spark.read.format("delta")
        .load(config.table_path("staging_events"))
        .filter(F.col("batch_id").startswith("stream-"))
        .select("source_file")
        .distinct()
        .collect()
    )
    assert [r.source_file.rsplit("/", 1)[1] for r in stream_batches] == ["2018-12-01-events.json"]


def test_after_its_first_batch_a_query_looks_up_only_files_not_newer_than_staging(
    spark, tmp_path, monkeypatch
):
    """The hand-off lookup runs on a query's first batch, then only for files that landed no later
    than the newest file staged at its start; an old file the backfill took is still dropped."""
    config = lake_config(tmp_path)
    landing = tmp_path / "landing"
    days = sorted(f for f in ALL_FILES if f.startswith("log_data/"))
    old, also_old = land(landing, only=days[:2])
    for path in (old, also_old):
        os.utime(path, (1_000_000, 1_000_000))  # landed long ago
    run_backfill(spark, config, out=io.StringIO())
    [new] = land(landing, only=days[2:])
    again = new.with_name("again-" + new.name)  # the same day landed again later, under another name
    shutil.copy(new, again)
    os.utime(again, (time.time() + 60, time.time() + 60))

    lookups = []
    real_lookup = handoff.staged_labels

    def spy(spark, config, dataset, files, label):
        lookups.append([f.rsplit("/", 1)[1] for f in files])
        return real_lookup(spark, config, dataset, files, label)

    monkeypatch.setattr(handoff, "staged_labels", spy)
    sink = RawFilesSink(config, ingest.EVENTS, checkpoint="unused")
    sink.app_id = "test-app"
    every_file = read_whole_files(spark, config.paths.log_data)
    for batch_id, path in enumerate((new, old, again)):
        sink(every_file.filter(F.col("source_file").endswith("/" + path.name)), batch_id)

    assert lookups == [[new.name], [old.name]]  # the first batch, then the old file; not the newer one
    staged = spark.read.format("delta").load(config.table_path("staging_events"))
    assert staged.count() == staged.select("source_file", "line_number").distinct().count()
    by_stream = staged.filter(F.col("batch_id").startswith("stream-")).select("source_file").distinct()
    assert {r.source_file.rsplit("/", 1)[1] for r in by_stream.collect()} == {again.name, new.name}


def landing_tree(root):
    for d in ("A/B/C", "A/B/D", "A/E", "F/G", "H"):
        (root / d).mkdir(parents=True)
    for f in ("A/B/D/keep.json", "A/E/taken.json", "H/next.json"):
        (root / f).write_text("{}")
    return lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("dirs", [LocalDirs, HadoopDirs])  # HadoopDirs serves S3A; same rules
def test_directories_emptied_by_archiving_are_removed_up_to_the_landing_root(spark, tmp_path, dirs):
    root = tmp_path / "song_data"
    left = landing_tree(root)
    fs = dirs() if dirs is LocalDirs else dirs(spark)

    fs.remove_empty_under(root.as_uri())
    assert left() == ["A", "A/B", "A/B/D", "A/B/D/keep.json", "A/E", "A/E/taken.json", "H", "H/next.json"]

    (root / "A/E/taken.json").unlink()  # archived by Spark
    fs.remove_emptied([(root / "A/E/taken.json").as_uri(), (root / "A/B/D/x.json").as_uri()], str(root))
    assert left() == ["A", "A/B", "A/B/D", "A/B/D/keep.json", "H", "H/next.json"]
    assert root.is_dir()


def test_the_pruner_sweeps_on_a_restart_then_follows_the_previous_batch(spark, tmp_path):
    root = tmp_path / "song_data"
    left = landing_tree(root)
    before = left()

    EmptiedDirPruner(str(root))(spark, [(root / "H/next.json").as_uri()], batch_id=0)
    assert left() == before  # a new checkpoint: nothing was archived, nothing to sweep

    pruner = EmptiedDirPruner(str(root))
    pruner(spark, [(root / "A/E/taken.json").as_uri()], batch_id=7)  # a restart
    assert "F" not in left() and "A/B/C" not in left()
    (root / "A/E/taken.json").unlink()  # Spark archives batch 7's files as it plans batch 8
    pruner(spark, [(root / "H/next.json").as_uri()], batch_id=8)
    assert left() == ["A", "A/B", "A/B/D", "A/B/D/keep.json", "H", "H/next.json"]


def test_a_song_landing_after_its_plays_were_streamed_resolves_them(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    events = [f for f in ALL_FILES if f.startswith("log_data/")]
    songs = [f for f in ALL_FILES if f.startswith("song_data/")]
    assert songs[0].endswith("TRAAA0000000000001.json")  # SOA, the better match for the Uprising plays
    land(tmp_path / "landing", only=events + songs[1:])
    run_stream(spark, config, available_now=True, out=io.StringIO())
    plays = spark.read.format("delta").load(config.table_path("songplays"))
    assert plays.filter(F.col("song_id") == "SOB").count() > 0  # matched to what had landed

    land(tmp_path / "landing", only=songs[:1])
    run_stream(spark, config, available_now=True, out=io.StringIO())
    assert_same_star_tables(spark, config, expected)


def one_file_batches(spark, config, dataset, root):
    """The landing files of ``dataset`` as single-file micro-batches, in path order."""
    every = read_whole_files(spark, root).localCheckpoint()
    files = sorted(r.source_file for r in every.select("source_file").collect())
    return [every.filter(F.col("source_file") == f) for f in files]


def assert_written_once(spark, config) -> None:
    """Every line staged once, every rejected line quarantined once, one metrics row per (query, batch)."""
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    for table in ("staging_events", "staging_songs"):
        staged = load(table).select("source_file", "line_number")
        assert staged.count() == staged.distinct().count(), f"{table} holds a line twice"
    quarantined = load("quarantine").select("dataset", "source_file", "line_number")
    assert quarantined.count() == quarantined.distinct().count()
    metrics = load("pipeline_metrics").select("query", "batch_id")
    assert metrics.count() == metrics.distinct().count(), "a batch was recorded twice"


@pytest.mark.parametrize("dies_after", [None, "stage", "merge_new_plays", "record_batch"])
def test_a_restarted_query_replaying_a_later_batch_writes_nothing_twice(
    spark, reference, tmp_path, monkeypatch, dies_after
):
    """Issue 9: batches 0 and 1 ran, the process died (after the step named, or after the whole batch
    but before Spark's checkpoint commit), and the restarted query is handed batch 1 again."""
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    songs = RawFilesSink(config, ingest.SONGS, checkpoint="unused")
    songs.app_id = "test-app-songs"
    songs(read_whole_files(spark, config.paths.song_data), 0)
    first, second, third = one_file_batches(spark, config, ingest.EVENTS, config.paths.log_data)
    sink = RawFilesSink(config, ingest.EVENTS, checkpoint="unused")
    sink.app_id = "test-app-events"
    sink(first, 0)
    if dies_after is not None:
        real = getattr(ingest, dies_after)

        def then_dies(*args, **kwargs):
            real(*args, **kwargs)
            raise KeyboardInterrupt(f"killed right after {dies_after}")

        monkeypatch.setattr(ingest, dies_after, then_dies)
        with pytest.raises(KeyboardInterrupt):
            sink(second, 1)
        monkeypatch.setattr(ingest, dies_after, real)
    else:
        sink(second, 1)  # finished, but the checkpoint commit never happened

    restarted = RawFilesSink(config, ingest.EVENTS, checkpoint="unused")
    restarted.app_id = "test-app-events"  # the same query: its id lives in the checkpoint
    restarted(second, 1)
    restarted(third, 2)
    for dataset in (ingest.SONGS, ingest.EVENTS):
        dims = DimensionSink(config, dataset, checkpoint="unused")
        dims.app_id = f"test-dim-{dataset.name}"
        dims(spark.read.format("delta").load(config.table_path(dataset.staging.name)), 0)
    assert_same_star_tables(spark, config, expected)
    assert_written_once(spark, config)
    metrics = spark.read.format("delta").load(config.table_path("pipeline_metrics"))
    assert sorted(r.batch_id[-8:] for r in metrics.filter("query = 'stream-events'").collect()) == [
        "00000000",
        "00000001",
        "00000002",
    ]


def test_a_restarted_dimension_query_replaying_a_later_batch_records_it_once(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    for dataset, root in ((ingest.SONGS, config.paths.song_data), (ingest.EVENTS, config.paths.log_data)):
        sink = RawFilesSink(config, dataset, checkpoint="unused")
        sink.app_id = f"test-app-{dataset.name}"
        sink(read_whole_files(spark, root), 0)
    staged = spark.read.format("delta").load(config.table_path("staging_events"))
    files = sorted(r.source_file for r in staged.select("source_file").distinct().collect())
    batches = [staged.filter(F.col("source_file") == f) for f in files]
    songs = DimensionSink(config, ingest.SONGS, checkpoint="unused")
    songs.app_id = "test-dim-songs"
    songs(spark.read.format("delta").load(config.table_path("staging_songs")), 0)
    sink = DimensionSink(config, ingest.EVENTS, checkpoint="unused")
    sink.app_id = "test-dim-events"
    sink(batches[0], 0)
    sink(batches[1], 1)
    restarted = DimensionSink(config, ingest.EVENTS, checkpoint="unused")
    restarted.app_id = "test-dim-events"
    restarted(batches[1], 1)
    restarted(batches[2], 2)
    assert_same_star_tables(spark, config, expected)
    assert_written_once(spark, config)
