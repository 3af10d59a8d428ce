"""Reading the tables back: by name, as of a version or a timestamp (Delta time travel), and their history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession

from checkpoints_config import PipelineConfig
from sparkify.commits import noted
from sparkify.errors import UsageError
from sparkify.table_names import check_table_name
from sparkify.tables import ALL_TABLES


def existing_table(spark: SparkSession, config: PipelineConfig, name: str) -> DeltaTable:
    """The Delta table ``name``, or a UsageError saying it was never written."""
    check_table_name(name)
    path = config.table_path(name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise UsageError(f"no table {name} at {path} yet: run `sparkify backfill` or `sparkify stream` first")
    return DeltaTable.forPath(spark, path)


def check_version(spark: SparkSession, config: PipelineConfig, name: str, version: int) -> int:
    """Refuse a version the table does not have; return its latest version."""
    latest = cast(Row, existing_table(spark, config, name).history(1).first())["version"]  # a version: a row
    if not 0 <= version <= latest:
        raise UsageError(f"{name} has versions 0 to {latest}; version {version} does not exist")
    return latest


def read_table(
    spark: SparkSession,
    config: PipelineConfig,
    name: str,
    version: int | None = None,
    timestamp: str | None = None,
) -> DataFrame:
    """A table by name, optionally as it was at ``version`` or ``timestamp`` (not both)."""
    check_table_name(name)
    if version is not None and timestamp is not None:
        raise UsageError("give a version or a timestamp to travel to, not both")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    return reader.load(config.table_path(name))


def register_tables(
    spark: SparkSession,
    config: PipelineConfig,
    version: int | None = None,
    timestamp: str | None = None,
    names: list[str] | None = None,
) -> None:
    """Make the existing tables (all, or ``names``) queryable by name in SQL, as temporary views.

    A version or timestamp applies to each registered table: tables have versions of their own, so
    a query travels with :func:`register_versions` instead.
    """
    for spec in ALL_TABLES:
        if names is not None and spec.name not in names:
            continue
        if DeltaTable.isDeltaTable(spark, config.table_path(spec.name)):
            read_table(spark, config, spec.name, version, timestamp).createOrReplaceTempView(spec.name)


def register_versions(spark: SparkSession, config: PipelineConfig, versions: Mapping[str, int]) -> None:
    """Make each table of ``versions`` queryable by name, as it was at its version: what ``sparkify query
    --engine spark`` reads, at the versions :func:`sparkify.ops.lake_sql.pin_versions` resolved."""
    for name, version in versions.items():
        read_table(spark, config, name, version=version).createOrReplaceTempView(name)


def restore_table(
    spark: SparkSession, config: PipelineConfig, name: str, version: int, note: str = ""
) -> DataFrame:
    """Put a table back as it was at ``version`` (a new commit: the history keeps what came after),
    with ``note`` as the commit's user metadata. The caller holds the writer lease."""
    check_version(spark, config, name, version)
    with noted(spark, note):
        return DeltaTable.forPath(spark, config.table_path(name)).restoreToVersion(version)


def table_changes(spark: SparkSession, config: PipelineConfig, name: str, first: int, last: int) -> DataFrame:
    """Rows inserted, updated (pre/post image) and deleted between two versions, from the change data feed."""
    latest = cast(Row, existing_table(spark, config, name).history(1).first())["version"]  # a version: a row
    if not 0 <= first <= last <= latest:
        raise UsageError(f"--from {first} --to {last}: {name} has versions 0 to {latest}; need from <= to")
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", first)
        .option("endingVersion", last)
        .load(config.table_path(name))
    )
