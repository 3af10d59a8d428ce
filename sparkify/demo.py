"""``sparkify demo``: the main job on the embedded default, from nothing to answered queries."""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import SparkSession

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig
from sparkify.queries import register_tables, table_history
from sparkify.tables import ALL_TABLES

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


def run_demo(spark: SparkSession, config: PipelineConfig, landing: Path, seed: int = 42) -> None:
    """Generate (once) a small dataset into ``landing``, backfill it, then print what the tables hold."""
    from sparkify.cli import print_rows
    from sparkify.synthetic import generate_dataset

    if not any(landing.glob("log_data/**/*.json")):
        say = lambda msg: print(f"[generate] {msg}", file=sys.stderr, flush=True)  # noqa: E731
        summary = generate_dataset(str(landing), seed=seed, songs=400, users=60, days=14, progress=say)
        print(f"generated {summary.song_files:,} song files, {summary.events:,} events into {landing}")
    else:
        print(f"landing data already in {landing}; the backfill takes only what is new")

    summary = run_backfill(spark, config)
    print(
        f"\nbackfill: {summary.files:,} new files, {summary.rows_in:,} lines, "
        f"{summary.rows_quarantined:,} quarantined"
    )

    register_tables(spark, config)
    print("\nrows per table:")
    for spec in ALL_TABLES:
        print(f"  {spec.name:<20} {spark.table(spec.name).count():>9,}")
    for title, sql in (
        ("top 5 songs", TOP_SONGS),
        ("busiest hours (UTC)", PLAYS_BY_HOUR),
        ("plays by level", PAID_SHARE),
    ):
        print(f"\n{title}:")
        print_rows(spark.sql(sql), "table")
    print("\nsongplays history (time travel: sparkify query SQL --as-of-version N):")
    print_rows(table_history(spark, config, "songplays").select("version", "timestamp", "operation"), "table")
