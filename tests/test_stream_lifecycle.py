"""The stream as a real process: SIGTERM stops it cleanly after the current batch, and a restart ends in
the tables of a one-shot backfill with every line staged once. (``kill -9`` of the process at random
moments: tests/test_chaos.py; at each exact step of a batch: the replay tests in tests/test_stream.py.)"""

from __future__ import annotations

import io
import re
import signal

import pytest

from streaming.job import run_stream
from tests.conftest import ROUTING_ONLY, lake_config
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
    config = lake_config(tmp_path, **ROUTING_ONLY)  # GX does not decide how the stream stops
    land(tmp_path / "landing")
    process = start_stream(tmp_path, ROUTING_ONLY)
    wait_for_batches(spark, config, process, at_least=1, root=tmp_path)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)
    output = (tmp_path / "stream.log").read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]
    assert "[stream] stopped" in output  # the job's own line, in the log (shown here by --verbose)
    assert re.search(r"^stream +(\d+m)?\d+s  stopped$", output, re.MULTILINE), output[-3000:]

    run_stream(spark, config, available_now=True, out=io.StringIO())  # the restart takes the rest
    assert_same_star_tables(spark, config, expected)
    assert_each_line_staged_once(spark, config)
