"""``sparkify demo``: the main job on the embedded default, from nothing to answered queries."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TypedDict, cast

from delta.tables import DeltaTable
from pyspark.sql import Row, SparkSession

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig
from sparkify.ops.output import print_rows
from sparkify.ops.queries import read_table, register_tables
from sparkify.ops.status import freshness
from sparkify.synthetic import drip, generate_dataset
from sparkify.tables import ALL_TABLES
from streaming.job import run_stream

TOP_SONGS = """
SELECT s.title, a.name AS artist, COUNT(*) AS plays
FROM songplays p JOIN songs s ON p.song_id = s.song_id JOIN artists a ON p.artist_id = a.artist_id
GROUP BY s.title, a.name ORDER BY plays DESC, s.title LIMIT 5
"""
PLAYS_BY_HOUR = """
SELECT t.hour, COUNT(*) AS plays FROM songplays p JOIN `time` t ON p.start_time = t.start_time
GROUP BY t.hour ORDER BY plays DESC, t.hour LIMIT 5
"""
PAID_SHARE = """
SELECT level, COUNT(*) AS plays, ROUND(100 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS pct
FROM songplays GROUP BY level ORDER BY level
"""


class World(TypedDict):
    """The size of the generated world: keywords of ``generate_dataset`` and ``drip``."""

    songs: int
    users: int
    days: int


WORLD: World = {"songs": 400, "users": 60, "days": 14}


def run_demo(
    spark: SparkSession, config: PipelineConfig, landing: Path, seed: int = 42, stream_seconds: float = 60.0
) -> None:
    """Generate (once) a small dataset into ``landing``, backfill it, stream a drip of new files for
    ``stream_seconds``, then print what the tables hold, how fresh they were, and a time-travel query."""
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    song_files = len(list(landing.glob("song_data/**/*.json")))
    event_files = len(list(landing.glob("log_data/**/*.json")))
    if not event_files:
        generated = generate_dataset(
            str(landing), seed=seed, progress=lambda m: say(f"[generate] {m}"), **WORLD
        )
        print(f"generated {generated.song_files:,} song files, {generated.events:,} events into {landing}")
        song_files, event_files = generated.song_files, generated.event_files
    else:
        print(f"landing data already in {landing}; the backfill takes only what is new")

    summary = run_backfill(spark, config)
    print(
        f"\nbackfill: {summary.files:,} new files, {summary.rows_in:,} lines, "
        f"{summary.rows_quarantined:,} quarantined"
    )
    songplays = DeltaTable.forPath(spark, config.table_path("songplays"))
    after_backfill = cast(Row, songplays.history(1).first())["version"]

    # The world continues where the landing zone ends, so a second demo streams new days too.
    world: World = {**WORLD, "songs": song_files, "days": event_files}
    print(f"\nstreaming for {stream_seconds:.0f}s while new files land (one day of events every 5s)...")
    stop = threading.Event()

    def drip_then_stop() -> None:
        try:
            drip(str(landing), seed=seed, interval_seconds=5.0, max_seconds=stream_seconds,
                 progress=lambda m: say(f"[drip] {m}"), **world)  # fmt: skip
            time.sleep(15)  # let the last files through
        finally:
            stop.set()

    dripper = threading.Thread(target=drip_then_stop, name="demo-drip", daemon=True)
    dripper.start()
    run_stream(spark, config, stop=stop)
    dripper.join()
    # What the last micro-batches staged may still wait for the dimension queries' slower trigger.
    print("\nstream stopped; taking what is left with --available-now...")
    run_stream(spark, config, available_now=True)

    register_tables(spark, config)
    print("\nrows per table:")
    for spec in ALL_TABLES:
        print(f"  {spec.name:<20} {spark.table(spec.name).count():>9,}")
    print("\nfreshness, landing to table, per query (pipeline_metrics):")
    print_rows(freshness(spark, config), "table")
    for title, sql in (
        ("top 5 songs", TOP_SONGS),
        ("busiest hours (UTC)", PLAYS_BY_HOUR),
        ("plays by level", PAID_SHARE),
    ):
        print(f"\n{title}:")
        print_rows(spark.sql(sql), "table")
    print(f"\ntime travel: songplays now vs as of version {after_backfill} (right after the backfill):")
    then = read_table(spark, config, "songplays", version=after_backfill).count()
    print(f"  now {spark.table('songplays').count():,} plays; then {then:,}")
    print(
        f"  try: .venv/bin/sparkify query 'SELECT COUNT(*) FROM songplays' --as-of-version {after_backfill}"
    )
