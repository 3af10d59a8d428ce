"""The stream as a real process: SIGTERM stops it cleanly, and ``kill -9`` at random moments, then a
restart, still ends in the tables of a one-shot backfill with every line staged once."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException

from streaming.job import run_stream
from tests.conftest import lake_config
from tests.landing import land
from tests.test_backfill import assert_same_star_tables

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]

START_TIMEOUT_S = 240


def start_stream(root: Path) -> subprocess.Popen:
    """``sparkify stream`` in its own process group, one file per micro-batch so a kill lands mid-work.

    Its output goes to ``root/stream.log``: a pipe nobody reads would fill up and block the stream."""
    env = {
        **os.environ,
        "SPARKIFY_PATHS_SONG_DATA": str(root / "landing" / "song_data"),
        "SPARKIFY_PATHS_LOG_DATA": str(root / "landing" / "log_data"),
        "SPARKIFY_PATHS_OUTPUT_ROOT": str(root / "tables"),
        "SPARKIFY_SPARK_UI_ENABLED": "false",
        "SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2",
        "SPARKIFY_SPARK_DRIVER_MEMORY": "1g",
        "SPARKIFY_STREAM_TRIGGER_INTERVAL": "1 second",
        "SPARKIFY_STREAM_MAX_FILES_PER_TRIGGER": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sparkify.cli", "stream"],
        env=env,
        cwd=root,
        stdout=(root / "stream.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def batches_done(spark, config) -> int:
    path = config.table_path("pipeline_metrics")
    # Not DeltaTable.isDeltaTable: it caches the table's absence in this session and would never see the
    # table the other process creates; a read of the path always looks at the latest commit.
    try:
        return spark.read.format("delta").load(path).count()
    except AnalysisException:  # not created yet by the stream process
        return 0


def wait_for_batches(spark, config, process: subprocess.Popen, at_least: int, root: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while batches_done(spark, config) < at_least:
        if process.poll() is not None:
            raise AssertionError(f"stream exited early:\n{log_tail(root)}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"no {at_least} batches within {START_TIMEOUT_S}s:\n{log_tail(root)}")
        time.sleep(0.5)


def log_tail(root: Path) -> str:
    return (root / "stream.log").read_text(errors="replace")[-3000:]


def assert_each_line_staged_once(spark, config) -> None:
    for table in ("staging_events", "staging_songs"):
        staged = (
            spark.read.format("delta").load(config.table_path(table)).select("source_file", "line_number")
        )
        assert staged.count() == staged.distinct().count(), f"{table} holds a line twice"


def test_sigterm_stops_after_the_current_batch_and_restart_resumes(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    process = start_stream(tmp_path)
    wait_for_batches(spark, config, process, at_least=1, root=tmp_path)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)
    output = (tmp_path / "stream.log").read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]
    assert "[stream] stopped" in output

    run_stream(spark, config, available_now=True, out=io.StringIO())  # the restart takes the rest
    assert_same_star_tables(spark, config, expected)
    assert_each_line_staged_once(spark, config)


def test_kill_9_at_random_moments_then_restart_ends_exactly_once(spark, reference, tmp_path):
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    rng = random.Random(7)
    for kill in range(2):
        process = start_stream(tmp_path)
        wait_for_batches(spark, config, process, at_least=kill + 1, root=tmp_path)
        time.sleep(rng.uniform(0.0, 3.0))  # somewhere inside a later batch, or between two
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

    run_stream(spark, config, available_now=True, out=io.StringIO())
    assert_same_star_tables(spark, config, expected)
    assert_each_line_staged_once(spark, config)
    metrics = spark.read.format("delta").load(config.table_path("pipeline_metrics"))
    assert metrics.count() == metrics.select("batch_id").distinct().count()
