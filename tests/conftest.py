"""Shared fixtures: one session-scoped SparkSession (never stopped by a test) and per-test lakes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from checkpoints_config import PipelineConfig, load_config
from tests.s3_server import restartable_s3_server, s3_bucket, s3_server  # noqa: F401  (fixtures for all)

# Timestamps come back to Python in the process's time zone: make it UTC, like the Spark session.
os.environ["TZ"] = "UTC"
time.tzset()


def lake_config(root: Path, **env: str) -> PipelineConfig:
    """A local configuration whose landing, tables and checkpoints all live under ``root``."""
    base = {
        "SPARKIFY_PATHS_SONG_DATA": str(root / "landing" / "song_data"),
        "SPARKIFY_PATHS_LOG_DATA": str(root / "landing" / "log_data"),
        "SPARKIFY_PATHS_OUTPUT_ROOT": str(root / "tables"),
    }
    return load_config("local", env={**base, **env}, cwd=root)


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the run, tuned for tests: 2 shuffle (and Delta snapshot) partitions, no UI,
    no AQE."""
    from sparkify.session import build_spark

    config = load_config(
        "local", env={"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2", "SPARKIFY_SPARK_UI_ENABLED": "false"}
    )
    session = build_spark(
        config,
        app_name="sparkify-tests",
        with_s3=True,  # the s3 tests point it at a server on 127.0.0.1 with sparkify.session.use_s3
        extra_conf={
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            "spark.driver.memory": "3g",
            # On the tests' batches of a few rows, AQE's stage-by-stage re-planning costs more than it
            # saves (an available-now stream over tests/landing: median 28.1 s against 35.5 s, 3 rounds
            # alternating in one session), and it never changes a result.
            "spark.sql.adaptive.enabled": "false",
        },
    )
    yield session


@pytest.fixture(scope="session")
def checks():
    """The suites with GX, as a job loads them (one GX context for the tests, which run one at a time)."""
    from expectations.validation import load_checks

    return load_checks(load_config("local").quality)


# For tests of what GX does not decide (merge order, recovery, the hand-off, archiving): the suites still
# route every row, GX does not run. What GX does is tested with it on (test_validation, test_quality,
# test_bad_inputs, the stream's replays, the fail policy), and it costs a small test several seconds a
# batch and a backfill its star-table checks.
ROUTING_ONLY = {"SPARKIFY_QUALITY_GREAT_EXPECTATIONS": "false"}


@pytest.fixture(scope="session")
def routing_only():
    """The suites without GX (see ROUTING_ONLY)."""
    from expectations.validation import load_checks

    return load_checks(load_config("local", env=ROUTING_ONLY).quality)


@pytest.fixture
def lake(tmp_path: Path) -> PipelineConfig:
    return lake_config(tmp_path)


def star_tables(spark, config: PipelineConfig) -> dict:
    from sparkify.tables import STAR_TABLES

    return {t.name: spark.read.format("delta").load(config.table_path(t.name)) for t in STAR_TABLES}


@pytest.fixture(scope="session")
def reference(spark, tmp_path_factory):
    """The star tables of one backfill over the tiny landing zone (tests/landing.py): what any other
    route through the pipeline must end in. Yields (config, summary, progress text, tables)."""
    import io

    from batch_backfill.job import run_backfill
    from tests.landing import land

    root = tmp_path_factory.mktemp("reference")
    config = lake_config(root)
    land(root / "landing")
    out = io.StringIO()
    summary = run_backfill(spark, config, out=out)
    tables = {name: df.localCheckpoint() for name, df in star_tables(spark, config).items()}
    return config, summary, out.getvalue(), tables
