"""The tables as created: a table the stream commits to every micro-batch checkpoints its log rarely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sparkify import tables
from sparkify.tables import COMMITTED_EVERY_BATCH, ensure_tables

pytestmark = pytest.mark.spark


def test_tables_committed_every_batch_checkpoint_their_log_every_100_commits(spark, lake):
    ensure_tables(spark, lake)
    per_batch = {t.name for t in tables.ALL_TABLES if t.properties == COMMITTED_EVERY_BATCH}
    assert per_batch == {
        "staging_events", "staging_songs", "quarantine", "quality_results", "pipeline_metrics", "songplays",
        "landed_files",
    }  # fmt: skip
    path = lake.table_path(tables.PIPELINE_METRICS.name)
    row = ("stream-events", "b", 1, 1, 0, dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1), 1, 1)
    for _ in range(12):
        metrics = spark.createDataFrame([row], tables.PIPELINE_METRICS.schema)
        metrics.write.format("delta").mode("append").save(path)
    log = sorted(p.name for p in Path(path, "_delta_log").iterdir())
    assert "00000000000000000012.json" in log
    assert not [name for name in log if ".checkpoint" in name], "Delta's default would checkpoint at 10"
    # A dimension table keeps Delta's default: it is merged once per dimension trigger.
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.table_path('users')}`").first()
    assert "delta.checkpointInterval" not in detail.properties
