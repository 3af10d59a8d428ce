"""Benchmark Great Expectations on the stream's micro-batches: its share of a batch, and driver memory.

The SPEC's targets: validation ≤ 30% of micro-batch time; driver memory flat over 1,000 micro-batches.
One SparkSession in this process (the local profile, as ``sparkify stream`` builds its own), a lake under
``--work``, data from ``sparkify.synthetic.generate_dataset``.

1. **Overhead.** Typical stream micro-batches go through ``streaming.sink.RawFilesSink`` itself, called
   as ``tests/test_stream.py`` calls it (``sink.app_id = ...; sink(batch_df, batch_id)``): an events
   batch is one day's event file (~850 lines at ``--users 50``), a songs batch is ``--songs-per-batch``
   song files. Each batch's files get their mtime set to "now" just before the call (they land), and
   ``batch_df`` is the text source over those files with ``sparkify.sources.with_file_metadata``, as
   the stream's file source gives it. Two sinks per dataset, one with GX on and one with GX off
   (``SPARKIFY_QUALITY_GREAT_EXPECTATIONS=false``: the suites still route rows to the quarantine,
   quality_results gets nothing), run in alternating blocks: round 1 on, round 1 off, round 2 on, ...
   Each block runs ``--batches`` songs batches and as many events batches (songs, events, songs, ...).
   ``Checks.gate`` and ``Checks.rest`` are wrapped to time GX itself and to put its Spark jobs in a
   job group of their own; the jobs' own ``… took Xs`` log lines give the time per step.
2. **Driver memory.** ``--memory-batches`` tiny events batches (``--tiny-lines`` lines each, cut from
   the generated event files, one file per batch) go through ``sparkify.pipeline.ingest.routed_batch``
   with GX on (parse, route, GX's validation, unpersist), without the Delta writes (1,000 batches
   through the sink would be ~4,000 Delta commits and hours on this machine). After every batch: the
   Python driver's RSS, the JVM's RSS, Spark's persistent RDDs, the keys in the GX context's validation
   results store; every ``--gc-every`` batches also the JVM heap in use right after ``System.gc()`` and
   the Python objects alive after ``gc.collect()``.

Prints the report and writes bench/reports/validation.md, validation_memory.png and validation.json (for
bench/suite.py).

    .venv/bin/python bench/bench_validation.py [--rounds 3 --batches 20 --memory-batches 1000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import logging
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_freshness import code_state
from common import (
    BENCH,
    Figure,
    at_most,
    load_average,
    local_spark,
    machine_section,
    md_table,
    median,
    percentile,
    ratio_figure,
    report_header,
    report_path,
    say,
    sparkify_env,
    work_path,
    write_report,
    write_results,
    xy_series,
)
from procmem import descendants, parent_pids
from pyspark.sql import DataFrame, SparkSession

from checkpoints_config import PipelineConfig, load_config
from expectations import validation as gx_validation
from sparkify.pipeline import ingest
from sparkify.sources import root_prefix, with_file_metadata
from sparkify.synthetic import GenerateSummary, generate_dataset
from sparkify.tables import ensure_tables
from streaming.sink import RawFilesSink

TARGET_SHARE = 0.30  # GX ≤ 30% of a micro-batch's time
FLAT_SHARE = 0.05  # "flat": a fitted drift within ±5% of the level per 1,000 batches
MODES = ("on", "off")
APP_IDS = {"on": "gx-on---", "off": "gx-off--"}  # batch labels carry app_id[:8]: distinct per mode
STEP = re.compile(r"^(?:(\S+): )?(.+) took ([\d.]+)s$")
MiB = 2**20


# ---------------------------------------------------------------------------------------------------
# Instrumentation: GX's own time and Spark jobs, the jobs' step timings.


@dataclass
class Meter:
    """What the current batch spent: GX's seconds (in ``Checks.gate`` and ``Checks.rest``), its steps."""

    gx_seconds: float = 0.0
    gx_calls: int = 0
    validations: int = 0  # calls that returned GX's outcome (None: GX off)
    gx_py4j: int = 0  # Py4J round trips to the JVM made inside Checks.gate and Checks.rest
    steps: dict[str, float] = field(default_factory=dict)
    group: str = "bench"

    def reset(self, group: str) -> None:
        self.gx_seconds, self.gx_calls, self.validations, self.steps, self.group = 0.0, 0, 0, {}, group
        self.gx_py4j = 0


class Py4JCalls:
    """Counts the Python driver's round trips to the JVM (every Py4J command: a method call, a field,
    a DataFrame built), by wrapping the gateway client's ``send_command``."""

    def __init__(self, spark: SparkSession) -> None:
        self.count = 0
        client = spark.sparkContext._gateway._gateway_client  # type: ignore[attr-defined]
        original = client.send_command

        def send_command(*a, **kw):  # type: ignore[no-untyped-def]
            self.count += 1
            return original(*a, **kw)

        client.send_command = send_command


METER = Meter()
JOB_GROUP_KEYS = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


@contextlib.contextmanager
def job_group(spark: SparkSession, group: str) -> Iterator[None]:
    """Spark jobs this thread starts meanwhile belong to ``group`` (the previous group is restored)."""
    sc = spark.sparkContext
    before = {k: sc.getLocalProperty(k) for k in JOB_GROUP_KEYS}
    sc.setJobGroup(group, group)
    try:
        yield
    finally:
        for key, value in before.items():
            sc.setLocalProperty(key, value)  # type: ignore[arg-type]  (None removes it)


def instrument_checks(spark: SparkSession) -> None:
    """Wrap ``Checks.gate`` and ``Checks.rest`` (the calls GX runs in,
    ``sparkify.pipeline.ingest.routed_batch``; the rest on a thread of its own, beside the batch's
    writes): time them, count their Py4J round trips and put their Spark jobs in the group
    ``<batch group>-gx``."""
    calls = Py4JCalls(spark)

    def wrapped(original, name: str):  # type: ignore[no-untyped-def]
        def run(self, df, suite_name, batch_id, dataset, tallies):  # type: ignore[no-untyped-def]
            began, before = time.perf_counter(), calls.count
            try:
                with job_group(spark, f"{METER.group}-gx"):
                    outcome = original(self, df, suite_name, batch_id, dataset, tallies)
            finally:
                METER.gx_seconds += time.perf_counter() - began
                METER.gx_py4j += calls.count - before
                METER.gx_calls += 1
            METER.validations += outcome is not None and name == "rest"  # once per batch
            return outcome

        return run

    for name in ("gate", "rest"):
        setattr(gx_validation.Checks, name, wrapped(getattr(gx_validation.Checks, name), name))


class StepTimes(logging.Handler):
    """Collects the ``<batch>: <step> took Xs`` and ``MERGE into <path> took Xs`` lines of
    ``sparkify.progress.timed`` into the current batch's steps."""

    def emit(self, record: logging.LogRecord) -> None:
        match = STEP.match(record.getMessage())
        if not match:
            return
        name = match.group(2)
        for verb in ("MERGE into ", "time scope for "):
            if name.startswith(verb):
                name = verb + Path(name.removeprefix(verb)).name
        METER.steps[name] = METER.steps.get(name, 0.0) + float(match.group(3))


UNLOGGED = {  # steps of RawFilesSink that log no timing of their own: timed by the bench's wrappers
    "merge_new_plays": "new plays → songplays (time scope, the wait for GX, MERGE)",
    "record_batch": "pipeline_metrics append",
}
NESTED = ("time scope for songplays", "MERGE into songplays")  # inside merge_new_plays


def time_unlogged_steps() -> None:
    """Wrap the ``sparkify.pipeline.ingest`` functions the sink calls (through the module, so the
    wrapper is what it calls) whose time no log line gives."""
    for attr, name in UNLOGGED.items():
        original = getattr(ingest, attr)

        def timed_step(*a, _original=original, _name=name, **kw):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                METER.steps[_name] = METER.steps.get(_name, 0.0) + time.perf_counter() - began

        setattr(ingest, attr, timed_step)


def listen_to_steps() -> None:
    handler = StepTimes(level=logging.INFO)
    for name in ("sparkify", "streaming", "expectations"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)


@dataclass(frozen=True)
class Jobs:
    jobs: int
    tasks: int
    seconds: float  # the jobs' own wall time, submission to completion, summed
    sites: tuple[str, ...] = ()  # each job's call site ("collect at <file>:<line>")


def jobs_of(spark: SparkSession, group: str) -> Jobs:
    """Spark jobs (their stages' tasks, their wall time) that ran in ``group``, from the status tracker
    and store (which keep the last ``spark.ui.retainedJobs`` jobs, UI or not: read right after the
    batch)."""
    tracker = spark.sparkContext.statusTracker()
    store = spark.sparkContext._jsc.sc().statusStore()  # type: ignore[attr-defined]
    ids = tracker.getJobIdsForGroup(group)
    tasks, seconds, sites = 0, 0.0, []
    for job in ids:
        info = tracker.getJobInfo(job)
        for stage in info.stageIds if info else ():
            stage_info = tracker.getStageInfo(stage)
            tasks += stage_info.numTasks if stage_info else 0
        data = store.job(job)
        submitted, completed = data.submissionTime(), data.completionTime()
        if submitted.isDefined() and completed.isDefined():
            seconds += (completed.get().getTime() - submitted.get().getTime()) / 1000
        sites.append(re.sub(r"/\S*/site-packages/", "", str(data.name())))
    return Jobs(len(ids), tasks, seconds, tuple(sites))


# ---------------------------------------------------------------------------------------------------
# Part 1: overhead of GX per micro-batch, through RawFilesSink.


@dataclass(frozen=True)
class Batch:
    """One micro-batch through the sink, measured."""

    round: int
    mode: str
    dataset: str
    index: int  # within its block
    lines: int
    seconds: float
    gx_seconds: float
    validated: bool
    jobs: Jobs
    gx_jobs: Jobs
    gx_py4j: int
    steps: dict[str, float]
    load1: float

    @property
    def share(self) -> float:
        """GX's own time, of the batch's."""
        return self.gx_seconds / self.seconds

    @property
    def share_with_record(self) -> float:
        """GX's time and the quality_results append of its results, of the batch's."""
        return (self.gx_seconds + self.steps.get("quality_results append", 0.0)) / self.seconds


def files_batch(spark: SparkSession, root: str, paths: Sequence[Path]) -> DataFrame:
    """The micro-batch the stream's file source would give for ``paths`` (files under ``root``): one
    row per file, source_file (relative to ``root``), landed_at, value."""
    df = spark.read.format("text").option("wholetext", "true").load([str(p) for p in paths])
    return with_file_metadata(df, root_prefix(spark, root))


def line_count(paths: Sequence[Path]) -> int:
    return sum(sum(1 for line in p.read_text().splitlines() if line.strip()) for p in paths)


def lake_config(work: Path, gx: bool) -> PipelineConfig:
    landing = work / "landing"
    env = sparkify_env(landing / "song_data", landing / "log_data", work / "lake")
    if not gx:
        env["SPARKIFY_QUALITY_GREAT_EXPECTATIONS"] = "false"
    return load_config("local", env=env, cwd=work)


class Feeder:
    """Hands out the generated files, each once: song files ``per_batch`` at a time, event files one at
    a time (a day each). Consecutive batches' files go to GX on and GX off in turn (day 1 on, day 2 off,
    day 3 on, ...), so that both modes see the same mix of file sizes."""

    def __init__(self, landing: Path, songs_per_batch: int) -> None:
        songs = sorted((landing / "song_data").rglob("*.json"))
        events = sorted((landing / "log_data").rglob("*.json"))
        song_batches = [songs[i : i + songs_per_batch] for i in range(0, len(songs), songs_per_batch)]
        self.pools: dict[tuple[str, str], list[list[Path]]] = {}
        for k, mode in enumerate(MODES):
            self.pools[mode, ingest.SONGS.name] = song_batches[k :: len(MODES)]
            self.pools[mode, ingest.EVENTS.name] = [[e] for e in events[k :: len(MODES)]]

    def take(self, dataset: ingest.Dataset, mode: str) -> list[Path]:
        pool = self.pools[mode, dataset.name]
        if not pool:
            raise RuntimeError(f"ran out of generated {dataset.name} files for GX {mode}")
        return pool.pop(0)


def run_batch(
    spark: SparkSession, sink: RawFilesSink, feeder: Feeder, batch_id: int, round_no: int, index: int
) -> Batch:
    dataset = sink.dataset
    mode = "on" if sink.checks.validator is not None else "off"
    paths = feeder.take(dataset, mode)
    now = time.time()
    for p in paths:
        os.utime(p, (now, now))  # the files land now, after everything staged so far
    root = ingest.landing_root(sink.config, dataset)
    batch_df = files_batch(spark, root, paths)
    group = f"bench-{mode}-{dataset.name}-{batch_id}"
    METER.reset(group)
    load1 = os.getloadavg()[0]
    with job_group(spark, group):
        began = time.perf_counter()
        sink(batch_df, batch_id)
        seconds = time.perf_counter() - began
    gx_jobs = jobs_of(spark, f"{group}-gx")
    own = jobs_of(spark, group)
    return Batch(
        round_no, mode, dataset.name, index, line_count(paths), seconds, METER.gx_seconds,
        METER.validations > 0,
        Jobs(own.jobs + gx_jobs.jobs, own.tasks + gx_jobs.tasks, own.seconds + gx_jobs.seconds), gx_jobs,
        METER.gx_py4j, dict(METER.steps), load1,
    )  # fmt: skip


@dataclass
class Overhead:
    batches: list[Batch]  # measured (warm-up excluded)
    warmup: list[Batch]
    loads: list[str]
    quality_rows: int
    seconds: float


def run_overhead(spark: SparkSession, work: Path, args: argparse.Namespace, loads: list[str]) -> Overhead:
    configs = {mode: lake_config(work, gx=mode == "on") for mode in MODES}
    ensure_tables(spark, configs["on"])
    checks = {mode: gx_validation.load_checks(configs[mode].quality) for mode in MODES}
    assert checks["on"].validator is not None and checks["off"].validator is None
    sinks: dict[tuple[str, str], RawFilesSink] = {}
    next_id: dict[tuple[str, str], int] = {}
    for mode in MODES:
        for dataset in ingest.DATASETS:
            sink = RawFilesSink(configs[mode], dataset, "unused", checks[mode])
            sink.app_id = APP_IDS[mode]  # as tests/test_stream.py: no checkpoint to read it from
            sinks[mode, dataset.name] = sink
            next_id[mode, dataset.name] = 0
    feeder = Feeder(work / "landing", args.songs_per_batch)

    def block(round_no: int, mode: str, n: int) -> list[Batch]:
        out = []
        for i in range(n):
            for dataset in ingest.DATASETS:  # songs, then events: plays look up the songs staged before
                key = (mode, dataset.name)
                b = run_batch(spark, sinks[key], feeder, next_id[key], round_no, i)
                next_id[key] += 1
                out.append(b)
                say(
                    f"round {round_no} GX {mode:3} {dataset.name:6} #{i:02d}: {b.lines:4} lines "
                    f"{b.seconds:5.2f}s (GX {b.gx_seconds:4.2f}s, {b.gx_jobs.jobs} GX jobs of {b.jobs.jobs}, "
                    f"{b.gx_py4j} Py4J calls) "
                    f"load {b.load1:.1f}"
                )
        return out

    began = time.perf_counter()
    warmup = [b for mode in MODES for b in block(0, mode, args.warmup)]
    loads.append(f"overhead, after the warm-up: {load_average()}")
    measured: list[Batch] = []
    for round_no in range(1, args.rounds + 1):
        for mode in MODES:
            measured += block(round_no, mode, args.batches)
            loads.append(f"overhead, round {round_no} GX {mode} done: {load_average()}")
    quality = spark.read.format("delta").load(configs["on"].table_path("quality_results")).count()
    return Overhead(measured, warmup, loads, quality, time.perf_counter() - began)


# ---------------------------------------------------------------------------------------------------
# Part 2: driver memory over many tiny batches with GX on.


@dataclass(frozen=True)
class Sample:
    batch: int  # 1-based: after this many batches
    seconds: float  # the batch's own time
    gx_seconds: float
    python_rss: int  # bytes
    jvm_rss: int | None
    persistent_rdds: int
    store_keys: int
    heap_after_gc: int | None  # bytes, every --gc-every batches
    python_objects: int | None  # after gc.collect(), every --gc-every batches


def vm_rss(pid: int | str = "self") -> int | None:
    """A process's resident set (VmRSS) in bytes."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) * 1024 if match else None


def jvm_pid() -> int | None:
    """The driver JVM: the ``java`` process below this Python process."""
    for pid in sorted(descendants(os.getpid(), parent_pids()) - {os.getpid()}):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
                return pid
        except OSError:
            continue
    return None


def persistent_rdds(spark: SparkSession) -> list[str]:
    """What Spark holds persisted: each RDD as it describes itself (id, kind, call site)."""
    held = spark.sparkContext._jsc.getPersistentRDDs()  # type: ignore[attr-defined]
    return sorted(str(held.get(k).toString()) for k in held.keySet().toArray())


def heap_used_after_gc(spark: SparkSession) -> int:
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    jvm.java.lang.System.gc()
    return int(jvm.java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed())


def tiny_files(work: Path, sources: Sequence[Path], n: int, lines: tuple[int, int], seed: int) -> list[Path]:
    """``n`` event files of ``lines`` (lo, hi) lines each, cut in order from ``sources`` (cycled)."""
    pool = [line for p in sources for line in p.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    out, at = [], 0
    folder = work / "tiny" / "log_data" / "2018" / "11"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        k = rng.randint(*lines)
        chunk = [pool[(at + j) % len(pool)] for j in range(k)]
        at += k
        path = folder / f"tiny-{i:05d}-events.json"
        path.write_text("\n".join(chunk) + "\n")
        out.append(path)
    return out


@dataclass
class Memory:
    samples: list[Sample]
    lines: list[int]
    jvm: int | None
    seconds: float
    gc_every: int
    rdds_before: list[str]  # persistent RDDs before the first batch, and after the last
    rdds_after: list[str]


def run_memory(
    spark: SparkSession,
    work: Path,
    args: argparse.Namespace,
    loads: list[str],
    progress: Callable[[str], None],
) -> Memory:
    events = sorted((work / "landing" / "log_data").rglob("*.json"))
    files = tiny_files(work, events, args.memory_batches, tuple(args.tiny_lines), args.seed)
    lines = [line_count([p]) for p in files]
    root = str(work / "tiny" / "log_data")
    checks = gx_validation.load_checks(lake_config(work, gx=True).quality)  # the job's own, long-lived
    routing = ingest.Routing.of(ingest.EVENTS, checks)
    store = checks.validator.context.validation_results_store  # type: ignore[union-attr]
    jsc = spark.sparkContext._jsc  # type: ignore[attr-defined]
    java = jvm_pid()
    samples = []
    rdds_before = persistent_rdds(spark)
    began = time.perf_counter()
    for i, path in enumerate(files, start=1):
        METER.reset(f"bench-memory-{i}")
        t0 = time.perf_counter()
        batch_df = files_batch(spark, root, [path])
        with ingest.routed_batch(
            routing, batch_df, f"memory-{i:05d}", dt.datetime.now(dt.UTC), checks
        ) as routed:
            if routed.validated() is None:
                raise RuntimeError(f"batch {i}: GX did not validate it")
        seconds = time.perf_counter() - t0
        heap = objects = None
        if i % args.gc_every == 0 or i == 1:
            heap = heap_used_after_gc(spark)
            gc.collect()
            objects = len(gc.get_objects())
        sample = Sample(
            i, seconds, METER.gx_seconds, vm_rss() or 0, vm_rss(java) if java else None,
            int(jsc.getPersistentRDDs().size()), len(store.list_keys()), heap, objects,
        )  # fmt: skip
        samples.append(sample)
        if i % 100 == 0 or i == 1:
            progress(
                f"memory: {i}/{len(files)} batches, {seconds:.2f}s (GX {sample.gx_seconds:.2f}s); "
                f"Python RSS {sample.python_rss / MiB:.0f} MiB, JVM RSS "
                f"{(sample.jvm_rss or 0) / MiB:.0f} MiB, heap after GC {(heap or 0) / MiB:.0f} MiB, "
                f"{sample.persistent_rdds} cached RDDs, {sample.store_keys} stored results, "
                f"load {load_average()}"
            )
        if i == len(files) // 2:
            loads.append(f"memory, batch {i}: {load_average()}")
    seconds = time.perf_counter() - began
    return Memory(samples, lines, java, seconds, args.gc_every, rdds_before, persistent_rdds(spark))


def fit_slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; NaN with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / sxx


@dataclass(frozen=True)
class Trend:
    label: str
    unit: str
    first: float  # median over the first 100 batches
    last: float  # median over the last 100
    slope_all: float  # per 1,000 batches
    slope_late: float  # per 1,000 batches, fitted after the first 100 batches
    level: float  # median over all samples

    @property
    def flat(self) -> bool:
        if self.unit == "count":  # a count is flat if it ends no higher than it began
            return self.last <= self.first and self.slope_late <= 1.0
        return abs(self.slope_late) <= FLAT_SHARE * abs(self.level)


def trend(label: str, unit: str, points: Sequence[tuple[int, float]], window: int = 100) -> Trend:
    points = [(x, y) for x, y in points if y is not None]
    last_batch = max(x for x, _ in points)
    first = [y for x, y in points if x <= window]
    last = [y for x, y in points if x > last_batch - window]
    late = [(x, y) for x, y in points if x > window]
    return Trend(
        label, unit, median(first), median(last), fit_slope(points) * 1000, fit_slope(late) * 1000,
        median(y for _, y in points),
    )  # fmt: skip


def memory_trends(m: Memory) -> list[Trend]:
    s = m.samples
    trends = [
        trend("Python driver RSS (VmRSS)", "MiB", [(x.batch, x.python_rss / MiB) for x in s]),
        trend(
            "JVM heap used after System.gc()",
            "MiB",
            [(x.batch, x.heap_after_gc / MiB) for x in s if x.heap_after_gc is not None],
        ),
        trend(
            "Python objects after gc.collect()",
            "thousand",
            [(x.batch, x.python_objects / 1000) for x in s if x.python_objects is not None],
        ),
    ]
    if all(x.jvm_rss is not None for x in s):
        trends.append(trend("driver JVM RSS (VmRSS)", "MiB", [(x.batch, x.jvm_rss / MiB) for x in s]))  # type: ignore[operator]
    trends += [
        trend(
            "persistent RDDs (getPersistentRDDs)", "count", [(x.batch, float(x.persistent_rdds)) for x in s]
        ),
        trend("keys in GX's validation results store", "count", [(x.batch, float(x.store_keys)) for x in s]),
    ]
    return trends


def memory_png(report: Path) -> Path:
    """validation.md → validation_memory.png beside it."""
    return report.with_name(f"{report.stem}_memory.png")


def plot_memory(m: Memory, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    s = m.samples
    gcs = [x for x in s if x.heap_after_gc is not None]
    every = [x.batch for x in s]
    sampled = [x.batch for x in gcs]
    panels = [
        ("Python driver RSS (after every batch)", "MiB", every, [x.python_rss / MiB for x in s]),
        (
            f"Python objects after gc.collect() (every {m.gc_every} batches)",
            "thousand",
            sampled,
            [(x.python_objects or 0) / 1000 for x in gcs],
        ),
        (
            f"JVM heap used after System.gc() (every {m.gc_every} batches)",
            "MiB",
            sampled,
            [(x.heap_after_gc or 0) / MiB for x in gcs],
        ),
        ("driver JVM RSS (after every batch)", "MiB", every, [(x.jvm_rss or 0) / MiB for x in s]),
        ("persistent RDDs (getPersistentRDDs)", "count", every, [x.persistent_rdds for x in s]),
        ("keys in GX's validation results store", "count", every, [x.store_keys for x in s]),
    ]
    fig, axes = plt.subplots(3, 2, figsize=(11, 9), sharex=True)
    for ax, (title, unit, xs, ys) in zip([a for row in axes for a in row], panels, strict=True):
        ax.plot(xs, ys, lw=1, marker="." if len(xs) < 200 else None, color="#3d7ab8")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=-0.3 if unit == "count" else 0, top=max(max(ys, default=0) * 1.15, 5))
    for ax in axes[-1]:
        ax.set_xlabel("batches validated")
    fig.suptitle(
        f"Driver memory over {len(s):,} tiny events batches with GX on "
        f"({min(m.lines)}–{max(m.lines)} lines each; routed_batch + GX, no Delta writes)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot written to {path}")
    return True


# ---------------------------------------------------------------------------------------------------
# The report.


def s2(x: float) -> str:
    return f"{x:.2f}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def pick(batches: Sequence[Batch], **match: object) -> list[Batch]:
    return [b for b in batches if all(getattr(b, k) == v for k, v in match.items())]


def shown_work(work: Path) -> Path:
    """The work directory as a reader at the repository root would name it."""
    work = work.resolve()
    return work.relative_to(BENCH.parent) if work.is_relative_to(BENCH.parent) else work


def render(args: argparse.Namespace, summary: GenerateSummary, o: Overhead | None, m: Memory | None,
           loads: list[str], plotted: bool, jvm_seconds: float, code: str) -> str:  # fmt: skip
    lines = report_header("Great Expectations on every micro-batch: overhead and driver memory", __file__)
    lines += [
        "SPEC targets: **validation ≤ 30% of micro-batch time**; **driver memory flat over 1,000 "
        "micro-batches**. All in one Python process and one SparkSession (the local profile: "
        f"`local[2]`, 4 shuffle partitions, driver memory 4g, UI off; the JVM took {jvm_seconds:.0f} s to "
        "start), with a lake under "
        f"`{shown_work(args.work)}`.",
        "",
        f"Code: {code}. Raw measurements: `{shown_work(args.work)}/measurements.json`.",
        "",
        *machine_section(loads),
        "## Data",
        "",
        f"`sparkify.synthetic.generate_dataset(landing, seed={args.seed}, songs={summary.song_files}, "
        f"users={args.users}, days={summary.event_files})`: {summary.song_files} song files, "
        f"{summary.event_files} event files (one per day), {summary.events:,} events. Each file is used "
        "by one batch only.",
        "",
    ]
    if o is not None:
        lines += overhead_section(args, o)
    if m is not None:
        lines += memory_section(args, m, plotted)
    lines += [
        "## Commands",
        "",
        "```",
        f"{' '.join(['.venv/bin/python', 'bench/bench_validation.py', *sys.argv[1:]])}",
        "```",
        "",
        "Validation off is the pipeline's switch `[quality] great_expectations = false` "
        "(`SPARKIFY_QUALITY_GREAT_EXPECTATIONS=false`), read by `checkpoints_config.load_config`; "
        "`expectations.validation.load_checks` then builds no GX context.",
        "",
    ]
    return "\n".join(lines)


OVERHEAD_HEADER = (
    "dataset", "mode", "batches", "lines / batch", "batch s: min", "median", "p95", "median on / off",
    "GX s: min / median / p95", "GX share of the batch (median)",
    "GX + its quality_results append, share (median)",
)  # fmt: skip
MEMORY_HEADER = (
    "measure", "unit", "first 100 batches (median)", "last 100 (median)", "change",
    "fitted slope per 1,000 batches (all)", "fitted slope per 1,000 (after batch 100)", "verdict",
)  # fmt: skip


def verdict(share: float) -> str:
    return "PASS" if share <= TARGET_SHARE else "FAIL"


def overhead_section(args: argparse.Namespace, o: Overhead) -> list[str]:
    b = o.batches
    rows = []
    verdicts = []
    for dataset in ("events", "songs"):
        on, off = pick(b, dataset=dataset, mode="on"), pick(b, dataset=dataset, mode="off")
        t_on, t_off = [x.seconds for x in on], [x.seconds for x in off]
        gx = [x.gx_seconds for x in on]
        share = median(x.share for x in on)
        with_record = median(x.share_with_record for x in on)
        net = 1 - median(t_off) / median(t_on)
        verdicts.append((dataset, share, with_record, net, median(t_on) / median(t_off)))
        for mode, batch_list in (("on", on), ("off", off)):
            times = [x.seconds for x in batch_list]
            rows.append(
                (
                    dataset,
                    f"GX {mode}",
                    len(times),
                    f"{median(x.lines for x in batch_list):.0f}",
                    s2(min(times)),
                    f"**{s2(median(times))}**",
                    s2(percentile(times, 95)),
                    f"{median(t_on) / median(t_off):.2f}×" if mode == "on" else "1",
                    f"{s2(min(gx))} / {s2(median(gx))} / {s2(percentile(gx, 95))}" if mode == "on" else "–",
                    f"**{pct(share)}**" if mode == "on" else "–",
                    pct(with_record) if mode == "on" else "–",
                )
            )
    lines = [
        "## 1. GX's share of a micro-batch (`streaming.sink.RawFilesSink`)",
        "",
        f"{args.rounds} rounds; in each, a block of {args.batches} batches per dataset with GX on, then a "
        f"block of {args.batches} with GX off (songs and events batches alternate within a block: "
        f"songs, events, songs, …). Before round 1, {args.warmup} batches per dataset and mode were run "
        "and are not counted (JIT, GX's first run, each sink's first-batch replay and hand-off lookups). "
        f"An events batch is one day's event file; a songs batch is {args.songs_per_batch} song files; "
        "consecutive days (and groups of song files) go to GX on and GX off in turn, so both modes see the "
        "same mix of sizes. "
        "Each batch does what the stream's raw-file query does: read and parse the files, route the rows "
        "(one pass), GX (when on), the quarantine MERGE (when a row is rejected), the staging append, for "
        "events the songplays MERGE, the quality_results append (GX on), then the pipeline_metrics "
        "append.",
        "",
        "Batch time = the `sink(batch_df, batch_id)` call, wall clock. GX time = wall clock inside "
        "`Checks.gate` and `Checks.rest` (wrapped by the bench; the rest runs beside the batch's "
        "writes). GX's share = GX time / batch time, per batch with GX on (median shown); the next "
        "column adds the quality_results append that records GX's results "
        "(no GX, no append).",
        "",
        *md_table(OVERHEAD_HEADER, rows),
        "",
    ]
    for dataset, share, with_record, net, ratio in verdicts:
        lines.append(
            f"- **{dataset}: GX itself takes {pct(share)} of a micro-batch (target ≤ {pct(TARGET_SHARE)}): "
            f"{verdict(share)}.** GX and the quality_results append of its results: {pct(with_record)} "
            f"({verdict(with_record)}). Net, the median batch is {ratio:.2f}× as long with GX on as off: "
            f"switching GX off saves {pct(net)} of it ({verdict(net)})."
        )
    gx_on = [x for x in b if x.mode == "on"]
    jobs_part = median(x.gx_jobs.seconds for x in gx_on) / median(x.gx_seconds for x in gx_on)
    lines += ["", "What GX's time is made of, per validation (medians, GX on):", ""]
    lines += md_table(
        ["dataset", "GX s", "Spark jobs", "their tasks", "the jobs' own wall time s", "Py4J round trips"],
        [
            (
                dataset,
                s2(median(x.gx_seconds for x in batch_list)),
                f"{median(x.gx_jobs.jobs for x in batch_list):.0f}",
                f"{median(x.gx_jobs.tasks for x in batch_list):.0f}",
                s2(median(x.gx_jobs.seconds for x in batch_list)),
                f"{median(x.gx_py4j for x in batch_list):,.0f}",
            )
            for dataset in ("events", "songs")
            if (batch_list := pick(gx_on, dataset=dataset))
        ],
    )
    lines += [
        "",
        "Where GX's Spark jobs come from (call sites, all GX-on batches): "
        + "; ".join(
            f"`{site}` ×{n}"
            for site, n in Counter(site for x in gx_on for site in x.gx_jobs.sites).most_common()
        )
        + f". Those jobs' own wall time is {pct(jobs_part)} of GX's time (medians); the rest is GX "
        "building its metric graph in Python, and the DataFrames it builds for each metric, each built "
        "through Py4J round trips and analysed in the JVM (on a batch GX only judges, with the "
        "`BOOLEAN_ONLY` result format of `expectations/validation.py`: the counts come from the routing "
        "pass, and GX plans no query of unexpected values).",
    ]
    lines += ["", "Round by round (medians of each block; the machine's load moves between blocks):", ""]
    round_rows = []
    for r in range(1, args.rounds + 1):
        for dataset in ("events", "songs"):
            on = pick(b, round=r, dataset=dataset, mode="on")
            off = pick(b, round=r, dataset=dataset, mode="off")
            m_on, m_off = median(x.seconds for x in on), median(x.seconds for x in off)
            round_rows.append(
                (
                    r, dataset, s2(min(x.seconds for x in on)), s2(m_on), s2(min(x.seconds for x in off)),
                    s2(m_off), f"{m_on / m_off:.2f}×", s2(median(x.gx_seconds for x in on)),
                    pct(median(x.share for x in on)),
                    f"{median(x.load1 for x in on):.1f} / {median(x.load1 for x in off):.1f}",
                )
            )  # fmt: skip
    lines += md_table(
        ["round", "dataset", "on min s", "on median s", "off min s", "off median s", "on / off",
         "GX s", "GX share", "load (1 min) on / off"],
        round_rows,
    )  # fmt: skip
    lines += ["", "### Where a batch's time goes", ""]
    lines += [
        "Median seconds per step, from the jobs' own `… took Xs` log lines (`sparkify.progress.timed`), "
        "and for the new plays and the pipeline_metrics append, which log none, from the bench's wrappers "
        "around `sparkify.pipeline.ingest.merge_new_plays` and `record_batch`. The rest is what the sink "
        "does besides (persisting the batch and collecting its files' names, building the DataFrames). Spark "
        "jobs per batch come from the status tracker (job groups set around the sink call and, by the "
        "bench's wrapper, around `Checks.gate` and `Checks.rest`).",
        "",
    ]
    order = [
        "read, parse and route", "validate with Great Expectations", "quarantine", "quality_results append",
        "staging append", UNLOGGED["merge_new_plays"], *NESTED, UNLOGGED["record_batch"],
    ]  # fmt: skip
    seen = {name for x in b for name in x.steps}
    names = [n for n in order if n in seen] + sorted(seen - set(order))
    step_rows = []
    for dataset in ("events", "songs"):
        for mode in MODES:
            batch_list = pick(b, dataset=dataset, mode=mode)
            known = [sum(v for k, v in x.steps.items() if k not in NESTED) for x in batch_list]
            step_rows.append(
                (
                    dataset,
                    f"GX {mode}",
                    *(
                        s2(median(x.steps.get(n, 0.0) for x in batch_list))
                        if any(n in x.steps for x in batch_list)
                        else "–"
                        for n in names
                    ),
                    s2(median(x.seconds - k for x, k in zip(batch_list, known, strict=True))),
                    s2(median(x.seconds for x in batch_list)),
                    f"{median(x.jobs.jobs for x in batch_list):.0f}",
                    f"{median(x.gx_jobs.jobs for x in batch_list):.0f}",
                    f"{median(x.gx_jobs.tasks for x in batch_list):.0f}",
                )
            )
    header = [f"of which: {n}" if n in NESTED else n for n in names]
    lines += md_table(
        ["dataset", "mode", *header, "rest", "batch", "Spark jobs", "of which GX", "GX tasks"], step_rows
    )
    gx_on = pick(b, mode="on")
    lines += [
        "",
        f"GX ran on every batch with GX on ({sum(x.validated for x in gx_on)} of {len(gx_on)}) and on none "
        f"with it off ({sum(x.validated for x in pick(b, mode='off'))}); quality_results holds "
        f"{o.quality_rows:,} rows (warm-up included). The overhead part took {o.seconds / 60:.1f} min.",
        "",
    ]
    return lines


def memory_section(args: argparse.Namespace, m: Memory, plotted: bool) -> list[str]:
    trends = memory_trends(m)
    n = len(m.samples)
    tiny_times = [x.seconds for x in m.samples]
    tiny_gx = [x.gx_seconds for x in m.samples]
    rows = [
        (
            t.label,
            t.unit,
            f"{t.first:,.1f}",
            f"{t.last:,.1f}",
            f"{t.last - t.first:+,.1f}",
            f"{t.slope_all:+,.2f}",
            f"{t.slope_late:+,.2f}",
            "flat" if t.flat else "**grows**",
        )
        for t in trends
    ]
    lines = [
        f"## 2. Driver memory over {n:,} micro-batches with GX on",
        "",
        f"{n:,} tiny events batches ({min(m.lines)}–{max(m.lines)} lines, median {median(m.lines):.0f}; "
        "one file each, cut from the generated event files) through "
        "`sparkify.pipeline.ingest.routed_batch` with the job's long-lived `Checks` (one GX context for "
        "all of them): read, parse and route (one Spark pass, the batch persisted), GX's validation of "
        "the parsed rows, then the batch unpersisted. "
        "**Not** through the sink: the Delta writes (quarantine, quality_results, staging, songplays, "
        f"pipeline_metrics) are left out, as {n:,} batches of them would take hours here. Sampled after "
        f"every batch (RSS, cached RDDs, stored results) and every {args.gc_every} batches (heap after "
        "`System.gc()`, Python objects after `gc.collect()`).",
        "",
        *md_table(MEMORY_HEADER, rows),
        "",
        f'Verdict "flat": the slope fitted after the first 100 batches is within ±{pct(FLAT_SHARE)} of the '
        "measure's median level per 1,000 batches (a count: it ends no higher than it began). The "
        "first 100 batches include the warm-up (classes loaded, code compiled, Spark's status store "
        "filling up to its `spark.ui.retainedJobs` / `spark.sql.ui.retainedExecutions` = 1,000 limits, "
        "which it then keeps).",
        "",
        f"Batch time in this part: median {median(tiny_times):.2f} s (p95 {percentile(tiny_times, 95):.2f} "
        f"s), of which GX median {median(tiny_gx):.2f} s: on a batch this small, GX's fixed cost per batch "
        f"is {pct(median(x.gx_seconds / x.seconds for x in m.samples))} of parse + route + GX. "
        f"{n:,} batches took {m.seconds / 60:.1f} min.",
        "",
        f"Persistent RDDs before the first of these batches ({len(m.rdds_before)}): "
        + (", ".join(f"`{r}`" for r in m.rdds_before) or "none")
        + f"; after the last ({len(m.rdds_after)}): "
        + (", ".join(f"`{r}`" for r in m.rdds_after) or "none")
        + ".",
        "",
        (
            f"![driver memory over the batches]({memory_png(args.report).name})"
            if plotted
            else "No plot: matplotlib is not installed (`.venv/bin/pip install -e '.[bench]'`)."
        ),
        "",
    ]
    return lines


# ---------------------------------------------------------------------------------------------------
# The results for bench/suite.py.


def figures(o: Overhead | None, m: Memory | None) -> list[Figure]:
    """GX's share of a batch and the batch time on / off per dataset; each memory measure's drift."""
    out = []
    for dataset in ("events", "songs") if o is not None else ():
        on, off = pick(o.batches, dataset=dataset, mode="on"), pick(o.batches, dataset=dataset, mode="off")
        share = median(x.share for x in on)
        t_on, t_off = [x.seconds for x in on], [x.seconds for x in off]
        out += [
            Figure(f"GX's share of a micro-batch, {dataset}", 100 * share, "%", f"≤ {pct(TARGET_SHARE)}",
                   at_most(share, TARGET_SHARE), 100 * min(x.share for x in on)),
            ratio_figure(f"micro-batch time, {dataset}, GX on / off", t_on, t_off),
        ]  # fmt: skip
    for t in memory_trends(m) if m is not None else ():
        target = "no growth" if t.unit == "count" else f"flat: within ±{pct(FLAT_SHARE)} of its level"
        out.append(
            Figure(f"{t.label}: drift per 1,000 batches (after batch 100)", t.slope_late,
                   f"{t.unit} per 1,000 batches", target, t.flat, note=f"level {t.level:,.1f} {t.unit}")
        )  # fmt: skip
    return out


def memory_series(m: Memory | None) -> dict[str, object]:
    """Driver memory after each batch (heap: every --gc-every batches), MiB against the batch index."""
    s = m.samples if m is not None else []
    return xy_series(
        "micro-batches validated",
        "MiB",
        {
            "Python driver RSS": [(x.batch, x.python_rss / MiB) for x in s],
            "driver JVM RSS": [(x.batch, x.jvm_rss / MiB) for x in s if x.jvm_rss is not None],
            "JVM heap used after System.gc()": [
                (x.batch, x.heap_after_gc / MiB) for x in s if x.heap_after_gc is not None
            ],
        },
    )


# ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20, help="batches per dataset, mode and round")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted batches per dataset and mode")
    parser.add_argument("--users", type=int, default=50, help="~17 events per user and day file")
    parser.add_argument("--songs-per-batch", type=int, default=5)
    parser.add_argument("--memory-batches", type=int, default=1000)
    parser.add_argument("--tiny-lines", type=int, nargs=2, default=[20, 50], metavar=("LO", "HI"))
    parser.add_argument("--gc-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--work", type=Path, help="default: bench/out/validation")
    parser.add_argument("--report", type=Path, help="default: bench/reports/validation.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 1 batch, no warm-up, 6 memory batches"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.batches, args.warmup, args.users = 1, 1, 0, 10
        args.memory_batches, args.gc_every = 6, 3
    args.report = report_path(args.report, "validation.md", args.quick)
    args.work = work_path(args.work, "validation", args.quick)
    if args.memory_batches < 200 and not args.skip_memory:
        say("fewer than 200 memory batches: first/last-100 windows overlap (a quick run)")

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    code = code_state()  # at the start: other work may change the checkout meanwhile
    loads = [f"start: {load_average()}"]
    batches = 0 if args.skip_overhead else (2 * args.warmup + 2 * args.rounds * args.batches)
    days = max(batches, 10)
    summary = generate_dataset(
        work / "landing", seed=args.seed, songs=max(args.songs_per_batch * batches, 50), users=args.users,
        days=days,
    )  # fmt: skip
    say(f"generated {summary.song_files} song files, {summary.event_files} event files")

    began = time.perf_counter()
    spark = local_spark("bench-validation")
    spark.range(1).collect()
    jvm_seconds = time.perf_counter() - began
    listen_to_steps()
    time_unlogged_steps()
    instrument_checks(spark)
    loads.append(f"JVM up: {load_average()}")
    overhead = None if args.skip_overhead else run_overhead(spark, work, args, loads)
    memory = None
    if not args.skip_memory:
        memory = run_memory(spark, work, args, loads, say)
    loads.append(f"end: {load_average()}")
    spark.stop()

    plotted = False
    if memory is not None:
        plotted = plot_memory(memory, memory_png(args.report))
    raw = {"overhead": asdict(overhead) if overhead else None, "memory": asdict(memory) if memory else None}
    (work / "measurements.json").write_text(json.dumps(raw, indent=1, default=str))
    write_report(args.report, render(args, summary, overhead, memory, loads, plotted, jvm_seconds, code))
    write_results(
        args.report,
        __file__,
        figures(overhead, memory),
        series={"memory_mib_vs_batch": memory_series(memory)},
        loads=loads,
        quick=args.quick,
    )
    if args.quick:
        return 0  # a smoke run: too few batches to judge either target
    ok = True
    if overhead is not None:
        ok &= all(median(x.share for x in pick(overhead.batches, dataset=d, mode="on")) <= TARGET_SHARE
                  for d in ("events", "songs"))  # fmt: skip
    if memory is not None:
        ok &= all(t.flat for t in memory_trends(memory))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
