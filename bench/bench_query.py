"""Benchmark `sparkify query`: time to first row with the default engine (delta-rs + DuckDB, no JVM)
against `--engine spark`, on the demo's lake, side by side in one run.

The SPEC's target: the default engine's time to first row ≤ 0.3× Spark's.

The lake is built as a user builds it, with the CLI: `sparkify generate` of the demo's world (400 songs,
60 users, 14 days: sparkify/ops/demo.py's WORLD), `sparkify backfill`, then three more days dripped
(`generate --drip`) and a second backfill, so that the tables have a history to travel in; the moment
between the two backfills is the time-travel query's. `--lake DIR` keeps (or reuses) it.

Each measurement is a fresh `python -m sparkify.ops.cli query SQL --format csv --engine E` process (what
the `sparkify` script runs; a fresh process is what a user pays, JVM start and all), timed from spawn to
its first data row on stdout (`PYTHONUNBUFFERED=1`: a row reaches the pipe when printed, as a terminal
shows it), and to its exit. Engines alternate, the order reversed every other round; each query's
answers must be the same on both engines. Prints the figures and writes bench/reports/query.md (and
query.json, for bench/suite.py).

``--quick`` (a smoke run): a tiny world (40 songs, 10 users, 2 days) backfilled once into the run's
scratch directory, the moment taken after that backfill (so the time-travel query resolves each table to
the version that backfill left: the same resolution, with nothing later to leave out), and one round of
the time-travel query alone (the one that reads three tables as of a moment; each Spark run is a JVM of
its own, each backfill another); no verdict.

    .venv/bin/python bench/bench_query.py [--rounds 5] [--lake DIR] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from common import (
    ROOT,
    Figure,
    child_env,
    load_average,
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

TARGET_RATIO = 0.3
ENGINES = ("duckdb", "spark")
WORLD = {"songs": "400", "users": "60", "days": "14"}  # sparkify/ops/demo.py's WORLD
DRIP_TICKS = 3
QUICK_WORLD = {"songs": "40", "users": "10", "days": "2"}
QUICK_DRIP_TICKS = 0  # no drip, no second backfill
QUERIES = {
    "count": "SELECT COUNT(*) AS plays FROM songplays",
    "top songs (3-table join)": (
        "SELECT s.title, a.name AS artist, COUNT(*) AS plays FROM songplays p "
        "JOIN songs s ON p.song_id = s.song_id JOIN artists a ON p.artist_id = a.artist_id "
        "GROUP BY s.title, a.name ORDER BY plays DESC, s.title, artist LIMIT 5"
    ),
    "time travel (plays by level, as of the first backfill)": (
        "SELECT p.level, COUNT(*) AS plays, COUNT(DISTINCT p.user_id) AS users FROM songplays p "
        "JOIN users u ON p.user_id = u.user_id GROUP BY p.level ORDER BY p.level"
    ),
}
TIME_TRAVEL = "time travel (plays by level, as of the first backfill)"
# (query, engine) → (seconds to the first row, seconds to the exit) of each run
Samples = dict[tuple[str, str], list[tuple[float, float]]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lake", type=Path, help="build the lake here, or reuse the one built there before")
    parser.add_argument("--report", type=Path, help="default: bench/reports/query.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a tiny lake, 1 round of the time-travel query"
    )
    args = parser.parse_args(argv)
    args.world, args.drip_ticks, args.queries = WORLD, DRIP_TICKS, QUERIES
    if args.quick:
        args.rounds, args.world, args.drip_ticks = 1, QUICK_WORLD, QUICK_DRIP_TICKS
        args.queries = {TIME_TRAVEL: QUERIES[TIME_TRAVEL]}
        if args.lake is None:  # built afresh in the run's scratch (the suite keeps it if the run fails)
            args.lake = work_path(None, "query", quick=True)
            shutil.rmtree(args.lake, ignore_errors=True)
    elif args.rounds < 3:
        parser.error("--rounds: at least 3")
    args.report = report_path(args.report, "query.md", args.quick)

    loads = [f"start: {load_average()}"]
    with tempfile.TemporaryDirectory(prefix="bench-query-") as scratch:
        root = (args.lake or Path(scratch)).resolve()
        env = child_env({**lake_env(root), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
        moment = build_lake(root, env, args.world, args.drip_ticks)
        loads.append(f"after building (or finding) the lake: {load_average()}")
        lake = describe_lake(root, env)
        samples: Samples = {}
        answers: dict[tuple[str, str], str] = {}
        for round_ in range(args.rounds):
            engines = ENGINES if round_ % 2 == 0 else ENGINES[::-1]
            for name, sql in args.queries.items():
                extra = ["--as-of-timestamp", moment] if name == TIME_TRAVEL else []
                for engine in engines:
                    first, total, out = time_query(env, [sql, *extra, "--engine", engine])
                    samples.setdefault((name, engine), []).append((first, total))
                    if answers.setdefault((name, engine), out) != out:
                        raise SystemExit(f"{name} on {engine}: answers differ between rounds")
            say(f"round {round_ + 1}/{args.rounds} done")
            loads.append(f"after round {round_ + 1}: {load_average()}")
        for name in args.queries:
            if answers[(name, "duckdb")] != answers[(name, "spark")]:
                raise SystemExit(
                    f"{name}: the engines disagree:\n{answers[(name, 'duckdb')]}\n{answers[(name, 'spark')]}"
                )
    write_report(args.report, report(args, lake, moment, samples, answers, loads))
    write_results(args.report, __file__, figures(args.queries, samples), loads=loads, quick=args.quick)


def figures(queries: dict[str, str], samples: Samples) -> list[Figure]:
    """Per query, time to first row DuckDB / Spark (of medians; of minimums), against the target."""
    out = []
    for name in queries:
        duckdb, spark = ([s[0] for s in samples[(name, engine)]] for engine in ENGINES)
        out.append(
            ratio_figure(
                f"time to first row, DuckDB / Spark: {name}",
                duckdb,
                spark,
                TARGET_RATIO,
                note=f"medians {median(duckdb):.2f} s / {median(spark):.2f} s",
            )
        )
    return out


def lake_env(root: Path) -> dict[str, str]:
    return sparkify_env(root / "landing" / "song_data", root / "landing" / "log_data", root / "tables")


def cli(env: dict[str, str], *argv: str) -> str:
    """Run one ``sparkify`` command; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "sparkify.ops.cli", *argv], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"sparkify {' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def build_lake(root: Path, env: dict[str, str], world: dict[str, str], drip_ticks: int) -> str:
    """Build ``world``'s lake under ``root`` (or reuse it); return the moment after its first backfill (and
    before the second, which ``drip_ticks`` more days dripped get; none if 0)."""
    marker = root / "bench_query.json"
    if marker.exists():
        say(f"reusing the lake at {root}")
        return str(json.loads(marker.read_text())["moment"])
    landing = str(root / "landing")
    knobs = [f"--{k}={v}" for k, v in world.items()]
    say(f"generating a world of {', '.join(f'{v} {k}' for k, v in world.items())}, then backfilling it")
    cli(env, "generate", "--out", landing, *knobs)
    cli(env, "backfill")
    time.sleep(1.0)
    moment = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    time.sleep(1.0)
    if drip_ticks:
        say(f"dripping {drip_ticks} more day(s), then a second backfill")
        cli(env, "generate", "--out", landing, *knobs, "--drip", f"--max-ticks={drip_ticks}", "--interval=0")
        cli(env, "backfill")
    marker.write_text(json.dumps({"moment": moment}))
    return moment


DESCRIBED = ("songplays", "users", "songs", "artists")


def describe_lake(root: Path, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(table, rows now, its versions) for the tables the queries read: the counts in one process of the
    default engine."""
    from deltalake import DeltaTable

    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, COUNT(*) AS n FROM {t}" for t in DESCRIBED)
    counts = dict(line.split(",") for line in cli(env, "query", sql, "--format", "csv").splitlines()[1:])
    rows = []
    for table in DESCRIBED:
        versions = DeltaTable(str(root / "tables" / table)).version() + 1
        rows.append((table, f"{int(counts[table]):,}", str(versions)))
    return rows


def time_query(env: dict[str, str], argv: list[str]) -> tuple[float, float, str]:
    """Seconds from spawning ``sparkify query ARGV --format csv`` to its first data row, and to its exit;
    and what it printed. Its stderr (Spark's warnings) goes to a file, so neither pipe can fill up."""
    with tempfile.TemporaryFile(mode="w+") as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "sparkify.ops.cli", "query", *argv, "--format", "csv"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert process.stdout is not None
        header = process.stdout.readline()
        first_row = process.stdout.readline()
        first = time.perf_counter() - began
        rest = process.stdout.read()
        process.wait()
        total = time.perf_counter() - began
        if process.returncode != 0 or not first_row:
            err.seek(0)
            raise SystemExit(
                f"sparkify query {' '.join(argv)} failed ({process.returncode}):\n{err.read()[-3000:]}"
            )
    return first, total, header + first_row + rest


def report(
    args: argparse.Namespace,
    lake: list[tuple[str, str, str]],
    moment: str,
    samples: Samples,
    answers: dict[tuple[str, str], str],
    loads: list[str],
) -> str:
    rows = []
    ratios = []
    for name in args.queries:
        firsts = {engine: [s[0] for s in samples[(name, engine)]] for engine in ENGINES}
        totals = {engine: [s[1] for s in samples[(name, engine)]] for engine in ENGINES}
        ratio_min = min(firsts["duckdb"]) / min(firsts["spark"])
        ratio_median = median(firsts["duckdb"]) / median(firsts["spark"])
        ratios.append(ratio_median)
        for engine in ENGINES:
            rows.append(
                (
                    name,
                    engine,
                    f"{min(firsts[engine]):.2f}",
                    f"{median(firsts[engine]):.2f}",
                    f"{median(totals[engine]):.2f}",
                    f"{ratio_min:.3f}× / {ratio_median:.3f}×" if engine == "duckdb" else "",
                )
            )
    verdict = "met" if max(ratios) <= TARGET_RATIO else "NOT met"
    lines = report_header("`sparkify query`: time to first row, DuckDB (default) against Spark", __file__)
    lines += [
        f"Target: the default engine's time to first row ≤ {TARGET_RATIO}× Spark's. **{verdict}**: the "
        f"largest median ratio is {max(ratios):.3f}×.",
        "",
        f"{args.rounds} round(s); in each, every query ran once on each engine, alternating (the order "
        "reversed every other round). Each run is a fresh `python -m sparkify.ops.cli query SQL --format csv "
        "--engine E` process: time to first row is from spawning it to its first data row on stdout "
        "(`PYTHONUNBUFFERED=1`), so it includes Python's start, the imports and, for Spark, the JVM's start "
        "and the Delta packages' resolution from the local Ivy cache. Seconds.",
        "",
        *md_table(
            (
                "query",
                "engine",
                "first row, min",
                "first row, median",
                "exit, median",
                "ratio duckdb/spark (min / median)",
            ),
            rows,
        ),
        "",
        "The answers were the same on both engines, in every round:",
        "",
    ]
    for name in args.queries:
        sql = QUERIES[name] + (f"  --as-of-timestamp {moment}" if name == TIME_TRAVEL else "")
        lines += [
            f"- {name}: `{sql}`",
            "",
            "  ```",
            *("  " + line for line in answers[(name, "duckdb")].splitlines()),
            "  ```",
            "",
        ]
    lines += [
        "## Data",
        "",
        f"A world of {', '.join(f'{k} {v}' for k, v in args.world.items())} generated and backfilled "
        + (
            f"with the CLI, then {args.drip_ticks} more day(s) dripped and backfilled again; the time-travel "
            f"moment ({moment}) lies between the two backfills."
            if args.drip_ticks
            else f"with the CLI (a quick run: once); the time-travel moment ({moment}) follows that backfill."
        )
        + " Tables as the queries read them now:",
        "",
        *md_table(("table", "rows", "versions"), lake),
        "",
        f"deltalake {metadata.version('deltalake')}, duckdb {metadata.version('duckdb')}.",
        "",
        *machine_section(loads),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
