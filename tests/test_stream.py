"""The streaming job: available-now runs, restarts, replayed batches and the hand-off with the backfill
all end in the star tables of a one-shot backfill over the same files."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time

import pyspark.sql.functions as F
import pytest
from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import run_backfill
from expectations.validation import ExpectationError, load_checks
from sparkify.pipeline import ingest
from sparkify.sources import read_whole_files
from sparkify.tables import ensure_tables
from streaming import handoff, job
from streaming.job import run_stream
from streaming.pruning import EmptiedDirPruner, HadoopDirs, LocalDirs
from streaming.scheduling import Schedule, SongplaysHandover
from streaming.sink import DimensionSink, RawFilesSink
from tests.conftest import ROUTING_ONLY, lake_config
from tests.landing import ALL_FILES, land
from tests.test_backfill import assert_same_star_tables

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]


def staged_lines(spark, config, table="staging_events"):
    return spark.read.format("delta").load(config.table_path(table)).select("source_file", "line_number")


def landing_files(landing):
    """Every file under the landing prefixes (not the archive) with its bytes, by relative path."""
    return sorted(
        (str(p.relative_to(landing)), p.read_bytes())
        for p in landing.rglob("*")
        if p.is_file() and not p.relative_to(landing).parts[0].startswith("_")
    )


def wait_until_gone(paths, timeout_s=60.0):
    """Spark's cleaner thread archives a batch's files while the next batch is planned: wait for it."""
    deadline = time.monotonic() + timeout_s
    while any(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p.exists() for p in paths), [str(p) for p in paths if p.exists()]


def test_available_now_equals_the_backfill_and_restart_takes_only_new_files(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path, SPARKIFY_STREAM_CLEAN_SOURCE="archive", **ROUTING_ONLY)
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
    wait_until_gone([day])
    assert (archive / str(day).lstrip("/")).is_file()
    assert again.is_file()
    staged = staged_lines(spark, config)
    assert staged.count() == staged.distinct().count()
    assert staged.filter(F.col("source_file").endswith("-again.json")).count() == 4


def test_by_default_the_stream_leaves_every_landing_file_where_it_is(spark, tmp_path):
    """Invariant 7: with the profiles' clean_source = "off", two runs (the second plans a batch after the
    first's, when archiving would move its files) leave the landing prefixes as they were."""
    config = lake_config(tmp_path, **ROUTING_ONLY)
    assert config.stream.clean_source == "off"
    landing = tmp_path / "landing"
    land(landing, only=[f for f in ALL_FILES if "2018/12" not in f])
    before = landing_files(landing)
    run_stream(spark, config, available_now=True, out=io.StringIO())
    [late] = land(landing, only=[f for f in ALL_FILES if "2018/12" in f])
    run_stream(spark, config, available_now=True, out=io.StringIO())
    time.sleep(1.0)  # what a cleaner thread would have had to move a file
    assert landing_files(landing) == sorted([*before, (str(late.relative_to(landing)), late.read_bytes())])
    assert not (landing / "_archive").exists()


def staged_and_quarantined(spark, config) -> dict[str, list]:
    """Staging and the quarantine as the lake holds them, without what names the batch that wrote them."""
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    return {
        "staging_songs": load("staging_songs").drop("batch_id", "ingest_time").collect(),
        "staging_events": load("staging_events").drop("batch_id", "ingest_time").collect(),
        "quarantine": load("quarantine").drop("batch_id", "quarantined_at").collect(),
    }


def test_a_rebuild_after_the_stream_archived_files_reads_them_as_the_same_files(spark, reference, tmp_path):
    """Invariant 7 with clean_source = "archive": the stream moves the files it took to the archive; a
    backfill into an empty lake reads the archive and the landing prefixes together and ends in the same
    star tables, the same staged lines and the same quarantine, each file under the same name."""
    _, _, _, expected = reference
    config = lake_config(tmp_path, SPARKIFY_STREAM_CLEAN_SOURCE="archive", **ROUTING_ONLY)
    landing = tmp_path / "landing"
    later = ["log_data/2018/12/2018-12-01-events.json", "song_data/C/C/D/TRCCD0000000000006.json"]
    first = land(landing, only=[f for f in ALL_FILES if f not in later])
    run_stream(spark, config, available_now=True, out=io.StringIO())
    second = land(landing, only=later)
    run_stream(spark, config, available_now=True, out=io.StringIO())  # plans a batch: archives the first
    wait_until_gone(first)
    archive = tmp_path / "landing/_archive"
    assert all((archive / str(p).lstrip("/")).is_file() for p in first)
    assert all(p.is_file() for p in second)  # taken, but archived only once a next batch is planned
    assert_same_star_tables(spark, config, expected)
    streamed = staged_and_quarantined(spark, config)

    shutil.rmtree(config.paths.output_root)  # every table and checkpoint
    out = io.StringIO()
    summary = run_backfill(spark, config, out=out)
    assert (summary.files, summary.files_landed, summary.files_archived) == (9, 2, 7)
    assert f"[backfill songs] 6 files to load from {config.paths.song_data} (1 landed, 5 archived)" in (
        out.getvalue()
    )
    assert_same_star_tables(spark, config, expected)
    for name, rows in staged_and_quarantined(spark, config).items():
        assertDataFrameEqual(rows, streamed[name], checkRowOrder=False)
    assert {r.source_file for r in streamed["staging_songs"]} >= {"A/A/A/TRAAA0000000000001.json"}
    assert run_backfill(spark, config, out=io.StringIO()).files == 0


def test_backfill_then_stream_hand_off_takes_each_file_once(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
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
    assert_each_commit_names_its_batch(spark, config)


# Which jobs (pipeline_metrics queries) write each star table. The stream's songs-dimensions query
# writes the plays its late songs resolve only when the events query is idle (streaming.scheduling).
WRITERS = {
    "songplays": {"backfill-events", "backfill-songs", "stream-events", "stream-songs-dimensions"},
    "time": {"backfill-events", "stream-events-dimensions"},
    "users": {"backfill-events", "stream-events-dimensions"},
    "users_level_history": {"backfill-events", "stream-events-dimensions"},
    "songs": {"backfill-songs", "stream-songs-dimensions"},
    "artists": {"backfill-songs", "stream-songs-dimensions"},
}


def assert_each_commit_names_its_batch(spark, config) -> None:
    """Every commit to a star table after its creation records the job and batch that made it: a batch
    pipeline_metrics lists under that job, of a job that writes the table. The stream's queries set it on
    their own sessions, so none of it is left on the session the jobs were started from."""
    from sparkify.commits import USER_METADATA
    from sparkify.ops.history import COLUMNS, table_history

    finished = {
        (r.query, r.batch_id)
        for r in spark.read.format("delta").load(config.table_path("pipeline_metrics")).collect()
    }
    for table, writers in WRITERS.items():
        (batch,) = table_history(config, table).batches
        commits = [c for c in (dict(zip(COLUMNS, row, strict=True)) for row in batch) if c["version"] > 0]
        assert commits, table
        for c in commits:
            assert c["job"] in writers and (c["job"], c["batch"]) in finished, (table, c)
    assert spark.conf.get(USER_METADATA, None) is None


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("SPARKIFY_STREAM_ADAPTIVE_EXECUTION", "true", {"spark.sql.adaptive.enabled": "true"}),
        ("SPARKIFY_STREAM_ADAPTIVE_EXECUTION", "false", {"spark.sql.adaptive.enabled": "false"}),
        (
            "SPARKIFY_STREAM_CODE_GENERATION",
            "true",
            {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"},
        ),
        (
            "SPARKIFY_STREAM_CODE_GENERATION",
            "false",
            {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
        ),
    ],
)
def test_a_batch_runs_with_the_streams_settings_in_its_own_session_only(
    spark, tmp_path, setting, value, expected
):
    """stream.adaptive_execution and stream.code_generation apply to the query's session (Spark clones
    one per query), never to the session the stream was started from (the backfill's)."""
    config = lake_config(tmp_path, **{setting: value})
    query_session = spark.newSession()  # what Spark hands a foreachBatch sink
    before = {k: spark.conf.get(k) for k in expected}
    sink = DimensionSink(config, ingest.EVENTS, checkpoint="unused")
    sink.app_id = "test-app"
    sink.begin_batch(query_session, 0)
    assert {k: query_session.conf.get(k) for k in expected} == expected
    assert {k: spark.conf.get(k) for k in expected} == before


@pytest.mark.parametrize("available_now", [False, True])
def test_each_raw_file_query_takes_its_own_trigger(spark, tmp_path, monkeypatch, available_now):
    """stream.songs_trigger_interval paces the songs query, stream.trigger_interval the events query;
    --available-now replaces both."""
    config = lake_config(tmp_path, SPARKIFY_STREAM_SONGS_TRIGGER_INTERVAL="17 seconds")
    started = {}
    monkeypatch.setattr(
        job, "start_raw_query", lambda s, c, dataset, trigger, p, k: started.setdefault(dataset.name, trigger)
    )
    job.start_queries(spark, config, available_now=available_now, phase="raw")
    if available_now:
        assert started == {"songs": {"availableNow": True}, "events": {"availableNow": True}}
    else:
        assert started == {
            "songs": {"processingTime": "17 seconds"},
            "events": {"processingTime": "2 seconds"},
        }


def test_after_its_first_batch_a_query_looks_up_only_files_not_newer_than_staging(
    spark, routing_only, tmp_path, monkeypatch
):
    """The hand-off lookup runs on a query's first batch, then only for files that landed no later
    than the newest file staged at its start; an old file the backfill took is still dropped."""
    config = lake_config(tmp_path, **ROUTING_ONLY)
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
    sink = RawFilesSink(config, ingest.EVENTS, "unused", routing_only)
    sink.app_id = "test-app"
    every_file = read_whole_files(spark, config.paths.log_data)
    for batch_id, path in enumerate((new, old, again)):
        sink(every_file.filter(F.col("source_file").endswith("/" + path.name)), batch_id)

    assert lookups == [[new.name], [old.name]]  # the first batch, then the old file; not the newer one
    staged = spark.read.format("delta").load(config.table_path("staging_events"))
    assert staged.count() == staged.select("source_file", "line_number").distinct().count()
    by_stream = staged.filter(F.col("batch_id").startswith("stream-")).select("source_file").distinct()
    assert {r.source_file.rsplit("/", 1)[1] for r in by_stream.collect()} == {again.name, new.name}


def landing_tree(root, archived):
    """A landing root with files and empty directories: those under A/B/C and F/G because archiving
    moved their files (their counterparts exist under ``archived``), U/V because the user made it."""
    for d in ("A/B/C", "A/B/D", "A/E", "F/G", "H", "S p+q", "U/V"):
        (root / d).mkdir(parents=True)
    for f in ("A/B/D/keep.json", "A/E/taken.json", "H/next.json", "S p+q/taken.json"):
        (root / f).write_text("{}")
    for d in ("A/B/C", "F/G"):
        (archived / d).mkdir(parents=True)
        (archived / d / "gone.json").write_text("{}")
    return lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def archive_file(root, archived, rel):
    """What Spark's cleanSource does to a taken file: move it under the archive, directories and all."""
    (archived / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).rename(archived / rel)


AFTER_SWEEP = [
    "A", "A/B", "A/B/D", "A/B/D/keep.json", "A/E", "A/E/taken.json", "H", "H/next.json", "S p+q",
    "S p+q/taken.json", "U", "U/V",
]  # fmt: skip


@pytest.mark.parametrize("dirs", [LocalDirs, HadoopDirs])  # HadoopDirs serves S3A; same rules
def test_directories_emptied_by_archiving_are_removed_up_to_the_landing_root(spark, tmp_path, dirs):
    root, archived = tmp_path / "song_data", tmp_path / "_archive" / str(tmp_path / "song_data").lstrip("/")
    left = landing_tree(root, archived)
    fs = dirs() if dirs is LocalDirs else dirs(spark)

    fs.remove_empty_under(root.as_uri(), str(archived))
    assert left() == AFTER_SWEEP  # U/V: empty, but the user made it; nothing was archived from it

    archive_file(root, archived, "A/E/taken.json")
    archive_file(root, archived, "S p+q/taken.json")
    taken = ["A/E/taken.json", "A/B/D/x.json", "S%20p+q/taken.json"]  # as staged: relative, encoded
    fs.remove_emptied(taken, str(root), str(archived))
    assert left() == ["A", "A/B", "A/B/D", "A/B/D/keep.json", "H", "H/next.json", "U", "U/V"]
    assert root.is_dir()

    fs.remove_emptied(["U/V/made.json"], str(root), str(archived))  # even if named by a batch
    assert (root / "U/V").is_dir()


def test_the_pruner_sweeps_on_a_restart_then_follows_the_previous_batch(spark, tmp_path):
    root, archived = tmp_path / "song_data", tmp_path / "_archive" / str(tmp_path / "song_data").lstrip("/")
    left = landing_tree(root, archived)
    before = left()

    EmptiedDirPruner(str(root), str(archived))(spark, ["H/next.json"], batch_id=0)
    assert left() == before  # a new checkpoint: nothing was archived, nothing to sweep

    pruner = EmptiedDirPruner(str(root), str(archived))
    pruner(spark, ["A/E/taken.json"], batch_id=7)  # a restart
    assert left() == AFTER_SWEEP
    archive_file(root, archived, "A/E/taken.json")  # Spark archives batch 7's files as it plans batch 8
    pruner(spark, ["H/next.json"], batch_id=8)
    assert left() == [d for d in AFTER_SWEEP if not d.startswith("A/E")]


def test_a_song_landing_after_its_plays_were_streamed_resolves_them(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
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


def test_the_plays_a_late_song_resolves_go_into_the_next_events_merge(
    spark, reference, routing_only, tmp_path, monkeypatch
):
    """songplays has one writer in a stream: the songs-dimensions query hands the plays a late song
    resolves over to the events query, whose next batch writes them in its own MERGE."""
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
    late_song, next_events = (
        "song_data/A/A/A/TRAAA0000000000001.json",
        "log_data/2018/12/2018-12-01-events.json",
    )
    land(tmp_path / "landing", only=[f for f in ALL_FILES if f not in (late_song, next_events)])
    run_stream(spark, config, available_now=True, out=io.StringIO())
    [song_file, events_file] = land(tmp_path / "landing", only=[late_song, next_events])

    def landed(root, path):
        return read_whole_files(spark, root).filter(F.col("source_file").endswith(path.name))

    # The events query counts as active long after a batch, however slow the machine: the plays wait.
    schedule = Schedule(songplays=SongplaysHandover(max_wait_s=600, idle_after_s=600))
    songs = RawFilesSink(config, ingest.SONGS, "unused", routing_only, schedule=schedule)
    songs.app_id = "test-app-songs"
    songs(landed(config.paths.song_data, song_file), 7)
    handed = threading.Event()
    real_hand_over = schedule.songplays.hand_over

    def hand_over(plays, write_here):
        handed.set()
        real_hand_over(plays, write_here)

    monkeypatch.setattr(schedule.songplays, "hand_over", hand_over)
    staged = spark.read.format("delta").load(config.table_path("staging_songs"))
    dims = DimensionSink(config, ingest.SONGS, checkpoint="unused", schedule=schedule)
    dims.app_id = "test-dim-songs"
    with schedule.songplays.writing():
        pass  # an events batch just ended: the events query is active
    before = songplays_version(spark, config)
    worker = threading.Thread(
        target=dims, args=(staged.filter(F.col("source_file").endswith(song_file.name)), 0)
    )
    worker.start()
    assert handed.wait(120), "the songs-dimensions batch never handed its plays over"
    time.sleep(0.5)  # it waits for the events query now: nothing may be written to songplays meanwhile
    assert songplays_version(spark, config) == before
    events = RawFilesSink(config, ingest.EVENTS, "unused", routing_only, schedule=schedule)
    events.app_id = "test-app-events"
    events(landed(config.paths.log_data, events_file), 7)
    worker.join()
    assert songplays_version(spark, config) == before + 1  # the batch's plays and the resolved ones at once
    staged_events = spark.read.format("delta").load(config.table_path("staging_events"))
    event_dims = DimensionSink(config, ingest.EVENTS, checkpoint="unused", schedule=schedule)
    event_dims.app_id = "test-dim-events"
    event_dims(staged_events.filter(F.col("source_file").endswith(events_file.name)), 0)
    assert_same_star_tables(spark, config, expected)


def songplays_version(spark, config) -> int:
    return DeltaTable.forPath(spark, config.table_path("songplays")).history(1).first()["version"]


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


def assert_validated_once(spark, config) -> None:
    """GX's record of every staged batch in quality_results, once."""
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    results = load("quality_results").select("dataset", "batch_id", "expectation")
    assert results.count() == results.distinct().count(), "a batch's validation was recorded twice"
    staged = load("staging_events").select("batch_id").union(load("staging_songs").select("batch_id"))
    unvalidated = staged.distinct().join(results.select("batch_id"), "batch_id", "left_anti")
    assert unvalidated.isEmpty(), "a staged batch has no recorded validation"


def dies_at(monkeypatch, moment: str) -> None:
    """Make the next batch die at ``moment``, as a killed process would: nothing after it is written.

    GX's record is written on a thread of its own once GX is done (``streaming.sink.record_validation``),
    so each death fixes what that thread has done by then: ``stage`` dies with the batch staged and its
    validation not recorded, ``record_quality`` with the validation recorded and nothing staged. The
    others die right after the step named.
    """
    gone = threading.Event()
    real = getattr(ingest, moment)

    def then_dies(*args, **kwargs):
        real(*args, **kwargs)
        gone.set()
        raise KeyboardInterrupt(f"killed right after {moment}")

    if moment == "record_quality":

        def records(*args, **kwargs):
            real(*args, **kwargs)
            gone.set()

        def dies_before_staging(*args, **kwargs):
            assert gone.wait(60), "GX's record was never written"
            raise KeyboardInterrupt("killed after record_quality, before staging")

        monkeypatch.setattr(ingest, "record_quality", records)
        monkeypatch.setattr(ingest, "stage", dies_before_staging)
        return
    if moment == "stage":
        monkeypatch.setattr(ingest, "record_quality", lambda *a, **k: gone.wait(60))  # never written
    monkeypatch.setattr(ingest, moment, then_dies)


# With GX: the deaths on either side of the batch's validation record (stage, record_quality). The other
# deaths are about the tables alone and run routing-only (see tests/conftest.py).
WITH_GX = ("stage", "record_quality")


@pytest.mark.parametrize("dies_after", [None, "stage", "merge_new_plays", "record_quality", "record_batch"])
def test_a_restarted_query_replaying_a_later_batch_writes_nothing_twice(
    spark, checks, routing_only, reference, tmp_path, monkeypatch, dies_after
):
    """Issue 9: batches 0 and 1 ran, the process died (at the moment named, see :func:`dies_at`, or after
    the whole batch but before Spark's checkpoint commit), and the restarted query is handed batch 1
    again."""
    _, _, _, expected = reference
    with_gx = dies_after in WITH_GX
    config = lake_config(tmp_path) if with_gx else lake_config(tmp_path, **ROUTING_ONLY)
    checks = checks if with_gx else routing_only
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    songs = RawFilesSink(config, ingest.SONGS, "unused", checks)
    songs.app_id = "test-app-songs"
    song_files = read_whole_files(spark, config.paths.song_data)
    songs(song_files, 0)
    if dies_after is None:
        songs(song_files, 0)  # a songs batch handed over again whole, too
    first, second, third = one_file_batches(spark, config, ingest.EVENTS, config.paths.log_data)
    sink = RawFilesSink(config, ingest.EVENTS, "unused", checks)
    sink.app_id = "test-app-events"
    sink(first, 0)
    if dies_after is not None:
        with monkeypatch.context() as patched:
            dies_at(patched, dies_after)
            with pytest.raises(KeyboardInterrupt):
                sink(second, 1)
    else:
        sink(second, 1)  # finished, but the checkpoint commit never happened

    restarted = RawFilesSink(config, ingest.EVENTS, "unused", checks)
    restarted.app_id = "test-app-events"  # the same query: its id lives in the checkpoint
    restarted(second, 1)
    restarted(third, 2)
    for dataset in (ingest.SONGS, ingest.EVENTS):
        dims = DimensionSink(config, dataset, checkpoint="unused")
        dims.app_id = f"test-dim-{dataset.name}"
        dims(spark.read.format("delta").load(config.table_path(dataset.staging.name)), 0)
    assert_same_star_tables(spark, config, expected)
    assert_written_once(spark, config)
    if with_gx:
        assert_validated_once(spark, config)
    metrics = spark.read.format("delta").load(config.table_path("pipeline_metrics"))
    assert sorted(r.batch_id[-8:] for r in metrics.filter("query = 'stream-events'").collect()) == [
        "00000000",
        "00000001",
        "00000002",
    ]


def test_great_expectations_finishes_before_anything_is_merged(
    spark, checks, reference, tmp_path, monkeypatch
):
    """GX's warn and quarantine expectations run beside the staging append: GX failing there (made to
    raise as it starts) stops the batch before the songplays MERGE. With GX working again, the replayed
    batch merges; every table then holds the batch once."""
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    songs = RawFilesSink(config, ingest.SONGS, "unused", checks)
    songs.app_id = "test-app-songs"
    songs(read_whole_files(spark, config.paths.song_data), 0)
    events = read_whole_files(spark, config.paths.log_data)
    failing = load_checks(config.quality)

    def gx_fails(*args, **kwargs):
        raise ExpectationError("events: expectation 'page_known' of suite raw_events could not be evaluated")

    monkeypatch.setattr(failing.validator, "rest", gx_fails)
    sink = RawFilesSink(config, ingest.EVENTS, "unused", failing)
    sink.app_id = "test-app-events"
    with pytest.raises(ExpectationError, match="'page_known' of suite raw_events could not be evaluated"):
        sink(events, 0)
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    assert load("songplays").isEmpty()
    assert not load("staging_events").isEmpty()  # written while GX ran

    fixed = RawFilesSink(config, ingest.EVENTS, "unused", checks)
    fixed.app_id = "test-app-events"  # the same query, restarted: Spark hands it batch 0 again
    fixed(events, 0)
    for dataset in (ingest.SONGS, ingest.EVENTS):
        dims = DimensionSink(config, dataset, checkpoint="unused")
        dims.app_id = f"test-dim-{dataset.name}"
        dims(load(dataset.staging.name), 0)
    assert_same_star_tables(spark, config, expected)
    assert_written_once(spark, config)
    assert_validated_once(spark, config)


def test_a_restarted_dimension_query_replaying_a_later_batch_records_it_once(
    spark, routing_only, reference, tmp_path
):
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    for dataset, root in ((ingest.SONGS, config.paths.song_data), (ingest.EVENTS, config.paths.log_data)):
        sink = RawFilesSink(config, dataset, "unused", routing_only)
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
