"""``sparkify maintain``: compact small files, hold every table to the time-travel window, VACUUM.

A stream commits every few seconds, each commit adding a few small files to each table it touches;
OPTIMIZE rewrites them into few large ones, VACUUM then deletes the files no version within the window
still reads.

It runs as a writing job, holding the writer lease (the CLI takes it), not inside the stream: an
OPTIMIZE of songplays rewrites the files the stream's MERGEs update, so beside a running stream one of
the two would fail its commit and retry, and run inside the stream it would hold back the micro-batches
(and the data's freshness) for as long as it takes. Stop the stream, maintain, start it again: the
stream resumes from its checkpoints.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import cast

from delta.tables import DeltaTable
from pyspark.sql import Row, SparkSession

from checkpoints_config import PipelineConfig
from sparkify import commits
from sparkify.errors import UsageError
from sparkify.tables import TableSpec, retention_properties


@dataclass(frozen=True)
class Maintained:
    """What ``maintain`` did to one table."""

    table: str
    files_before: int
    files_after: int  # after OPTIMIZE
    files_vacuumed: int
    seconds: float


def check_retention(config: PipelineConfig, retain_hours: float | None) -> float:
    """VACUUM's retention in hours: the time-travel window unless a longer one is asked for. A shorter
    one is refused: it would delete files that versions inside the window still read."""
    window_hours = config.retention.time_travel_days * 24.0
    if retain_hours is None:
        return window_hours
    if retain_hours < window_hours:
        raise UsageError(
            f"--retain-hours {retain_hours:g} is shorter than the time-travel window (retention."
            f"time_travel_days = {config.retention.time_travel_days}, {window_hours:g} hours): "
            "VACUUM would delete files that versions inside it still read. Lower the window in the "
            "configuration first if that is what you want"
        )
    return retain_hours


def maintain_table(
    spark: SparkSession, config: PipelineConfig, spec: TableSpec, retain_hours: float
) -> Maintained:
    """Hold ``spec``'s table to ``retain_hours`` of history (:func:`check_retention`), OPTIMIZE it, then
    VACUUM what no version within those hours reads."""
    started = time.monotonic()
    path = config.table_path(spec.name)
    table = DeltaTable.forPath(spark, path)
    before = file_count(table)
    with commits.noted(spark, json.dumps({"job": "maintain"})):
        keep(spark, table, path, retain_hours)
        # Compaction, not Z-order: OPTIMIZE writes files of up to 1 GB, so a (year, month) partition of
        # songplays (about 0.5 GB at 10M plays) becomes one file either way, which no ordering lets a
        # query skip. Measured (bench/reports/maintain.md, 160k plays in 302 files): Z-order by user_id
        # showed no steady gain over compaction on the typical queries.
        table.optimize().executeCompaction()
        after = file_count(table)
        table.vacuum()  # keeps what delta.deletedFileRetentionDuration says, just set
    return Maintained(spec.name, before, after, vacuumed(table), time.monotonic() - started)


def keep(spark: SparkSession, table: DeltaTable, path: str, hours: float) -> None:
    """Give the table the retention properties for ``hours`` (:func:`retention_properties`), if it lacks
    them or has others: a table created before the window was configured, or with another one."""
    current = cast(Row, table.detail().select("properties").first())["properties"]  # detail(): one row
    wanted = retention_properties(hours)
    if any(current.get(key) != value for key, value in wanted.items()):
        settings = ", ".join(f"'{key}' = '{value}'" for key, value in wanted.items())
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({settings})")


def vacuumed(table: DeltaTable) -> int:
    """How many files the VACUUM just run deleted, from the "VACUUM END" commit it logs (0 if none)."""
    last = cast(Row, table.history(1).first())  # a table has at least one version
    return int(last["operationMetrics"].get("numDeletedFiles", 0)) if last["operation"] == "VACUUM END" else 0


def file_count(table: DeltaTable) -> int:
    return cast(Row, table.detail().select("numFiles").first())[0]  # detail() is one row
