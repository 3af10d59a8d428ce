"""Benchmark discovery cost per trigger on S3: listing against event notifications, 1k vs 100k objects.

The SPEC's target (issue 12): discovery cost per trigger flat (≤ 1.2×) as landed files grow from 1k to
100k, with event-driven discovery on S3. Everything runs against moto's S3 and SQS server, started in
this process on 127.0.0.1 (a free port), with one SparkSession whose S3A filesystem points at it. Each
setup has its own bucket of N tiny song-like objects (``landing/song_data/A/B/C/TR….json``, random
letters as in bench_discovery.py; put by boto3 from a thread pool, or for big sets straight into moto's
in-process store):

- ``listing-N``: the stream's own listing source (``streaming.sources.raw_file_stream``) with a no-op
  ``foreachBatch``, from a checkpoint that has seen the N objects; a ``processingTime`` query: land 1
  object, wait for the trigger that takes it and keep Spark's ``durationMs`` (``latestOffset`` is the
  listing); then one idle trigger (a listing that finds nothing). Listing stops at 10k by default: moto
  answers each LIST page in time that grows with every key in the bucket (see the report).
- ``notifications-N``: ``landed_files`` holding N rows (one append: the state once N objects were
  announced), ``setup_notifications`` on the bucket, a ``QueueDrainer`` and the stream's notified source
  (``streaming.discovery.notified_file_stream``) with a no-op sink, from a checkpoint that has taken the
  N rows. Land 1 object, drain until it is recorded (the ``drain_once`` that recorded it is timed:
  receive, the insert-only MERGE into ``landed_files``, delete; SQS calls timed apart), wait for the
  trigger that takes it and keep its ``durationMs`` (``latestOffset`` reads ``landed_files``' Delta
  log); then one idle trigger.

Discovery per trigger is ``latestOffset`` for listing, drain + ``latestOffset`` for notifications.
Setups alternate within each round (order reversed every other round). Prints the figures, writes
bench/reports/discovery_s3.md and discovery_s3.json (for bench/suite.py; the raw figures as JSON in the
work directory too); never asserts a time.

    .venv/bin/python bench/bench_discovery_s3.py [--sizes 1000 100000] [--listing-sizes 1000 10000]
        [--rounds 3 --samples 3] [--quick]

(From a git worktree, add ``PYTHONPATH=.``: a script's own directory, not the working one, heads
``sys.path``, so the editable install's tree would be imported instead.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench_discovery import noop, unique_names, wait_for, wait_for_progress
from common import (
    Figure,
    load_average,
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
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from checkpoints_config import PipelineConfig, load_config
from sparkify.ops.notifications import setup_notifications
from sparkify.pipeline import ingest
from sparkify.s3 import aws_client, s3_client
from sparkify.session import build_spark, use_s3
from sparkify.tables import LANDED_FILES, create_table
from streaming.discovery import Drained, QueueDrainer, notified_file_stream
from streaming.sources import raw_file_stream

MODES = ("listing", "notifications")
TRIGGER = "1 second"
WAIT_S = 120.0  # for a drain that should take seconds (bench_discovery.wait_for waits as long for a query)
DURATION_KEYS = ("latestOffset", "getBatch", "queryPlanning", "walCommit", "addBatch", "triggerExecution")
LAND_THREADS = 16
S3A_PAGE = 5_000  # fs.s3a.paging.maximum's default: the max-keys S3A asks for
LAKE_BUCKET = "bench-lake"  # landed_files of every setup: apart from the landing buckets (see notes)
KEYS = "testing"  # moto takes any credentials
PREFIX = "landing/song_data"
TARGET_GROWTH = 1.2  # SPEC: discovery per trigger flat (≤ 1.2×) from 1k to 100k files, with notifications


@dataclass(frozen=True)
class Setup:
    mode: str
    files: int
    work: Path
    endpoint: str

    @property
    def name(self) -> str:
        return f"{self.mode}-{self.files}"

    @property
    def bucket(self) -> str:
        return f"bench-{self.name}"

    @property
    def queue(self) -> str:
        return f"bench-{self.name}"

    @property
    def root(self) -> str:
        return f"s3a://{self.bucket}/{PREFIX}"

    @property
    def checkpoint(self) -> Path:
        return self.work / self.name / "checkpoint"

    def config(self) -> PipelineConfig:
        """The s3 profile on this setup's bucket, with the stream on this setup's discovery."""
        return load_config(
            "s3",
            env={
                "SPARKIFY_PATHS_SONG_DATA": self.root,
                "SPARKIFY_PATHS_LOG_DATA": f"s3a://{self.bucket}/landing/log_data",
                "SPARKIFY_PATHS_OUTPUT_ROOT": f"s3a://{LAKE_BUCKET}/{self.name}",
                "SPARKIFY_S3_ENDPOINT": self.endpoint,
                "SPARKIFY_S3_ACCESS_KEY_ID": KEYS,
                "SPARKIFY_S3_SECRET_ACCESS_KEY": KEYS,
                "SPARKIFY_S3_PATH_STYLE": "true",
                "SPARKIFY_SPARK_UI_ENABLED": "false",
                "SPARKIFY_STREAM_DISCOVERY": self.mode,
                "SPARKIFY_STREAM_NOTIFICATIONS_QUEUE": self.queue,
            },
        )


@dataclass
class Prepared:
    landed_s: float  # putting the N objects but the first two
    planted: bool  # straight into moto's store, not through boto3
    seed_s: float  # listing: adding N to the checkpoint's seen files; notifications: landed_files' N rows
    take_s: float  # notifications: the availableNow run taking the seeded rows (listing: 0)
    sweep_s: float  # one boto3 LIST of the whole prefix, S3A's page size
    queue_url: str = ""
    table_files: int = 0  # landed_files' data files once seeded


@dataclass
class DrainTiming:
    """The ``drain_once`` that recorded the new object, and the SQS calls inside it."""

    total_ms: float
    receive_ms: float
    delete_ms: float
    drains: int  # drain_once calls until one recorded the object (1: it was in the queue at once)

    @property
    def merge_ms(self) -> float:
        """What is left once SQS is taken out: parsing, the insert-only MERGE into landed_files."""
        return self.total_ms - self.receive_ms - self.delete_ms


@dataclass
class Sample:
    setup: str
    round: int
    kind: str  # "steady" (the trigger that took the new object) or "idle" (one that found nothing)
    batch_id: int
    wall_s: float  # put → the trigger's report (steady); 0 for idle
    durations: dict[str, int] = field(default_factory=dict)
    drain: DrainTiming | None = None
    load: float = 0.0

    @property
    def discovery_ms(self) -> float:
        """Listing: latestOffset; notifications: the drain that recorded the object + latestOffset."""
        return self.durations.get("latestOffset", 0) + (self.drain.total_ms if self.drain else 0.0)


class TimedSqs:
    """An SQS client that adds up the time of its receive and delete calls (the rest it passes on)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.receive_s = self.delete_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def receive_message(self, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.sqs.receive_message(**kwargs)
        finally:
            self.receive_s += time.perf_counter() - began

    def delete_message_batch(self, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.sqs.delete_message_batch(**kwargs)
        finally:
            self.delete_s += time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 100_000], metavar=("SMALL", "BIG"))
    parser.add_argument(
        "--listing-sizes",
        type=int,
        nargs=2,
        default=[1_000, 10_000],
        metavar=("SMALL", "BIG"),
        help="listing's own sizes: moto lists a bucket in time that grows with all its keys on every page",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--samples", type=int, default=3, help="triggers taking 1 new object, per setup and round"
    )
    parser.add_argument(
        "--through-boto3",
        type=int,
        default=1_000,
        help="land sets up to this size through boto3; bigger ones straight into moto's in-process store",
    )
    parser.add_argument(
        "--seed-batch",
        type=int,
        default=0,
        help="write the N seeded landed_files rows one file per this many (as drains would leave them at "
        "least); 0: one append as Spark splits it (a few files)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 20 and 100, 1 round, 1 sample")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--work", type=Path, help="default: bench/out/discovery_s3")
    parser.add_argument("--report", type=Path, help="default: bench/reports/discovery_s3.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.listing_sizes, args.rounds, args.samples = [20, 100], [20, 100], 1, 1
    args.report = report_path(args.report, "discovery_s3.md", args.quick)
    args.work = work_path(args.work, "discovery_s3", args.quick)
    if args.rounds < 1 or args.samples < 1:
        parser.error(f"--rounds and --samples must be >= 1, got {args.rounds} and {args.samples}")
    for sizes in (args.sizes, args.listing_sizes):
        if not 0 < sizes[0] < sizes[1]:
            parser.error(f"sizes must be two increasing positive object counts, got {sizes}")

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    loads = [f"start: {load_average()}"]
    server, endpoint = start_moto()
    try:
        sizes = {"listing": args.listing_sizes, "notifications": args.sizes}
        setups = [Setup(m, n, work, endpoint) for m in MODES for n in sizes[m]]
        spark = start_spark(setups[0].config())
        s3 = s3_client(setups[0].config(), botocore_config=pool_config())
        s3.create_bucket(Bucket=LAKE_BUCKET)
        names = unique_names(random.Random(args.seed))
        prepared = {s.name: prepare(spark, s, s3, names, args.through_boto3, args.seed_batch) for s in setups}
        loads.append(f"after landing and seeding: {load_average()}")

        samples: list[Sample] = []
        for round_no in range(1, args.rounds + 1):
            for setup in setups if round_no % 2 else setups[::-1]:
                samples += steady_samples(
                    spark, setup, prepared[setup.name], s3, names, args.samples, round_no
                )
            loads.append(f"after round {round_no}: {load_average()}")
        spark.stop()
    finally:
        server.stop()

    keep_figures(work, prepared, samples, loads)
    write_report(args.report, render_report(args, setups, prepared, samples, loads))
    sizes = {"listing": args.listing_sizes, "notifications": args.sizes}
    write_results(
        args.report,
        __file__,
        figures(samples, sizes),
        series={"discovery_ms_vs_files": series(setups, samples)},
        loads=loads,
        quick=args.quick,
    )
    return 0


def figures(samples: list[Sample], sizes: dict[str, list[int]]) -> list[Figure]:
    """Per mode, discovery's growth from the small to the big set (of medians; of minimums), and its
    time at the big one; notifications are judged against the target."""
    out = []
    for mode in MODES:
        small, big = sizes[mode]
        low = values(samples, f"{mode}-{small}", "steady", METRICS["discovery"])
        high = values(samples, f"{mode}-{big}", "steady", METRICS["discovery"])
        out += [
            ratio_figure(
                f"discovery per trigger growth on S3 (moto), {small:,} → {big:,} objects, {mode}",
                high,
                low,
                TARGET_GROWTH if mode == "notifications" else None,
            ),
            Figure(
                f"discovery per trigger at {big:,} objects, {mode}",
                median(high),
                "ms",
                min=min(high, default=None),
            ),
        ]
    return out


def series(setups: list[Setup], samples: list[Sample]) -> dict[str, object]:
    """Discovery (listing: latestOffset; notifications: drain + latestOffset) of every trigger that took
    a new object, against the objects landed."""
    return xy_series(
        "objects landed",
        "discovery per trigger ms",
        {
            mode: [
                (s.files, x.discovery_ms)
                for s in setups
                if s.mode == mode
                for x in samples
                if x.setup == s.name and x.kind == "steady"
            ]
            for mode in MODES
        },
    )


def keep_figures(work: Path, prepared: dict[str, Prepared], samples: list[Sample], loads: list[str]) -> None:
    """The raw figures as JSON beside the checkpoints, for a reader who wants more than the report."""
    figures = {
        "prepared": {k: asdict(v) for k, v in prepared.items()},
        "samples": [asdict(s) for s in samples],
    }
    (work / "figures.json").write_text(json.dumps({**figures, "loads": loads}, indent=1))


def start_moto() -> tuple[Any, str]:
    """moto's S3 + SQS server on 127.0.0.1 at a free port; boto3 finds SQS there through
    ``AWS_ENDPOINT_URL_SQS`` (``[s3] endpoint`` is S3's alone), as the tests do."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL_SQS"] = endpoint
    say(f"moto's S3 and SQS server at {endpoint}")
    return server, endpoint


def start_spark(config: PipelineConfig) -> SparkSession:
    """One session for every setup (they share the endpoint and keys; their buckets differ). Spark
    reports an idle trigger every second instead of every 10 s, so an idle sample comes quickly."""
    spark = build_spark(
        config,
        app_name="bench-discovery-s3",
        extra_conf={"spark.ui.enabled": "false", "spark.sql.streaming.noDataProgressEventInterval": "1000"},
    )
    use_s3(spark, config)
    return spark


def pool_config() -> Any:
    from botocore.config import Config

    return Config(max_pool_connections=LAND_THREADS, retries={"max_attempts": 5})


def body(key: str) -> bytes:
    """A one-line song JSON document (~90 bytes), as bench_discovery.py lands."""
    return f'{{"song_id":"SO{key[-18:-5]}","num_songs":1,"title":"t","duration":1.0,"year":0}}\n'.encode()


def land_objects(s3: Any, bucket: str, keys: list[str]) -> float:
    """Put the objects through boto3 from a thread pool, as a lander would; seconds taken."""
    began = time.perf_counter()
    with ThreadPoolExecutor(LAND_THREADS) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body(key)), keys))
    return time.perf_counter() - began


def plant_objects(bucket: str, keys: list[str]) -> float:
    """Write the objects straight into the in-process server's store (no HTTP, no notification): the
    same objects a PUT makes, thousands of times faster than boto3 here; seconds taken."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    began = time.perf_counter()
    for key in keys:
        backend.put_object(bucket, key, body(key), disable_notification=True)
    return time.perf_counter() - began


def prepare(
    spark: SparkSession, setup: Setup, s3: Any, names: Iterator[str], through_boto3: int, seed_batch: int
) -> Prepared:
    """The setup's bucket with N objects, and a checkpoint that has taken them (see the docstring of
    :func:`extend_seen_files` and :func:`prepare_notifications`)."""
    s3.create_bucket(Bucket=setup.bucket)
    keys = [f"{PREFIX}/{next(names)}" for _ in range(setup.files)]
    for key in keys[:2]:
        land_objects(s3, setup.bucket, [key])
        if setup.mode == "listing":
            run_available_now(spark, setup, 1)  # batches 0 and 1: one object each
    planted = setup.files > through_boto3
    landed_s = (plant_objects if planted else partial(land_objects, s3))(setup.bucket, keys[2:])
    how = "straight into moto's store" if planted else f"through boto3 ({LAND_THREADS} threads)"
    sweep_s = list_sweep(s3, setup.bucket)
    say(f"{setup.name}: landed {setup.files:,} objects {how} in {landed_s:.1f}s; a LIST sweep {sweep_s:.1f}s")
    if setup.mode == "listing":
        began = time.perf_counter()
        extend_seen_files(setup, keys[2:])
        return Prepared(landed_s, planted, time.perf_counter() - began, 0.0, sweep_s)
    return prepare_notifications(spark, setup, s3, keys, landed_s, planted, sweep_s, seed_batch)


def list_sweep(s3: Any, bucket: str) -> float:
    """Seconds one listing of the prefix takes through boto3, in pages of S3A's size (5,000 keys; S3
    itself returns at most 1,000): what moto makes of a listing, without Spark."""
    began = time.perf_counter()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{PREFIX}/", PaginationConfig={"PageSize": S3A_PAGE}
    )
    sum(len(page.get("Contents", [])) for page in pages)
    return time.perf_counter() - began


def extend_seen_files(setup: Setup, keys: list[str]) -> None:
    """Add the objects to the files the checkpoint's first batch took, in the line format Spark wrote.

    A run taking N objects costs O(N²) on moto (Spark checks each file of a batch with a LIST, and moto
    scans every key of the bucket for each LIST): hours at 10k. What a trigger lists does not depend on
    how the seen files got into the checkpoint, so the first run takes 1 object and the others are added
    to its record (``sources/0/0``). Batch 0's, not the last batch's: a query that starts again
    re-creates its last batch, which lists each of that batch's files.
    """
    log = setup.checkpoint / "sources" / "0" / "0"
    header, first, *rest = log.read_text().splitlines()
    if rest:
        raise RuntimeError(f"{log}: expected one file taken, found {1 + len(rest)}")
    entry = json.loads(first)
    prefix = f"s3a://{setup.bucket}/"
    if not entry["path"].startswith(prefix):
        raise RuntimeError(f"{log}: expected a path under {prefix}, found {entry['path']}")
    added = [json.dumps({**entry, "path": prefix + key}, separators=(",", ":")) for key in keys]
    log.write_text("\n".join([header, first, *added]) + "\n")


def prepare_notifications(
    spark: SparkSession,
    setup: Setup,
    s3: Any,
    keys: list[str],
    landed_s: float,
    planted: bool,
    sweep_s: float,
    seed_batch: int,
) -> Prepared:
    """landed_files as it stands once the N objects were announced, the bucket's notifications to a new
    queue, and a checkpoint that has taken the N rows."""
    config = setup.config()
    began = time.perf_counter()
    table_files = seed_landed_files(spark, config, setup.bucket, keys, seed_batch)
    seed_s = time.perf_counter() - began
    sqs = aws_client(config, "sqs")
    done = setup_notifications(config, setup.queue, s3, sqs)
    QueueDrainer(spark, config, sqs, done.queue_url, config.stream.max_files_per_trigger).drain_all()
    began = time.perf_counter()
    run_available_now(spark, setup, config.stream.max_files_per_trigger)
    take_s = time.perf_counter() - began
    say(f"{setup.name}: landed_files seeded ({setup.files:,} rows) in {seed_s:.1f}s; taken in {take_s:.1f}s")
    return Prepared(landed_s, planted, seed_s, take_s, sweep_s, done.queue_url, table_files)


def seed_landed_files(
    spark: SparkSession, config: PipelineConfig, bucket: str, keys: list[str], seed_batch: int
) -> int:
    """Create landed_files as the jobs do, then append one row per key, the
    events spread evenly over the past year, in one file per ``seed_batch`` rows (each a span of time)
    if given. Returns the table's number of data files."""
    path = config.table_path(LANDED_FILES.name)
    create_table(spark, config, LANDED_FILES)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for n, key in enumerate(keys):  # announced over the past year, in order
        announced = now - dt.timedelta(days=365 * (len(keys) - 1 - n) / len(keys))
        row = {"dataset": ingest.SONGS.name, "bucket": bucket, "key": key, "size": len(body(key))}
        row |= {"event_time": announced, "event_date": announced.date(), "recorded_at": announced}
        rows.append(tuple(row[name] for name in LANDED_FILES.schema.fieldNames()))
    rows_df = spark.createDataFrame(rows, LANDED_FILES.schema)
    if seed_batch:  # each file a span of time, as drains leave them (a file holds days, not a year)
        rows_df = rows_df.repartitionByRange(-(-len(keys) // seed_batch), "event_time")
    rows_df.write.format("delta").mode("append").save(path)
    return int(DeltaTable.forPath(spark, path).detail().first()["numFiles"])


def stream_of(spark: SparkSession, setup: Setup, max_files: int) -> DataFrame:
    if setup.mode == "listing":
        return raw_file_stream(spark, setup.root, max_files)
    return notified_file_stream(spark, setup.config(), ingest.SONGS)


def start(spark: SparkSession, setup: Setup, max_files: int, trigger: dict[str, Any]) -> StreamingQuery:
    return (
        stream_of(spark, setup, max_files)
        .writeStream.queryName(f"discovery_s3_{setup.mode}_{setup.files}")
        .option("checkpointLocation", str(setup.checkpoint))
        .foreachBatch(noop)
        .trigger(**trigger)
        .start()
    )


def run_available_now(spark: SparkSession, setup: Setup, max_files: int) -> None:
    query = start(spark, setup, max_files, {"availableNow": True})
    query.awaitTermination()
    raise_if_failed(query, setup)


def raise_if_failed(query: StreamingQuery, setup: Setup) -> None:
    error = query.exception()
    if error is not None:
        raise RuntimeError(f"{setup.name}: the stream failed: {error}")


def steady_samples(
    spark: SparkSession,
    setup: Setup,
    prepared: Prepared,
    s3: Any,
    names: Iterator[str],
    count: int,
    round_no: int,
) -> list[Sample]:
    """A processingTime query, as the stream job runs: ``count`` times land 1 object (and for
    notifications drain it), time the trigger that takes it; then one idle trigger."""
    config = setup.config()
    query = start(spark, setup, config.stream.max_files_per_trigger, {"processingTime": TRIGGER})
    discover = drain_one(spark, config, prepared.queue_url) if setup.mode == "notifications" else None
    results = []
    try:
        wait_for(lambda: "Waiting" in query.status["message"] and not query.status["isTriggerActive"], query)
        for _ in range(count):
            before = len(query.recentProgress)
            load = os.getloadavg()[0]
            key = f"{PREFIX}/{next(names)}"
            landed = time.perf_counter()
            s3.put_object(Bucket=setup.bucket, Key=key, Body=body(key))
            drain = discover() if discover else None
            progress = wait_for_progress(query, before, executed=True)
            wall = time.perf_counter() - landed
            results.append(sample_of(setup, round_no, "steady", progress, wall, drain, load))
            say(f"round {round_no} {setup.name}: {describe(results[-1])}")
        load = os.getloadavg()[0]
        progress = wait_for_progress(query, len(query.recentProgress), executed=False)
        results.append(sample_of(setup, round_no, "idle", progress, 0.0, None, load))
        say(f"round {round_no} {setup.name} idle: durations {results[-1].durations}")
    finally:
        query.stop()
    raise_if_failed(query, setup)
    return results


def drain_one(spark: SparkSession, config: PipelineConfig, queue_url: str) -> Callable[[], DrainTiming]:
    """A function that drains until an object is recorded, timing the ``drain_once`` that recorded it."""
    sqs = TimedSqs(aws_client(config, "sqs"))
    drainer = QueueDrainer(spark, config, sqs, queue_url, config.stream.max_files_per_trigger)

    def drain() -> DrainTiming:
        deadline, attempts = time.monotonic() + WAIT_S, 0
        while time.monotonic() < deadline:
            attempts += 1
            sqs.receive_s = sqs.delete_s = 0.0
            began = time.perf_counter()
            drained: Drained = drainer.drain_once(wait_seconds=1)
            took = time.perf_counter() - began
            if drained.objects:
                return DrainTiming(took * 1000, sqs.receive_s * 1000, sqs.delete_s * 1000, attempts)
        raise RuntimeError(f"{queue_url}: no notification recorded within {WAIT_S:.0f}s")

    return drain


def sample_of(
    setup: Setup,
    round_no: int,
    kind: str,
    progress: dict[str, Any],
    wall: float,
    drain: DrainTiming | None,
    load: float,
) -> Sample:
    return Sample(
        setup.name, round_no, kind, progress["batchId"], wall, dict(progress["durationMs"]), drain, load
    )


def describe(sample: Sample) -> str:
    drain = sample.drain
    drained = f"drain {drain.total_ms:,.0f} ms (MERGE {drain.merge_ms:,.0f}), " if drain else ""
    return (
        f"{drained}latestOffset {sample.durations.get('latestOffset', 0):,} ms, "
        f"trigger {sample.durations.get('triggerExecution', 0):,} ms, wall {sample.wall_s * 1000:,.0f} ms"
    )


def values(samples: list[Sample], setup: str, kind: str, metric: Callable[[Sample], float]) -> list[float]:
    return [metric(s) for s in samples if s.setup == setup and s.kind == kind]


METRICS: dict[str, Callable[[Sample], float]] = {
    "discovery": lambda s: s.discovery_ms,
    "latestOffset": lambda s: s.durations.get("latestOffset", 0),
    "triggerExecution": lambda s: s.durations.get("triggerExecution", 0),
    "drain": lambda s: s.drain.total_ms if s.drain else 0.0,
    "merge": lambda s: s.drain.merge_ms if s.drain else 0.0,
    "sqs": lambda s: s.drain.receive_ms + s.drain.delete_ms if s.drain else 0.0,
    "wall": lambda s: s.wall_s * 1000,
}


def min_med(samples: list[Sample], setup: str, kind: str, metric: str) -> str:
    found = values(samples, setup, kind, METRICS[metric])
    return f"{min(found):,.0f} / {median(found):,.0f}" if found else "–"


def ratio(samples: list[Sample], mode: str, small: int, big: int, kind: str, metric: str) -> float:
    low = median(values(samples, f"{mode}-{small}", kind, METRICS[metric]))
    high = median(values(samples, f"{mode}-{big}", kind, METRICS[metric]))
    return high / low if low else float("nan")


def render_report(
    args: argparse.Namespace,
    setups: list[Setup],
    prepared: dict[str, Prepared],
    samples: list[Sample],
    loads: list[str],
) -> str:
    sizes = {"listing": args.listing_sizes, "notifications": args.sizes}
    max_files = setups[0].config().stream.max_files_per_trigger
    rate = median((s.files - 2) / p.landed_s for s in setups for p in [prepared[s.name]] if not p.planted)
    lines = report_header("Discovery cost per trigger on S3: listing vs notifications", __file__)
    lines += [
        f"Listing (Spark's file source over the prefix; {args.listing_sizes[0]:,} and "
        f"{args.listing_sizes[1]:,} landed objects) against event notifications (S3 → SQS → `landed_files` "
        f"→ the Delta source; {args.sizes[0]:,} and {args.sizes[1]:,}), on moto's S3 and "
        f"SQS server on 127.0.0.1; {args.rounds} round(s), alternating the {len(setups)} setups (order "
        f"reversed every other round), {args.samples} trigger(s) with 1 new object per setup and round, "
        "plus one idle trigger. Figures are min / median in ms.",
        "",
        *machine_section(loads),
        "## Data and setup",
        "",
        f"- Objects: one-line song JSON (~90 bytes) at `{PREFIX}/A/B/C/TRABC….json`, the letters drawn at "
        f"random (seeded); one bucket per setup. Sets of up to {args.through_boto3:,} objects are put by "
        f"boto3 from {LAND_THREADS} threads; bigger ones (boto3 managed {rate:,.0f} puts/s against moto "
        f"on this busy machine: 100k would take ~{100_000 / rate / 60:.0f} min) are written straight into "
        "moto's in-process store, the same "
        "objects with no HTTP. The objects put during the samples always go through boto3. The stream's "
        f"settings are the `s3` profile's (`maxFilesPerTrigger={max_files}`); checkpoints on local disk "
        "(the same for both modes); a no-op `foreachBatch`, so objects are found, not read.",
        f"- listing: `streaming.sources.raw_file_stream` on `s3a://bench-listing-N/{PREFIX}`. Its checkpoint "
        "has seen the N objects: two `availableNow` runs took one object each, and the others were added to "
        "the seen-files log of the first (see the notes on moto below).",
        "- notifications: `landed_files` (in its own bucket, `s3a://bench-lake/…`) created as "
        "`ensure_tables` does and seeded with one append of N rows "
        + (
            f"in one file per {args.seed_batch:,} rows (as drains of that many objects would leave them, at "
            "least)"
            if args.seed_batch
            else "(a few files, as Spark splits them)"
        )
        + "; `setup_notifications` on the landing "
        "bucket; `QueueDrainer(batch_max=maxFilesPerTrigger)`; `notified_file_stream` from a checkpoint that "
        "took the N rows in an `availableNow` run. Per sample: put 1 object, `drain_once(wait_seconds=1)` "
        "until one records it (that one is timed; SQS's receive and delete calls apart, the rest is "
        "parsing and the insert-only MERGE), then wait for the trigger that takes it.",
        f"- Both: a `processingTime='{TRIGGER}'` query per setup and round; `latestOffset` is the source "
        "finding what is new (listing: the LIST requests; notifications: reading `landed_files`' Delta log); "
        "wall is put → that trigger's report (includes the drain and up to a trigger interval of waiting). "
        "Idle: a trigger with nothing new (Spark reports one every second here).",
        "",
        *md_table(
            [
                "setup",
                "objects",
                "landed how (all but the first two)",
                "landing s",
                "objects/s",
                "seeding the checkpoint / landed_files s",
                "first run s (takes the N rows)",
                "one boto3 LIST sweep of the prefix s",
                "landed_files data files",
            ],
            [
                (
                    s.name,
                    f"{s.files:,}",
                    "straight into moto's store" if p.planted else f"boto3, {LAND_THREADS} threads",
                    f"{p.landed_s:.1f}",
                    f"{(s.files - 2) / p.landed_s:,.0f}" if p.landed_s else "–",
                    f"{p.seed_s:.1f}",
                    f"{p.take_s:.1f}" if s.mode == "notifications" else "–",
                    f"{p.sweep_s:.1f}",
                    f"{p.table_files:,}" if s.mode == "notifications" else "–",
                )
                for s in setups
                for p in [prepared[s.name]]
            ],
        ),
        "",
        "## Result: per trigger that took 1 new object (min / median ms)",
        "",
        *md_table(
            [
                "setup",
                "discovery (listing: latestOffset; notif.: drain + latestOffset)",
                "latestOffset",
                "drain (receive + MERGE + delete)",
                "of which MERGE etc.",
                "of which SQS calls",
                "triggerExecution",
                "wall put → report",
                "idle trigger latestOffset",
                "samples",
            ],
            [
                (
                    s.name,
                    min_med(samples, s.name, "steady", "discovery"),
                    min_med(samples, s.name, "steady", "latestOffset"),
                    *(
                        (min_med(samples, s.name, "steady", m) for m in ("drain", "merge", "sqs"))
                        if s.mode == "notifications"
                        else ("–", "–", "–")
                    ),
                    min_med(samples, s.name, "steady", "triggerExecution"),
                    min_med(samples, s.name, "steady", "wall"),
                    min_med(samples, s.name, "idle", "latestOffset"),
                    f"{len(values(samples, s.name, 'steady', METRICS['wall']))} + "
                    f"{len(values(samples, s.name, 'idle', METRICS['wall']))} idle",
                )
                for s in setups
            ],
        ),
        "",
        *growth_lines(samples, sizes),
        *conclusion_lines(samples, sizes, prepared),
        *moto_lines(sizes, prepared),
        "## Every trigger",
        "",
        *md_table(
            [
                "round",
                "setup",
                "kind",
                "batch",
                "wall ms",
                "drain ms",
                "MERGE etc. ms",
                "SQS ms",
                "drains",
                *(f"{k} ms" for k in DURATION_KEYS),
                "load avg before",
            ],
            [
                (
                    s.round,
                    s.setup,
                    s.kind,
                    s.batch_id,
                    f"{s.wall_s * 1000:,.0f}",
                    *(
                        (
                            f"{s.drain.total_ms:,.0f}",
                            f"{s.drain.merge_ms:,.0f}",
                            f"{s.drain.receive_ms + s.drain.delete_ms:,.0f}",
                            s.drain.drains,
                        )
                        if s.drain
                        else ("", "", "", "")
                    ),
                    *(f"{s.durations.get(k, 0):,}" for k in DURATION_KEYS),
                    f"{s.load:.2f}",
                )
                for s in samples
            ],
        ),
        "",
        f"Work directory (checkpoints): `{args.work}`.",
        "",
    ]
    return "\n".join(lines)


def growth_lines(samples: list[Sample], sizes: dict[str, list[int]]) -> list[str]:
    """The big / small ratio of the medians, per mode: what "flat (≤ 1.2×)" is judged on."""

    def r(mode: str, metric: str, kind: str = "steady") -> str:
        small, big = sizes[mode]
        return f"{ratio(samples, mode, small, big, kind, metric):.2f}×"

    (ls, lb), (ns, nb) = sizes["listing"], sizes["notifications"]
    return [
        "Growth (ratio of medians, big / small; flat = within 1.2×):",
        "",
        f"- **listing**, {ls:,} → {lb:,} objects ({lb // ls}×): discovery (latestOffset) "
        f"{r('listing', 'discovery')}, idle triggers {r('listing', 'latestOffset', 'idle')}, whole trigger "
        f"{r('listing', 'triggerExecution')}.",
        f"- **notifications**, {ns:,} → {nb:,} objects ({nb // ns}×): discovery (drain + latestOffset) "
        f"{r('notifications', 'discovery')}; drain {r('notifications', 'drain')} (its MERGE etc. "
        f"{r('notifications', 'merge')}, SQS calls {r('notifications', 'sqs')}); latestOffset "
        f"{r('notifications', 'latestOffset')} (idle {r('notifications', 'latestOffset', 'idle')}); whole "
        f"trigger {r('notifications', 'triggerExecution')}.",
        "",
    ]


def conclusion_lines(
    samples: list[Sample], sizes: dict[str, list[int]], prepared: dict[str, Prepared]
) -> list[str]:
    """Whether notifications are flat, and which part of a drain is not, from this run's figures."""
    small, big = sizes["notifications"]

    def med(setup: str, metric: str, kind: str = "steady") -> float:
        return median(values(samples, setup, kind, METRICS[metric]))

    low, high = f"notifications-{small}", f"notifications-{big}"
    growth = ratio(samples, "notifications", small, big, "steady", "discovery")
    verdict = "flat (within 1.2×)" if growth <= 1.2 else "**not flat** (the target is within 1.2×)"
    merge_growth = ratio(samples, "notifications", small, big, "steady", "merge")
    return [
        "## What grows, and why",
        "",
        f"- Notifications, {small:,} → {big:,} objects announced: discovery per trigger {growth:.2f}×, "
        f"{verdict}. Nearly all of it is the drain: {med(low, 'drain'):,.0f} → "
        f"{med(high, 'drain'):,.0f} ms (median), of which SQS's receive and delete {med(low, 'sqs'):,.0f} → "
        f"{med(high, 'sqs'):,.0f} ms and the rest (parsing, `createDataFrame`, the MERGE) "
        f"{med(low, 'merge'):,.0f} → "
        f"{med(high, 'merge'):,.0f} ms; the Delta source's `latestOffset` (reading `landed_files`' log) is "
        f"{med(low, 'latestOffset'):,.0f} → {med(high, 'latestOffset'):,.0f} ms.",
        f"- The drain's MERGE ({merge_growth:.2f}× here) looks for a repeat of each announced key only in "
        "the batch's datasets and the last 15 days of event partitions (`streaming.discovery.repeat_scope`: "
        "SQS keeps a message 14 days at most, and a repeat carries its first event's time), so it reads "
        f"the recent days' files, not all history. Here the {big:,} rows, announced evenly over the past "
        f"year, sit in {prepared[high].table_files:,} file(s) (one per `--seed-batch` rows and event day); "
        "without that scope the MERGE joined every file (2.87× from 1k to 100k rows in 200 files, "
        "`bench/reports/discovery_s3_many_files.md`, measured on the code before the scope).",
        "",
    ]


def moto_lines(sizes: dict[str, list[int]], prepared: dict[str, Prepared]) -> list[str]:
    """What a local moto server's figures do and do not say about S3 and SQS."""
    small, big = sizes["listing"]
    most = sizes["notifications"][1]
    sweep = {n: prepared[f"{m}-{n}"].sweep_s for m in MODES for n in sizes[m]}
    return [
        "## What these numbers say about real S3 (moto on loopback)",
        "",
        "- moto is a Python server in this very process (it shares the GIL with the bench's own driver "
        "thread) on 127.0.0.1: no network, no TLS, no request latency worth the name. On S3 every request "
        "costs ~10–50 ms, a LIST page holds at most 1,000 keys (S3A asks for 5,000; S3 caps it) and pages "
        "come one after the other: a listing of 100k objects is ~100 sequential requests, seconds per "
        "trigger whatever moto shows. So the absolute listing times here understate S3's at the small "
        "size; their growth is the point.",
        "- moto answers each LIST page after filtering and sorting every key in the bucket, S3 in O(page). "
        f"One boto3 listing of the prefix in S3A's pages took {sweep[small]:.1f} s at {small:,} objects, "
        f"{sweep[big]:.1f} s at {big:,} and {sweep[most]:.1f} s at {most:,} (the notifications bucket; see "
        "the preparation table): about linear in the objects, as S3's would be (its pages are), with moto's "
        f"own constant. Listing stops at {big:,} objects here: at {most:,} each trigger would spend about "
        f"that last figure in LISTs, and the idle triggers of a running query list back to back, holding "
        "the in-process server (and the GIL) for the rest of the run. From these figures a listing trigger "
        f"at {most:,} on moto would take roughly {sweep[most] / sweep[big]:.0f}× the {big:,} one.",
        "- The same moto cost made a real first run over N objects infeasible (Spark checks each file of a "
        "batch with a LIST, each of which moto answers by scanning the bucket): the listing checkpoint took "
        "one object in each of two real runs and had the others added to its first batch's seen-files log "
        "(`extend_seen_files`); a trigger lists the same objects either way. (Not to the last batch: a "
        "query that starts again re-creates its last batch, listing each of its files; a first attempt "
        "that seeded the last batch spent minutes starting the 10k query.)",
        "- SQS calls are local calls here; real SQS answers a receive or a delete in ~10–30 ms. Neither "
        "grows with the objects announced, so they do not change the ratios.",
        "- The MERGE reads and writes `landed_files` on moto: on S3 each file it reads is a GET (~20+ ms), "
        "so its growth with the table's files is, if anything, worse there.",
        "- The machine was shared and busy (load averages above, on 2 cores): absolute times are "
        "inflated and noisy; read the min column (least disturbed) and the ratios within this one run.",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
