"""Benchmark `sparkify backfill` against the naive classic batch job on the same generated data.

The SPEC's target: the backfill, with staging, validation and MERGE, within 1.0x the wall time of
a naive job that reads all JSON, builds the tables and overwrites Parquet (bench/naive_etl.py), on
>= 1M events and >= 10k song files; within 1.5x on a small dataset.
Also run, as the SPEC asks: a plain read of the same JSON written once as Parquet (bench/plain_copy.py),
the physical floor of this work on this machine. All three run in this one invocation, on the same data,
each in its own process tree, so wall time, CPU seconds and peak memory (summed over Python and the JVM,
sampled from /proc) are per job. The machine is shared and noisy: `--repeat N` alternates the jobs and
reports the median and the minimum of each.

Prints the figures and writes bench/reports/backfill.md and backfill.json (for bench/suite.py; latest
run; the per-run logs stay under the work dir).

    .venv/bin/python bench/bench_backfill.py [--songs 10000 --users 2000 --days 30 --repeat 1] [--quick]
    .venv/bin/python bench/bench_backfill.py --small [--repeat 5]   # reports/backfill_small.md
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

from common import (
    BENCH,
    VENV_BIN,
    Figure,
    bench_command,
    child_env,
    machine,
    median,
    ratio_figure,
    ratio_of,
    report_path,
    say,
    shell_line,
    sparkify_env,
    stamp_lines,
    work_path,
    write_report,
    write_results,
)
from procmem import TreeSampler

from sparkify.synthetic import generate_dataset

TARGET_RATIO = 1.0  # at the SPEC's scale
SMALL_TARGET_RATIO = 1.5  # the SPEC's target on a small dataset
MIN_EVENTS = 1_000_000  # the SPEC's scale; below it, the SPEC's small-dataset target applies
MIN_SONG_FILES = 10_000
PARAMS_FILE = "_bench_params.json"
JOBS = ("naive", "copy", "backfill")  # the order of each round
SMALL = {"songs": 71, "users": 40, "days": 10}  # generate_dataset's knobs for about 8,000 events
TAIL_LINES = 40


@dataclass(frozen=True)
class DataStats:
    """What the jobs read, counted from disk so a reused or hand-made dataset is described truly."""

    song_files: int
    event_files: int
    events: int
    plays: int
    bytes: int


@dataclass(frozen=True)
class RunResult:
    job: str
    round: int
    returncode: int
    wall_seconds: float
    cpu_seconds: float  # the whole process tree's: less moved than wall time by other work on the machine
    peak_rss_bytes: int
    peak_processes: int
    load_before: float
    log_dir: str


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, help="holds data/ and runs/ (default: bench/out/backfill)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of (naive, copy, backfill), median reported"
    )
    parser.add_argument("--skip-generate", action="store_true", help="use <work>/data as it is")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per job before it is killed")
    parser.add_argument("--keep-output", action="store_true", help="keep each run's tables (disk!)")
    parser.add_argument("--report", type=Path, help="default: bench/reports/backfill.md")
    parser.add_argument(
        "--small",
        action="store_true",
        help=f"the SPEC's small dataset ({SMALL['songs']} song files and about 8,000 events, the size of "
        "the Udacity sample), into backfill_small.md",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 songs, 10 users, 2 days, 1 round")
    args = parser.parse_args(argv)
    name = "backfill_small" if args.small else "backfill"
    if args.small:
        args.songs, args.users, args.days = SMALL["songs"], SMALL["users"], SMALL["days"]
    if args.quick:
        args.songs, args.users, args.days, args.repeat = 50, 10, 2, 1
    args.report = report_path(args.report, f"{name}.md", args.quick)
    args.work = work_path(args.work, name, args.quick)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")

    work = args.work.resolve()
    data = work / "data"
    if args.skip_generate:
        if not (data / "song_data").is_dir() or not (data / "log_data").is_dir():
            parser.error(f"--skip-generate: {data} has no song_data/ and log_data/")
    else:
        ensure_data(data, seed=args.seed, songs=args.songs, users=args.users, days=args.days)
    stats = count_data(data)
    say(
        f"data: {stats.events:,} events ({stats.plays:,} plays), {stats.song_files:,} song files, "
        f"{stats.event_files:,} event files, {stats.bytes / 2**20:,.0f} MiB"
    )
    if stats.events < MIN_EVENTS:
        say(f"note: {stats.events:,} events is below the SPEC's {MIN_EVENTS:,}: judged as a small dataset")

    runs_dir = work / "runs"
    shutil.rmtree(runs_dir, ignore_errors=True)
    results: list[RunResult] = []
    for i in range(1, args.repeat + 1):
        for job in JOBS:
            result = run_job(job, i, data, runs_dir, timeout=args.timeout, keep_output=args.keep_output)
            results.append(result)
            say(
                f"{job} round {i}/{args.repeat}: rc={result.returncode}, {result.wall_seconds:.1f}s "
                f"({result.cpu_seconds:.0f} CPU s), "
                f"peak {result.peak_rss_bytes / 2**20:,.0f} MiB in {result.peak_processes} processes"
            )

    found = figures(results, stats)
    write_report(args.report, render_report(results, found, stats, data, args))
    loads = [f"before {r.job} round {r.round}: {r.load_before:.2f} (1 min)" for r in results]
    write_results(args.report, __file__, found, loads=loads, quick=args.quick)
    return 0 if all(r.returncode == 0 for r in results) else 1


def target_ratio(stats: DataStats) -> float:
    """The SPEC's target for this dataset: 1.0× at its scale, 1.5× on a small one."""
    at_scale = stats.events >= MIN_EVENTS and stats.song_files >= MIN_SONG_FILES
    return TARGET_RATIO if at_scale else SMALL_TARGET_RATIO


def figures(results: list[RunResult], stats: DataStats) -> list[Figure]:
    """Wall time backfill / naive (of medians; of minimums) against the target, backfill / plain copy,
    the same in CPU seconds, each job's median, and the peak memory ratio."""
    ok = [r for r in results if r.returncode == 0]
    walls = {job: [r.wall_seconds for r in ok if r.job == job] for job in JOBS}
    cpus = {job: [r.cpu_seconds for r in ok if r.job == job] for job in JOBS}
    limit = target_ratio(stats)
    best = {job: median_of(results, job) for job in walls}
    peak = ratio_of(*(r.peak_rss_bytes if r else None for r in (best["backfill"], best["naive"])))
    scale = f"{stats.events:,} events, {stats.song_files:,} song files"
    wall, cpu = walls["backfill"], cpus["backfill"]
    return [
        ratio_figure("wall time, backfill / naive batch job", wall, walls["naive"], limit, scale),
        ratio_figure("wall time, backfill / plain read-and-write as Parquet", wall, walls["copy"],
                     note=scale),
        ratio_figure("CPU seconds, backfill / naive batch job", cpu, cpus["naive"], note=scale),
        *(Figure(f"wall time, {job}", median(w), "s", min=min(w, default=None), note=scale)
          for job, w in walls.items()),
        Figure("peak memory (process tree), backfill / naive", peak, "×"),
    ]  # fmt: skip


def ensure_data(data: Path, *, seed: int, songs: int, users: int, days: int) -> None:
    """Generate the dataset unless ``data`` already holds one made with the same parameters."""
    params = {"seed": seed, "songs": songs, "users": users, "days": days}
    marker = data / PARAMS_FILE
    if marker.is_file() and json.loads(marker.read_text()) == params:
        say(f"reusing {data} ({params})")
        return
    shutil.rmtree(data, ignore_errors=True)
    say(f"generating {params} into {data}")
    summary = generate_dataset(data, progress=lambda line: say(f"generate: {line}"), **params)
    say(f"generated {summary.events:,} events in {summary.seconds:.1f}s")
    # Written last, so a generation cut short is not mistaken for a complete dataset.
    marker.write_text(json.dumps(params))


def count_data(data: Path) -> DataStats:
    """Count files, bytes, events (lines) and plays (NextSong lines) on disk."""
    song_paths = list((data / "song_data").rglob("*.json"))
    event_paths = list((data / "log_data").rglob("*.json"))
    events = plays = 0
    for path in event_paths:
        with path.open("rb") as file:
            for line in file:
                if line.strip():
                    events += 1
                    plays += b'"page":"NextSong"' in line or b'"page": "NextSong"' in line
    size = sum(p.stat().st_size for p in song_paths + event_paths)
    return DataStats(len(song_paths), len(event_paths), events, plays, size)


def job_command(job: str, data: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment of one job."""
    if job in ("naive", "copy"):
        script = "naive_etl.py" if job == "naive" else "plain_copy.py"
        argv = [
            str(VENV_BIN / "python"), str(BENCH / script),
            "--songs", str(data / "song_data"), "--logs", str(data / "log_data"), "--out", str(out),
        ]  # fmt: skip
        return argv, {}
    env = sparkify_env(data / "song_data", data / "log_data", out)
    return [str(VENV_BIN / "sparkify"), "backfill"], env


def run_job(
    job: str, round_no: int, data: Path, runs_dir: Path, *, timeout: float, keep_output: bool
) -> RunResult:
    """Run one job in a fresh directory, timing it and sampling its process tree's memory."""
    log_dir = runs_dir / f"{round_no:02d}-{job}"
    out = log_dir / "out"
    log_dir.mkdir(parents=True)
    argv, extra_env = job_command(job, data, out)
    env = child_env(extra_env)  # the local profile, whatever the caller's shell says
    (log_dir / "command.txt").write_text(shell_line(extra_env, argv) + "\n")
    load_before = os.getloadavg()[0]
    say(f"{job} round {round_no}: starting (load average {load_before:.2f})")
    with (log_dir / "stdout.txt").open("wb") as stdout, (log_dir / "stderr.txt").open("w") as stderr:
        began = time.perf_counter()
        # cwd in the run dir keeps spark-warehouse/ and derby.log out of the repository; a session of
        # its own lets a timeout kill the whole tree (the JVM too) and nothing else.
        proc = subprocess.Popen(
            argv, cwd=log_dir, env=env, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True
        )
        stamper = threading.Thread(target=stamp_lines, args=(proc.stderr, stderr, began), daemon=True)
        stamper.start()
        with TreeSampler(proc.pid) as sampler:
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                say(f"{job} round {round_no}: over {timeout:.0f}s, killing its process group")
                os.killpg(proc.pid, signal.SIGKILL)
                returncode = proc.wait()
        wall = time.perf_counter() - began
        stamper.join(timeout=10)
    if not keep_output:
        shutil.rmtree(out, ignore_errors=True)
    mem = sampler.result
    return RunResult(
        job,
        round_no,
        returncode,
        wall,
        mem.cpu_seconds,
        mem.peak_bytes,
        mem.peak_processes,
        load_before,
        str(log_dir),
    )


def median_of(results: list[RunResult], job: str) -> RunResult | None:
    """The run with the median wall time among the job's successful runs (lower median if even)."""
    ok = sorted((r for r in results if r.job == job and r.returncode == 0), key=lambda r: r.wall_seconds)
    return ok[(len(ok) - 1) // 2] if ok else None


def progress_lines(path: Path) -> list[str]:
    """The job's own progress lines (``[backfill …]``, ``[naive]``), without Spark's log noise."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    return [line for line in text.splitlines() if re.match(r"^\+\s*[\d.]+s \| \[(backfill|naive|copy)", line)]


def error_tail(path: Path) -> list[str]:
    """The last lines of stderr with Java stack frames dropped, for a failed job."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    lines = (line.split(" | ", 1)[-1] for line in text.splitlines())
    return [line for line in lines if not line.lstrip().startswith("at ")][-TAIL_LINES:]


def render_report(
    results: list[RunResult], found: list[Figure], stats: DataStats, data: Path, args: argparse.Namespace
) -> str:
    command = bench_command(__file__)
    best = {job: median_of(results, job) for job in JOBS}
    rounds = args.repeat
    lines = [
        "# Backfill benchmark",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Command: `{command}`",
        "",
        "`sparkify backfill` (staging, validation by the expectation suites, quarantine, Delta MERGE "
        "into the star tables) against `bench/naive_etl.py` (the classic Udacity `etl.py`: read all JSON, "
        "`dropDuplicates`, overwrite Parquet) and `bench/plain_copy.py` (read the same JSON, write it once "
        "as Parquet: the floor), on the same data, in the same run, alternating "
        f"naive → copy → backfill for {rounds} round(s); each job is its own process tree.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine().items()),
        "",
        "The machine is shared: the load average before each run is in the per-run table.",
        "",
        "## Data",
        "",
        f"`sparkify.synthetic.generate_dataset(seed={args.seed}, songs={args.songs:,}, users={args.users:,}, "
        f"days={args.days})` into `{data}`"
        + (" (`--skip-generate`: used as found)" if args.skip_generate else "")
        + ".",
        "",
        "| events | plays (NextSong) | song files | event files | bytes |",
        "|---|---|---|---|---|",
        f"| {stats.events:,} | {stats.plays:,} | {stats.song_files:,} | {stats.event_files:,} | "
        f"{stats.bytes:,} ({stats.bytes / 2**20:,.0f} MiB) |",
        "",
    ]
    if stats.events < MIN_EVENTS or stats.song_files < MIN_SONG_FILES:
        lines += [
            f"Below the SPEC's scale (≥ {MIN_EVENTS:,} events, ≥ {MIN_SONG_FILES:,} song files): judged "
            f"against its target for a small dataset (≤ {SMALL_TARGET_RATIO:g}×), where the fixed costs "
            "of a job (the JVM, the tables, each Delta commit) weigh most.",
            "",
        ]
    lines += ["## Result", ""]
    lines += [
        "| job | wall s (median) | wall s (min) | CPU s (median) | events/s | peak RSS MiB | runs ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for job, run in best.items():
        ok = [r for r in results if r.job == job and r.returncode == 0]
        if run is None:
            lines.append(f"| {job} | failed | – | – | – | – | 0/{rounds} |")
        else:
            lines.append(
                f"| {job} | {run.wall_seconds:,.1f} | {min(r.wall_seconds for r in ok):,.1f} | "
                f"{median([r.cpu_seconds for r in ok]):,.1f} | {stats.events / run.wall_seconds:,.0f} | "
                f"{run.peak_rss_bytes / 2**20:,.0f} | {len(ok)}/{rounds} |"
            )
    lines.append("")
    lines += [f"- {f.name}: {f.value:.2f}{f.unit}" + (f" (min {f.min:.2f}{f.unit})" if f.min else "")
              + (f", target {f.target}: {'PASS' if f.met else 'FAIL'}" if f.target else "")
              for f in found if f.unit == "×" and f.value is not None]  # fmt: skip
    lines += [
        "",
        "## Every run",
        "",
        "| round | job | exit | wall s | CPU s | events/s | peak RSS MiB | processes at peak | load before |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r.round} | {r.job} | {r.returncode} | {r.wall_seconds:,.1f} | {r.cpu_seconds:,.1f} | "
            f"{stats.events / r.wall_seconds:,.0f} | {r.peak_rss_bytes / 2**20:,.0f} | {r.peak_processes} | "
            f"{r.load_before:.2f} |"
            for r in results
        ),
        "",
        "## How it is measured",
        "",
        "- Wall time: from starting the job's process to its exit, so each includes starting Python and "
        "the JVM (the backfill also loads the Delta jars, from the local Ivy cache).",
        "- CPU seconds: user + system time of every process of the job's tree, read from `/proc` at its "
        "last sample: on a shared machine, a figure less moved by other work than wall time.",
        "- Peak RSS: the largest sum of `VmRSS` over the job's process tree (the Python driver, the JVM, any "
        "Python workers), sampled from `/proc` every 0.2 s (`bench/procmem.py`).",
        "- events/s: the dataset's events divided by the job's wall time.",
        "- Both jobs parse with the explicit schemas of `sparkify.schemas` (`RAW_SONG_SCHEMA`, "
        "`RAW_EVENT_SCHEMA`); the classic `etl.py` infers the schema, which would add an inference pass "
        "over every file to the naive job.",
        "- Like the classic, the naive job caches nothing: the song files are scanned for `songs`, "
        "`artists` and the songplays join, the event files for `users`, `time` and `songplays`. It "
        "partitions `songs` by `year, artist_id` and `time`, `songplays` by `year, month`, and runs with "
        "Spark's default driver memory (1g); the backfill runs with the `local` profile (driver memory 4g, "
        "`maxPartitionBytes` 64m).",
        "",
    ]
    for job in reversed(JOBS):
        runs = [r for r in results if r.job == job]
        shown = best[job] or runs[-1]
        log_dir = Path(shown.log_dir)
        lines += [f"## {job}: output of round {shown.round}", ""]
        command_text = (log_dir / "command.txt").read_text().strip()
        lines += ["Command (run from its own directory):", "", "```", command_text, "```", ""]
        progress = progress_lines(log_dir / "stderr.txt")[-TAIL_LINES:]
        stdout = (log_dir / "stdout.txt").read_text(errors="replace").strip()
        lines += [
            "Progress lines on stderr (tail; seconds since the job started) and stdout:",
            "",
            "```",
            *progress,
            *stdout.splitlines(),
        ]
        lines += ["```", ""]
        if shown.returncode != 0:
            lines += [f"Exit code {shown.returncode}; stderr tail (Java stack frames dropped):", "", "```"]
            lines += [*error_tail(log_dir / "stderr.txt"), "```", ""]
    lines += ["Per-run logs: " + ", ".join(f"`{r.log_dir}`" for r in results), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
