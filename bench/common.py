"""What every benchmark shares: the machine's description, medians and percentiles, markdown tables,
the command that made a report, the CLI's environment, an in-process SparkSession, where reports and
scratch go (a quick run never in bench/reports), and writing a report and its results JSON.

Benchmarks are scripts run as ``.venv/bin/python bench/<name>.py``, so this directory is on ``sys.path``
and they import this module as ``common``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The interpreter's own bin/, not ROOT/.venv: a git worktree runs the main checkout's virtualenv.
VENV_BIN = Path(sys.executable).parent
REPORTS = BENCH / "reports"  # the full runs' reports, committed; a quick run never writes here
WORK = BENCH / "out"  # scratch (git-ignored): generated data, tables, checkpoints
REPORTS_ENV = "SPARKIFY_BENCH_REPORTS"  # set by bench/suite.py: where every report of a suite run goes
WORK_ENV = "SPARKIFY_BENCH_WORK"
QUICK_ROOT = Path(tempfile.gettempdir()) / "sparkify-bench-quick"  # a quick run's default home
RESULTS_SCHEMA = 1  # bumped when the results JSON changes shape (bench/report.py reads it)
STAMP_PREFIX = "+{:7.1f}s | "  # on every stderr line a bench keeps: seconds since the job started


def say(line: str) -> None:
    """Progress of the bench itself, on stderr (stdout carries the report)."""
    print(f"[bench] {line}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """Describe the machine and the stack, so a figure can be compared with another run's."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    java = [line for line in java if not line.startswith("Picked up")]  # JAVA_TOOL_OPTIONS' notice
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "memory": f"{mem_kb / 2**20:,.1f} GiB",
        "OS": f"{platform.system()} {platform.release()} {platform.machine()}",
        "Python": platform.python_version(),
        "Java": java[0] if java else "?",
        "pyspark / delta-spark": f"{metadata.version('pyspark')} / {metadata.version('delta-spark')}",
    }


def machine_section(load_notes: Sequence[str] = ()) -> list[str]:
    """A report's "Machine" section: the stack, plus the load averages the bench noted as it ran."""
    lines = ["## Machine", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in machine().items())]
    lines += ["", "The machine is shared with other work (tests); load averages (1 / 5 / 15 min) seen during "
              "the run:", "", *(f"- {note}" for note in load_notes), ""]  # fmt: skip
    return lines


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as one string for a report."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_command(script: str) -> str:
    """The command line that produced this run, as a reader would retype it from the repository root."""
    return shlex.join([".venv/bin/python", f"bench/{Path(script).name}", *sys.argv[1:]])


def report_header(title: str, script: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Command: `{bench_command(script)}`",
        "",
    ]


def write_report(path: Path, text: str) -> None:
    """Print the report and write it (the latest run replaces the previous one)."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    say(f"report written to {path}")


def reports_dir(quick: bool = False) -> Path:
    """Where a report goes: ``$SPARKIFY_BENCH_REPORTS`` if set, else bench/reports (a quick run: a temp
    dir, as its figures are smoke, not measurements)."""
    if os.environ.get(REPORTS_ENV):
        return Path(os.environ[REPORTS_ENV])
    return QUICK_ROOT / "reports" if quick else REPORTS


def report_path(given: Path | None, name: str, quick: bool = False) -> Path:
    """The report a run writes: ``--report`` if given, else ``name`` in :func:`reports_dir`.

    Raises SystemExit for a quick run aimed at bench/reports, whatever chose it: those files are the
    full runs' figures, which the README quotes.
    """
    path = given or reports_dir(quick) / name
    if quick and path.resolve().parent == REPORTS.resolve():
        raise SystemExit(f"a --quick run never writes into {REPORTS}: choose --report or ${REPORTS_ENV}")
    return path


def work_path(given: Path | None, name: str, quick: bool = False) -> Path:
    """A run's scratch directory: ``--work`` if given, else ``name`` under ``$SPARKIFY_BENCH_WORK`` or
    bench/out (a quick run: a temp dir, so it never clears a full run's tables)."""
    if given is not None:
        return given
    if os.environ.get(WORK_ENV):
        return Path(os.environ[WORK_ENV]) / name
    return (QUICK_ROOT / "work" if quick else WORK) / name


@dataclass(frozen=True)
class Figure:
    """One headline figure of a benchmark, as bench/REPORT.md tabulates it.

    ``value`` is the headline (a comparison: the ratio of the two sides' medians); ``min`` the same over
    the rounds' minimums, where rounds exist. ``None`` means not measurable in this run (a job failed).
    ``target`` is the SPEC's words ("≤ 1.5×"), ``met`` whether this run met it (``None``: no target, or
    a quick run, whose tiny data says nothing about one).
    """

    name: str
    value: float | None
    unit: str
    target: str | None = None
    met: bool | None = None
    min: float | None = None
    note: str = ""


def at_most(value: float | None, limit: float) -> bool | None:
    """Whether ``value`` is within ``limit`` (``None`` when there is no value to judge)."""
    return None if value is None or math.isnan(value) else value <= limit


def ratio_of(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or ``None`` when either is missing, NaN or the denominator is 0."""
    if numerator is None or denominator is None or not denominator:
        return None
    result = numerator / denominator
    return None if math.isnan(result) else result


def ratio_figure(
    name: str,
    top: Sequence[float],
    bottom: Sequence[float],
    at_most_ratio: float | None = None,
    note: str = "",
) -> Figure:
    """``top`` / ``bottom`` as a figure: the ratio of their medians, and of their minimums, judged against
    ``at_most_ratio`` when it is the SPEC's target for this comparison."""
    value = ratio_of(median(top), median(bottom))
    target = None if at_most_ratio is None else f"≤ {at_most_ratio:g}×"
    met = None if at_most_ratio is None else at_most(value, at_most_ratio)
    least = ratio_of(min(top, default=None), min(bottom, default=None))
    return Figure(name, value, "×", target, met, least, note)


def xy_series(x: str, y: str, lines: Mapping[str, Iterable[tuple[float, float]]]) -> dict[str, object]:
    """A series of (x, y) points per line, e.g. MERGE seconds against table rows, per variant."""
    return {"kind": "xy", "x": x, "y": y, "lines": {k: [list(p) for p in v] for k, v in lines.items()}}


def samples_series(unit: str, lines: Mapping[str, Iterable[float]]) -> dict[str, object]:
    """A distribution per line, e.g. freshness seconds per dripped file, with GX on and off."""
    return {"kind": "samples", "unit": unit, "lines": {k: list(v) for k, v in lines.items()}}


def finite(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_results(
    report: Path,
    script: str,
    figures: Sequence[Figure],
    *,
    series: Mapping[str, object] | None = None,
    loads: Sequence[str] = (),
    quick: bool = False,
) -> Path:
    """Write the run's results beside its markdown report (``x.md`` → ``x.json``): what bench/report.py
    tabulates and plots. A quick run's ``met`` are all ``None``: it measures nothing against a target.

    Example: ``write_results(args.report, __file__, [Figure("p95", 8.2, "s", "≤ 10 s", True)])``
    """
    results = {
        "schema": RESULTS_SCHEMA,
        "benchmark": report.stem,
        "script": f"bench/{Path(script).name}",
        "command": bench_command(script),
        "report": report.name,
        "finished_at": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
        "quick": quick,
        "machine": machine(),
        "loads": [*loads, f"at the end: {load_average()}"],
        "figures": [asdict(f) | ({"met": None} if quick else {}) for f in figures],
        "series": dict(series or {}),
    }
    path = report.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(finite(results), indent=1, ensure_ascii=False) + "\n")
    say(f"results written to {path}")
    return path


def median(values: Iterable[float]) -> float:
    """The median (mean of the middle two when even); NaN for no values."""
    return percentile(values, 50)


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default); NaN if empty.

    With n samples, p95 lies between the two largest once n < 20, so reports show n and the max too.
    """
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]  # also keeps an infinite value (a sample that never arrived) from making NaN
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Markdown table lines; cells are formatted by the caller (str() otherwise)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def sparkify_env(song_data: Path, log_data: Path, output_root: Path, **overrides: str) -> dict[str, str]:
    """The environment a ``sparkify`` job needs for these paths (the local profile otherwise), UI off.

    Extra keyword arguments are more ``SPARKIFY_*`` variables, e.g. ``SPARKIFY_STREAM_TRIGGER_INTERVAL``.
    """
    return {
        "SPARKIFY_PATHS_SONG_DATA": str(song_data),
        "SPARKIFY_PATHS_LOG_DATA": str(log_data),
        "SPARKIFY_PATHS_OUTPUT_ROOT": str(output_root),
        "SPARKIFY_SPARK_UI_ENABLED": "false",
        **overrides,
    }


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment plus ``extra``, on the local profile whatever the caller's shell says."""
    env = {**os.environ, **extra}
    env.pop("SPARKIFY_CONFIG", None)
    return env


def shell_line(extra_env: dict[str, str], argv: Sequence[str]) -> str:
    """``K=V … argv`` as one copy-pasteable shell line."""
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in extra_env.items()) + " " + shlex.join(argv)


def stamp_lines(source: IO[bytes], sink: TextIO, began: float) -> None:
    """Copy a job's stderr, each line prefixed with seconds since its start: shows where time goes."""
    for raw in source:
        line = raw.decode(errors="replace").rstrip("\n")
        sink.write(f"{STAMP_PREFIX.format(time.perf_counter() - began)}{line}\n")
        sink.flush()


def local_spark(app_name: str, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession in the bench's own process, built as the jobs build theirs (the local profile:
    local[2], 4 shuffle partitions, Delta), with the UI off."""
    from checkpoints_config import load_config
    from sparkify.session import build_spark

    config = load_config("local", env={})  # the profile as shipped, whatever SPARKIFY_* the shell has
    return build_spark(
        config, app_name=app_name, extra_conf={"spark.ui.enabled": "false", **(extra_conf or {})}
    )
