"""Every benchmark the suite runs (``make bench``, ``make bench-quick``), and the plots of bench/REPORT.md.

A benchmark is one script under bench/ that writes ``reports/<name>.md`` and, beside it, the results
``reports/<name>.json`` (``common.write_results``) that bench/report.py tabulates and plots. Adding one is
one :class:`Benchmark` entry below, with its plots if it has a series to draw; tests/test_bench_suite.py
fails while a ``bench/bench_*.py`` script has no entry.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    """One axes of a plot: a series of a benchmark's results.

    An ``xy`` series is drawn as lines of points (each line's median per x, every point faint), a
    ``samples`` series as one empirical CDF per line. ``reference`` is the target: a horizontal line on an
    ``xy`` panel, a vertical one on a ``samples`` panel.
    """

    benchmark: str
    series: str
    title: str
    log_x: bool = False
    log_y: bool = False
    reference: float | None = None
    reference_label: str = ""


@dataclass(frozen=True)
class Plot:
    """A PNG of bench/REPORT.md (``plots/<file>``): its panels side by side."""

    file: str
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Benchmark:
    """A script, the arguments of its full and its quick run, what it measures and what it plots.

    ``name`` is the stem of its report and results (``reports/<name>.md``, ``reports/<name>.json``). The
    full run measures the SPEC's figures (every comparison alternating, at least 3 rounds); the quick run
    (under a minute here) only proves the script still runs end to end, so no time is judged. ``quick`` is
    None for an entry whose quick run would repeat another entry's: the same script, whose quick data is
    the same tiny set whatever dataset the full run takes.
    """

    name: str
    script: str
    measures: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] | None = ("--quick",)
    plots: tuple[Plot, ...] = ()


FRESHNESS_TARGET_S = 10.0  # bench_freshness.TARGET_P95_S (not imported: the registry loads no pyspark)

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("generator", "bench_generator.py", "`sparkify generate` at the pipeline benchmarks' scale"),
    Benchmark(
        "backfill",
        "bench_backfill.py",
        "the backfill against the naive batch job (`bench/naive_etl.py`) and a plain JSON → Parquet copy "
        "(`bench/plain_copy.py`), 1.03M events, alternating",
        full=("--repeat", "3"),
    ),
    Benchmark(
        "backfill_small",
        "bench_backfill.py",
        "the same three jobs on the SPEC's small dataset (71 song files, 8,813 events)",
        full=("--small", "--repeat", "5"),
        quick=None,  # --small --quick is backfill's quick run under another name: the same tiny data
    ),
    Benchmark(
        "freshness_validation",
        "bench_freshness.py",
        "freshness, landing → songplays, under a steady drip, with validation on and off, alternating",
        full=tuple(shlex.split("--interval 2 --seconds 120 --warmup 20 --compare-validation --rounds 3")),
        quick=("--compare-validation", "--quick"),
        plots=(
            Plot(
                "freshness_latency.png",
                "Freshness per dripped event file (landing → plays readable in songplays)",
                (
                    Panel(
                        "freshness_validation",
                        "latency_s",
                        "latency distribution, every run",
                        reference=FRESHNESS_TARGET_S,
                        reference_label=f"target p95 {FRESHNESS_TARGET_S:g} s",
                    ),
                ),
            ),
        ),
    ),
    Benchmark(
        "merge_scaling",
        "bench_merge_scaling.py",
        "one micro-batch's MERGE into songplays of 1M and of 10M rows",
        plots=(
            Plot(
                "merge_scaling.png",
                "MERGE time per micro-batch against songplays rows",
                (Panel("merge_scaling", "merge_s_vs_rows", "batch time against table size", log_x=True),),
            ),
        ),
    ),
    Benchmark(
        "discovery",
        "bench_discovery.py",
        "the file stream's discovery per trigger, 1k → 100k files on local disk (listing)",
    ),
    Benchmark(
        "discovery_s3",
        "bench_discovery_s3.py",
        "discovery per trigger on S3 (moto), listing against notifications, 1k → 100k objects",
        full=("--seed-batch", "500"),
        plots=(
            Plot(
                "discovery.png",
                "Discovery per trigger against files landed",
                (
                    Panel(
                        "discovery", "discovery_ms_vs_files", "local disk: listing", log_x=True, log_y=True
                    ),
                    Panel(
                        "discovery_s3",
                        "discovery_ms_vs_files",
                        "S3 (moto): listing vs notifications",
                        log_x=True,
                        log_y=True,
                    ),
                ),
            ),
        ),
    ),
    Benchmark(
        "validation",
        "bench_validation.py",
        "validation's share of a micro-batch, and driver memory over 1,000 micro-batches",
        plots=(
            Plot(
                "memory.png",
                "Driver memory over micro-batches with validation on",
                (Panel("validation", "memory_mib_vs_batch", "memory after each batch"),),
            ),
        ),
    ),
    Benchmark(
        "routing",
        "bench_routing.py",
        "a raw-file micro-batch's routing plan: built per batch against built once, alternating",
    ),
    Benchmark(
        "exactly_once",
        "bench_exactly_once.py",
        "the exactly-once mechanism's cost per micro-batch, beside the previous code and a txn per append",
    ),
    Benchmark(
        "query",
        "bench_query.py",
        "`sparkify query`'s time to first row, DuckDB (default) against Spark, fresh processes, alternating",
        full=("--rounds", "5"),
    ),
    Benchmark(
        "maintain",
        "bench_maintain.py",
        "analyst queries on songplays as a stream leaves it, after `sparkify maintain`, and Z-ordered",
        full=tuple(shlex.split("--users 600 --days 20 --songs 1500 --commits 150 --rounds 5")),
    ),
    Benchmark(
        "s3_jars",
        "bench_s3_jars.py",
        "S3A's AWS SDK jars, the modules against hadoop-aws's bundle: downloaded, loaded, start time "
        "(`--drop-each`: each kept jar needed)",
        full=("--rounds", "3"),
    ),
)


def by_name(name: str) -> Benchmark:
    """The benchmark called ``name``; KeyError naming the known ones otherwise."""
    for bench in BENCHMARKS:
        if bench.name == name:
            return bench
    raise KeyError(f"no benchmark {name!r}; known: {', '.join(b.name for b in BENCHMARKS)}")


def plots() -> list[Plot]:
    """Every plot of bench/REPORT.md, in the registry's order."""
    return [plot for bench in BENCHMARKS for plot in bench.plots]
