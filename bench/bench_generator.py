"""Benchmark `sparkify generate` at the scale the pipeline benchmarks need (>= 1M events, 10k songs).

Prints the figures and appends them, with the command and the machine, to
bench/reports/generator.md; the latest run's figures also go to generator.json beside it (bench/suite.py).

    .venv/bin/python bench/bench_generator.py [--users 2000 --days 30 --songs 10000 --workers N] [--quick]
"""

import argparse
import contextlib
import datetime as dt
import os
import platform
import resource
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from common import Figure, at_most, report_path, write_results

from sparkify.synthetic import generate_dataset

TARGET_S = 60.0  # README: about a minute at the pipeline benchmarks' scale
HEADER = "`sparkify generate` at the scale of the pipeline benchmarks; one section a run, newest last."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--songs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU")
    parser.add_argument("--out", help="landing directory to keep (default: a temp dir, removed after)")
    parser.add_argument("--report", type=Path, help="default: bench/reports/generator.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 songs, 20 users, 2 days")
    args = parser.parse_args(argv)
    if args.quick:
        args.songs, args.users, args.days = 200, 20, 2
    args.report = report_path(args.report, "generator.md", args.quick)

    load_before = os.getloadavg()[0]  # other work on the machine skews the figures
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as scratch:
        out = args.out or scratch
        began = time.perf_counter()
        with peak_worker_rss_kib() as workers_kib:
            summary = generate_dataset(
                out,
                seed=args.seed,
                songs=args.songs,
                users=args.users,
                days=args.days,
                workers=args.workers,
                progress=lambda line: print(line, file=sys.stderr),
            )
        wall = time.perf_counter() - began
        landed_bytes = sum(path.stat().st_size for path in Path(out).rglob("*") if path.is_file())

    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds barely move when other work shares the machine; wall time does.
    cpu = own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime
    figures = {
        "events": f"{summary.events:,}",
        "plays": f"{summary.plays:,}",
        "song files": f"{summary.song_files:,}",
        "event files": f"{summary.event_files:,}",
        "landed": f"{landed_bytes / 2**20:,.0f} MiB",
        "wall time": f"{wall:.1f} s",
        "CPU time, main + workers": f"{cpu:.1f} s",
        "events/s": f"{summary.events / wall:,.0f}",
        "files/s": f"{(summary.song_files + summary.event_files) / wall:,.0f}",
        "MiB/s": f"{landed_bytes / 2**20 / wall:,.1f}",
        "peak RSS, main process": f"{own.ru_maxrss / 1024:,.0f} MiB",  # ru_maxrss is KiB on Linux
        "peak RSS, largest worker": f"{max(workers_kib) / 1024:,.0f} MiB" if workers_kib else "no workers",
    }
    for name, value in figures.items():
        print(f"{name:>26}: {value}")
    _append_report(args.report, figures, workers=args.workers, load=load_before)
    write_results(
        args.report,
        __file__,
        [
            Figure(
                "wall time for the dataset",
                wall,
                "s",
                "~1 min",
                at_most(wall, TARGET_S),
                note=f"{summary.events:,} events, {summary.song_files:,} song files",
            ),
            Figure("events/s", summary.events / wall, "events/s"),
            Figure("MiB/s", landed_bytes / 2**20 / wall, "MiB/s"),
            Figure("peak RSS, main process", own.ru_maxrss / 1024, "MiB"),
        ],
        loads=[f"before the run: {load_before:.2f} (1 min)"],
        quick=args.quick,
    )


@contextlib.contextmanager
def peak_worker_rss_kib(every_seconds: float = 0.1) -> Iterator[list[int]]:
    """Sample the peak RSS (VmHWM, KiB) of each worker process while the block runs.

    Not getrusage(RUSAGE_CHILDREN): Linux carries a child's high-water mark across exec, so
    every spawned worker would report at least the parent's RSS at spawn time. Nor
    multiprocessing.active_children(): it reaps children, racing the pool's own thread.
    """
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_seconds):
            for pid in _child_pids():
                with contextlib.suppress(OSError, StopIteration):
                    status = Path(f"/proc/{pid}/status").read_text()
                    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
                    peaks[pid] = max(peaks.get(pid, 0), int(hwm.split()[1]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: list[int] = []
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result.extend(peaks.values())


def _child_pids() -> list[int]:
    """Processes whose parent is this one, from /proc (Linux; elsewhere, none)."""
    me, children = os.getpid(), []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            # the parent pid is the 2nd field after the parenthesised command name
            if int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                children.append(int(entry.name))
    return children


def _append_report(report: Path, figures: dict[str, str], *, workers: int | None, load: float) -> None:
    command = shlex.join([".venv/bin/python", "bench/bench_generator.py", *sys.argv[1:]])
    lines = [
        f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; workers={workers or 'one per CPU'}; "
        f"load average before the run {load:.2f}.",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in figures.items()),
        "",
        "",
    ]
    report.parent.mkdir(parents=True, exist_ok=True)
    if not report.exists():
        report.write_text(f"# Generator benchmark\n\n{HEADER}\n\n")
    with report.open("a") as file:
        file.write("\n".join(lines))


if __name__ == "__main__":  # the guard spawned workers need
    main()
