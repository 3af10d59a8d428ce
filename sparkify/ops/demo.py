"""``sparkify demo``: the main job on the embedded default, from nothing to answered queries.

One line a phase on the terminal (generate, backfill, stream with a drip, drain, results; the CLI adds
the set-up before them), then what the tables hold and where to look next. The phases' details are in
the job's log.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import TypedDict, cast

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig
from sparkify.ops.output import print_rows
from sparkify.ops.phases import Phase, Phases, counted, shown
from sparkify.ops.queries import read_table, register_tables
from sparkify.ops.status import freshness
from sparkify.ops.tally import tallying
from sparkify.synthetic import GenerateSummary, drip, generate_dataset
from sparkify.tables import ALL_TABLES, STAR_TABLES
from streaming.job import run_stream

TOP_SONGS = """
SELECT s.title, a.name AS artist, COUNT(*) AS plays
FROM songplays p JOIN songs s ON p.song_id = s.song_id JOIN artists a ON p.artist_id = a.artist_id
GROUP BY s.title, a.name ORDER BY plays DESC, s.title LIMIT 3
"""
PLAYS_BY_HOUR = """
SELECT t.hour, COUNT(*) AS plays FROM songplays p JOIN `time` t ON p.start_time = t.start_time
GROUP BY t.hour ORDER BY plays DESC, t.hour LIMIT 3
"""
PAID_SHARE = """
SELECT level, COUNT(*) AS plays, ROUND(100 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS pct
FROM songplays GROUP BY level ORDER BY level
"""
SAMPLE_QUERIES = (
    ("top 3 songs", TOP_SONGS),
    ("busiest hours (UTC)", PLAYS_BY_HOUR),
    ("plays by level", PAID_SHARE),
)
DRIP_INTERVAL_S = 5.0  # one day of events lands this often while the stream runs
SETTLE_S = 15.0  # after the last dripped file, so the stream (not the drain) takes it


class World(TypedDict):
    """The size of the generated world: keywords of ``generate_dataset`` and ``drip``."""

    songs: int
    users: int
    days: int


WORLD: World = {"songs": 400, "users": 60, "days": 14}


@dataclass(frozen=True)
class DemoResults:
    """What the demo prints at the end, computed in its last phase (so the printing takes no time)."""

    counts: dict[str, int]
    freshness_df: DataFrame
    samples: list[tuple[str, DataFrame]]
    after_backfill: int  # songplays' version right after the backfill
    plays_now: int
    plays_then: int


def run_demo(
    spark: SparkSession,
    config: PipelineConfig,
    landing: Path,
    phases: Phases,
    seed: int = 42,
    stream_seconds: float = 60.0,
    world: World = WORLD,
) -> DemoResults:
    """Generate ``world`` (once) into ``landing``, backfill it, stream a drip of new files for
    ``stream_seconds``, drain what is left, then compute what the tables hold; one phase each."""
    with phases.phase("generate") as phase:
        song_files, event_files = generate_once(landing, seed, world, phase)
    with phases.phase("backfill") as phase:
        summary = run_backfill(spark, config, out=phase.stream())
        phase.done(
            f"{counted(summary.files, 'file')}, {counted(summary.rows_in, 'line')}, "
            f"{summary.rows_quarantined:,} quarantined"
        )
    songplays = DeltaTable.forPath(spark, config.table_path("songplays"))
    after_backfill = cast(Row, songplays.history(1).first())["version"]

    # The world continues where the landing zone ends, so a second demo streams new days too.
    continued: World = {**world, "songs": song_files, "days": event_files}
    with phases.phase("stream") as phase:
        dripped = stream_with_drip(spark, config, landing, seed, stream_seconds, continued, phase)
        phase.done(
            f"{counted(dripped.event_files, 'day')} of events and {counted(dripped.song_files, 'song')} "
            f"dripped in while it ran"
        )
    # What the last micro-batches staged may still wait for the dimension queries' slower trigger.
    with phases.phase("drain") as phase:
        with tallying(spark, lambda n: phase.note(counted(n, "micro-batch"))):
            run_stream(spark, config, available_now=True, out=phase.stream())
        phase.done("what was left, taken with --available-now")
    with phases.phase("results") as phase:
        results = compute_results(spark, config, after_backfill)
        phase.done("counts, freshness, sample queries, time travel")
    return results


def generate_once(landing: Path, seed: int, world: World, phase: Phase) -> tuple[int, int]:
    """Generate ``world`` into ``landing`` unless events are there already; the song and event files
    the landing zone holds."""
    song_files = len(list(landing.glob("song_data/**/*.json")))
    event_files = len(list(landing.glob("log_data/**/*.json")))
    if event_files:
        phase.done(f"landing data already in {shown(landing)}; the backfill takes only what is new")
        return song_files, event_files
    generated = generate_dataset(str(landing), seed=seed, progress=phase.note, **world)
    phase.done(
        f"{counted(generated.song_files, 'song file')}, {counted(generated.event_files, 'day')} of events "
        f"({counted(generated.events, 'event')}) into {shown(landing)}"
    )
    return generated.song_files, generated.event_files


def stream_with_drip(
    spark: SparkSession,
    config: PipelineConfig,
    landing: Path,
    seed: int,
    seconds: float,
    world: World,
    phase: Phase,
) -> GenerateSummary:
    """Run the stream while a thread drips a day of events every few seconds for ``seconds``; stop it
    once the last files had time to go through. What was dripped."""
    stop = threading.Event()
    dripped: list[GenerateSummary] = []
    progress = {"days": 0, "batches": 0}

    def show(**changed: int) -> None:
        progress.update(changed)
        phase.note(
            f"{counted(progress['days'], 'day')} of events dripped in, "
            f"{counted(progress['batches'], 'micro-batch')}"
        )

    def dripped_a_day(_: str) -> None:
        show(days=progress["days"] + 1)

    def drip_then_stop() -> None:
        try:
            every = DRIP_INTERVAL_S
            dripped.append(
                drip(
                    str(landing),
                    seed=seed,
                    interval_seconds=every,
                    max_seconds=seconds,
                    progress=dripped_a_day,
                    **world,
                )
            )
            time.sleep(SETTLE_S)
        finally:
            stop.set()

    dripper = threading.Thread(target=drip_then_stop, name="demo-drip", daemon=True)
    with tallying(spark, lambda n: show(batches=n)):
        dripper.start()
        run_stream(spark, config, stop=stop, out=phase.stream())
        dripper.join()
    return dripped[0] if dripped else GenerateSummary(0, 0, 0, 0, 0.0)


def compute_results(spark: SparkSession, config: PipelineConfig, after_backfill: int) -> DemoResults:
    """Every figure the summary shows, queried now; the small results are kept as local DataFrames."""
    register_tables(spark, config)

    def local(df: DataFrame) -> DataFrame:
        return spark.createDataFrame(df.collect(), df.schema)

    return DemoResults(
        counts={spec.name: spark.table(spec.name).count() for spec in ALL_TABLES},
        freshness_df=local(freshness(spark, config)),
        samples=[(title, local(spark.sql(sql))) for title, sql in SAMPLE_QUERIES],
        after_backfill=after_backfill,
        plays_now=spark.table("songplays").count(),
        plays_then=read_table(spark, config, "songplays", version=after_backfill).count(),
    )


def print_results(results: DemoResults, phases: Phases) -> None:
    """The tables' counts (star tables beside the pipeline's own), freshness, the sample queries and
    the time-travel comparison."""
    say = phases.say
    star = [t.name for t in STAR_TABLES]
    others = [t.name for t in ALL_TABLES if t.name not in star]
    width = max(len(name) for name in results.counts)
    cell = lambda name: f"{name:<{width}} {results.counts[name]:>9,}" if name else ""  # noqa: E731
    say(f"\nrows per table:  {'star schema':<{width + 10}}   pipeline")
    for left, right in zip_longest(star, others, fillvalue=""):
        say(f"  {cell(left):<{width + 10}}   {cell(right)}".rstrip())
    say("\nfreshness, landing to table, per query (pipeline_metrics):")
    print_rows(results.freshness_df, "table")
    say()
    for title, df in results.samples:  # no blank line between them: each ends in its row count
        say(f"{title}:")
        print_rows(df, "table")
    say(
        f"\ntime travel: songplays holds {results.plays_now:,} plays now, {results.plays_then:,} as of "
        f"version {results.after_backfill} (right after the backfill)"
    )


def print_next_steps(
    phases: Phases, config: PipelineConfig, after_backfill: int, data_docs: Path, sparkify: str
) -> None:
    """Where to look next: the tables, the Data Docs, ``status``, the README's time-travel walkthrough.
    ``sparkify`` is the command to suggest (with the ``--config`` the demo ran with, if any)."""
    say = phases.say
    tables = shown(config.table_path("<table>"))
    say("\nwhere to look next:")
    say(f"  tables       {tables} (Delta): {sparkify} query 'SELECT * FROM songplays LIMIT 5'")
    say(f"  quality      {sparkify} quality report, then open {shown(data_docs / 'index.html')}")
    say(f"  the pipeline {sparkify} status: recent batches, freshness, files waiting, quarantine")
    say(
        f'  time travel  README, "Time travel walkthrough"; e.g. {sparkify} query '
        f"'SELECT COUNT(*) FROM songplays' --as-of-version {after_backfill}"
    )
