"""The stream's sources: new raw JSON files under the landing prefixes, and new rows of staging."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from sparkify.sources import RAW_GLOB, root_prefix, with_file_metadata


def raw_file_stream(
    spark: SparkSession, root: str, max_files_per_trigger: int, archive_dir: str | None = None
) -> DataFrame:
    """New ``*.json`` files under ``root`` (any depth), one row per file: source_file (relative to
    ``root``, as the backfill names it), landed_at, value.

    Whole files, as the backfill reads them, so each line keeps its number; hidden files (a generator's
    half-written ``.tmp``) are never picked up. ``maxFilesPerTrigger`` bounds a micro-batch. With an
    ``archive_dir``, Spark moves each file there once its batch is committed (``cleanSource``), so the
    listing every trigger makes stays as small as what is still waiting (bench/reports/discovery.md);
    without one, nothing under ``root`` is moved.
    """
    reader = (
        spark.readStream.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .option("maxFilesPerTrigger", max_files_per_trigger)
    )
    if archive_dir:
        reader = reader.option("cleanSource", "archive").option("sourceArchiveDir", archive_dir)
    return with_file_metadata(reader.load(root), root_prefix(spark, root))


def staging_stream(spark: SparkSession, path: str, starting_version: int) -> DataFrame:
    """Rows appended to a staging table from ``starting_version`` on (used by a new checkpoint only;
    a restarted query goes on from its own offsets)."""
    return spark.readStream.format("delta").option("startingVersion", starting_version).load(path)
