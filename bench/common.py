"""What every benchmark shares: the machine's description, medians and percentiles, markdown tables,
the command that made a report, the CLI's environment, an in-process SparkSession, and writing a report.

Benchmarks are scripts run as ``.venv/bin/python bench/<name>.py``, so this directory is on ``sys.path``
and they import this module as ``common``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"
REPORTS = BENCH / "reports"
STAMP_PREFIX = "+{:7.1f}s | "  # on every stderr line a bench keeps: seconds since the job started


def say(line: str) -> None:
    """Progress of the bench itself, on stderr (stdout carries the report)."""
    print(f"[bench] {line}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """Describe the machine and the stack, so a figure can be compared with another run's."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
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
