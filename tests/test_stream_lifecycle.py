"""The stream as a real process: SIGTERM stops it cleanly, and ``kill -9`` at random moments, then a
restart, still ends in the tables of a one-shot backfill with every line staged once."""

from __future__ import annotations

import io
import os
import random
import signal
import time

import pytest

from streaming.job import run_stream
from tests.conftest import lake_config
from tests.landing import land
from tests.stream_process import start_stream, wait_for_batches
from tests.test_backfill import assert_same_star_tables

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]


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
