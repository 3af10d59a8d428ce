"""``sparkify demo`` as a new user runs it, on a tiny world: what it prints is its phases, one line each,
the summary (counts that are the tables' own), where to look next, in fewer than 60 lines; what Spark,
Ivy and our logging say is in the log file whose path it prints first, not on the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sparkify.tables import ALL_TABLES
from tests.conftest import ROUTING_ONLY

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PHASES = ("set up", "generate", "backfill", "stream", "drain", "results")
TINY = ["--songs", "20", "--users", "5", "--days", "2", "--stream-seconds", "8"]


def run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    """The demo in its own process from ``cwd``, on the default profile (the lake under ./lake), tuned
    like the tests' session; stdout is a pipe, so the plain phase lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKIFY_")}
    env |= {
        **ROUTING_ONLY,
        "PYTHONPATH": str(REPO),
        "SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2",
        "SPARKIFY_SPARK_UI_ENABLED": "false",
        "SPARKIFY_SPARK_DRIVER_MEMORY": "1g",
        "SPARKIFY_STREAM_TRIGGER_INTERVAL": "1 second",
        "SPARKIFY_STREAM_SONGS_TRIGGER_INTERVAL": "1 second",
    }
    if "SPARKIFY_IVY_DIR" in os.environ:
        env["SPARKIFY_IVY_DIR"] = os.environ["SPARKIFY_IVY_DIR"]
    return subprocess.run(
        [sys.executable, "-m", "sparkify.ops.cli", "demo", *TINY],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # minutes on a loaded 2-core machine
    )


def test_the_demo_prints_its_phases_the_summary_and_what_next_and_logs_the_rest(spark, tmp_path):
    done = run_demo(tmp_path)

    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert done.stderr == ""  # the JVM's stderr and our logging went to the log file
    lines = done.stdout.splitlines()
    assert len(lines) < 60, done.stdout
    assert not re.search(r"\bWARN\b|\bINFO\b|Ivy|:: resolving|log4j", done.stdout), done.stdout
    assert "\x1b" not in done.stdout and "\r" not in done.stdout  # not a terminal: plain lines

    # The log's path first, then one line a phase, in order, each with its time.
    log_line = re.fullmatch(
        r"log: (lake/tables/_logs/sparkify-demo-\d{8}T\d{6}Z\.log) \(--verbose .*\)", lines[0]
    )
    assert log_line, lines[0]
    shown = [re.match(rf"({'|'.join(PHASES)}) +(\d+m)?\d+s(  |$)", line) for line in lines[1:7]]
    assert [m.group(1) if m else line for m, line in zip(shown, lines[1:7], strict=True)] == list(PHASES)
    assert "20 song files, 2 days of events" in lines[2]

    # The summary: every table's count as the table holds it, freshness, the samples, time travel.
    table_rows = lines[lines.index(next(ln for ln in lines if ln.startswith("rows per table:"))) + 1 :]
    table_rows = table_rows[: table_rows.index("")]
    counts = dict(re.findall(r"([a-z_]+) +([\d,]+)", "\n".join(table_rows)))
    assert sorted(counts) == sorted(spec.name for spec in ALL_TABLES)
    lake = tmp_path / "lake" / "tables"
    for spec in ALL_TABLES:
        actual = spark.read.format("delta").load(str(lake / spec.name)).count()
        assert counts[spec.name].replace(",", "") == str(actual), spec.name
    assert int(counts["songplays"].replace(",", "")) > 0
    for heading in ("rows per table:", "freshness, landing to table", "top 3 songs:", "plays by level:"):
        assert any(line.startswith(heading) for line in lines), heading
    assert any(line.startswith("time travel: songplays holds ") for line in lines)

    # Where to look next.
    nexts = lines[lines.index("where to look next:") + 1 :]
    assert [line.split()[0] for line in nexts] == ["tables", "quality", "the", "time"]
    assert "lake/tables/<table>" in nexts[0]
    assert "quality report" in nexts[1] and "lake/tables/_data_docs/index.html" in nexts[1]
    assert "sparkify status" in nexts[2]
    assert '"Time travel walkthrough"' in nexts[3] and "--as-of-version" in nexts[3]

    # The log holds Spark's lines and ours.
    log = (tmp_path / log_line.group(1)).read_text()
    assert "log4j" in log  # Spark's own start-up lines
    assert (
        re.search(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|ERROR) ", log) or "Setting default log level" in log
    )
    assert "INFO batch_backfill.job: create missing tables took" in log
    assert "INFO sparkify.ops.phases: stream: " in log
