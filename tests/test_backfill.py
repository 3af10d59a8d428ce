"""The SPEC.md invariants end to end on a tiny landing zone: idempotence, order independence,
conservation, late arrival, and a backfill that resumes after dying at any step."""

from __future__ import annotations

import dataclasses
import io
import random
import shutil
import time
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import run_backfill
from batch_backfill.load import load_chunk
from sparkify.keys import songplay_id_of
from sparkify.pipeline import ingest
from sparkify.sources import read_whole_files
from sparkify.tables import SONGPLAYS, ensure_tables
from tests.builders import TS, utc
from tests.conftest import ROUTING_ONLY, lake_config, star_tables
from tests.landing import ALL_FILES, DAY, land, lines, song_record

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def assert_same_star_tables(spark, config, expected: dict) -> None:
    for name, df in star_tables(spark, config).items():
        assertDataFrameEqual(df, expected[name].collect(), checkRowOrder=False)


def test_backfill_builds_the_expected_songplays(spark, reference):
    _, _, _, tables = reference

    def row(user, session, item, ts, song_id, artist_id, level="free"):
        month = 12 if ts >= TS + 16 * DAY else 11
        return (
            songplay_id_of(user, session, item, ts), utc(ts), user, level, song_id, artist_id, session, item,
            "Austin, TX", "Mozilla/5.0", 2018, month,
        )  # fmt: skip

    expected = [
        row(42, 1, 1, TS + 1000, "SOA", "ARMUSE"),  # SOA and SOB both within 0.01 s: the smaller wins
        row(42, 1, 2, TS + 240_000, "SOK", "ARMUSE"),
        row(42, 1, 3, TS + 600_000, None, None),  # no such song
        row(7, 3, 0, TS + 800_000, "SOH", "ARMUSE", "paid"),
        row(42, 5, 0, TS + DAY, "SOS", "ARDUO", "paid"),
        row(42, 5, 1, TS + DAY + 240_000, "SOA", "ARMUSE", "paid"),
        row(7, 6, 0, TS + DAY, "SOB", "ARMUSE", "paid"),  # 236.412: only SOB (236.405) is within 0.01 s
        row(42, 9, 1, TS + 16 * DAY + 5000, "SOS", "ARDUO"),
    ]
    assertDataFrameEqual(tables["songplays"], spark.createDataFrame(expected, SONGPLAYS.schema))


def test_backfill_reports_progress(reference):
    _, summary, progress, _ = reference
    assert "[backfill songs] 6/6 files (100%)" in progress
    assert "[backfill events] 3/3 files (100%)" in progress
    assert "ETA" in progress and "elapsed" in progress
    root = reference[0].paths.song_data
    assert f"[backfill songs] 6 files to load from {root} (6 landed, 0 archived)" in progress
    assert (summary.files, summary.rows_in) == (9, 23)
    assert (summary.files_landed, summary.files_archived) == (9, 0)


def test_conservation_every_line_is_staged_or_quarantined(spark, reference):
    config, summary, _, tables = reference
    roots = [Path(config.paths.song_data), Path(config.paths.log_data)]
    read = {(str(p.relative_to(root)), n) for root in roots for p in sorted(root.rglob("*.json"))
            for n, line in enumerate(p.read_text().split("\n"), start=1) if line.strip()}  # fmt: skip
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    staged = {
        (r.source_file, r.line_number) for t in ("staging_events", "staging_songs") for r in load(t).collect()
    }
    quarantine = load("quarantine").collect()
    staged_rejected = {(r.source_file, r.line_number) for t in ("staging_events", "staging_songs")
                       for r in load(t).filter("size(rejections) > 0").collect()}  # fmt: skip
    malformed = {(r.source_file, r.line_number) for r in quarantine} - staged_rejected
    assert staged | malformed == read and not staged & malformed
    assert summary.rows_in == len(read) == 23

    # Staged rows the star tables did not take are in quarantine, with the expectations that rejected them.
    reasons = {(r.source_file.rsplit("/", 1)[1], r.line_number): sorted(r.reasons) for r in quarantine}
    assert reasons == {
        ("TRCCC0000000000005.json", 1): ["unparseable_json"],
        ("TRCCD0000000000006.json", 1): ["song_id_present"],
        ("2018-11-15-events.json", 6): ["play_has_user_id"],
        ("2018-11-15-events.json", 7): ["unparseable_json"],
        ("2018-11-15-events.json", 9): ["wrong_type:ts"],
        ("2018-11-16-events.json", 4): ["play_has_user_id", "user_id_numeric_or_empty"],
    }
    assert all(r.raw_line for r in quarantine)
    plays_staged = load("staging_events").filter("page = 'NextSong'").count()
    assert tables["songplays"].count() == plays_staged - 2  # the two plays quarantined above


def test_backfill_again_and_a_file_landed_twice_change_no_star_table(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
    land(tmp_path / "landing")
    run_backfill(spark, config, out=io.StringIO())
    again = run_backfill(spark, config, out=io.StringIO())
    assert again.files == 0
    copy = tmp_path / "landing/log_data/2018/11/2018-11-16-events-copy.json"
    shutil.copy(tmp_path / "landing/log_data/2018/11/2018-11-16-events.json", copy)
    shutil.copy(
        tmp_path / "landing/song_data/B/B/B/TRBBB0000000000004.json",
        tmp_path / "landing/song_data/B/TRX.json",
    )
    assert run_backfill(spark, config, out=io.StringIO()).files == 2
    assert_same_star_tables(spark, config, expected)


def test_a_file_under_a_directory_named_with_a_space_and_a_plus_is_taken_once(spark, tmp_path):
    """Staged under its path relative to the root, encoded as Spark names files (a space is %20, a '+'
    stays); the listing names it alike, so the next backfill takes nothing (it used to read it again)."""
    lake = tmp_path / "my lake"  # the landing root's own path has a space too
    config = lake_config(lake, **ROUTING_ONLY)
    land(lake / "landing", only=[f for f in ALL_FILES if f.startswith("log_data/")])
    odd = lake / "landing/song_data/new songs+more/TR X+1.json"
    odd.parent.mkdir(parents=True)
    odd.write_text(lines(song_record("SOX", "Odd", 100.0)))
    first = run_backfill(spark, config, out=io.StringIO())
    assert (first.files, first.files_landed) == (4, 4)
    staged = spark.read.format("delta").load(config.table_path("staging_songs")).collect()
    assert [(r.source_file, r.line_number) for r in staged] == [("new%20songs+more/TR%20X+1.json", 1)]
    assert run_backfill(spark, config, out=io.StringIO()).files == 0


def ingest_batch(spark, config, checks, files: list[str], batch_id: str) -> None:
    """Load the given landing files as one chunk per dataset, in whatever grouping and order a stream's
    micro-batches could bring them."""
    for dataset, root, prefix in (
        (ingest.SONGS, config.paths.song_data, "song_data/"),
        (ingest.EVENTS, config.paths.log_data, "log_data/"),
    ):
        mine = [f.removeprefix(prefix) for f in files if f.startswith(prefix)]  # relative to the root
        if mine:
            only = spark.createDataFrame([(p,) for p in mine], "source_file STRING")
            load_chunk(
                spark,
                config,
                ingest.Routing.of(dataset, checks),
                read_whole_files(spark, root, only),
                f"{batch_id}-{dataset.name}",
                checks,
            )


@pytest.mark.parametrize("seed", [2])  # each seed costs about a minute of CI (its 45-minute budget)
def test_order_independence_random_batches_and_orders(spark, routing_only, reference, tmp_path, seed):
    _, _, _, expected = reference
    rng = random.Random(seed)
    files = ALL_FILES.copy()
    rng.shuffle(files)
    cuts = sorted(rng.sample(range(1, len(files)), rng.randint(1, 3)))
    batches = [files[a:b] for a, b in zip([0, *cuts], [*cuts, len(files)], strict=True)]
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    for i, batch in enumerate(batches):
        ingest_batch(spark, config, routing_only, batch, f"test-{seed}-{i}")
    assert_same_star_tables(spark, config, expected)


def test_late_arriving_songs_resolve_earlier_plays(spark, routing_only, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    ensure_tables(spark, config)
    events = [f for f in ALL_FILES if f.startswith("log_data/")]
    songs = [f for f in ALL_FILES if f.startswith("song_data/")]
    ingest_batch(spark, config, routing_only, events, "events-first")
    plays = spark.read.format("delta").load(config.table_path("songplays"))
    assert plays.filter(F.col("song_id").isNotNull()).count() == 0
    ingest_batch(spark, config, routing_only, songs[2:], "most-songs")
    ingest_batch(spark, config, routing_only, songs[:2], "uprising-last")  # SOA after SOB already matched
    assert_same_star_tables(spark, config, expected)


def test_one_star_merge_dies_the_job_stops_once_the_others_ended_and_the_rerun_completes(
    spark, reference, tmp_path, monkeypatch
):
    """A chunk's star MERGEs run at once. When the users MERGE of the events chunk dies, the job raises
    only after the chunk's other MERGEs have ended (no thread writes on behind a stopped job), and the
    rerun merges the chunk, staged and partly merged, again from staging to the reference. (The job
    killed at its other steps: the test below.)"""
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
    land(tmp_path / "landing")
    ended = []

    def dies(*args, **kwargs):
        raise KeyboardInterrupt("killed in the users MERGE")

    def slow(merge):
        def merge_later(*args, **kwargs):
            time.sleep(1.0)  # still running when the users MERGE dies
            merge(*args, **kwargs)
            ended.append(merge.__name__)

        return merge_later

    merges = ingest.EVENTS.star_merges
    dying = dataclasses.replace(
        ingest.EVENTS, star_merges=tuple(dies if m is ingest.merge_event_users else slow(m) for m in merges)
    )
    monkeypatch.setattr(ingest, "DATASETS", (ingest.SONGS, dying))
    with pytest.raises(KeyboardInterrupt):
        run_backfill(spark, config, out=io.StringIO())
    assert sorted(ended) == sorted(m.__name__ for m in merges if m is not ingest.merge_event_users)
    monkeypatch.undo()
    summary = run_backfill(spark, config, out=io.StringIO())
    assert summary.recovered_batches == 1
    assert_same_star_tables(spark, config, expected)


@pytest.mark.parametrize(("module", "step"), [(ingest, "stage"), (ingest, "record_batch")])
def test_backfill_killed_at_a_step_then_rerun_ends_complete(
    spark, reference, tmp_path, monkeypatch, module, step
):
    _, _, _, expected = reference
    config = lake_config(tmp_path, **ROUTING_ONLY)
    land(tmp_path / "landing")
    original = getattr(module, step)
    calls = {"n": 0}

    def dies_on_the_events_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the songs batch passes, the events batch dies here
            raise KeyboardInterrupt(f"killed in {step}")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, step, dies_on_the_events_batch)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(spark, config, out=io.StringIO())
    unfinished = [(r.dataset, r.rows_staged > 0) for r in ingest.unfinished_batches(spark, config).collect()]
    assert unfinished == ([] if step == "stage" else [("events", True)])  # what `status` shows
    monkeypatch.setattr(module, step, original)
    out = io.StringIO()
    summary = run_backfill(spark, config, out=out)
    assert summary.recovered_batches == (0 if step == "stage" else 1)
    assert_same_star_tables(spark, config, expected)
    staged = spark.read.format("delta").load(config.table_path("staging_events"))
    assert staged.count() == staged.select("source_file", "line_number").distinct().count()
