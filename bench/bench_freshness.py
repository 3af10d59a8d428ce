"""Benchmark freshness: from an event file landing to its plays being in songplays, under a steady drip.

The SPEC's target: p95 ≤ 10 s on 2 cores. This bench generates a small dataset, backfills it with
``sparkify backfill``, starts ``sparkify stream`` as a subprocess (the jobs exactly as a user runs them),
waits for the stream to take over from the backfill, then drips one event file (and a few song files)
every ``--interval`` seconds with ``sparkify.synthetic.drip`` for ``--seconds``, and stops the stream
with SIGTERM (it must exit 0).

Freshness is measured from outside the pipeline, per dripped event file:

- landing time: the file's mtime (``LocalLander`` writes a hidden temp file and renames it into place,
  so the file is visible from the moment it has that mtime; the drip's progress callback time is kept
  as a check);
- in songplays: a thread of this bench polls songplays' ``_delta_log`` every 0.1 s and notes when
  each commit file first appears: from then on, any Delta reader sees that version. Which version
  holds a file's plays is read afterwards from songplays' change data feed (insert rows carry
  ``_commit_version``), for the songplay_ids the bench computes itself from the file's lines with
  ``sparkify.keys.songplay_id_of``. Freshness = (first sight of the version holding the file's last
  play) − (landing time).

Nothing polls the tables with Spark while the stream runs, so the measurement takes no CPU from it.
The files landed in the drip's first ``--warmup`` seconds are reported apart: the stream's first batches
with data run about twice as long as later ones (a JVM loading and compiling the code of a MERGE, of
GX's metrics...), and a stream runs for weeks, so the SPEC's "steady drip" is what follows.
The pipeline's own ``pipeline_metrics.landing_latency_ms`` and Spark's progress are reported alongside.

Each report (freshness.md; with ``--compare-validation`` freshness_validation.md) gets its results JSON
beside it, for bench/suite.py.

    .venv/bin/python bench/bench_freshness.py [--seconds 240 --interval 8] [--compare-validation] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyspark.sql.functions as F
from common import (
    BENCH,
    VENV_BIN,
    Figure,
    at_most,
    bench_command,
    child_env,
    load_average,
    local_spark,
    machine_section,
    md_table,
    median,
    percentile,
    ratio_figure,
    report_header,
    report_path,
    samples_series,
    say,
    shell_line,
    sparkify_env,
    stamp_lines,
    work_path,
    write_report,
    write_results,
)
from procmem import TreeSampler

from sparkify import tables
from sparkify.keys import USER_ID_PATTERN, songplay_id_of
from sparkify.synthetic import GenerateSummary, drip, generate_dataset

GX_OFF = {"SPARKIFY_QUALITY_GREAT_EXPECTATIONS": "false"}  # the pipeline's switch: GX off
GX_ON = "GX on"  # the comparison's mode as the pipeline runs by default, judged against the target
GX_OFF_MODE = "GX off"  # the comparison's mode with GX_OFF
TARGET_P95_S = 10.0
POLL_S = 0.1
DRIP_LINE = re.compile(r"drip tick (\d+): (\S+) \(")
PROGRESS_LINE = re.compile(r"^\+\s*([\d.]+)s \| .*streaming\.progress: (\{.*\})\s*$")
STEP_LINE = re.compile(r"^\+\s*([\d.]+)s \| .*: (stream-\S+): (.+) took ([\d.]+)s\s*$")
MERGE_LINE = re.compile(r"^\+\s*([\d.]+)s \| .*sparkify\.merge: MERGE into (\S+) took ([\d.]+)s\s*$")


@dataclass
class Dripped:
    tick: int
    relpath: str
    landed: float  # epoch seconds: the file's mtime
    reported: float  # epoch seconds: when drip's progress callback ran
    play_ids: frozenset[str]


@dataclass
class Fresh:
    """One dripped event file, measured."""

    file: Dripped
    found: int
    version: int | None
    visible: float | None  # epoch seconds the version's commit file was first seen
    committed: float | None  # the version's commit timestamp, as Delta records it
    batch_id: str | None
    batch_started: float | None  # epoch seconds: pipeline_metrics.started_at of that batch

    @property
    def seconds(self) -> float | None:
        return None if self.visible is None else self.visible - self.file.landed

    @property
    def waited(self) -> float | None:
        """Landing → the batch that took the file began its work (the wait for the running batch)."""
        return None if self.batch_started is None else self.batch_started - self.file.landed

    @property
    def in_batch(self) -> float | None:
        """The batch's start → its songplays commit visible."""
        if self.batch_started is None or self.visible is None:
            return None
        return self.visible - self.batch_started


@dataclass
class Outcome:
    """Everything one run measured, for the report."""

    world: dict[str, int]
    summary: GenerateSummary
    commands: dict[str, str]
    backfill_s: float
    results: list[Fresh]
    metrics: list[dict]  # pipeline_metrics rows of the stream's batches during the drip
    progress: list[dict]  # Spark's progress of the batches that took input during the drip
    steps: dict[str, list[float]]
    returncode: int
    stop_s: float
    peak_bytes: int
    drip_seconds: float
    catch_up_s: float  # after the drip ended, until the stream had committed every landed file
    loads: list[str]
    drip_began: float  # epoch seconds
    warmup_s: float  # files landed this early in the drip are the stream's warm-up (--warmup)

    @property
    def steady(self) -> list[Fresh]:
        """The files landed after the warm-up: what the steady-state figures are over."""
        return [r for r in self.results if r.file.landed - self.drip_began >= self.warmup_s]

    @property
    def freshness(self) -> list[float]:
        """Seconds per file of the steady drip; a file that never reached songplays counts as infinitely
        late."""
        return seconds_of(self.steady)

    @property
    def freshness_all(self) -> list[float]:
        """:attr:`freshness` over every dripped file, the warm-up's included."""
        return seconds_of(self.results)

    @property
    def p95(self) -> float:
        return percentile(self.freshness, 95)

    @property
    def p95_all(self) -> float:
        return percentile(self.freshness_all, 95)


def seconds_of(results: list[Fresh]) -> list[float]:
    return [r.seconds if r.seconds is not None else float("inf") for r in results]


class CommitWatcher:
    """Note when each commit file of a Delta table first appears, polling its _delta_log directory."""

    def __init__(self, table: Path, interval: float = POLL_S) -> None:
        self.log_dir = table / "_delta_log"
        self.interval = interval
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watcher", daemon=True)

    def __enter__(self) -> CommitWatcher:
        self.poll()  # versions already there count as seen before the watch began
        self.before = dict.fromkeys(self.seen, 0.0)
        self.seen = dict(self.before)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def latest(self) -> int:
        return max(self.seen, default=-1)

    def poll(self) -> None:
        now = time.time()
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            return
        for name in names:
            # Commit files only: NNNNN.json (a checkpoint or a temp file is not a new version).
            if len(name) == 25 and name.endswith(".json") and name[:20].isdigit():
                self.seen.setdefault(int(name[:20]), now)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=300)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--interval", type=float, default=8.0, help="seconds between dripped event files")
    parser.add_argument("--seconds", type=float, default=240.0, help="how long to drip")
    parser.add_argument(
        "--warmup", type=float, default=20.0,
        help="the first seconds of the drip: their files are reported apart from the steady state's",
    )  # fmt: skip
    parser.add_argument("--trigger", default="1 second", help="the stream's trigger interval")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for each wait")
    parser.add_argument("--work", type=Path, help="default: bench/out/freshness")
    parser.add_argument("--report", type=Path, help="default: bench/reports/freshness.md")
    parser.add_argument(
        "--compare-validation", action="store_true",
        help="measure with GX on and off alternately (on, off, on, off, ...), --rounds times each",
    )  # fmt: skip
    parser.add_argument(
        "--also-with", action="append", default=[], metavar="SPARKIFY_KEY=VALUE",
        help="with --compare-validation: one more mode, GX on with this setting (repeatable)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="with --compare-validation: runs per mode")
    parser.add_argument(
        "--validation-report", type=Path, help="default: bench/reports/freshness_validation.md"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="smoke run: a tiny dataset, a 4 s drip of a file every 2 s, no warm-up, 1 round; with "
        "--compare-validation GX on alone; no verdict",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.songs, args.users, args.days, args.rounds = 30, 10, 1, 1
        args.seconds, args.interval, args.warmup = 4.0, 2.0, 0.0
    args.report = report_path(args.report, "freshness.md", args.quick)
    args.validation_report = report_path(args.validation_report, "freshness_validation.md", args.quick)
    args.work = work_path(args.work, "freshness", args.quick)
    if args.compare_validation:
        return compare_validation(args)

    outcome = run_once(args, args.work.resolve())
    plotted = plot_freshness(outcome, args.report.with_suffix(".png"))
    write_report(args.report, render_report(args, outcome, plotted))
    p95, p50 = outcome.p95, percentile(outcome.freshness, 50)
    write_results(
        args.report,
        __file__,
        [
            Figure(
                "p95 freshness, landing → songplays",
                p95,
                "s",
                f"≤ {TARGET_P95_S:g} s",
                at_most(p95, TARGET_P95_S),
            ),
            Figure("p50 freshness, landing → songplays", p50, "s"),
        ],
        series={"latency_s": samples_series("s", {GX_ON: outcome.freshness})},
        loads=outcome.loads,
        quick=args.quick,
    )
    return 0 if outcome.returncode == 0 and (args.quick or outcome.p95 <= TARGET_P95_S) else 1


def run_once(args: argparse.Namespace, work: Path, extra_env: dict[str, str] | None = None) -> Outcome:
    """One measurement: generate, backfill, stream, drip, stop, measure. ``extra_env`` goes to both
    jobs (e.g. ``SPARKIFY_QUALITY_GREAT_EXPECTATIONS=false``)."""
    shutil.rmtree(work, ignore_errors=True)
    landing, lake = work / "landing", work / "lake"
    world = {"seed": args.seed, "songs": args.songs, "users": args.users, "days": args.days}
    loads = [f"start: {load_average()}"]
    summary = generate_dataset(landing, **world)
    say(
        f"generated {summary.song_files} song files, {summary.event_files} event files, "
        f"{summary.events:,} events"
    )

    env = sparkify_env(
        landing / "song_data", landing / "log_data", lake, SPARKIFY_STREAM_TRIGGER_INTERVAL=args.trigger,
        **(extra_env or {}),
    )  # fmt: skip
    commands = {}
    backfill_s = run_backfill(work, env, args.timeout, commands)
    loads.append(f"after the backfill: {load_average()}")

    # --verbose: the stream's log records on stderr too (its log file under the lake has them anyway),
    # where this bench stamps them to read Spark's progress and the steps' timings.
    stream_argv = [str(VENV_BIN / "sparkify"), "stream", "--verbose"]
    commands["stream"] = shell_line(env, stream_argv)
    stream_log = work / "stream.stderr.txt"
    with stream_log.open("w") as sink:
        began_epoch, began = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            stream_argv, cwd=work, env=child_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        stamper = threading.Thread(target=stamp_lines, args=(proc.stderr, sink, began), daemon=True)
        stamper.start()
        try:
            with TreeSampler(proc.pid) as memory:
                waited = wait_until_taken(proc, lake, landing, stream_log, args.timeout)
                say(f"the stream took over from the backfill ({waited:.0f}s)")
                loads.append(f"stream settled, drip starts: {load_average()}")
                with CommitWatcher(lake / "songplays") as watcher:
                    drip_began = time.time()
                    dripped = run_drip(landing, world, args)
                    drip_ended = time.time()
                    loads.append(f"drip ended: {load_average()}")
                    catch_up_s = wait_until_taken(proc, lake, landing, stream_log, args.timeout)
                    say(f"the stream took the last dripped files {catch_up_s:.0f}s after the drip ended")
                    returncode, stop_s = stop_stream(proc, args.timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stamper.join(timeout=10)
    say(
        f"stream exited {returncode} {stop_s:.1f}s after SIGTERM; "
        f"peak {memory.result.peak_bytes / 2**20:,.0f} MiB"
    )

    results, metrics = measure(lake, dripped, watcher, drip_began)
    progress = spark_progress(stream_log, began_epoch, drip_began)
    steps = step_timings(stream_log, began_epoch, drip_began)
    if not progress or not steps:  # the log's lines changed shape: say so, not a report with holes
        raise RuntimeError(f"no batch progress or step timings read from the stream's log {stream_log}")
    return Outcome(
        world, summary, commands, backfill_s, results, metrics, progress, steps, returncode, stop_s,
        memory.result.peak_bytes, drip_ended - drip_began, catch_up_s, loads, drip_began, args.warmup,
    )  # fmt: skip


def run_backfill(work: Path, env: dict[str, str], timeout: float, commands: dict[str, str]) -> float:
    argv = [str(VENV_BIN / "sparkify"), "backfill"]
    commands["backfill"] = shell_line(env, argv)
    say("backfill: starting")
    began = time.perf_counter()
    with (work / "backfill.stderr.txt").open("w") as err:
        done = subprocess.run(argv, cwd=work, env=child_env(env), stdout=err, stderr=err, timeout=timeout)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"backfill exited {done.returncode}: see {work / 'backfill.stderr.txt'}")
    say(f"backfill: done in {seconds:.1f}s")
    return seconds


def batches_logged(stream_log: Path) -> list[tuple[float, dict]]:
    """(seconds since the stream started, progress) of every micro-batch the stream's listener logged."""
    out = []
    for line in stream_log.read_text(errors="replace").splitlines():
        match = PROGRESS_LINE.match(line)
        if match:
            event = json.loads(match.group(2))
            if event.get("event") == "batch":
                out.append((float(match.group(1)), event))
    return out


def check_alive(proc: subprocess.Popen[bytes], stream_log: Path) -> None:
    if proc.poll() is not None:
        tail = stream_log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"the stream exited early ({proc.returncode}):\n" + "\n".join(tail))


def committed_files(checkpoint: Path) -> set[str]:
    """Files of the batches a query has committed, read from its checkpoint: ``sources/0/<batch>`` (and
    ``.compact``) list each batch's files, ``commits/<batch>`` is written once the batch's sink is done."""
    try:
        commits = {int(n) for n in os.listdir(checkpoint / "commits") if n.isdigit()}
        entries = os.listdir(checkpoint / "sources" / "0")
    except FileNotFoundError:
        return set()
    files = set()
    for entry in entries:
        if not entry.removesuffix(".compact").isdigit():
            continue  # a temp or checksum file
        try:
            lines = (checkpoint / "sources" / "0" / entry).read_text().splitlines()[1:]  # after "v1"
        except FileNotFoundError:
            continue  # replaced by a compaction meanwhile
        for line in lines:
            record = json.loads(line)
            if record["batchId"] in commits:
                files.add(local_path(record["path"]))
    return files


def local_path(uri: str) -> str:
    return unquote(re.sub(r"^file:/+", "/", uri))


def landed_files(landing: Path) -> set[str]:
    """Files waiting in the landing prefixes (not those the stream archived into ``_archive``)."""
    found = set()
    for root, dirs, names in os.walk(landing):
        dirs[:] = [d for d in dirs if not d.startswith("_")]
        found |= {str(Path(root, n)) for n in names if n.endswith(".json") and not n.startswith((".", "_"))}
    return found


def landed_path(landing: Path, relpath: str) -> Path:
    """Where a dripped file is now: where it landed, or (taken and archived by the stream, with its mtime
    kept by the rename) under ``_archive`` by its full original path."""
    path = (landing / relpath).resolve()
    return path if path.exists() else landing / "_archive" / str(path).lstrip("/")


def wait_until_taken(
    proc: subprocess.Popen[bytes], lake: Path, landing: Path, stream_log: Path, timeout: float
) -> float:
    """Wait until both queries have committed every file landed so far; return the seconds waited."""
    began = time.monotonic()
    checkpoints = [lake / "_checkpoints" / query for query in ("songs", "events")]
    while time.monotonic() - began < timeout:
        check_alive(proc, stream_log)
        taken = set().union(*(committed_files(c) for c in checkpoints))
        left = landed_files(landing) - taken
        if not left:
            return time.monotonic() - began
        time.sleep(1.0)
    raise RuntimeError(f"the stream had not taken {len(left)} landed file(s) after {timeout:.0f}s")


def run_drip(landing: Path, world: dict[str, int], args: argparse.Namespace) -> list[Dripped]:
    reported: list[tuple[int, str, float]] = []

    def on_progress(line: str) -> None:
        match = DRIP_LINE.search(line)
        if match:
            reported.append((int(match.group(1)), match.group(2), time.time()))
            say(line)

    drip(landing, **world, interval_seconds=args.interval, max_seconds=args.seconds, progress=on_progress)
    return [
        Dripped(tick, relpath, (path := landed_path(landing, relpath)).stat().st_mtime, at, play_ids(path))
        for tick, relpath, at in reported
    ]


def play_ids(path: Path) -> frozenset[str]:
    """The songplay_ids of a file's plays: NextSong events with a usable userId, as the pipeline keys them."""
    ids = set()
    for line in path.read_text().splitlines():
        event = json.loads(line) if line.strip() else {}
        user = event.get("userId") or ""
        if event.get("page") == "NextSong" and re.fullmatch(USER_ID_PATTERN, user):
            ids.add(songplay_id_of(int(user), event["sessionId"], event["itemInSession"], event["ts"]))
    return frozenset(ids)


def stop_stream(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """SIGTERM the CLI process (not its group: the JVM is the CLI's child and goes down with it)."""
    began = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        say(f"the stream did not stop {timeout:.0f}s after SIGTERM: killing it")
        os.killpg(proc.pid, signal.SIGKILL)
        returncode = proc.wait()
    return returncode, time.perf_counter() - began


def measure(
    lake: Path, dripped: list[Dripped], watcher: CommitWatcher, drip_began: float
) -> tuple[list[Fresh], list[dict]]:
    """Join each dripped file's plays to the songplays version that inserted them (change data feed),
    and read the stream's pipeline_metrics rows of the drip, in a session of our own after the stream
    stopped."""
    spark = local_spark("bench-freshness-reader")
    first_watched = min((v for v, at in watcher.seen.items() if at > 0), default=None)
    inserted: dict[str, tuple[int, float]] = {}
    if first_watched is not None:
        changes = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", first_watched)
            .load(str(lake / "songplays"))
            .filter(F.col("_change_type") == "insert")
            .select("songplay_id", "_commit_version", F.unix_millis("_commit_timestamp").alias("ms"))
        )
        for row in changes.collect():
            inserted[row.songplay_id] = (row._commit_version, row.ms / 1000)
    log_data = (lake.parent / "landing" / "log_data").resolve()  # staging names files relative to it
    names = [str((lake.parent / "landing" / d.relpath).resolve().relative_to(log_data)) for d in dripped]
    staged = (
        spark.read.format("delta")
        .load(str(lake / tables.STAGING_EVENTS.name))
        .filter(F.col("batch_id").startswith("stream-"))
        .select("source_file", "batch_id")
        .distinct()
        .collect()
    )
    batch_of = {unquote(row.source_file): row.batch_id for row in staged}
    metrics = [
        row.asDict()
        for row in spark.read.format("delta")
        .load(str(lake / tables.PIPELINE_METRICS.name))
        .withColumn("started_ms", F.unix_millis("started_at"))
        .withColumn("finished_ms", F.unix_millis("finished_at"))
        .filter(F.col("batch_id").startswith("stream-"))
        .filter(F.col("finished_at") >= F.lit(dt.datetime.fromtimestamp(drip_began, dt.UTC)))
        .orderBy("finished_at")
        .collect()
    ]
    started = {m["batch_id"]: m["started_ms"] / 1000 for m in metrics}
    results = []
    for d, name in zip(dripped, names, strict=True):
        hits = [inserted[i] for i in d.play_ids if i in inserted]
        version = max((v for v, _ in hits), default=None)
        results.append(
            Fresh(
                d,
                len(hits),
                version,
                watcher.seen.get(version) if version is not None else None,
                max((at for v, at in hits if v == version), default=None),
                batch_of.get(name),
                started.get(batch_of.get(name, "")),
            )
        )
    spark.stop()
    return results, metrics


def spark_progress(stream_log: Path, began_epoch: float, drip_began: float) -> list[dict]:
    """Spark's progress of the batches that ended during or after the drip and took input."""
    return [
        event
        for at, event in batches_logged(stream_log)
        if began_epoch + at >= drip_began and event.get("input_rows", 0) > 0
    ]


def step_timings(stream_log: Path, began_epoch: float, drip_began: float) -> dict[str, list[float]]:
    """Seconds per batch step (the jobs' own ``… took Xs`` lines), for the batches of the drip."""
    steps: dict[str, list[float]] = {}
    for line in stream_log.read_text(errors="replace").splitlines():
        match = STEP_LINE.match(line)
        if match and began_epoch + float(match.group(1)) >= drip_began:
            query = match.group(2).split("-")[1]
            steps.setdefault(f"{query}: {match.group(3)}", []).append(float(match.group(4)))
            continue
        match = MERGE_LINE.match(line)
        if match and began_epoch + float(match.group(1)) >= drip_began:
            steps.setdefault(f"MERGE into {Path(match.group(2)).name}", []).append(float(match.group(3)))
    return steps


def dataset_of(metrics_row: dict) -> str:
    """The stream query of a pipeline_metrics row: ``events``, ``songs``, ``events-dimensions``, ..."""
    return metrics_row["query"].removeprefix("stream-")


def latencies(metrics: list[dict], query: str) -> list[float]:
    """landing_latency_ms of ``query``'s batches that took rows, in seconds."""
    return [
        m["landing_latency_ms"] / 1000
        for m in metrics
        if dataset_of(m) == query and m["rows_in"] and m["landing_latency_ms"] is not None
    ]


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def stats_row(label: str, values: list[float], unit_div: float = 1.0) -> tuple[str, ...]:
    vals = [v / unit_div for v in values]
    return (
        label,
        str(len(vals)),
        f"{median(vals):.2f}",
        f"{percentile(vals, 95):.2f}",
        f"{max(vals, default=float('nan')):.2f}",
    )


def plot_freshness(o: Outcome, path: Path) -> bool:
    """Each dripped file's freshness at its landing time (the wait for its batch, then the batch up to
    the songplays commit), over the dimension batches' spans: where they overlap is the tail. Written
    only where matplotlib is installed (``make bench`` installs it); returns whether it was."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [r for r in o.results if r.seconds is not None]
    if not measured:
        return False
    t0 = min(r.file.landed for r in o.results)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, m in enumerate(m for m in o.metrics if dataset_of(m).endswith("-dimensions")):
        span = (m["started_ms"] / 1000 - t0, m["finished_ms"] / 1000 - t0)
        ax.axvspan(*span, color="0.88", lw=0, label="a dimension batch runs" if i == 0 else None)
    x = [r.file.landed - t0 for r in measured]
    waited = [max(r.waited or 0.0, 0.0) for r in measured]
    ax.bar(x, waited, width=3, color="#f2a65a", label="landing → its batch begins")
    ax.bar(
        x, [r.seconds - w for r, w in zip(measured, waited, strict=True)], width=3, bottom=waited,
        color="#3d7ab8", label="batch begins → plays visible in songplays",
    )  # fmt: skip
    ax.axhline(TARGET_P95_S, color="#c0392b", ls="--", lw=1, label=f"target p95 {TARGET_P95_S:g} s")
    values = [r.seconds for r in measured]
    ax.set_title(
        f"Freshness per dripped event file: p50 {percentile(values, 50):.1f} s, "
        f"p95 {percentile(values, 95):.1f} s"
    )
    ax.set_xlabel("landed at (s into the drip)")
    ax.set_ylabel("seconds")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot written to {path}")
    return True


def render_report(args: argparse.Namespace, o: Outcome, plotted: bool = False) -> str:
    results, metrics, progress, summary, world = o.results, o.metrics, o.progress, o.summary, o.world

    missing = [r for r in results if r.seconds is None]
    steady, every = o.freshness, o.freshness_all
    p50, p95 = percentile(steady, 50), percentile(steady, 95)
    verdict = "PASS" if p95 <= TARGET_P95_S else "FAIL"
    committed = [r.committed - r.file.landed for r in o.steady if r.committed is not None]
    events_metrics = [m for m in metrics if dataset_of(m) == "events" and m["rows_in"]]
    waited = [r.waited for r in results if r.waited is not None]
    in_batch = [r.in_batch for r in results if r.in_batch is not None]
    latency = latencies(metrics, "events")

    lines = report_header("Freshness under a steady drip", __file__)
    lines += [
        f"`sparkify stream` (trigger {args.trigger!r}) fed by `sparkify.synthetic.drip`: one event file and "
        f"5 song files every {args.interval:g} s for {o.drip_seconds:.0f} s, after a backfill of the "
        "initial dataset. Freshness per dripped event file = first moment its plays are all readable in "
        "songplays − its landing time.",
        "",
        *machine_section(o.loads),
        "## Data",
        "",
        f"- Initial dataset: `sparkify.synthetic.generate_dataset(**{world})`: {summary.song_files} song "
        f"files, {summary.event_files} event files, {summary.events:,} events; backfilled in "
        f"{o.backfill_s:.0f} s.",
        f"- Drip: `sparkify.synthetic.drip(landing, **{world}, interval_seconds={args.interval:g}, "
        f"max_seconds={args.seconds:g})`: {len(results)} event files "
        f"({sum(len(r.file.play_ids) for r in results):,} plays), each with 5 new song files (a few plays "
        "are of songs landing later: late arrivals, which the songs query resolves in songplays).",
        "",
        "## Result",
        "",
        *md_table(
            ["measure", "files / batches", "p50 s", "p95 s", "max s"],
            [
                (
                    f"**freshness: landing → plays visible in songplays (this bench), files landed "
                    f"from {o.warmup_s:g} s into the drip on**",
                    str(len(steady)),
                    f"**{p50:.2f}**",
                    f"**{p95:.2f}**",
                    f"{max(steady, default=float('nan')):.2f}",
                ),
                stats_row("same, to the songplays commit's own timestamp", committed),
                stats_row(
                    f"same, every dripped file (the first {o.warmup_s:g} s, the stream's warm-up, included)",
                    every,
                ),
                stats_row(
                    "pipeline_metrics.landing_latency_ms, events query (batch end − oldest file)", latency
                ),
                *(
                    stats_row(
                        f"pipeline_metrics.landing_latency_ms, {query} query (its dimensions merged)",
                        latencies(metrics, query),
                    )
                    for query in ("events-dimensions", "songs-dimensions")
                ),
            ],
        ),
        "",
        f"**p95 freshness {p95:.2f} s in the steady drip (target ≤ {TARGET_P95_S:g} s): {verdict}.** "
        f"Over every dripped file, the first {o.warmup_s:g} s included: p95 {o.p95_all:.2f} s. "
        f"{len(missing)} dripped file(s) never reached songplays."
        + (
            " The stream exited 0 after SIGTERM"
            if o.returncode == 0
            else f" **The stream exited {o.returncode} after SIGTERM**"
        )
        + f" ({o.stop_s:.1f} s to stop); its process tree peaked at {o.peak_bytes / 2**20:,.0f} MiB. "
        f"After the drip's last file, the stream needed {o.catch_up_s:.0f} s more to commit every landed "
        "file (read from its checkpoints: `sources/0/<batch>` lists a batch's files, `commits/<batch>` "
        "marks it done); the stream was stopped only then.",
        "",
        "Where a file's freshness goes (medians over the dripped files): "
        f"{median(waited):.1f} s from landing until the batch that took it began its work "
        "(`pipeline_metrics.started_at`: a file landing while a batch runs waits for that batch to end, "
        f"and events batches took {median(m['duration_ms'] / 1000 for m in events_metrics):.1f} s), then "
        f"{median(in_batch):.1f} s from that start to its songplays commit (parse, validate, staging "
        "append, the songplays MERGE, then the batch's pipeline_metrics row; time, users, "
        "users_level_history, songs and artists are the dimension queries' work, on their own trigger).",
        "",
        (
            f"![freshness per dripped file]({args.report.with_suffix('.png').name})"
            if plotted
            else "No plot: matplotlib is not installed here (`make bench` installs it)."
        ),
        "",
        "## How freshness is measured",
        "",
        f"- **Steady drip**: the files landed in the drip's first {o.warmup_s:g} s (`--warmup`) are the "
        "stream's warm-up, reported apart: its first batches with data run in a JVM that has not yet "
        "loaded and compiled the code of a MERGE, of Great Expectations' metrics and so on, and take about "
        "twice as long as the later ones. A stream runs for weeks, so the SPEC's steady drip is what "
        "follows; the figure over every file is given beside it.",
        "- **Landing**: the event file's mtime. `drip` lands through `LocalLander` (hidden temp file, then "
        "an atomic rename), so the file is visible to the stream from about that instant; the drip's "
        "progress callback, which runs just after the file and its 5 songs landed, came "
        f"{median(r.file.reported - r.file.landed for r in results) * 1000:.0f} ms later (median).",
        "- **In songplays**: while the stream ran, a thread of the bench listed songplays' `_delta_log` "
        f"every {POLL_S:g} s and noted when each commit file (`NNN.json`) first appeared: from then on, "
        "any reader sees that version. The version that inserted a file's plays comes from songplays' change "
        "data feed (`_change_type = 'insert'`, `_commit_version`), read after the stream stopped, for the "
        "songplay_ids the bench computes from the file's own lines (`sparkify.keys.songplay_id_of` over "
        "NextSong events with a usable userId, as the pipeline keys them). A file counts as fresh when "
        "the version holding its last play is visible.",
        "- Nothing queries the tables with Spark during the drip, so the measurement costs the stream no "
        "CPU (a polling reader session would be a third JVM on 2 cores). The commit's own timestamp (row 2) "
        "is Delta's record of the same moment; it agrees with the watcher to within the polling interval.",
        "- The pipeline's own figure (row 3) is per batch, taken at the end of the batch after all its "
        "MERGEs (songplays is one of several), against the batch's oldest file: so it is ≥ ours.",
        "",
        "## Micro-batches during the drip",
        "",
        *md_table(
            ["measure", "batches", "p50 s", "p95 s", "max s"],
            [
                stats_row(
                    "pipeline_metrics.duration_ms, events", [m["duration_ms"] for m in events_metrics], 1000
                ),
                *(
                    stats_row(
                        f"pipeline_metrics.duration_ms, {query}",
                        [m["duration_ms"] for m in metrics if dataset_of(m) == query and m["rows_in"]],
                        1000,
                    )
                    for query in ("songs", "events-dimensions", "songs-dimensions")
                ),
                *(
                    stats_row(
                        f"Spark durationMs.{key}, {query}",
                        [p["durations_ms"].get(key, 0) for p in progress if p["query"] == query],
                        1000,
                    )
                    for query in ("events", "songs", "events-dimensions", "songs-dimensions")
                    for key in ("triggerExecution", "latestOffset", "addBatch")
                ),
            ],
        ),
        "",
        "Where a batch's time goes (the jobs' own step timings, `… took Xs` log lines, during the drip):",
        "",
        *md_table(
            ["step", "times", "p50 s", "p95 s", "max s"],
            [stats_row(name, values) for name, values in sorted(o.steps.items(), key=lambda kv: -sum(kv[1]))],
        ),
        "",
        "## Every dripped file",
        "",
        *md_table(
            [
                "tick",
                "file",
                "landed (s into drip)",
                "plays",
                "in songplays",
                "songplays version",
                "batch",
                "freshness s",
                "to commit ts s",
                "of which: wait for the batch s",
                "batch start → visible s",
            ],
            [
                (
                    r.file.tick,
                    Path(r.file.relpath).name,
                    f"{r.file.landed - results[0].file.landed:.1f}",
                    len(r.file.play_ids),
                    r.found,
                    r.version if r.version is not None else "–",
                    r.batch_id or "–",
                    fmt_s(r.seconds),
                    fmt_s(None if r.committed is None else r.committed - r.file.landed),
                    fmt_s(r.waited),
                    fmt_s(r.in_batch),
                )
                for r in results
            ],
        ),
        "",
        "## Commands",
        "",
        "Run from the work directory, with these environment variables:",
        "",
        "```",
        *(f"{name}: {line}" for name, line in o.commands.items()),
        "```",
        "",
        f"Logs: `{args.work}/backfill.stderr.txt`, `{args.work}/stream.stderr.txt` (every line stamped with "
        "seconds since the stream started).",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# --compare-validation: the same measurement with GX on and off, alternately.


@dataclass
class Run:
    """One run of the comparison: its round, its mode, what it measured (or why it failed)."""

    round: int
    mode: str  # "GX on", "GX off", or "GX on, KEY=VALUE" (--also-with)
    work: Path
    outcome: Outcome | None
    error: str | None
    seconds: float

    @property
    def name(self) -> str:
        return f"round {self.round}, {self.mode}"


def comparison_modes(also_with: list[str]) -> dict[str, dict[str, str]]:
    """Each mode's label and the environment it adds to both jobs: GX on, GX off, then GX on with each
    ``--also-with`` setting."""
    modes = {GX_ON: {}, GX_OFF_MODE: GX_OFF}
    for setting in also_with:
        key, sep, value = setting.partition("=")
        if not (sep and key.startswith("SPARKIFY_")):
            raise SystemExit(f"--also-with {setting!r}: expected SPARKIFY_SECTION_KEY=VALUE")
        modes[f"{GX_ON}, {key}={value}"] = {key: value}
    return modes


def compare_validation(args: argparse.Namespace) -> int:
    """Run the measurement in each mode (GX on, GX off, then each ``--also-with``), ``--rounds`` times
    alternately, each in a fresh work directory, and write ``--validation-report`` (freshness.md is left
    as it is)."""
    root = args.work.resolve() / "compare-validation"
    shutil.rmtree(root, ignore_errors=True)
    runs: list[Run] = []
    args.code_state = code_state()  # at the start: other work may change the checkout meanwhile
    args.modes = comparison_modes(args.also_with)
    # A quick run measures nothing, so one cycle is enough to prove the script runs: GX on, the pipeline
    # as it ships. The other modes run the same code with one setting changed (a cycle is a backfill and a
    # stream, each a JVM: the largest part of the quick suite).
    run_modes = list(args.modes.items())[:1] if args.quick else list(args.modes.items())
    for round_no in range(1, args.rounds + 1):
        for number, (mode, env) in enumerate(run_modes, 1):
            work = root / f"round{round_no}-mode{number}"
            say(f"--- round {round_no}/{args.rounds}, {mode}: {work}")
            began = time.perf_counter()
            try:
                outcome, error = run_once(args, work, env), None
            except Exception as e:  # a run that fails is reported, and the next one runs
                outcome, error = None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                say(f"round {round_no}, {mode} failed: {error}")
            runs.append(Run(round_no, mode, work, outcome, error, time.perf_counter() - began))
            if outcome is not None:
                say(
                    f"round {round_no}, {mode}: p50 {percentile(outcome.freshness, 50):.2f}s, "
                    f"p95 {outcome.p95:.2f}s over {len(outcome.results)} files"
                )
    plotted = plot_comparison(runs, args.validation_report.with_suffix(".png"))
    write_report(args.validation_report, render_comparison(args, runs, plotted))
    write_results(
        args.validation_report,
        __file__,
        comparison_figures(args, runs),
        series={
            "latency_s": samples_series(
                "s",
                {
                    mode: [x for r in runs if r.mode == mode and r.outcome for x in r.outcome.freshness]
                    for mode in args.modes
                },
            )
        },
        loads=[f"{r.name}, {note}" for r in runs if r.outcome for note in r.outcome.loads],
        quick=args.quick,
    )
    on = [r.outcome.p95 for r in runs if r.mode == GX_ON and r.outcome is not None]
    ok = bool(on) and all(r.outcome is not None and r.outcome.returncode == 0 for r in runs)
    return 0 if ok and (args.quick or median(on) <= TARGET_P95_S) else 1


def comparison_figures(args: argparse.Namespace, runs: list[Run]) -> list[Figure]:
    """p95 per mode (median and min over its runs), GX on against the target, and the ratio on / off."""
    p95 = {mode: [r.outcome.p95 for r in runs if r.mode == mode and r.outcome] for mode in args.modes}
    on, off = p95[GX_ON], p95[GX_OFF_MODE]
    out = [
        Figure(
            f"p95 freshness, {mode}",
            median(values),
            "s",
            f"≤ {TARGET_P95_S:g} s" if mode == GX_ON else None,
            at_most(median(values), TARGET_P95_S) if mode == GX_ON else None,
            min(values, default=None),
            note=f"{len(values)} run(s), files landed from {args.warmup:g} s into the drip on",
        )
        for mode, values in p95.items()
    ]
    out.append(ratio_figure(f"p95 freshness, {GX_ON} / {GX_OFF_MODE}", on, off))
    p50 = [percentile(r.outcome.freshness, 50) for r in runs if r.mode == GX_ON and r.outcome]
    out.append(Figure(f"p50 freshness, {GX_ON}", median(p50), "s", min=min(p50, default=None)))
    return out


def code_state() -> str:
    """Which code ran: the checkout's HEAD and the files changed since (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH.parent, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=BENCH.parent, capture_output=True,
            text=True,
        ).stdout.split("\n")  # fmt: skip
    except OSError:
        return "unknown (no git)"
    files = [line[3:] for line in changed if line.strip()]
    return f"HEAD {head or '?'}" + (f", with uncommitted changes to {', '.join(files)}" if files else "")


def step_median(o: Outcome, name: str) -> str:
    values = o.steps.get(name, [])
    return f"{median(values):.2f}" if values else "–"


def events_durations(o: Outcome) -> list[float]:
    return [m["duration_ms"] / 1000 for m in o.metrics if dataset_of(m) == "events" and m["rows_in"]]


def files_per_batch(o: Outcome) -> float:
    batches = {r.batch_id for r in o.results if r.batch_id}
    return len([r for r in o.results if r.batch_id]) / len(batches) if batches else float("nan")


def render_comparison(args: argparse.Namespace, runs: list[Run], plotted: bool) -> str:
    done = [r for r in runs if r.outcome is not None]
    lines = report_header("Freshness with validation on and off", __file__)
    lines += [
        "The freshness measurement of `bench/bench_freshness.py` (see freshness.md for how it is "
        f"taken), run {args.rounds} times with Great Expectations on and {args.rounds} times with it "
        "off, alternately (round 1 on, round 1 off, round 2 on, ...), each run from scratch in its own "
        f"directory: generate `{dict(seed=args.seed, songs=args.songs, users=args.users, days=args.days)}`, "
        f"`sparkify backfill`, `sparkify stream` (trigger {args.trigger!r}), then a drip of one event "
        f"file (and 5 song files) every {args.interval:g} s for {args.seconds:g} s. GX off is the "
        "pipeline's switch `SPARKIFY_QUALITY_GREAT_EXPECTATIONS=false`, given to both jobs: the suites "
        "still route rows to the "
        "quarantine, GX does not run and quality_results gets nothing."
        + "".join(
            f" Mode {mode!r}: GX on, and `{k}={v}` given to both jobs."
            for mode, env in args.modes.items()
            for k, v in env.items()
            if mode.startswith(f"{GX_ON},")
        )
        + (" This is a quick run (`--quick`): one run, GX on alone, so no comparison." if args.quick else ""),
        "",
        f"SPEC target: **p95 freshness ≤ {TARGET_P95_S:g} s (aim 5 s) with validation on**.",
        "",
        f"Code: {getattr(args, 'code_state', code_state())}.",
        "",
        *machine_section(
            [f"{r.name}, {note}" for r in done for note in r.outcome.loads]  # type: ignore[union-attr]
        ),
        "## Result per run",
        "",
        "Freshness per dripped event file = first moment all its plays are readable in songplays − its "
        "landing time; a file that never arrived counts as infinitely late. The figures are over the "
        f"files landed from {args.warmup:g} s into the drip on (the steady drip: before, the stream's first "
        "batches with data run about twice as long, in a JVM that has not yet loaded and compiled the code "
        "of a MERGE, of GX's metrics and so on), except the column that includes that warm-up.",
        "",
    ]
    rows = []
    for r in runs:
        o = r.outcome
        if o is None:
            rows.append((r.round, r.mode, "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", r.error))
            continue
        f = o.freshness
        durations = events_durations(o)
        rows.append(
            (
                r.round,
                r.mode,
                len(f),
                f"{percentile(f, 50):.2f}",
                f"**{o.p95:.2f}**",
                f"{max(f, default=float('nan')):.2f}",
                f"{o.p95_all:.2f}",
                f"{files_per_batch(o):.1f}",
                f"{median(durations):.2f} / {percentile(durations, 95):.2f}",
                step_median(o, "events: validate with Great Expectations"),
                step_median(o, "songs: validate with Great Expectations"),
                f"{median(w for x in o.results if (w := x.waited) is not None):.2f}",
                o.loads[-1].split(": ", 1)[1],
                "exit 0" if o.returncode == 0 else f"**exit {o.returncode}**",
            )
        )
    lines += md_table(
        ["round", "mode", "files", "p50 s", "p95 s", "max s", "p95 s, warm-up included",
         "files / events batch", "events batch s (median / p95)", "GX on events s (median)",
         "GX on songs s (median)", "wait for the batch s (median)", "load at drip end (1/5/15)", "stream"],
        rows,
    )  # fmt: skip
    lines += ["", "## Per mode", ""]
    mode_rows = []
    by_mode: dict[str, list[Outcome]] = {}
    for mode in args.modes:
        outs = [r.outcome for r in runs if r.mode == mode and r.outcome is not None]
        by_mode[mode] = outs
        p95s = [o.p95 for o in outs]
        p50s = [percentile(o.freshness, 50) for o in outs]
        mode_rows.append(
            (
                mode,
                len(outs),
                f"{min(p50s, default=float('nan')):.2f} / {median(p50s):.2f}",
                f"{min(p95s, default=float('nan')):.2f} / **{median(p95s):.2f}**",
                f"{max(p95s, default=float('nan')):.2f}",
                f"{median(d for o in outs for d in events_durations(o)):.2f}",
            )
        )
    lines += md_table(
        ["mode", "runs", "p50 s: min / median over runs", "p95 s: min / median over runs", "worst p95 s",
         "events batch s (median, all runs)"],
        mode_rows,
    )  # fmt: skip
    on95 = [o.p95 for o in by_mode[GX_ON]]
    off95 = [o.p95 for o in by_mode[GX_OFF_MODE]]
    if on95:
        verdict = "PASS" if median(on95) <= TARGET_P95_S else "FAIL"
        passing = sum(p <= TARGET_P95_S for p in on95)
        lines += [
            "",
            f"**p95 freshness with validation on: median {median(on95):.2f} s over {len(on95)} runs, min "
            f"{min(on95):.2f} s (target ≤ {TARGET_P95_S:g} s): {verdict}** ({passing} of {len(on95)} runs "
            "within the target)."
            + (
                f" With validation off: median {median(off95):.2f} s, min {min(off95):.2f} s; the ratio of "
                f"medians on / off is {median(on95) / median(off95):.2f}×."
                if off95
                else ""
            ),
        ]
    for other in list(args.modes)[1:]:
        pairs = [
            (a.outcome.p95, b.outcome.p95, a.round)  # type: ignore[union-attr]
            for a in runs
            for b in runs
            if a.round == b.round and a.mode == GX_ON and b.mode == other and a.outcome and b.outcome
        ]
        others = [o.p95 for o in by_mode[other]]
        if pairs:
            lines += [
                "",
                f"Round by round, p95 {GX_ON} / {other}: "
                + "; ".join(f"round {n}: {a:.2f} / {b:.2f} s ({a / b:.2f}×)" for a, b, n in pairs)
                + f". Ratio of medians: {median(on95) / median(others):.2f}×.",
            ]
    lines += [
        "",
        (
            f"![freshness per dripped file, every run]({args.validation_report.with_suffix('.png').name})"
            if plotted
            else "No plot: matplotlib is not installed here (`make bench` installs it)."
        ),
        "",
        "## Where an events batch's time goes (the stream's own step timings, medians per run)",
        "",
    ]
    names = sorted(
        {n for o in (r.outcome for r in done) for n in o.steps if n.startswith(("events:", "MERGE into"))}  # type: ignore[union-attr]
    )
    lines += md_table(
        ["step", *(r.name for r in done)],
        [(n, *(step_median(r.outcome, n) for r in done)) for n in names],  # type: ignore[arg-type]
    )
    lines += [
        "",
        "`MERGE into …` lines are of every query of the stream (the dimension queries' too).",
        "",
        "## Commands",
        "",
        "```",
        bench_command(__file__),
        "```",
        "",
        "Each run's jobs, as in freshness.md (run from its work directory):",
        "",
        "```",
        *(f"{r.name}: {name}: {line}" for r in done for name, line in r.outcome.commands.items()),  # type: ignore[union-attr]
        "```",
        "",
        "Logs: " + ", ".join(f"`{r.work}/stream.stderr.txt`" for r in runs) + ".",
        "",
        f"Wall clock per run: {', '.join(f'{r.name} {r.seconds / 60:.1f} min' for r in runs)}.",
        "",
    ]
    return "\n".join(lines)


def plot_comparison(runs: list[Run], path: Path) -> bool:
    """Freshness per dripped file against its landing time in the drip, one line per run, one colour
    per mode (GX on blue, GX off orange, the --also-with modes green, purple)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    done = [r for r in runs if r.outcome is not None and r.outcome.results]
    if not done:
        return False
    fig, ax = plt.subplots(figsize=(10, 4.8))
    modes = list(dict.fromkeys(r.mode for r in runs))
    maps = ("Blues", "Oranges", "Greens", "Purples")
    shades = {m: plt.get_cmap(c) for m, c in zip(modes, maps, strict=False)}
    for r in done:
        o = r.outcome
        assert o is not None
        t0 = min(x.file.landed for x in o.results)
        points = [(x.file.landed - t0, x.seconds) for x in o.results if x.seconds is not None]
        color = shades[r.mode](0.45 + 0.5 * r.round / max(x.round for x in runs))
        ax.plot(
            [p[0] for p in points], [p[1] for p in points], marker=".", lw=1, color=color,
            label=f"{r.name}: p95 {o.p95:.1f} s",
        )  # fmt: skip
    ax.axhline(TARGET_P95_S, color="#c0392b", ls="--", lw=1, label=f"target p95 {TARGET_P95_S:g} s")
    ax.set_xlabel("landed at (s into the drip)")
    ax.set_ylabel("freshness s")
    ax.set_ylim(bottom=0)
    ax.set_title("Freshness per dripped event file: " + ", ".join(
        f"{m} ({c})" for m, c in zip(modes, ("blue", "orange", "green", "purple"), strict=False)
    ))  # fmt: skip
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot written to {path}")
    return True


if __name__ == "__main__":
    sys.exit(main())
