"""Shared fixtures: one session-scoped SparkSession (never stopped by a test) and per-test lakes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from checkpoints_config import PipelineConfig, load_config

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
    """The one SparkSession of the run, tuned for tests: 2 shuffle partitions, no UI, few snapshot parts."""
    from sparkify.session import build_spark

    config = load_config(
        "local", env={"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "2", "SPARKIFY_SPARK_UI_ENABLED": "false"}
    )
    session = build_spark(
        config,
        app_name="sparkify-tests",
        extra_conf={
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            "spark.driver.memory": "3g",
        },
    )
    yield session


@pytest.fixture
def lake(tmp_path: Path) -> PipelineConfig:
    return lake_config(tmp_path)
