"""``sparkify status``: what the pipeline did lately, how far behind it is, and what it rejected."""

from __future__ import annotations

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from checkpoints_config import PipelineConfig
from sparkify import tables


def lake_exists(spark: SparkSession, config: PipelineConfig) -> bool:
    """Whether the lake's tables were ever created (status reads only what exists, and creates nothing)."""
    return all(DeltaTable.isDeltaTable(spark, config.table_path(t.name)) for t in tables.ALL_TABLES)


def recent_batches(spark: SparkSession, config: PipelineConfig, last: int = 10) -> DataFrame:
    """The last ``last`` batches of any job, newest first."""
    metrics = spark.read.format("delta").load(config.table_path(tables.PIPELINE_METRICS.name))
    return metrics.orderBy(F.col("finished_at").desc()).limit(last)


def freshness(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    """Per query: batches, rows, the last batch's time, and landing-to-table latency (p50, p95, max)."""
    metrics = spark.read.format("delta").load(config.table_path(tables.PIPELINE_METRICS.name))
    return (
        metrics.groupBy("query")
        .agg(
            F.count("*").alias("batches"),
            F.sum("rows_in").alias("rows_in"),
            F.max("finished_at").alias("last_batch_at"),
            F.percentile_approx("landing_latency_ms", 0.5).alias("latency_p50_ms"),
            F.percentile_approx("landing_latency_ms", 0.95).alias("latency_p95_ms"),
            F.max("landing_latency_ms").alias("latency_max_ms"),
        )
        .orderBy("query")
    )


def rejections(spark: SparkSession, config: PipelineConfig) -> DataFrame:
    """Quarantined lines per dataset and reason."""
    quarantine = spark.read.format("delta").load(config.table_path(tables.QUARANTINE.name))
    return (
        quarantine.select("dataset", F.explode("reasons").alias("reason"))
        .groupBy("dataset", "reason")
        .count()
        .orderBy("dataset", F.col("count").desc())
    )
