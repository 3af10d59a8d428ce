"""Reading the tables back: by name, as of a version or a timestamp (Delta time travel), and their history."""

from __future__ import annotations

import re

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from checkpoints_config import PipelineConfig
from sparkify.tables import ALL_TABLES, TABLES_BY_NAME


def read_table(
    spark: SparkSession,
    config: PipelineConfig,
    name: str,
    version: int | None = None,
    timestamp: str | None = None,
) -> DataFrame:
    """A table by name, optionally as it was at ``version`` or ``timestamp`` (not both)."""
    if name not in TABLES_BY_NAME:
        raise ValueError(f"unknown table {name!r}; tables: {', '.join(sorted(TABLES_BY_NAME))}")
    if version is not None and timestamp is not None:
        raise ValueError("give a version or a timestamp to travel to, not both")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    return reader.load(config.table_path(name))


def tables_named_in(sql: str) -> list[str]:
    """The table names a SQL text mentions (as whole words), so time travel applies to just those."""
    return [spec.name for spec in ALL_TABLES if re.search(rf"\b{spec.name}\b", sql, re.IGNORECASE)]


def register_tables(
    spark: SparkSession,
    config: PipelineConfig,
    version: int | None = None,
    timestamp: str | None = None,
    names: list[str] | None = None,
) -> None:
    """Make the existing tables (all, or ``names``) queryable by name in SQL, as temporary views.

    A version or timestamp applies to each registered table: tables have versions of their own, so
    travel a query's tables only (see :func:`tables_named_in`).
    """
    for spec in ALL_TABLES:
        if names is not None and spec.name not in names:
            continue
        if DeltaTable.isDeltaTable(spark, config.table_path(spec.name)):
            read_table(spark, config, spec.name, version, timestamp).createOrReplaceTempView(spec.name)


def table_history(spark: SparkSession, config: PipelineConfig, name: str) -> DataFrame:
    """A table's commits, newest first: version, time, operation and what it changed."""
    read_table(spark, config, name)  # checks the name
    return (
        DeltaTable.forPath(spark, config.table_path(name))
        .history()
        .select("version", "timestamp", "operation", "operationMetrics")
    )


def restore_table(spark: SparkSession, config: PipelineConfig, name: str, version: int) -> DataFrame:
    """Put a table back as it was at ``version`` (a new commit: the history keeps what came after)."""
    read_table(spark, config, name)  # checks the name
    if version < 0:
        raise ValueError(f"version must be 0 or more, got {version}")
    return DeltaTable.forPath(spark, config.table_path(name)).restoreToVersion(version)


def table_changes(spark: SparkSession, config: PipelineConfig, name: str, first: int, last: int) -> DataFrame:
    """Rows inserted, updated (pre/post image) and deleted between two versions, from the change data feed."""
    read_table(spark, config, name)  # checks the name
    if not 0 <= first <= last:
        raise ValueError(f"--from {first} --to {last}: need 0 <= from <= to")
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", first)
        .option("endingVersion", last)
        .load(config.table_path(name))
    )
