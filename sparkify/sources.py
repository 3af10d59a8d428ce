"""Finding and reading raw files: one listing and one read per dataset, whole files at a time."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

RAW_GLOB = "*.json"


def list_raw_files(spark: SparkSession, root: str) -> DataFrame:
    """``path``, ``size`` of every ``*.json`` file under ``root`` (recursively), listed by Spark in parallel.

    Only metadata columns are selected, so the binaryFile source reads no content. Hidden files (``.``,
    ``_`` prefixes, as a half-landed file is named) are skipped by Spark itself. A missing root is empty.
    """
    if not path_exists(spark, root):
        return spark.createDataFrame([], "path STRING, size BIGINT")
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .load(root)
        .select("path", F.col("length").alias("size"))
    )


def path_exists(spark: SparkSession, root: str) -> bool:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(root)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path)


def read_whole_files(spark: SparkSession, root: str, only: DataFrame | None = None) -> DataFrame:
    """One row per raw file under ``root``: ``source_file``, ``landed_at`` (epoch ms), ``value`` (text).

    ``only`` (a frame with ``path``) narrows the read to those files with a broadcast semi-join, so a
    chunk of a backfill is still one read of the prefix, not one per file.
    """
    files_df = (
        spark.read.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .load(root)
    )
    return with_file_metadata(files_df).transform(
        lambda df: (
            df
            if only is None
            else df.join(
                F.broadcast(only.select(F.col("path").alias("source_file"))), "source_file", "left_semi"
            )
        )
    )


def with_file_metadata(files_df: DataFrame) -> DataFrame:
    """``value`` rows of the text source → with the file they came from and when it landed."""
    return files_df.select(
        F.col("_metadata.file_path").alias("source_file"),
        F.unix_millis(F.col("_metadata.file_modification_time")).alias("landed_at"),
        "value",
    )
