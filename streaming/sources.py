"""The two file-stream sources: whole new JSON files under the song and log prefixes."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from sparkify.sources import RAW_GLOB, with_file_metadata


def raw_file_stream(spark: SparkSession, root: str, max_files_per_trigger: int) -> DataFrame:
    """New ``*.json`` files under ``root`` (any depth), one row per file: source_file, landed_at, value.

    Whole files, as the backfill reads them, so each line keeps its number; hidden files (a generator's
    half-written ``.tmp``) are never picked up. ``maxFilesPerTrigger`` bounds a micro-batch.
    """
    stream_df = (
        spark.readStream.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .load(root)
    )
    return with_file_metadata(stream_df)
