"""Benchmark what a raw-file micro-batch pays to plan its routing, before any row is read.

A batch's lines are parsed, judged by the suite and counted (``sparkify.pipeline.ingest.routed_batch``).
Two ways of building that plan, measured in one session, alternating round by round, on the same files:

- ``per batch``: the column expressions built for the batch (a new ``ingest.Routing`` each time: what
  every micro-batch built before a job kept one);
- ``built once``: a job's ``ingest.Routing``, built before the first round, reused.

For each: the time to build the DataFrame of the batch's counts (no Spark job: the driver's work, mostly
py4j calls), then that plus running it. Both must give the same counts (checked on every round). The
session runs with the stream's micro-batch settings (``streaming.sink.batch_settings``); the files are
the events of a generated dataset, ``--files`` per batch. Prints the figures and writes
bench/reports/routing.md.

    .venv/bin/python bench/bench_routing.py [--rounds 10] [--files 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
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
    write_report,
    write_results,
)
from pyspark.sql import DataFrame

from checkpoints_config import load_config
from expectations.validation import Checks, load_checks
from sparkify.pipeline import ingest
from sparkify.sources import read_whole_files
from sparkify.synthetic import generate_dataset
from streaming.sink import batch_settings

STARTED_AT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def per_batch(files_df: DataFrame, checks: Checks, routing: ingest.Routing) -> DataFrame:
    """The counts' plan with every expression built for this batch, as each batch did before."""
    return built_once(files_df, checks, ingest.Routing.of(routing.dataset, checks))


def built_once(files_df: DataFrame, checks: Checks, routing: ingest.Routing) -> DataFrame:
    """The counts' plan with the job's expressions."""
    return routing.rows(files_df, "bench", STARTED_AT).agg(*routing.counts)


VARIANTS: dict[str, Callable[[DataFrame, Checks, ingest.Routing], DataFrame]] = {
    "per batch": per_batch,
    "built once": built_once,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup-rounds", type=int, default=2, help="rounds run first and not counted")
    parser.add_argument("--files", type=int, default=3, help="event files per batch")
    parser.add_argument("--report", type=Path, help="default: bench/reports/routing.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 file, 1 + 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.warmup_rounds, args.files = 2, 1, 1
    args.report = report_path(args.report, "routing.md", args.quick)
    loads = [f"start: {load_average()}"]
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        landing = Path(tmp)
        generate_dataset(landing, seed=42, songs=100, users=50, days=args.files)
        spark = local_spark("bench-routing")
        config = load_config("local", env={})
        for key, value in batch_settings(config).items():
            spark.conf.set(key, value)
        files_df = read_whole_files(spark, str(landing / "log_data")).persist()
        lines = files_df.select(F.sum(F.size(F.split("value", "\n")) - 1)).first()[0]
        checks = load_checks(config.quality)
        routing = ingest.Routing.of(ingest.EVENTS, checks)
        plan: dict[str, list[float]] = {name: [] for name in VARIANTS}
        total: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_no in range(args.warmup_rounds + args.rounds):
            counts = {}
            for name, build in VARIANTS.items():
                began = time.perf_counter()
                counts_df = build(files_df, checks, routing)
                planned = time.perf_counter() - began
                counts[name] = counts_df.first()
                if round_no >= args.warmup_rounds:
                    plan[name].append(planned)
                    total[name].append(time.perf_counter() - began)
            if len(set(counts.values())) != 1:
                raise RuntimeError(f"round {round_no}: the variants disagree: {counts}")
            say(f"round {round_no + 1}: " + ", ".join(f"{n} {total[n][-1]:.3f}s" for n in total if total[n]))
        spark.stop()
    loads.append(f"end: {load_average()}")
    write_report(args.report, render(args, lines, plan, total, loads))
    write_results(args.report, __file__, figures(total), loads=loads, quick=args.quick)
    return 0


def figures(total: dict[str, list[float]]) -> list[Figure]:
    """The two variants' times and the ratio built once / per batch (of medians; of minimums)."""
    once, each = total["built once"], total["per batch"]
    return [
        ratio_figure("plan + routing pass, built once / per batch", once, each),
        *(Figure(f"plan + routing pass, {name}", median(xs), "s", min=min(xs)) for name, xs in total.items()),
    ]


def render(
    args: argparse.Namespace,
    lines: int,
    plan: dict[str, list[float]],
    total: dict[str, list[float]],
    loads: list[str],
) -> str:
    span = lambda xs: f"{min(xs):.3f} / {median(xs):.3f}"  # noqa: E731
    rows = [(name, span(plan[name]), span(total[name])) for name in VARIANTS]
    before, after = median(total["per batch"]), median(total["built once"])
    text = report_header("What a micro-batch pays to plan its routing", __file__)
    text += [
        f"{args.files} generated event files ({lines:,} lines) as one batch, routed {args.rounds} times by "
        f"each variant, alternating (after {args.warmup_rounds} rounds not counted); both gave the same "
        "counts every round. See the script's docstring for the variants.",
        "",
        *machine_section(loads),
        *md_table(["variant", "plan s: min / median", "plan + routing pass s: min / median"], rows),
        "",
        f"Planning and routing a batch: median {before:.2f} s with the expressions built per batch, "
        f"{after:.2f} s with the job's (ratio {after / before:.2f}).",
    ]
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
