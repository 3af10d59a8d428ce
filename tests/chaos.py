"""Fault injection for the stream: ``kill -9`` at random moments, restart, and prove exactly once.

    .venv/bin/python -m tests.chaos --kills 20 [--seed S] [--root DIR] [--keep]

A run, under one root dir:

1. generates a small synthetic dataset into ``root/landing`` and starts a drip that keeps landing
   files from the same world (as ``sparkify demo`` does) until the kills are over;
2. ``kills`` times: starts ``sparkify stream`` as a process (one file per micro-batch, 1 s trigger),
   waits for its first finished micro-batch since that start, sleeps a random 0-4 s, then
   ``kill -9``s its process group: kills land inside batches, between a batch's staging append and
   its checkpoint commit, during a start, between two batches;
3. stops the drip and drains with ``sparkify stream --available-now`` (must exit 0);
4. backfills the same landing files into ``root/reference`` in one go: the reference;
5. counts what differs: star tables not equal to the reference's, lines of the reference's staging
   and quarantine missing from the chaos lake (lost), lines staged or quarantined twice (doubled),
   ``pipeline_metrics`` rows for the same (query, batch id) (doubled).

Repeating a run: ``--seed`` fixes everything this runner chooses, the dataset, the drip and every
trial's seed (printed; it draws the trial's delay). The moment inside the pipeline a delay falls
on also depends on how fast the machine is at the time, so a repeated run kills at the same delays
after each start's first batch, not necessarily in the same step of the same batch.

The stream processes run with ``stream.clean_source = "off"``, so the reference reads every file
where it landed and the lines of both lakes compare directly: a line is (dataset, file, line number),
the file taken relative to its landing prefix whether a lake wrote ``source_file`` so or whole
(``file:/…``), so that a line staged under two names counts as doubled instead of passing unseen.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig, load_config
from sparkify.pipeline import ingest
from sparkify.synthetic import GenerateSummary, drip, generate_dataset
from sparkify.tables import STAR_TABLES
from tests.conftest import lake_config
from tests.stream_process import log_tail, start_stream, wait_for_batches

WORLD = {"songs": 150, "users": 30, "days": 3}
SMALL_WORLD = {"songs": 60, "users": 8, "days": 2}  # the short run in make test
DRIP_INTERVAL_S = 3.0
DRIP_SONGS_PER_TICK = 2  # a kill round of ~30 s lands ~10 event files and ~20 songs
MAX_DELAY_S = 6.0  # an idle machine's songs batch takes ~1.5 s, an events batch a few
DRAIN_TIMEOUT_S = 1200
# Dimension batches every few seconds (1 minute in the profiles), so kills land inside them too.
STREAM_ENV = {
    "SPARKIFY_STREAM_CLEAN_SOURCE": "off",
    "SPARKIFY_STREAM_DIMENSIONS_TRIGGER_INTERVAL": "3 seconds",
}
# The drain takes many files a batch, or a 20-kill run's backlog would take one trigger per file.
# What a replayed batch holds is in its checkpoint's offset log, so this cannot change a replay.
DRAIN_ENV = {**STREAM_ENV, "SPARKIFY_STREAM_MAX_FILES_PER_TRIGGER": "500"}
SOURCE_FILE = "source_file"
QUARANTINE = "quarantine"
LINE_TABLES = ("staging_events", "staging_songs", QUARANTINE)
# A line is its dataset, its file (relative to the landing prefix, see file_identity) and its number.
LINE_KEY = ("dataset", "file", "line_number")


@dataclass(frozen=True)
class Trial:
    """One start of the stream and the ``kill -9`` that ended it."""

    number: int
    seed: int  # draws delay_s
    delay_s: float  # after the start's first finished micro-batch was seen
    first_batch_s: float  # since the process started
    killed_after_s: float  # since the process started
    batches_this_start: int  # pipeline_metrics rows this start added
    batches_total: int
    finished: dict[str, int]  # query -> micro-batches it finished this start


@dataclass(frozen=True)
class ChaosResult:
    """What a run found; ``ok`` when nothing was lost, doubled or different."""

    seed: int
    trials: tuple[Trial, ...]
    reference_lines: int  # distinct lines (LINE_KEY) in the reference's staging and quarantine
    lines_lost: int
    lines_doubled: dict[str, int]  # per table: staging_events, staging_songs, quarantine
    metrics_doubled: int
    tables_different: dict[str, tuple[int, int]]  # table -> (rows only the reference has, only chaos has)
    doubled_examples: tuple[str, ...] = ()  # a few doubled lines and the batches that wrote them

    @property
    def kills(self) -> int:
        return len(self.trials)

    @property
    def total_doubled(self) -> int:
        return sum(self.lines_doubled.values())

    @property
    def ok(self) -> bool:
        return not (self.lines_lost or self.total_doubled or self.metrics_doubled or self.tables_different)


def trial_seeds(seed: int, kills: int) -> list[int]:
    """Each trial's seed, drawn from the run's: trial k's delay depends only on ``seed`` and k."""
    rng = random.Random(seed)
    return [rng.randrange(1 << 32) for _ in range(kills)]


def run_chaos(
    spark: SparkSession,
    root: Path,
    kills: int,
    seed: int,
    out: TextIO = sys.stdout,
    world: dict[str, int] = WORLD,
    settings: Mapping[str, str] | None = None,
) -> ChaosResult:
    """Kill the stream ``kills`` times at random moments over a dripping landing zone under ``root``,
    drain it, and compare the lake with a one-shot backfill of the same files.

    Parameters:
        spark: reads the lakes and runs the reference backfill (the stream runs in its own processes).
        root: an empty or missing directory: landing, ``tables`` (the chaos lake), ``reference``, logs.
        kills: how many times the stream is started and killed.
        seed: fixes the dataset, the drip and each kill's delay.
        out: where the trials and totals are printed.
        world: the generated dataset's scale (songs, users, days).
        settings: more ``SPARKIFY_*`` settings for every job of the run, both lakes' (e.g. GX off).

    Example:
        >>> run_chaos(spark, Path("/tmp/chaos"), kills=3, seed=7).ok  # doctest: +SKIP
        True
    """
    if not isinstance(kills, int) or isinstance(kills, bool) or kills < 0:
        raise ValueError(f"kills must be an int >= 0, got {kills!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"root must be an empty or missing directory, {root} holds files")
    root.mkdir(parents=True, exist_ok=True)
    say = lambda msg: print(f"[chaos] {msg}", file=out, flush=True)  # noqa: E731
    settings = dict(settings or {})
    chaos = lake_config(root, **settings)
    reference = lake_config(root, **settings, SPARKIFY_PATHS_OUTPUT_ROOT=str(root / "reference"))
    began = time.monotonic()

    landing = root / "landing"
    summary = generate_dataset(str(landing), seed=seed, **world)
    say(f"seed {seed}: {summary.song_files} song files, {summary.event_files} event files "
        f"({summary.events:,} events) in {landing}; the stream's log is {root / 'stream.log'}")  # fmt: skip
    with Drip(landing, seed, {**world, "songs": summary.song_files, "days": summary.event_files}) as dripping:
        trials = []
        for number, trial_seed in enumerate(trial_seeds(seed, kills), start=1):
            trial = kill_once(spark, chaos, root, number, trial_seed, settings)
            trials.append(trial)
            say(
                f"trial {number}/{kills} (seed {trial_seed}): killed {trial.killed_after_s:.1f}s after "
                f"start, {trial.delay_s:.2f}s after its first batch; finished {finished_text(trial)}"
            )
    landed = dripping.landed()
    say(f"{kills} kills in {time.monotonic() - began:.0f}s")
    say(f"drip stopped: {landed.event_files} event files, {landed.song_files} song files landed meanwhile")

    timer = time.monotonic()
    drain(root, settings)
    say(f"drained with --available-now in {time.monotonic() - timer:.0f}s")
    timer = time.monotonic()
    with (root / "reference.log").open("w") as progress:
        run_backfill(spark, reference, out=progress)
    say(f"reference backfilled into {reference.paths.output_root} in {time.monotonic() - timer:.0f}s")

    timer = time.monotonic()
    reference_keys = line_keys(spark, reference).distinct().localCheckpoint()  # read twice below
    doubled_lines = lines_doubled(spark, chaos)
    result = ChaosResult(
        seed=seed,
        trials=tuple(trials),
        reference_lines=reference_keys.count(),
        lines_lost=reference_keys.subtract(line_keys(spark, chaos)).count(),
        lines_doubled=doubled_lines,
        metrics_doubled=doubled(read(spark, chaos, "pipeline_metrics"), ("query", "batch_id")),
        tables_different=tables_different(spark, chaos, reference),
        doubled_examples=doubled_examples(spark, chaos) if any(doubled_lines.values()) else (),
    )
    say(f"checked in {time.monotonic() - timer:.0f}s")
    report(result, out)
    say(f"done in {time.monotonic() - began:.0f}s")
    return result


class Drip:
    """``sparkify.synthetic.drip`` in a background thread, landing files until the ``with`` ends."""

    def __init__(self, landing: Path, seed: int, world: dict[str, int]) -> None:
        self._stop = threading.Event()
        self._summary: GenerateSummary | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(landing, seed, world), name="chaos-drip", daemon=True
        )

    def _run(self, landing: Path, seed: int, world: dict[str, int]) -> None:
        try:
            with (landing.parent / "drip.log").open("a") as log:
                self._summary = drip(
                    str(landing), seed=seed, interval_seconds=DRIP_INTERVAL_S,
                    songs_per_tick=DRIP_SONGS_PER_TICK, stop=self._stop,
                    progress=lambda m: print(m, file=log, flush=True), **world,
                )  # fmt: skip
        except BaseException as error:  # re-raised by landed(): a broken drip must not pass silently
            self._error = error

    def __enter__(self) -> Drip:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def landed(self) -> GenerateSummary:
        """What the drip landed (once it has stopped)."""
        if self._error is not None:
            raise RuntimeError(f"the drip failed: {self._error!r}") from self._error
        assert self._summary is not None, "landed() before the drip stopped"
        return self._summary


def kill_once(
    spark: SparkSession,
    config: PipelineConfig,
    root: Path,
    number: int,
    seed: int,
    settings: Mapping[str, str],
) -> Trial:
    """Start the stream, wait for its first finished micro-batch, sleep a delay drawn from ``seed``,
    then ``kill -9`` its process group."""
    delay = random.Random(seed).uniform(0.0, MAX_DELAY_S)
    before = batches_by_query(spark, config)
    with (root / "stream.log").open("a") as log:
        print(
            f"\n===== chaos trial {number} (seed {seed}, kill {delay:.2f}s after the first batch)", file=log
        )
    started = time.monotonic()
    process = start_stream(root, {**STREAM_ENV, **settings})
    try:
        wait_for_batches(spark, config, process, at_least=before.total() + 1, root=root)
        first_batch = time.monotonic() - started
        time.sleep(delay)
        if process.poll() is not None:
            raise AssertionError(f"stream exited before its kill (trial {number}):\n{log_tail(root)}")
        killed_after = time.monotonic() - started
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    after = batches_by_query(spark, config)  # read after the kill: what the killed process had finished
    finished = dict(sorted((after - before).items()))
    return Trial(
        number, seed, delay, first_batch, killed_after, sum(finished.values()), after.total(), finished
    )


def drain(root: Path, settings: Mapping[str, str]) -> None:
    """``sparkify stream --available-now`` as a process: what is left, then exit 0."""
    with (root / "stream.log").open("a") as log:
        print("\n===== chaos drain (--available-now)", file=log)
    process = start_stream(root, {**DRAIN_ENV, **settings}, args=["--available-now"])
    try:
        code = process.wait(timeout=DRAIN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        raise AssertionError(f"the drain took over {DRAIN_TIMEOUT_S}s:\n{log_tail(root)}") from None
    if code != 0:
        raise AssertionError(f"the drain exited {code}:\n{log_tail(root)}")


def batches_by_query(spark: SparkSession, config: PipelineConfig) -> Counter[str]:
    """``pipeline_metrics`` rows per query (none before the stream has created the table)."""
    try:
        rows = read(spark, config, "pipeline_metrics").groupBy("query").count().collect()
    except AnalysisException:
        return Counter()
    return Counter({r["query"]: r["count"] for r in rows})


def read(spark: SparkSession, config: PipelineConfig, table: str) -> DataFrame:
    return spark.read.format("delta").load(config.table_path(table))


def file_identity(source_file: Column, landing_root: str) -> Column:
    """A staged file's path relative to its landing prefix, whether the lake wrote it so or whole
    (``file:/…/song_data/A/B/x.json``): a line staged under both names is then one line, doubled."""
    root = landing_root.removeprefix("file:").rstrip("/")
    return F.regexp_replace(source_file, r"^(file:(//)?)?\Q" + root + r"\E/", "")


def lines(spark: SparkSession, config: PipelineConfig, table: str) -> DataFrame:
    """(dataset, file, line_number, batch_id) of every row of a staging table or the quarantine."""
    df = read(spark, config, table)
    if table == QUARANTINE:
        by_dataset = {d.name: ingest.landing_root(config, d) for d in ingest.DATASETS}
        file = F.coalesce(
            *(
                F.when(F.col("dataset") == n, file_identity(F.col(SOURCE_FILE), r))
                for n, r in by_dataset.items()
            ),
            F.col(SOURCE_FILE),
        )
        return df.select("dataset", file.alias("file"), "line_number", "batch_id")
    (dataset,) = (d for d in ingest.DATASETS if d.staging.name == table)
    file = file_identity(F.col(SOURCE_FILE), ingest.landing_root(config, dataset))
    return df.select(F.lit(dataset.name).alias("dataset"), file.alias("file"), "line_number", "batch_id")


def line_keys(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    """(dataset, file, line_number) of every line a lake staged or quarantined."""
    keys = [lines(spark, config, t).select(*LINE_KEY) for t in LINE_TABLES]
    return keys[0].union(keys[1]).union(keys[2])


def doubled(df: DataFrame, key: tuple[str, ...]) -> int:
    """Rows beyond the first for each ``key`` (one job: rows minus distinct keys)."""
    return df.groupBy(*key).count().agg(F.sum(F.col("count") - 1)).first()[0] or 0


def lines_doubled(spark: SparkSession, config: PipelineConfig) -> dict[str, int]:
    return {t: doubled(lines(spark, config, t), LINE_KEY) for t in LINE_TABLES}


def doubled_examples(spark: SparkSession, config: PipelineConfig, limit: int = 5) -> tuple[str, ...]:
    """Up to ``limit`` lines staged or quarantined more than once, each with the batch ids that wrote it."""
    examples: list[str] = []
    for table in LINE_TABLES:
        rows = (
            lines(spark, config, table)
            .groupBy(*LINE_KEY)
            .agg(F.count("*").alias("n"), F.sort_array(F.collect_list("batch_id")).alias("batches"))
            .filter(F.col("n") > 1)
            .orderBy(*LINE_KEY)
            .limit(limit - len(examples))
            .collect()
        )
        examples += [f"{table}: {r.file} line {r.line_number} x{r.n} by {', '.join(r.batches)}" for r in rows]
        if len(examples) >= limit:
            break
    return tuple(examples)


def tables_different(
    spark: SparkSession, chaos: PipelineConfig, reference: PipelineConfig
) -> dict[str, tuple[int, int]]:
    """Star tables whose rows (as multisets) differ: name -> (rows only in the reference, only in chaos)."""
    different = {}
    for spec in STAR_TABLES:
        mine, theirs = read(spark, chaos, spec.name), read(spark, reference, spec.name)
        missing, extra = theirs.exceptAll(mine).count(), mine.exceptAll(theirs).count()
        if missing or extra:
            different[spec.name] = (missing, extra)
    return different


def report(result: ChaosResult, out: TextIO) -> None:
    """The trials as a table, then the totals."""
    print(f"\n{'trial':>5}  {'seed':>10}  {'delay s':>7}  {'1st batch s':>11}  {'killed at s':>11}  "
          f"{'batches':>7}  {'total':>5}  finished this start", file=out)  # fmt: skip
    for t in result.trials:
        print(f"{t.number:>5}  {t.seed:>10}  {t.delay_s:>7.2f}  {t.first_batch_s:>11.1f}  "
              f"{t.killed_after_s:>11.1f}  {t.batches_this_start:>7}  {t.batches_total:>5}  "
              f"{finished_text(t)}", file=out)  # fmt: skip
    doubled_by_table = ", ".join(f"{n} {c}" for n, c in result.lines_doubled.items())
    different = ", ".join(f"{n} ({m} missing, {e} extra)" for n, (m, e) in result.tables_different.items())
    print(f"\nseed {result.seed}: {result.kills} kills", file=out)
    print(f"lines lost:           {result.lines_lost} of {result.reference_lines:,}", file=out)
    print(f"lines doubled:        {result.total_doubled} ({doubled_by_table})", file=out)
    print(f"metrics rows doubled: {result.metrics_doubled}", file=out)
    print(
        f"tables different:     {len(result.tables_different)}{': ' + different if different else ''}",
        file=out,
    )
    for example in result.doubled_examples:
        print(f"  doubled: {example}", file=out)
    print("exactly once: " + ("held" if result.ok else "BROKEN"), file=out, flush=True)


def finished_text(trial: Trial) -> str:
    return ", ".join(f"{query} {n}" for query, n in trial.finished.items()) or "none"


def build_session() -> SparkSession:
    """The runner's own session, tuned like the test suite's (tests/conftest.py)."""
    from sparkify.session import build_spark

    config = load_config(
        "local", env={"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2", "SPARKIFY_SPARK_UI_ENABLED": "false"}
    )
    return build_spark(
        config,
        app_name="sparkify-chaos",
        extra_conf={
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            "spark.driver.memory": "3g",
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos",
        description="kill -9 the stream at random moments, then check exactly once",
    )
    parser.add_argument(
        "--kills", type=int, default=20, help="stream starts, each ended by kill -9 (default 20)"
    )
    parser.add_argument("--seed", type=int, help="fixes the data and every delay (default: random, printed)")
    parser.add_argument(
        "--root", type=Path, help="an empty directory for the lakes and logs (default: a temp dir)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (kept anyway if a check fails)"
    )
    args = parser.parse_args(argv)
    if args.kills < 0:
        parser.error(f"--kills must be >= 0, got {args.kills}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"[chaos] seed {seed} (repeat with --seed {seed})", flush=True)
    temp = args.root is None
    root = Path(tempfile.mkdtemp(prefix="sparkify-chaos-")) if temp else args.root
    spark = build_session()
    result = None
    try:
        result = run_chaos(spark, root, args.kills, seed)
    finally:
        spark.stop()
        if temp and not args.keep and result is not None and result.ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"[chaos] lakes and logs kept in {root}", flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
