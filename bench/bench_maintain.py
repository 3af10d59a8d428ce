"""Benchmark what ``sparkify maintain`` buys an analyst: typical queries on songplays as a stream leaves
it (a few small files per commit) against the same rows after maintain (OPTIMIZE's compaction, VACUUM),
and against them Z-ordered by user_id instead (the alternative maintain does not take).

The lake: a generated dataset backfilled once (GX off: its cost is not the subject), then songplays
written again as a stream writes it: ``--commits`` appends in time order, each of a few minutes of plays
(so each adds a file to each partition it touches). Three copies of those rows:

- ``as streamed``: the appends alone;
- ``maintained``: after ``sparkify.ops.maintain.maintain_table`` (OPTIMIZE's compaction, VACUUM);
- ``Z-ordered``: after OPTIMIZE Z-ordered by user_id (``executeZOrderBy``).

Each query runs on each copy, the copies in a rotating order every round, in one Spark session (a
fresh DataFrame each time, so each run reads the Delta log and the files again). Every copy must give the
same answer (checked each round). Prints the figures and writes bench/reports/maintain.md (and
maintain.json, for bench/suite.py).

    .venv/bin/python bench/bench_maintain.py [--users 1000] [--days 30] [--commits 400] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
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
    sparkify_env,
    work_path,
    write_report,
    write_results,
)
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig, load_config
from sparkify.ops.maintain import check_retention, maintain_table
from sparkify.synthetic import generate_dataset
from sparkify.tables import SONGPLAYS, create_table

QUERIES = {
    "one user's plays": "SELECT COUNT(*) AS plays, MIN(start_time) AS first FROM {t} WHERE user_id = {user}",
    "top 10 songs": "SELECT song_id, COUNT(*) AS plays FROM {t} WHERE song_id IS NOT NULL "
    "GROUP BY song_id ORDER BY plays DESC, song_id LIMIT 10",
    "one day by hour": "SELECT HOUR(start_time) AS hour, COUNT(*) AS plays FROM {t} "
    "WHERE start_time >= TIMESTAMP'{day}' AND start_time < TIMESTAMP'{day}' + INTERVAL 1 DAY "
    "GROUP BY hour ORDER BY hour",
}
COPIES = ("as streamed", "maintained", "Z-ordered")


def lake_config(root: Path) -> PipelineConfig:
    """A local lake under ``root``, GX off (its cost is not the subject)."""
    landing = root / "landing"
    env = sparkify_env(landing / "song_data", landing / "log_data", root / "tables")
    return load_config("local", env={**env, "SPARKIFY_QUALITY_GREAT_EXPECTATIONS": "false"})


def as_streamed(spark: SparkSession, config: PipelineConfig, source: str, commits: int) -> None:
    """songplays' rows appended again in ``commits`` time-ordered slices, as a stream's batches land."""
    create_table(spark, config, SONGPLAYS)
    rows = spark.read.format("delta").load(source)
    bounds = rows.agg(F.min("start_time").cast("long"), F.max("start_time").cast("long")).first()
    first, last = bounds[0], bounds[1] + 1
    step = max(1, (last - first) // commits)
    path = config.table_path(SONGPLAYS.name)
    for n, start in enumerate(range(first, last, step)):
        epoch = F.col("start_time").cast("long")
        rows.filter((epoch >= start) & (epoch < start + step)).write.format("delta").mode("append").save(path)
        if n % 50 == 0:
            say(f"  append {n + 1} of ~{commits}")


def file_count(spark: SparkSession, path: str) -> int:
    return DeltaTable.forPath(spark, path).detail().first()["numFiles"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--songs", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, help="scratch, removed after (default: bench/out/maintain)")
    parser.add_argument("--report", type=Path, help="default: bench/reports/maintain.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 30 songs, 10 users, 2 days, 5 appends, 1 round"
    )
    args = parser.parse_args()
    if args.quick:
        args.songs, args.users, args.days, args.commits, args.rounds = 30, 10, 2, 5, 1
    if min(args.users, args.songs, args.days, args.commits, args.rounds) < 1:
        parser.error("--users, --songs, --days, --commits and --rounds must be at least 1")
    args.report = report_path(args.report, "maintain.md", args.quick)
    root = work_path(args.work, "maintain", args.quick).resolve()
    shutil.rmtree(root, ignore_errors=True)
    loads = [f"start: {load_average()}"]
    spark = local_spark("bench-maintain")
    try:
        base = lake_config(root / "base")
        say(f"generating {args.users} users x {args.days} days into {root}")
        generate_dataset(root / "base/landing", seed=7, songs=args.songs, users=args.users, days=args.days)
        say("backfill")
        run_backfill(spark, base, out=io.StringIO())
        source = base.table_path(SONGPLAYS.name)
        plays = spark.read.format("delta").load(source).count()
        copies = {name: lake_config(root / name.replace(" ", "_")) for name in COPIES}
        for name, config in copies.items():
            say(f"{name}: {args.commits} time-ordered appends")
            as_streamed(spark, config, source, args.commits)
        path = {name: config.table_path(SONGPLAYS.name) for name, config in copies.items()}
        streamed_files = file_count(spark, path["as streamed"])
        config = copies["maintained"]
        done = maintain_table(spark, config, SONGPLAYS, check_retention(config, None))
        started = time.monotonic()
        DeltaTable.forPath(spark, path["Z-ordered"]).optimize().executeZOrderBy("user_id")
        zorder_s = time.monotonic() - started
        loads.append(f"after building the copies: {load_average()}")

        user = spark.read.format("delta").load(source).groupBy("user_id").count().orderBy("count").first()[0]
        day = str(spark.read.format("delta").load(source).agg(F.min(F.to_date("start_time"))).first()[0])
        timings: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = COPIES[r % 3 :] + COPIES[: r % 3]
            for query, sql in QUERIES.items():
                answers = set()
                for name in order:
                    table = f"delta.`{path[name]}`"
                    started = time.monotonic()
                    rows = spark.sql(sql.format(t=table, user=user, day=day)).collect()
                    timings.setdefault((query, name), []).append(time.monotonic() - started)
                    answers.add(tuple(tuple(row) for row in rows))
                assert len(answers) == 1, f"{query}: the copies disagree"
            say(f"round {r + 1} of {args.rounds} done")
        loads.append(f"end: {load_average()}")

        rows = []
        for query in QUERIES:
            base_median = median(timings[(query, "as streamed")])
            for name in COPIES:
                t = timings[(query, name)]
                ratio = median(t) / base_median
                rows.append([query, name, f"{min(t):.3f}", f"{median(t):.3f}", f"{ratio:.2f}"])
        files = {
            "as streamed": streamed_files,
            "maintained": done.files_after,
            "Z-ordered": file_count(spark, path["Z-ordered"]),
        }
        lines = report_header("OPTIMIZE before and after: analyst queries on songplays", __file__)
        lines += [
            f"Data: `generate_dataset(seed=7, songs={args.songs}, users={args.users}, days={args.days})`, "
            f"backfilled; songplays ({plays:,} rows) written again in {args.commits} time-ordered appends "
            "as a stream would (see the script's docstring).",
            "",
            f"Files in songplays: as streamed {files['as streamed']:,}; maintained {files['maintained']:,} "
            f"(maintain {done.seconds:.1f} s); Z-ordered {files['Z-ordered']:,} "
            f"(OPTIMIZE ZORDER BY user_id {zorder_s:.1f} s).",
            "",
            f"Seconds per query in one Spark session, {args.rounds} rounds, the copies in rotating order; "
            "ratio = median / median of `as streamed`. Every copy gave the same answer each round.",
            "",
            *md_table(["query", "songplays", "min s", "median s", "ratio"], rows),
            "",
            *machine_section(loads),
        ]
        write_report(args.report, "\n".join(lines) + "\n")
        write_results(args.report, __file__, figures(timings, files), loads=loads, quick=args.quick)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def figures(timings: dict[tuple[str, str], list[float]], files: dict[str, int]) -> list[Figure]:
    """Per query, each rewritten copy's time / the streamed one's (of medians; of minimums); the files
    in each copy. No targets: what maintain buys is reported, not judged."""
    out = [Figure(f"files in songplays, {name}", count, "files") for name, count in files.items()]
    for query in QUERIES:
        base = timings[(query, "as streamed")]
        for name in COPIES[1:]:
            out.append(ratio_figure(f"{query}: {name} / as streamed", timings[(query, name)], base))
    return out


if __name__ == "__main__":
    main()
