"""Benchmark one micro-batch's MERGE into songplays as the table grows 10× (1M → 10M rows).

The SPEC's target: MERGE time per micro-batch grows ≤ 1.5× when songplays grows 10×. Both tables are
built here with the real schema and layout (``sparkify.tables.SONGPLAYS``: partitioned by year, month),
ids from ``sparkify.keys.songplay_id``, ~30 months of plays, written sorted by start_time within each
month so file statistics are tight, as a long-running stream's appends are. The batch is the same for
both sizes: new plays in the most recent hour plus a few replays of plays already there (some of them
now resolved to a song, so the MERGE updates them and rewrites the file that holds them).

Variants, alternated in one run with each MERGE starting from the same table version (RESTORE between):

- ``scoped``: ``sparkify.merge.merge_songplays`` as the jobs call it (months + start_time span);
- ``months``: the same MERGE through ``sparkify.merge.upsert`` with a months-only scope, i.e. without
  what ``time_scope``'s start_time bound adds.

Prints the figures and writes bench/reports/merge_scaling.md (and merge_scaling.json, for bench/suite.py).

    .venv/bin/python bench/bench_merge_scaling.py [--sizes 1000000 10000000 --rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import operator
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyspark.sql.functions as F
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
from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession

from sparkify import merge, tables
from sparkify.keys import songplay_id
from sparkify.transforms.songplays import songplay_rank

TARGET_RATIO = 1.5
MONTHS = 30
END = dt.datetime(2018, 12, 1, tzinfo=dt.UTC)  # exclusive end of the latest month
HOUR_MS = 3_600_000
SPLIT = 8  # spark.range partitions when building: contiguous id (hence time) ranges per task
# Operation metrics Delta records for a MERGE, in the order the report shows them.
METRIC_KEYS = (
    "numSourceRows",
    "numTargetRowsInserted",
    "numTargetRowsUpdated",
    "numTargetRowsCopied",
    "numTargetFilesRemoved",
    "numTargetFilesAdded",
    "numTargetChangeFilesAdded",
    "numTargetBytesRemoved",
    "scanTimeMs",
    "rewriteTimeMs",
    "executionTimeMs",
)


@dataclass(frozen=True)
class Layout:
    """What a table holds on disk (version 0), and what each scope lets the MERGE read."""

    files: int
    rows: int
    bytes: int
    files_in_month: int
    rows_in_month: int
    bytes_in_month: int
    files_in_span: int
    rows_in_span: int
    bytes_in_span: int


@dataclass
class Run:
    size: int
    variant: str
    round: int
    seconds: float
    load: float
    metrics: dict[str, str] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=[1_000_000, 10_000_000], metavar=("SMALL", "BIG")
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed MERGEs per size and variant")
    parser.add_argument(
        "--new-plays", type=int, default=3_000, help="plays in the batch not yet in the table"
    )
    parser.add_argument(
        "--replays", type=int, default=40, help="plays of the table's last hour replayed in the batch"
    )
    parser.add_argument("--rows-per-file", type=int, default=50_000, help="maxRecordsPerFile when building")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, help="holds the tables (default: bench/out/merge)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the tables even if present")
    parser.add_argument("--report", type=Path, help="default: bench/reports/merge_scaling.md")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1k and 10k rows, 1 round, a batch of 55 plays, no warm-up MERGE",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.rows_per_file = [1_000, 10_000], 1, 1_000
        args.new_plays, args.replays = 50, 5
    args.report = report_path(args.report, "merge_scaling.md", args.quick)
    args.work = work_path(args.work, "merge", args.quick)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    small, big = args.sizes
    if not 0 < small < big:
        parser.error(f"--sizes must be two increasing positive row counts, got {args.sizes}")

    loads = [f"start: {load_average()}"]
    spark = local_spark("bench-merge-scaling")
    paths = {size: args.work.resolve() / f"songplays_{size}" for size in args.sizes}
    build_seconds = {}
    for size, path in paths.items():
        build_seconds[size] = ensure_table(spark, path, size, args.rows_per_file, args.rebuild)
    loads.append(f"tables ready: {load_average()}")

    batches = {
        size: build_batch(spark, path, args.new_plays, args.replays, args.seed)
        for size, path in paths.items()
    }
    layouts = {size: layout(path, batches[size]) for size, path in paths.items()}
    for size in args.sizes:
        say(f"{size:,} rows: {describe_layout(layouts[size])}")

    variants: dict[str, Callable[[SparkSession, str, DataFrame], None]] = {
        "scoped": merge.merge_songplays,
        "months": merge_months_only,
    }
    # One untimed MERGE per size first: the JVM's JIT, Delta's snapshot cache and the page cache warm up
    # (not in a quick run, which times nothing worth warming up for).
    warm_up = {} if args.quick else paths
    for size, path in warm_up.items():
        restore(spark, path)
        merge.merge_songplays(spark, str(path), batches[size])
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        order = [(s, v) for s in args.sizes for v in variants]
        if round_no % 2 == 0:
            order.reverse()  # alternate, so a drift in the machine's load hits every variant alike
        for size, variant in order:
            restore(spark, paths[size])
            load = os.getloadavg()[0]
            began = time.perf_counter()
            variants[variant](spark, str(paths[size]), batches[size])
            seconds = time.perf_counter() - began
            run = Run(size, variant, round_no, seconds, load, last_merge_metrics(spark, paths[size]))
            runs.append(run)
            say(
                f"round {round_no}/{args.rounds} {size:,} rows {variant}: {seconds:.2f}s "
                f"(removed {run.metrics.get('numTargetFilesRemoved')} files, load {load:.2f})"
            )
        loads.append(f"after round {round_no}: {load_average()}")
    kept = {} if args.quick else paths  # a quick run's tables are scratch, removed after
    for path in kept.values():
        restore(spark, path)  # leave the tables as built, ready for the next run
    spark.stop()

    write_report(args.report, render_report(args, runs, layouts, build_seconds, loads))
    write_results(
        args.report,
        __file__,
        figures(args.sizes, runs),
        series={"merge_s_vs_rows": series(runs)},
        loads=loads,
        quick=args.quick,
    )
    return 0


def figures(sizes: list[int], runs: list[Run]) -> list[Figure]:
    """Each variant's growth big / small (of medians; of minimums), the scoped one against the target."""
    small, big = sizes

    def seconds(size: int, variant: str) -> list[float]:
        return [r.seconds for r in runs if r.size == size and r.variant == variant]

    out = []
    for variant, label in (("scoped", "as the jobs run it"), ("months", "months-only scope")):
        out.append(
            ratio_figure(
                f"MERGE time growth, songplays {small:,} → {big:,} rows, {label}",
                seconds(big, variant),
                seconds(small, variant),
                TARGET_RATIO if variant == "scoped" else None,
            )
        )
    out += [
        Figure(
            f"MERGE time at {size:,} rows, scoped",
            median(seconds(size, "scoped")),
            "s",
            min=min(seconds(size, "scoped")),
        )
        for size in sizes
    ]
    return out


def series(runs: list[Run]) -> dict[str, object]:
    """Every timed MERGE: seconds against the table's rows, per variant."""
    return xy_series(
        "songplays rows",
        "MERGE s",
        {v: [(r.size, r.seconds) for r in runs if r.variant == v] for v in ("scoped", "months")},
    )


def ensure_table(spark: SparkSession, path: Path, rows: int, rows_per_file: int, rebuild: bool) -> float:
    """Build the table unless ``path`` holds one made with the same parameters; return build seconds."""
    params = {"rows": rows, "rows_per_file": rows_per_file, "months": MONTHS, "end": END.isoformat()}
    marker = path.with_name(path.name + ".params.json")
    if not rebuild and marker.is_file() and json.loads(marker.read_text()) == params:
        say(f"reusing {path}")
        return float("nan")
    shutil.rmtree(path, ignore_errors=True)
    marker.unlink(missing_ok=True)
    say(f"building {path}: {rows:,} rows")
    began = time.perf_counter()
    (
        synthetic_songplays(spark, rows)
        .sortWithinPartitions("year", "month", "start_time")
        .write.format("delta")
        .partitionBy(*tables.SONGPLAYS.partition_by)
        .option("maxRecordsPerFile", rows_per_file)
        .save(str(path))
    )
    seconds = time.perf_counter() - began
    marker.write_text(json.dumps(params))  # last: a build cut short is not mistaken for a table
    say(f"built {path} in {seconds:.0f}s")
    return seconds


def synthetic_songplays(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` plays over the MONTHS months before END, evenly spaced: row i at start + i·(span // rows).

    Each spark.range partition holds a contiguous id range, hence a contiguous time range, so sorting
    within partitions gives files whose start_time ranges barely overlap. Natural keys are unique (a
    session is 20 consecutive rows); ~15% of plays have no song, as in the generated data.
    """
    start = add_months(END, -MONTHS)
    start_ms, span_ms = epoch_ms(start), epoch_ms(END) - epoch_ms(start)
    i = F.col("id")
    ts = F.lit(start_ms) + i * F.lit(span_ms // rows)
    session = div(i, 20)
    user_id = (session * 7919) % 20_000
    session_id = session.cast("int")
    item = (i % 20).cast("int")
    has_song = F.hash(i) % 100 >= 15
    song = F.abs(F.hash(i, F.lit("song"))) % 100_000
    return (
        spark.range(0, rows, 1, SPLIT)
        .select(
            songplay_id(user_id, session_id, item, ts).alias("songplay_id"),
            F.timestamp_millis(ts).alias("start_time"),
            user_id.cast("bigint").alias("user_id"),
            F.when(F.hash(session) % 4 == 0, "free").otherwise("paid").alias("level"),
            F.when(has_song, F.format_string("SO%016X", song)).alias("song_id"),
            F.when(has_song, F.format_string("AR%016X", div(song, 3))).alias("artist_id"),
            session_id.alias("session_id"),
            item.alias("item_in_session"),
            F.format_string("City %d, ST", user_id % 500).alias("location"),
            F.format_string('"Mozilla/5.0 (agent %d)"', user_id % 40).alias("user_agent"),
            F.year(F.timestamp_millis(ts)).alias("year"),
            F.month(F.timestamp_millis(ts)).alias("month"),
        )
        .select(*tables.SONGPLAYS.schema.fieldNames())
    )


def build_batch(spark: SparkSession, path: Path, new_plays: int, replays: int, seed: int) -> DataFrame:
    """A micro-batch for the table at ``path`` (version 0), materialised so only the MERGE is timed.

    ``new_plays`` plays in the last hour before END (new sessions: keys not in the table, the same for
    every table) and ``replays`` of the table's most recent plays: unchanged, except those without a song
    now get one (a late song), which the MERGE must update.
    """
    last_hour = F.lit(epoch_ms(END) - HOUR_MS)
    i = F.col("id")
    ts = last_hour + i * F.lit(HOUR_MS // new_plays)
    user_id = F.abs(F.hash(i, F.lit(seed))) % 20_000
    session_id = (F.lit(1_500_000_000) + div(i, 25)).cast("int")
    item = (i % 25).cast("int")
    fresh = spark.range(0, new_plays, 1, 1).select(
        songplay_id(user_id, session_id, item, ts).alias("songplay_id"),
        F.timestamp_millis(ts).alias("start_time"),
        user_id.cast("bigint").alias("user_id"),
        F.lit("paid").alias("level"),
        F.format_string("SO%016X", i % 5_000).alias("song_id"),
        F.format_string("AR%016X", div(i % 5_000, 3)).alias("artist_id"),
        session_id.alias("session_id"),
        item.alias("item_in_session"),
        F.lit("Austin, TX").alias("location"),
        F.lit('"Mozilla/5.0 (bench)"').alias("user_agent"),
        F.year(F.timestamp_millis(ts)).alias("year"),
        F.month(F.timestamp_millis(ts)).alias("month"),
    )
    table = spark.read.format("delta").option("versionAsOf", 0).load(str(path))
    last_month = add_months(END, -1)
    latest = (
        table.filter((F.col("year") == last_month.year) & (F.col("month") == last_month.month))
        .orderBy(F.col("start_time").desc())
        .limit(replays)
        .withColumn("song_id", F.coalesce("song_id", F.lit("SO0000000000000000")))
        .withColumn("artist_id", F.coalesce("artist_id", F.lit("AR0000000000000000")))
    )
    rows = fresh.unionByName(latest).collect()
    batch = spark.createDataFrame(rows, tables.SONGPLAYS.schema).cache()
    batch.count()
    return batch


def merge_months_only(spark: SparkSession, path: str, songplays_df: DataFrame) -> None:
    """merge_songplays without time_scope's start_time bound: only the batch's (year, month) partitions."""
    months = sorted((r.year, r.month) for r in songplays_df.select("year", "month").distinct().collect())
    scope = "(" + " OR ".join(f"(t.year = {y} AND t.month = {m})" for y, m in months) + ")"
    merge.upsert(
        spark,
        path,
        songplays_df,
        ["songplay_id"],
        better=merge.source_wins(songplay_rank, operator.lt),
        scope=scope,
    )


def restore(spark: SparkSession, path: Path) -> None:
    """Put the table back to version 0 (a new version with v0's files) unless it is there already."""
    table = DeltaTable.forPath(spark, str(path))
    if table.history(1).select("version").first()[0] != 0:
        table.restoreToVersion(0)


def last_merge_metrics(spark: SparkSession, path: Path) -> dict[str, str]:
    row = DeltaTable.forPath(spark, str(path)).history(1).select("operation", "operationMetrics").first()
    if row["operation"] != "MERGE":
        raise RuntimeError(f"{path}: the last commit is {row['operation']}, not the MERGE just run")
    return dict(row["operationMetrics"])


def layout(path: Path, batch_df: DataFrame) -> Layout:
    """Count files, rows and bytes of version 0 from its add actions: all of them, those in the batch's
    months (what a months scope reads) and those whose start_time statistics overlap the batch's span
    (what time_scope lets Delta's data skipping keep)."""
    bounds = batch_df.agg(F.min("start_time").alias("lo"), F.max("start_time").alias("hi")).first()
    lo, hi = bounds["lo"].astimezone(dt.UTC), bounds["hi"].astimezone(dt.UTC)
    months = {(r.year, r.month) for r in batch_df.select("year", "month").distinct().collect()}
    adds = []
    for line in (path / "_delta_log" / f"{0:020d}.json").read_text().splitlines():
        action = json.loads(line)
        if "add" in action:
            adds.append(action["add"])
    total = [0, 0, 0]
    in_month = [0, 0, 0]
    in_span = [0, 0, 0]
    for add in adds:
        stats = json.loads(add["stats"])
        part = add["partitionValues"]
        count = (1, stats["numRecords"], add["size"])
        total = [a + b for a, b in zip(total, count, strict=True)]
        if (int(part["year"]), int(part["month"])) in months:
            in_month = [a + b for a, b in zip(in_month, count, strict=True)]
            first = parse_stat_time(stats["minValues"]["start_time"])
            last = parse_stat_time(stats["maxValues"]["start_time"])
            if first <= hi and last >= lo:
                in_span = [a + b for a, b in zip(in_span, count, strict=True)]
    return Layout(*total, *in_month, *in_span)


def parse_stat_time(text: str) -> dt.datetime:
    """Delta's stats hold timestamps truncated to milliseconds, e.g. '2018-11-30T23:59:59.000Z'."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def describe_layout(lay: Layout) -> str:
    return (
        f"{lay.files} files ({lay.bytes / 2**20:,.0f} MiB); batch's month {lay.files_in_month} files "
        f"{lay.rows_in_month:,} rows; batch's span {lay.files_in_span} file(s) {lay.rows_in_span:,} rows"
    )


def div(column: Column, n: int) -> Column:
    """Integer division of a long column (pyspark's Column has no ``//``)."""
    return F.floor(column / F.lit(n)).cast("long")


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    index = when.year * 12 + when.month - 1 + months
    return when.replace(year=index // 12, month=index % 12 + 1)


def epoch_ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def render_report(
    args: argparse.Namespace,
    runs: list[Run],
    layouts: dict[int, Layout],
    build_seconds: dict[int, float],
    loads: list[str],
) -> str:
    small, big = args.sizes
    med = {
        (size, variant): median(r.seconds for r in runs if r.size == size and r.variant == variant)
        for size in args.sizes
        for variant in ("scoped", "months")
    }
    ratio = med[(big, "scoped")] / med[(small, "scoped")]
    months_ratio = med[(big, "months")] / med[(small, "months")]
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    lines = report_header("MERGE cost vs songplays size", __file__)
    lines += [
        f"One micro-batch MERGEd into songplays of {small:,} and of {big:,} rows ({big / small:.0f}×), "
        f"{args.rounds} timed rounds, alternating sizes and variants; every MERGE starts from the table's "
        "version 0 (`RESTORE … TO VERSION AS OF 0` before it, untimed). "
        + ("No warm-up (a quick run)." if args.quick else "One untimed MERGE per size first."),
        "",
        *machine_section(loads),
        "## Data",
        "",
        "- Tables: the real schema and partitioning (`sparkify.tables.SONGPLAYS`, by year, month), built "
        f"with `spark.range`: {MONTHS} months of plays evenly spaced up to {END:%Y-%m-%d} (exclusive), "
        "`songplay_id` from `sparkify.keys.songplay_id` over unique natural keys, ~15% of plays without "
        f"a song; written sorted by start_time within each month, at most {args.rows_per_file:,} rows per "
        "file (`maxRecordsPerFile`, `--rows-per-file`), so each file covers a short, non-overlapping time "
        "range as a stream's appends do. Nothing in the pipeline compacts songplays, so a long-running "
        "stream leaves about one file per micro-batch and month (a few thousand rows); 50,000 rows a file "
        "is closer to a compacted table. Change data feed on, as on every table the jobs create.",
        f"- Batch: {args.new_plays:,} new plays (new sessions) spread over the last hour of the latest month "
        f"plus the table's {args.replays} most recent plays replayed (all within its last hour), those "
        "without a song now resolved to one (so the MERGE updates them). Materialised "
        "(`createDataFrame` + `cache`) before timing, so only the MERGE is timed, including "
        "`time_scope`'s own small query on the batch.",
        "",
        *md_table(
            [
                "table rows",
                "files",
                "MiB",
                "build s",
                "files / rows in the batch's month",
                "files / rows overlapping the batch's start_time span",
            ],
            [
                (
                    f"{size:,}",
                    f"{lay.files:,}",
                    f"{lay.bytes / 2**20:,.0f}",
                    "reused" if build_seconds[size] != build_seconds[size] else f"{build_seconds[size]:.0f}",
                    f"{lay.files_in_month} / {lay.rows_in_month:,}",
                    f"{lay.files_in_span} / {lay.rows_in_span:,}",
                )
                for size, lay in layouts.items()
            ],
        ),
        "",
        "The last two columns are counted from version 0's add actions (partition values and start_time "
        "min/max statistics): what a months-only scope leaves Delta to read, and what the start_time bound "
        "leaves after data skipping.",
        "",
        "## Result",
        "",
        *md_table(
            ["variant", f"{small:,} rows: median s", f"{big:,} rows: median s", "ratio big / small"],
            [
                (
                    "scoped (`merge_songplays`, as the jobs run it)",
                    f"{med[(small, 'scoped')]:.2f}",
                    f"{med[(big, 'scoped')]:.2f}",
                    f"**{ratio:.2f}×**",
                ),
                (
                    "months only (no start_time bound)",
                    f"{med[(small, 'months')]:.2f}",
                    f"{med[(big, 'months')]:.2f}",
                    f"{months_ratio:.2f}×",
                ),
            ],
        ),
        "",
        f"**MERGE time growth for {big / small:.0f}× the rows, as the jobs run it: {ratio:.2f}× "
        f"(target ≤ {TARGET_RATIO}×): {verdict}.** What the start_time bound buys: months-only time / "
        f"scoped time = {med[(big, 'months')] / med[(big, 'scoped')]:.2f} at {big:,} rows, "
        f"{med[(small, 'months')] / med[(small, 'scoped')]:.2f} at {small:,} "
        "(above 1: the bound saves time).",
        "",
        "The plot of MERGE time against the table's rows is in bench/REPORT.md (`bench/suite.py` draws it "
        "from this run's merge_scaling.json).",
        "",
        "## What each MERGE read and wrote (Delta operationMetrics, median over rounds)",
        "",
        *md_table(
            ["metric", *(f"{size:,} {variant}" for size in args.sizes for variant in ("scoped", "months"))],
            [
                (
                    key,
                    *(
                        metric_median(runs, size, variant, key)
                        for size in args.sizes
                        for variant in ("scoped", "months")
                    ),
                )
                for key in METRIC_KEYS
            ],
        ),
        "",
        "numTargetFilesRemoved/Added: files the MERGE rewrote (those holding updated rows) and wrote; "
        "numTargetRowsCopied: unchanged rows copied into the rewritten files; scanTimeMs: finding the "
        "matches (the join over the scoped target files); rewriteTimeMs: writing.",
        "",
        "## Every run",
        "",
        *md_table(
            [
                "round",
                "rows",
                "variant",
                "seconds",
                "files removed",
                "files added",
                "rows copied",
                "load avg (1 min) before",
            ],
            [
                (
                    r.round,
                    f"{r.size:,}",
                    r.variant,
                    f"{r.seconds:.2f}",
                    r.metrics.get("numTargetFilesRemoved"),
                    r.metrics.get("numTargetFilesAdded"),
                    r.metrics.get("numTargetRowsCopied"),
                    f"{r.load:.2f}",
                )
                for r in runs
            ],
        ),
        "",
        f"Tables under `{args.work}` (kept for the next run; `--rebuild` to make them again).",
        "",
    ]
    return "\n".join(lines)


def metric_median(runs: list[Run], size: int, variant: str, key: str) -> str:
    values = [
        float(r.metrics[key]) for r in runs if r.size == size and r.variant == variant and key in r.metrics
    ]
    if not values:
        return "–"
    value = median(values)
    return f"{value:,.0f}"


if __name__ == "__main__":
    sys.exit(main())
