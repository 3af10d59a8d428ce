"""``sparkify stream`` as a real process over a lake under one root dir, for tests that kill it.

The lake is laid out as ``tests.conftest.lake_config(root)`` expects: landing files under
``root/landing``, tables (and checkpoints) under ``root/tables``; the process's output is appended
to ``root/stream.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyspark.errors import AnalysisException

START_TIMEOUT_S = 240
# The repository the tests import from: the child imports the same code, whatever a virtualenv's editable
# install points at (another checkout, when the tests run in a git worktree).
REPO_ROOT = Path(__file__).resolve().parent.parent


def start_stream(
    root: Path, extra_env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> subprocess.Popen:
    """``sparkify stream`` in its own process group, one file per micro-batch so a kill lands mid-work.

    ``extra_env`` overrides or adds ``SPARKIFY_*`` settings; ``args`` follow ``stream`` on the command
    line (e.g. ``["--available-now"]``). Its output goes to ``root/stream.log``: a pipe nobody reads
    would fill up and block the stream."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "SPARKIFY_PATHS_SONG_DATA": str(root / "landing" / "song_data"),
        "SPARKIFY_PATHS_LOG_DATA": str(root / "landing" / "log_data"),
        "SPARKIFY_PATHS_OUTPUT_ROOT": str(root / "tables"),
        "SPARKIFY_SPARK_UI_ENABLED": "false",
        "SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2",
        "SPARKIFY_SPARK_DRIVER_MEMORY": "1g",
        "SPARKIFY_STREAM_TRIGGER_INTERVAL": "1 second",
        "SPARKIFY_STREAM_SONGS_TRIGGER_INTERVAL": "1 second",
        "SPARKIFY_STREAM_MAX_FILES_PER_TRIGGER": "1",
        **(extra_env or {}),
    }
    with (root / "stream.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            # --verbose: the log's lines (ours, Spark's) in stream.log too, which a failing test shows
            [sys.executable, "-m", "sparkify.ops.cli", "stream", "--verbose", *args],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def batches_done(spark, config) -> int:
    """Rows of ``pipeline_metrics``: one per finished micro-batch of any query (0 before it exists)."""
    path = config.table_path("pipeline_metrics")
    # Not DeltaTable.isDeltaTable: it caches the table's absence in this session and would never see the
    # table the other process creates; a read of the path always looks at the latest commit.
    try:
        return spark.read.format("delta").load(path).count()
    except AnalysisException:  # not created yet by the stream process
        return 0


def log_listing(table_path: str) -> tuple[str, ...] | None:
    """What a local Delta table's log directory holds (its commits, staged commits too), ``()`` before
    it exists, ``None`` for a path that is not local. A listing changes with every commit and costs
    no JVM work, so polling it does not slow the stream."""
    if "://" in table_path or table_path.startswith("s3"):
        return None
    log_dir = Path(table_path.removeprefix("file:")) / "_delta_log"
    names = []
    for directory in (log_dir, log_dir / "_staged_commits"):
        with contextlib.suppress(FileNotFoundError):
            names += [f"{directory.name}/{p.name}" for p in directory.iterdir() if not p.name.startswith(".")]
    return tuple(sorted(names))


def wait_for_batches(spark, config, process: subprocess.Popen, at_least: int, root: Path) -> None:
    """Wait until ``pipeline_metrics`` holds ``at_least`` rows; raise if the process exits first or
    ``START_TIMEOUT_S`` passes (then it is killed).

    The rows are counted again only when the table's log has changed (or its path is not local): on
    two cores a count every half second beside the starting stream is a load of its own."""
    deadline = time.monotonic() + START_TIMEOUT_S
    path = config.table_path("pipeline_metrics")
    counted: object = object()  # the log listing last counted at; none yet
    while True:
        listing = log_listing(path)
        if listing is None or listing != counted:
            counted = listing
            if batches_done(spark, config) >= at_least:
                return
        if process.poll() is not None:
            raise AssertionError(f"stream exited early:\n{log_tail(root)}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"no {at_least} batches within {START_TIMEOUT_S}s:\n{log_tail(root)}")
        time.sleep(0.25)


def log_tail(root: Path) -> str:
    return (root / "stream.log").read_text(errors="replace")[-3000:]
