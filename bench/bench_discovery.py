"""Benchmark the file stream's discovery cost per trigger as landed files grow (1k → 100k).

The SPEC's target: discovery cost per trigger flat as landed files grow from 1k to 100k. Spark's file
source lists the whole prefix on every trigger and drops the files its checkpoint has seen, so its
cost follows what is under the prefix, not what is new. This bench measures it with the stream's own
source (``streaming.sources.raw_file_stream``: whole ``*.json`` files, any depth, ``maxFilesPerTrigger``
from the local profile) and a no-op ``foreachBatch``, so only finding the files is timed:

- N tiny song-like files are landed with plain Python in the song_data layout (``A/B/C/TR….json``),
  then one run with ``availableNow`` takes them all, so the checkpoint has seen the N files, and a
  second takes one more (committing the first batch: that is when ``cleanSource`` archives it);
- per round and setup (alternated): land 1 file and restart with ``availableNow`` (a scheduled job's
  run: wall time of the whole run), then a ``processingTime`` query: land 1 file, time the trigger
  that takes it (Spark's ``durationMs``, of which ``latestOffset`` is the listing), twice;
- the same with ``cleanSource=archive`` + ``sourceArchiveDir``: Spark moves each processed file out of
  the prefix after its batch commits, so the listing only meets files not taken yet.

Prints the figures and writes bench/reports/discovery.md (and discovery.json, for bench/suite.py).

    .venv/bin/python bench/bench_discovery.py [--sizes 1000 100000 --rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import string
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    Figure,
    load_average,
    local_spark,
    machine_section,
    md_table,
    median,
    ratio_figure,
    report_header,
    report_path,
    say,
    work_path,
    write_report,
    write_results,
    xy_series,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from checkpoints_config import load_config
from sparkify.landing import LocalLander
from sparkify.sources import archived_root
from streaming.pruning import EmptiedDirPruner
from streaming.sources import raw_file_stream

# keep: files stay where they landed; archive: cleanSource=archive moves them out after their batch;
# pruned: archive, and the stream job's own pruner (streaming.sink.EmptiedDirPruner) in the sink: each
# batch removes the directories the previous batch's archived files left empty.
VARIANTS = ("keep", "archive", "pruned")
TRIGGER = "1 second"
STEADY_SAMPLES = 2  # triggers timed per processingTime query start
WAIT_S = 120.0  # for a trigger that should take a second; a stuck query fails the bench instead
DURATION_KEYS = ("latestOffset", "getBatch", "queryPlanning", "walCommit", "addBatch", "triggerExecution")
COMPACT_INTERVAL = 10  # spark.sql.streaming.fileSource.log.compactInterval's default
TARGET_GROWTH = 1.2  # SPEC: discovery cost per trigger flat (≤ 1.2×) from 1k to 100k files
# --quick: Spark reports an idle trigger every second instead of every 10 s, so a setup's idle sample
# comes without waiting (what an idle trigger lists is the same either way).
QUICK_CONF = {"spark.sql.streaming.noDataProgressEventInterval": "1000"}


@dataclass(frozen=True)
class Setup:
    variant: str
    files: int
    work: Path

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.files}"

    @property
    def landing(self) -> Path:
        return self.work / self.name / "song_data"

    @property
    def checkpoint(self) -> Path:
        return self.work / self.name / "checkpoint"

    @property
    def archive(self) -> Path:
        return self.work / self.name / "archive"

    def archive_dir(self) -> str | None:
        return str(self.archive) if self.variant in ("archive", "pruned") else None


@dataclass
class Prepared:
    landed_s: float
    directories: int
    seed_wall_s: float  # the run that takes the N files (one batch)
    flush_wall_s: float  # the next run: one more file, and the N files archived (archive setups)
    left_in_prefix: int
    archived: int


@dataclass
class Trigger:
    setup: str
    round: int
    kind: str  # "restart" (an availableNow run), "steady" (a trigger taking 1 file), "idle" (none)
    batch_id: int
    wall_s: float  # restart: start() to termination; steady: landing to the trigger's report; idle: 0
    durations: dict[str, int] = field(default_factory=dict)
    files_in_prefix: int = 0
    load: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 100_000], metavar=("SMALL", "BIG"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, help="default: bench/out/discovery")
    parser.add_argument("--report", type=Path, help="default: bench/reports/discovery.md")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20 and 100 files, 1 round, 1 steady trigger, idle reports every 1 s",
    )
    args = parser.parse_args(argv)
    args.steady = STEADY_SAMPLES
    if args.quick:
        args.sizes, args.rounds, args.steady = [20, 100], 1, 1
    args.report = report_path(args.report, "discovery.md", args.quick)
    args.work = work_path(args.work, "discovery", args.quick)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    small, big = args.sizes
    if not 0 < small < big:
        parser.error(f"--sizes must be two increasing positive file counts, got {args.sizes}")
    max_files = load_config("local", env={}).stream.max_files_per_trigger

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    setups = [Setup(v, n, work) for v in VARIANTS for n in args.sizes]
    loads = [f"start: {load_average()}"]
    spark = local_spark("bench-discovery", QUICK_CONF if args.quick else None)
    rng = random.Random(args.seed)
    names = unique_names(rng)
    prepared = {s.name: prepare(spark, s, names, max_files) for s in setups}
    loads.append(f"after landing and the first runs: {load_average()}")

    triggers: list[Trigger] = []
    for round_no in range(1, args.rounds + 1):
        order = setups if round_no % 2 else setups[::-1]
        for setup in order:
            triggers.append(restart_run(spark, setup, max_files, next(names), round_no))
            triggers += steady_triggers(spark, setup, max_files, names, round_no, args.steady)
        loads.append(f"after round {round_no}: {load_average()}")
    spark.stop()

    write_report(args.report, render_report(args, setups, prepared, triggers, max_files, loads))
    write_results(
        args.report,
        __file__,
        figures(args.sizes, triggers),
        series={"discovery_ms_vs_files": series(setups, triggers)},
        loads=loads,
        quick=args.quick,
    )
    return 0


def figures(sizes: list[int], triggers: list[Trigger]) -> list[Figure]:
    """Per setup, the listing's growth from the small to the big prefix (of medians; of minimums), and
    its time at the big one. Judged against the target: ``pruned``, how the stream runs with
    ``clean_source = "archive"``."""
    small, big = sizes

    def listing(variant: str, files: int) -> list[float]:
        return [
            t.durations.get("latestOffset", 0)
            for t in triggers
            if t.setup == f"{variant}-{files}" and t.kind == "steady"
        ]

    out = []
    for variant in VARIANTS:
        low, high = listing(variant, small), listing(variant, big)
        out += [
            ratio_figure(
                f"listing per trigger growth, {small:,} → {big:,} files, {variant}",
                high,
                low,
                TARGET_GROWTH if variant == "pruned" else None,
            ),
            Figure(
                f"listing per trigger at {big:,} files, {variant}",
                median(high),
                "ms",
                min=min(high, default=None),
            ),
        ]
    return out


def series(setups: list[Setup], triggers: list[Trigger]) -> dict[str, object]:
    """The listing (latestOffset) of every trigger that took a new file, against the files landed."""
    return xy_series(
        "files landed",
        "listing per trigger ms",
        {
            variant: [
                (s.files, t.durations.get("latestOffset", 0))
                for s in setups
                if s.variant == variant
                for t in triggers
                if t.setup == s.name and t.kind == "steady"
            ]
            for variant in VARIANTS
        },
    )


def unique_names(rng: random.Random) -> Iterator[str]:
    """Song-like relative paths ``A/B/C/TRABC….json``, never the same twice."""
    seen: set[str] = set()
    while True:
        letters = "".join(rng.choices(string.ascii_uppercase, k=3))
        tail = "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))
        name = f"{letters[0]}/{letters[1]}/{letters[2]}/TR{letters}{tail}.json"
        if name not in seen:
            seen.add(name)
            yield name


def land(root: Path, relpath: str) -> None:
    body = f'{{"song_id":"SO{relpath[-18:-5]}","num_songs":1,"title":"t","duration":1.0,"year":0}}\n'
    LocalLander(root).land(relpath, body.encode())


def count_files(root: Path) -> tuple[int, int]:
    """(files, directories) under ``root``."""
    files = dirs = 0
    for _, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        files += len(filenames)
    return files, dirs


def noop(batch_df: DataFrame, batch_id: int) -> None:
    """Take the batch and do nothing with it: only the source's own work is left to time."""


def pruning_sink(setup: Setup) -> Any:
    """The ``pruned`` setups' sink: the stream job's own pruner (streaming.sink.EmptiedDirPruner), which
    removes the directories the previous batch's archived files left empty (and sweeps the prefix once
    per start), and nothing else."""
    pruner = EmptiedDirPruner(str(setup.landing), archived_root(str(setup.archive), str(setup.landing)))

    def sink(batch_df: DataFrame, batch_id: int) -> None:
        files = [r.source_file for r in batch_df.select("source_file").collect()]
        pruner(batch_df.sparkSession, files, batch_id)

    return sink


def start(spark: SparkSession, setup: Setup, max_files: int, trigger: dict[str, Any]) -> StreamingQuery:
    stream_df = raw_file_stream(spark, str(setup.landing), max_files, setup.archive_dir())
    return (
        stream_df.writeStream.queryName(f"discovery_{setup.variant}_{setup.files}")
        .option("checkpointLocation", str(setup.checkpoint))
        .foreachBatch(pruning_sink(setup) if setup.variant == "pruned" else noop)
        .trigger(**trigger)
        .start()
    )


def prepare(spark: SparkSession, setup: Setup, names: Iterator[str], max_files: int) -> Prepared:
    """Land the setup's N files, let one availableNow run take them all (batch 0), then land one more
    and run again (batch 1): a source commits (and archives) a batch's files only when it plans the
    next batch, so this second run is where the archive setups move their N files out."""
    began = time.perf_counter()
    for _ in range(setup.files):
        land(setup.landing, next(names))
    landed_s = time.perf_counter() - began
    _, dirs = count_files(setup.landing)
    say(f"{setup.name}: landed {setup.files:,} files in {dirs:,} directories in {landed_s:.1f}s")
    began = time.perf_counter()
    run_available_now(spark, setup, setup.files)
    seed_wall = time.perf_counter() - began
    land(setup.landing, next(names))
    began = time.perf_counter()
    run_available_now(spark, setup, max_files)
    # The source's cleaner may still be moving files when the run ends: wait until the prefix stops
    # shrinking, to see how long moving them took and whether all moved.
    left, _ = count_files(setup.landing)
    while setup.variant != "keep" and left > 1:
        time.sleep(1.0)
        now_left, _ = count_files(setup.landing)
        if now_left == left:
            break
        left = now_left
    flush_wall = time.perf_counter() - began
    archived = count_files(setup.archive)[0] if setup.archive.exists() else 0
    say(
        f"{setup.name}: first run {seed_wall:.1f}s, second {flush_wall:.1f}s; {left:,} files left in the "
        f"prefix, {archived:,} archived"
    )
    return Prepared(landed_s, dirs, seed_wall, flush_wall, left, archived)


def run_available_now(spark: SparkSession, setup: Setup, max_files: int) -> StreamingQuery:
    query = start(spark, setup, max_files, {"availableNow": True})
    query.awaitTermination()
    raise_if_failed(query, setup)
    return query


def restart_run(spark: SparkSession, setup: Setup, max_files: int, relpath: str, round_no: int) -> Trigger:
    """Land one file, then one availableNow run from the checkpoint: what a scheduled job pays."""
    land(setup.landing, relpath)
    in_prefix, _ = count_files(setup.landing)
    load = os.getloadavg()[0]
    began = time.perf_counter()
    query = run_available_now(spark, setup, max_files)
    wall = time.perf_counter() - began
    progress = query.lastProgress or {"batchId": -1, "durationMs": {}}
    trigger = trigger_of(setup, round_no, "restart", progress, wall, in_prefix, load)
    say(f"round {round_no} {setup.name} restart: {wall:.2f}s, durations {trigger.durations}")
    return trigger


def steady_triggers(
    spark: SparkSession, setup: Setup, max_files: int, names: Iterator[str], round_no: int, samples: int
) -> list[Trigger]:
    """A processingTime query, as the stream job runs: time ``samples`` triggers that take one new file
    each, then keep it idle until Spark reports an idle trigger (it does every 10 s): a listing with no
    news."""
    query = start(spark, setup, max_files, {"processingTime": TRIGGER})
    results = []
    try:
        wait_for(lambda: "Waiting" in query.status["message"] and not query.status["isTriggerActive"], query)
        for _ in range(samples):
            before = len(query.recentProgress)
            in_prefix = count_files(setup.landing)[0] + 1
            load = os.getloadavg()[0]
            landed = time.perf_counter()
            land(setup.landing, next(names))
            progress = wait_for_progress(query, before, executed=True)
            wall = time.perf_counter() - landed
            results.append(trigger_of(setup, round_no, "steady", progress, wall, in_prefix, load))
            say(f"round {round_no} {setup.name} steady: {wall:.2f}s, durations {results[-1].durations}")
        in_prefix = count_files(setup.landing)[0]
        load = os.getloadavg()[0]
        progress = wait_for_progress(query, len(query.recentProgress), executed=False)
        results.append(trigger_of(setup, round_no, "idle", progress, 0.0, in_prefix, load))
        say(f"round {round_no} {setup.name} idle: durations {results[-1].durations}")
    finally:
        query.stop()
    raise_if_failed(query, setup)
    return results


def wait_for_progress(query: StreamingQuery, after: int, executed: bool) -> dict[str, Any]:
    """The first progress report past index ``after`` of recentProgress that ran (or did not run) a batch.

    Idle triggers are reported too (every 10 s), so "a new report" alone is not "the trigger that took
    the file". The no-op sink reads nothing, so numInputRows is 0 either way; a trigger that ran a batch
    is the one whose durations include ``addBatch``.
    """
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [p for p in query.recentProgress[after:] if ("addBatch" in p["durationMs"]) == executed]
        return bool(found)

    wait_for(arrived, query)
    return found[0]


def trigger_of(
    setup: Setup, round_no: int, kind: str, progress: dict[str, Any], wall: float, in_prefix: int, load: float
) -> Trigger:
    return Trigger(
        setup.name,
        round_no,
        kind,
        progress["batchId"],
        wall,
        dict(progress["durationMs"]),
        in_prefix,
        load,
    )


def wait_for(condition: Any, query: StreamingQuery) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if not query.isActive or time.monotonic() > deadline:
            raise RuntimeError(f"query {query.name}: gave up waiting ({query.status}, {query.exception()})")
        time.sleep(0.05)


def raise_if_failed(query: StreamingQuery, setup: Setup) -> None:
    error = query.exception()
    if error is not None:
        raise RuntimeError(f"{setup.name}: the stream failed: {error}")


def stat(triggers: list[Trigger], setup: str, kind: str, key: str) -> float:
    values = [
        (t.wall_s * 1000 if key == "wall" else t.durations.get(key, 0))
        for t in triggers
        if t.setup == setup and t.kind == kind
    ]
    return median(values)


def render_report(
    args: argparse.Namespace,
    setups: list[Setup],
    prepared: dict[str, Prepared],
    triggers: list[Trigger],
    max_files: int,
    loads: list[str],
) -> str:
    small, big = args.sizes

    def ms(setup: Setup, kind: str, key: str) -> str:
        return f"{stat(triggers, setup.name, kind, key):,.0f}"

    def count(setup: Setup, kind: str) -> int:
        return sum(1 for t in triggers if t.setup == setup.name and t.kind == kind)

    lines = report_header("Discovery cost per trigger vs files landed", __file__)
    lines += [
        f"The stream's file source over {small:,} and {big:,} landed files: as the stream runs it (`keep`), "
        "with `cleanSource=archive` (`archive`), and as the stream job now runs it: archive plus its sink "
        f"removing the directories archiving emptied (`pruned`); {args.rounds} round(s), alternating the "
        f"{len(setups)} setups (order reversed every other round). Figures are medians.",
        "",
        *machine_section(loads),
        "## Data and setup",
        "",
        "- Files: tiny one-line song JSON files (~90 bytes) landed with plain Python through "
        "`sparkify.landing.LocalLander` (hidden temp file, then rename) at `song_data/A/B/C/TRABC….json`, "
        "the letters drawn at random (seeded): up to 26³ = 17,576 leaf directories, as in the Million "
        "Song Dataset's layout.",
        "- Source: `streaming.sources.raw_file_stream` itself (text, `wholetext`, `recursiveFileLookup`, "
        f"`pathGlobFilter=*.json`, `maxFilesPerTrigger={max_files}` from the local profile); the archive "
        "setups pass it an archive dir (a sibling of the prefix): `cleanSource=archive` and "
        "`sourceArchiveDir`. The sink does nothing (`pruned`: only the pruning): files are found, not read.",
        "- Preparation: one `availableNow` run takes all N files (batch 0); then 1 more file and a second "
        "run (batch 1). A file source commits a batch, and with `cleanSource` archives its files, only when "
        "it plans the next batch, so the second run is where the archive setups move their N files out.",
        f"- `steady`: a `processingTime={TRIGGER!r}` query, as `sparkify stream` runs: land 1 file, time the "
        f"trigger that takes it, {args.steady} per query start; then wait for Spark's next idle report "
        "(one every 10 s; every second in a `--quick` run), a trigger that listed the prefix and found "
        "nothing (`idle`). `latestOffset` is the listing of the prefix, which every trigger does, new "
        "files or not; wall is landing → that trigger's report (includes up to one trigger interval of "
        "waiting).",
        "- `restart`: land 1 file, start an `availableNow` query from the checkpoint, wait for it to end "
        "(what a scheduled job pays per run: query start, rebuilding the seen-files map from the "
        "checkpoint's source log, one listing, one batch).",
        "",
        *md_table(
            [
                "setup",
                "files landed",
                "directories (all levels)",
                "landing s",
                "1st run s (N files)",
                "2nd run s (+1 file; archives N)",
                "files left in prefix after",
                "files archived",
            ],
            [
                (
                    s.name,
                    f"{s.files:,}",
                    f"{p.directories:,}",
                    f"{p.landed_s:.1f}",
                    f"{p.seed_wall_s:.1f}",
                    f"{p.flush_wall_s:.1f}",
                    f"{p.left_in_prefix:,}",
                    f"{p.archived:,}",
                )
                for s in setups
                for p in [prepared[s.name]]
            ],
        ),
        "",
        "## Result: per trigger of a running stream (processingTime)",
        "",
        *md_table(
            [
                "setup",
                "listing ms (latestOffset), trigger with 1 new file",
                "triggerExecution ms, same",
                "walCommit ms, same",
                "wall landing → report ms",
                "listing ms, idle trigger",
                "samples",
            ],
            [
                (
                    s.name,
                    ms(s, "steady", "latestOffset"),
                    ms(s, "steady", "triggerExecution"),
                    ms(s, "steady", "walCommit"),
                    ms(s, "steady", "wall"),
                    ms(s, "idle", "latestOffset"),
                    f"{count(s, 'steady')} + {count(s, 'idle')} idle",
                )
                for s in setups
            ],
        ),
        "",
        *growth_lines(triggers, small, big),
        *conclusion_lines(triggers, prepared, small, big),
        "## Result: per availableNow run (restart)",
        "",
        *md_table(
            ["setup", "wall s (start → end)", "latestOffset ms", "triggerExecution ms", "runs"],
            [
                (
                    s.name,
                    f"{stat(triggers, s.name, 'restart', 'wall') / 1000:,.2f}",
                    ms(s, "restart", "latestOffset"),
                    ms(s, "restart", "triggerExecution"),
                    count(s, "restart"),
                )
                for s in setups
            ],
        ),
        "",
        "The plot of discovery time against files landed is in bench/REPORT.md (`bench/suite.py` draws it "
        "from this run's discovery.json).",
        "",
        "## Every trigger",
        "",
        f"Batches whose id + 1 is a multiple of {COMPACT_INTERVAL} also compact the checkpoint's source log "
        "(every file ever seen is rewritten into one file): their walCommit is marked with *.",
        "",
        *md_table(
            [
                "round",
                "setup",
                "kind",
                "batch",
                "files in prefix",
                "wall ms",
                *(f"{k} ms" for k in DURATION_KEYS),
                "load avg before",
            ],
            [
                (
                    t.round,
                    t.setup,
                    t.kind,
                    t.batch_id,
                    f"{t.files_in_prefix:,}",
                    f"{t.wall_s * 1000:,.0f}",
                    *(
                        f"{t.durations.get(k, 0):,}"
                        + ("*" if k == "walCommit" and is_compaction(t.batch_id) else "")
                        for k in DURATION_KEYS
                    ),
                    f"{t.load:.2f}",
                )
                for t in triggers
            ],
        ),
        "",
        f"Work directory (landing, checkpoints, archives): `{args.work}`.",
        "",
    ]
    return "\n".join(lines)


def is_compaction(batch_id: int) -> bool:
    return batch_id >= 0 and (batch_id + 1) % COMPACT_INTERVAL == 0


def conclusion_lines(
    triggers: list[Trigger], prepared: dict[str, Prepared], small: int, big: int
) -> list[str]:
    """Which setup keeps the listing flat, and what archiving cost, from this run's figures."""

    def listing(variant: str, files: int) -> float:
        return stat(triggers, f"{variant}-{files}", "idle", "latestOffset")

    moved_s = prepared[f"archive-{big}"].flush_wall_s - prepared[f"keep-{big}"].flush_wall_s
    dirs = prepared[f"archive-{big}"].directories
    return [
        "## What keeps it flat, and what that costs",
        "",
        f"- As the stream runs today (`keep`), a trigger lists every file ever landed: an idle trigger took "
        f"{listing('keep', small):,.0f} ms at {small:,} files and {listing('keep', big):,.0f} ms at {big:,}, "
        "and every trigger pays it, new files or not: **not flat**. It is also a floor under freshness "
        "(no file is seen sooner than one listing) and CPU the two queries take from their batches.",
        f"- `cleanSource=archive` moves each batch's files out once the next batch is planned, so the "
        f"prefix holds only files not taken yet; yet on a local filesystem the {dirs:,} directories the "
        f"files were in stay behind, empty, and are still walked: {listing('archive', small):,.0f} → "
        f"{listing('archive', big):,.0f} ms. With those directories removed by the sink (`pruned`, "
        "`streaming.sink.EmptiedDirPruner`: os calls on a local disk, Hadoop's filesystem API on S3A) "
        "the listing is "
        f"{listing('pruned', small):,.0f} → {listing('pruned', big):,.0f} ms: **archive + no empty "
        "directories keeps discovery flat**; that is how the stream runs with `stream.clean_source = "
        '"archive"` (the profiles default to `"off"`: the landing files are the user\'s).',
        f"- What archiving costs: every file is moved once. Moving the {big:,} files took about "
        f"{moved_s:,.0f} s here (the second run of `archive-{big}` minus the same run of `keep-{big}`, "
        f"≈ {moved_s / big * 1000:.1f} ms a file) on the source's cleaner thread "
        "(`spark.sql.streaming.fileSource.cleaner.numThreads`, default 1). On S3 a move is a COPY and a "
        "DELETE request (S3A renames by copying), so about 2 requests and one object copy per landed file, "
        "paid once, instead of a LIST of the whole prefix on every trigger. Other consequences: the "
        "landing prefix no longer holds the history (a backfill or a rebuild after a checkpoint reset "
        "reads the archive prefix too, as `sparkify backfill` does), only one query may consume a prefix "
        "(the first to finish a batch moves the files), and the archive dir must sit outside the source "
        "path and on the same filesystem/bucket.",
        "- Neither option stops the checkpoint's own record of seen files from growing (its `sources/` log "
        "holds every file ever taken and is reloaded on every start): the restart table below shows it.",
        "",
    ]


def growth_lines(triggers: list[Trigger], small: int, big: int) -> list[str]:
    """The big / small ratio of the listing, of the whole trigger and of a run, per variant."""

    def ratio(variant: str, kind: str, key: str) -> float:
        low = stat(triggers, f"{variant}-{small}", kind, key)
        return stat(triggers, f"{variant}-{big}", kind, key) / low if low else float("nan")

    return [
        *(
            f"- **{variant}**: {big // small}× the files landed → listing per trigger "
            f"{ratio(variant, 'steady', 'latestOffset'):.1f}× (idle triggers "
            f"{ratio(variant, 'idle', 'latestOffset'):.1f}×), whole trigger "
            f"{ratio(variant, 'steady', 'triggerExecution'):.1f}×, availableNow run "
            f"{ratio(variant, 'restart', 'wall'):.1f}×."
            for variant in VARIANTS
        ),
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
