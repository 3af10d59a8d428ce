"""Operating the tables: history with the job and batch of each commit, maintain (OPTIMIZE, the
retention window, VACUUM that never cuts into it) and rebuild from staging."""

from __future__ import annotations

import datetime as dt
import io
import json

import pyspark.sql.functions as F
import pytest
from delta.tables import DeltaTable
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import run_backfill
from checkpoints_config import ConfigError, load_config
from sparkify.errors import UsageError
from sparkify.ops.history import COLUMNS, history_row
from sparkify.ops.maintain import check_retention, maintain_table
from sparkify.ops.queries import read_table, restore_table
from sparkify.pipeline.rebuild import SOURCES, rebuild_table
from sparkify.tables import STAR_TABLES, TABLES_BY_NAME, ensure_tables, retention_properties
from tests.conftest import ROUTING_ONLY, lake_config
from tests.landing import land
from tests.test_backfill import assert_same_star_tables

MS = 1796486625528  # 2026-12-05 16:03:45.528 UTC


def shown(commit: dict) -> dict:
    return dict(zip(COLUMNS, history_row(commit), strict=True))


def test_history_row_counts_what_each_operation_reports_and_reads_the_note():
    merge = shown(
        {
            "version": 7,
            "timestamp": MS,
            "operation": "MERGE",
            "operationMetrics": {
                "numTargetRowsInserted": "3",
                "numTargetRowsUpdated": "2",
                "numTargetRowsDeleted": "1",
                "numOutputRows": "40",  # with the copied rows: not what it inserted
            },
            "userMetadata": '{"job": "stream-events", "batch": "stream-events-ab-00000012"}',
        }
    )
    assert merge == {
        "version": 7,
        "timestamp": dt.datetime(2026, 12, 5, 16, 3, 45, 528000, tzinfo=dt.UTC),
        "operation": "MERGE",
        "rows_inserted": 3,
        "rows_updated": 2,
        "rows_deleted": 1,
        "job": "stream-events",
        "batch": "stream-events-ab-00000012",
        "note": None,
    }
    write = shown(
        {"version": 1, "timestamp": MS, "operation": "WRITE", "operationMetrics": {"numOutputRows": "9"}}
    )
    assert (write["rows_inserted"], write["rows_updated"], write["rows_deleted"], write["job"]) == (
        9,
        None,
        None,
        None,
    )
    restore = shown(
        {
            "version": 3,
            "timestamp": MS,
            "operation": "RESTORE",
            "operationMetrics": {},
            "userMetadata": json.dumps({"job": "restore", "by": "ana@host", "reason": "bad suite"}),
        }
    )
    assert restore["job"] == "restore"
    assert json.loads(restore["note"]) == {"by": "ana@host", "reason": "bad suite"}
    foreign = shown({"version": 4, "timestamp": MS, "operation": "WRITE", "userMetadata": "by hand"})
    assert foreign["job"] is None and json.loads(foreign["note"]) == {"note": "by hand"}


def test_vacuum_never_keeps_less_than_the_time_travel_window():
    config = load_config("local", env={"SPARKIFY_RETENTION_TIME_TRAVEL_DAYS": "10"})
    assert check_retention(config, None) == 240
    assert check_retention(config, 300) == 300
    with pytest.raises(UsageError, match=r"--retain-hours 24 is shorter than the time-travel window"):
        check_retention(config, 24)
    with pytest.raises(ConfigError, match="at least 7"):
        load_config("local", env={"SPARKIFY_RETENTION_TIME_TRAVEL_DAYS": "3"})


def test_maintain_refuses_a_short_vacuum_before_taking_the_lease_or_starting_spark(tmp_path, capsys):
    from sparkify.ops.cli import main

    config = tmp_path / "lake.toml"
    config.write_text(f'[paths]\noutput_root = "{tmp_path / "tables"}"\n')
    assert main(["maintain", "--config", str(config), "--retain-hours", "1"]) == 2
    err = capsys.readouterr().err
    assert "shorter than the time-travel window" in err and "Traceback" not in err
    assert not (tmp_path / "tables").exists()  # no lease record, no table


def test_every_star_table_has_a_rebuild_source():
    assert set(SOURCES) == {t.name for t in STAR_TABLES}


@pytest.fixture
def backfilled(spark, tmp_path):
    """A lake with the tiny landing zone backfilled."""
    config = lake_config(tmp_path, **ROUTING_ONLY)
    land(tmp_path / "landing")
    run_backfill(spark, config, out=io.StringIO())
    return config


@pytest.fixture
def songplays_in_small_files(spark, reference, lake):
    """songplays as the backfill built it, written in four commits (a stream's small files)."""
    _, _, _, expected = reference
    ensure_tables(spark, lake)
    for part in range(4):
        rows = expected["songplays"].filter(F.abs(F.hash("songplay_id")) % 4 == part)
        rows.write.format("delta").mode("append").save(lake.table_path("songplays"))
    return lake


@pytest.mark.spark
@pytest.mark.slow
def test_rebuild_from_staging_equals_the_backfill(spark, reference, backfilled):
    """Star tables damaged (rows deleted, a value changed, one table rewound to empty) are rebuilt from
    staging alone into what a fresh backfill builds; a rebuild of one table leaves the others alone."""
    _, _, _, expected = reference
    config = backfilled
    path = config.table_path
    DeltaTable.forPath(spark, path("songplays")).delete(F.col("level") == "paid")
    DeltaTable.forPath(spark, path("songs")).update(set={"title": F.lit("wrong")})
    restore_table(spark, config, "users", 0)

    rebuild_table(spark, config, "songs")
    assertDataFrameEqual(
        spark.read.format("delta").load(path("songs")), expected["songs"].collect(), checkRowOrder=False
    )
    assert spark.read.format("delta").load(path("users")).isEmpty()  # not rebuilt yet

    for spec in STAR_TABLES:
        rebuild_table(spark, config, spec.name)
    assert_same_star_tables(spark, config, expected)
    assert json.loads(DeltaTable.forPath(spark, path("users")).history(1).first().userMetadata) == {
        "job": "rebuild"
    }


@pytest.mark.spark
@pytest.mark.slow
def test_maintain_compacts_keeps_every_version_readable_and_sets_the_window(spark, songplays_in_small_files):
    config = songplays_in_small_files
    spec = TABLES_BY_NAME["songplays"]
    path = config.table_path(spec.name)
    versions = [r.version for r in DeltaTable.forPath(spark, path).history().collect()]
    before = {v: read_table(spark, config, spec.name, version=v).localCheckpoint() for v in versions}
    # A table from before the window was configured (or with another one): maintain brings it in line.
    old_window = "'delta.deletedFileRetentionDuration' = 'interval 1 days'"
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({old_window})")

    done = maintain_table(spark, config, spec, check_retention(config, None))

    assert done.files_before > done.files_after >= 1
    properties = DeltaTable.forPath(spark, path).detail().first().properties
    window = retention_properties(30 * 24)  # the local profile's retention.time_travel_days
    assert {k: properties.get(k) for k in window} == window
    assert done.files_vacuumed == 0  # every removed file is younger than the window
    for v, df in before.items():  # VACUUM spared every file a version inside the window reads
        then = read_table(spark, config, spec.name, version=v)
        assertDataFrameEqual(then, df.collect(), checkRowOrder=False)
    assertDataFrameEqual(
        spark.read.format("delta").load(path), before[max(versions)].collect(), checkRowOrder=False
    )
