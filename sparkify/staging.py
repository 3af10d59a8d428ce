"""Raw lines → parsed staging rows: one row per input line, malformed lines kept with their text.

Files are read whole (one row per file) and split here, so that every row knows its ``(source_file,
line_number)`` key and a line that is not valid JSON is carried to the quarantine instead of vanishing.
"""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import StructType

from sparkify.schemas import CORRUPT_RECORD, with_corrupt_record

RAW_LINE = "raw_line"


def explode_lines(files_df: DataFrame) -> DataFrame:
    """Split whole files into non-blank lines numbered from 1.

    ``files_df`` has ``source_file``, ``landed_at`` (epoch ms) and ``value`` (the file's text), as the
    ``text`` source gives with ``wholetext``. Blank lines (a trailing newline) are not input lines.
    """
    return (
        files_df.select(
            "source_file",
            "landed_at",
            F.posexplode(F.split(F.col("value"), r"\r?\n")).alias("pos", RAW_LINE),
        )
        .filter(F.trim(F.col(RAW_LINE)) != "")
        .select("source_file", (F.col("pos") + 1).cast("int").alias("line_number"), "landed_at", RAW_LINE)
    )


def parse_lines(lines_df: DataFrame, raw_schema: StructType, renames: dict[str, str]) -> DataFrame:
    """Parse each JSON line with an explicit schema; a line that does not fit keeps its text in
    ``_corrupt_record``.

    Wrong types, non-objects and broken JSON all land in ``_corrupt_record`` (Spark's PERMISSIVE mode);
    missing keys parse as nulls and are the validation step's business.
    """
    parsed = F.from_json(
        F.col(RAW_LINE),
        with_corrupt_record(raw_schema),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD},
    )
    fields = [F.col(f"parsed.{f.name}").alias(renames.get(f.name, f.name)) for f in raw_schema.fields]
    return lines_df.withColumn("parsed", parsed).select(
        *fields,
        "source_file",
        "line_number",
        "landed_at",
        RAW_LINE,
        is_malformed(F.col(f"parsed.{CORRUPT_RECORD}")).alias("is_malformed"),
    )


def is_malformed(corrupt_record: Column) -> Column:
    return corrupt_record.isNotNull()


def with_lineage(parsed_df: DataFrame, batch_id: str, ingest_time: dt.datetime) -> DataFrame:
    """Stamp the batch that took these rows and when (values passed in, so the transform stays pure)."""
    return parsed_df.withColumn("batch_id", F.lit(batch_id)).withColumn(
        "ingest_time", F.lit(ingest_time).cast("timestamp")
    )
