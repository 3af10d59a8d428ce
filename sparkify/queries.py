"""Reading the tables back: by name, as of a version or a timestamp (Delta time travel), and their history."""

from __future__ import annotations

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


def register_tables(
    spark: SparkSession, config: PipelineConfig, version: int | None = None, timestamp: str | None = None
) -> None:
    """Make every existing table queryable by its name in SQL (as temporary views)."""
    for spec in ALL_TABLES:
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
