"""Run every benchmark of the registry one after another, then render REPORT.md from their results.

Full (``make bench``): each script with its full arguments; reports and results into bench/reports/,
REPORT.md and its plots into bench/. Hours on a 2-core machine.

Quick (``make bench-quick``, CI): each script with its quick arguments, under a minute and a half each
(an entry whose quick run would repeat another's is left out); everything (reports, results, scratch,
logs, REPORT.md, plots) into a fresh temp directory, never bench/reports/.
Fails when a script fails, writes no results, or a plot is not drawn: that is how a benchmark that no
longer runs is caught. No time is judged.

    .venv/bin/python bench/suite.py [--quick] [--out DIR] [--only NAME ...]

Each script runs as its own process (``sys.executable``, so the same virtualenv) from the repository
root, with this checkout first on ``PYTHONPATH`` (a worktree that shares another checkout's editable
install still runs its own code) and its stdout and stderr in ``<logs>/<name>.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from common import BENCH, REPORTS, REPORTS_ENV, ROOT, WORK, WORK_ENV, load_average, say
from procmem import TreeSampler, descendants, parent_pids, started_at
from registry import BENCHMARKS, Benchmark, by_name, plots
from report import SUITE_RUN, write_report_md

# A quick run stuck (a stream that never drains) fails CI instead of hanging it. Generous: freshness's
# quick run takes a minute and a half on a quiet machine, and took over 15 on this one when others loaded
# it 15 deep.
QUICK_TIMEOUT_S = 1800.0
# Quick runs' JVMs, of which only the CPU matters (a quick run measures nothing):
# - compile with C1 only: C2's compiler threads spend CPU a run of a minute never earns back (a third
#   less CPU for a quick backfill here);
# - keep tiered compilation's code cache (240 MiB): C1 alone gets 48, which a stream or a backfill filled
#   ("CodeCache is full. Compiler has been disabled": the rest interpreted) or kept flushing (a sixth less
#   CPU for a quick backfill);
# - build Spark sessions that default (a -D system property is a SparkConf default; what a session sets
#   itself still wins) to interpreted expressions, not Java generated and compiled per query (Janino, then
#   the JIT) that tiny data never repays (a tenth less CPU for a quick backfill), and to parallel listings
#   (partition discovery) of 2 tasks, not Spark's 10,000: the pipeline's own sessions set theirs to the
#   profile's shuffle partitions (sparkify.session), so this reaches the sessions that set none, the naive
#   job's and the plain copy's.
QUICK_JVM = " ".join(
    [
        "-XX:TieredStopAtLevel=1",
        "-XX:ReservedCodeCacheSize=240m",
        "-Dspark.sql.codegen.wholeStage=false",
        "-Dspark.sql.codegen.factoryMode=NO_CODEGEN",
        "-Dspark.sql.sources.parallelPartitionDiscovery.parallelism=2",
    ]
)
LOG_TAIL = 60  # lines of a failed benchmark's log printed
STOP_GRACE_S = 30.0  # after SIGTERM, before SIGKILL: scripts stop their JVMs and clean up on SIGTERM


@dataclass(frozen=True)
class Layout:
    """Where a suite run puts things."""

    out: Path  # REPORT.md and plots/
    results: Path  # each benchmark's report and results JSON
    work: Path  # the benchmarks' scratch
    logs: Path  # each benchmark's stdout and stderr

    @classmethod
    def of(cls, out: Path) -> Layout:
        if out.resolve() == BENCH:  # the full run's home: the committed reports, bench/out for the rest
            return cls(BENCH, REPORTS, WORK, WORK / "suite-logs")
        return cls(out, out / "reports", out / "work", out / "logs")


@dataclass(frozen=True)
class Ran:
    """One benchmark's run in the suite."""

    name: str
    command: str
    returncode: int
    seconds: float
    # CPU seconds of the script and every process it started (its JVMs): unlike wall time, barely moved by
    # other work on the machine, so what says how long the run would take on a quiet one.
    cpu_seconds: float
    results: bool  # it wrote its results JSON during this run
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick arguments, into a temp dir")
    parser.add_argument("--out", type=Path, help="default: bench/ (full), a new temp dir (quick)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks only (registry names)")
    parser.add_argument(
        "--timeout", type=float, help=f"seconds per benchmark (default: {QUICK_TIMEOUT_S:g} quick, none full)"
    )
    args = parser.parse_args(argv)
    try:
        chosen = [by_name(name) for name in args.only] if args.only else list(BENCHMARKS)
    except KeyError as e:
        parser.error(str(e.args[0]))
    if args.quick:  # an entry without a quick run of its own: its script's quick run is another entry's
        repeats = [b.name for b in chosen if b.quick is None]
        chosen = [b for b in chosen if b.quick is not None]
        if repeats:
            say(f"suite: no quick run of {', '.join(repeats)} (it would repeat another entry's)")
        if not chosen:
            parser.error(f"no quick run of {', '.join(repeats)}: it would repeat another entry's")
    out = args.out or (Path(tempfile.mkdtemp(prefix="sparkify-bench-quick-")) if args.quick else BENCH)
    if args.quick and out.resolve() == BENCH:
        parser.error("a quick run never writes into bench/: choose another --out")
    layout = Layout.of(out)
    timeout = args.timeout if args.timeout is not None else (QUICK_TIMEOUT_S if args.quick else None)
    for path in (layout.results, layout.logs):
        path.mkdir(parents=True, exist_ok=True)

    started, load_start = dt.datetime.now(dt.UTC), load_average()
    say(f"suite: {len(chosen)} benchmark(s), {'quick' if args.quick else 'full'}, into {layout.out}")
    runs = [run(bench, layout, args.quick, timeout) for bench in chosen]
    record = {
        "command": shlex.join([".venv/bin/python", "bench/suite.py", *sys.argv[1:]]),
        "quick": args.quick,
        "started_at": f"{started:%Y-%m-%d %H:%M}",
        "load_start": load_start,
        "load_end": load_average(),
        "runs": [asdict(r) for r in runs],
    }
    (layout.results / SUITE_RUN).write_text(json.dumps(record, indent=1) + "\n")
    rendered = write_report_md(layout.results, layout.out)

    for r in runs:
        state = (
            "ok" if r.ok else f"FAILED (exit {r.returncode}, results {'written' if r.results else 'missing'})"
        )
        say(f"{r.name:>22}: {r.seconds:7.1f} s wall, {r.cpu_seconds:7.1f} s CPU  {state}  {r.log}")
    wall, cpu = sum(r.seconds for r in runs), sum(r.cpu_seconds for r in runs)
    say(f"{'total':>22}: {wall:7.1f} s wall, {cpu:7.1f} s CPU")
    say(f"{rendered.report}: {len(rendered.plots)} of {len(plots())} plots drawn")
    failed = [r.name for r in runs if not r.ok]
    if args.quick and not args.only and len(rendered.plots) < len(plots()):
        failed.append("plots")  # every benchmark ran, so every plot has its series: one missing is a bug
    for r in runs:
        if not r.ok:  # CI shows this output, not the log files: the end of each failed one
            tail = (ROOT / r.log).read_text(errors="replace").splitlines()[-LOG_TAIL:]
            say(f"{r.name}: the last {len(tail)} lines of {r.log}:\n" + "\n".join(tail))
    if failed:
        say(f"suite: failed: {', '.join(failed)}; scratch kept in {layout.work}")
    elif args.quick:
        shutil.rmtree(layout.work, ignore_errors=True)  # tables and checkpoints: only a failure needs them
    return 1 if failed else 0


def run(bench: Benchmark, layout: Layout, quick: bool, timeout: float | None) -> Ran:
    """Run one benchmark's script, its output into its log; stop it and all it started past ``timeout``."""
    args = (bench.quick or ()) if quick else bench.full
    argv = [sys.executable, str(BENCH / bench.script), *args]
    shown = shlex.join([f"bench/{bench.script}", *args])
    env = {**os.environ, REPORTS_ENV: str(layout.results), WORK_ENV: str(layout.work)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if quick:  # every JVM the benchmark starts, the jobs' too
        env["JAVA_TOOL_OPTIONS"] = " ".join(filter(None, [os.environ.get("JAVA_TOOL_OPTIONS"), QUICK_JVM]))
    results = layout.results / f"{bench.name}.json"
    log = layout.logs / f"{bench.name}.log"
    say(f"{bench.name}: {shown} (load {load_average()})")
    began, before = time.perf_counter(), time.time()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        with TreeSampler(proc.pid, interval=0.5) as sampler:
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                say(f"{bench.name}: over {timeout:g} s, stopping it")
                returncode = stop(proc)
            finally:
                if proc.poll() is None:  # the suite itself was interrupted: take the benchmark down with it
                    stop(proc)
    seconds, cpu = time.perf_counter() - began, sampler.result.cpu_seconds
    wrote = results.is_file() and results.stat().st_mtime >= before
    where = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log  # as the repository names it
    return Ran(bench.name, shown, returncode, seconds, cpu, wrote, str(where))


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM the script; once it is gone (or after a grace period) SIGKILL every process it had started.

    The tree is read from /proc first: the jobs a script runs in sessions of their own (the stream, the
    backfill, their JVMs) are not in its process group, and a script that SIGTERM ends at once leaves
    them running, children of init.
    """
    tree = {pid: started_at(pid) for pid in descendants(proc.pid, parent_pids()) - {proc.pid}}
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    for pid, began in tree.items():
        if began is not None and started_at(pid) == began:  # the same process, still there
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return proc.wait()


if __name__ == "__main__":
    raise SystemExit(main())
