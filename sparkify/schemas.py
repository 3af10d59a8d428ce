"""Explicit schemas of the raw inputs and their snake_case staging names.

Raw files are never read with schema inference: it is slow on thousands of small files and changes its
mind from one batch to the next.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

CORRUPT_RECORD = "_corrupt_record"

RAW_SONG_SCHEMA = StructType(
    [
        StructField("num_songs", IntegerType()),
        StructField("artist_id", StringType()),
        StructField("artist_latitude", DoubleType()),
        StructField("artist_longitude", DoubleType()),
        StructField("artist_location", StringType()),
        StructField("artist_name", StringType()),
        StructField("song_id", StringType()),
        StructField("title", StringType()),
        StructField("duration", DoubleType()),
        StructField("year", IntegerType()),
    ]
)

RAW_EVENT_SCHEMA = StructType(
    [
        StructField("artist", StringType()),
        StructField("auth", StringType()),
        StructField("firstName", StringType()),
        StructField("gender", StringType()),
        StructField("itemInSession", IntegerType()),
        StructField("lastName", StringType()),
        StructField("length", DoubleType()),
        StructField("level", StringType()),
        StructField("location", StringType()),
        StructField("method", StringType()),
        StructField("page", StringType()),
        StructField("registration", DoubleType()),
        StructField("sessionId", IntegerType()),
        StructField("song", StringType()),
        StructField("status", IntegerType()),
        StructField("ts", LongType()),
        StructField("userAgent", StringType()),
        StructField("userId", StringType()),
    ]
)

# Raw event field -> staging column; song fields are snake_case already.
EVENT_COLUMN_NAMES = {
    "firstName": "first_name",
    "itemInSession": "item_in_session",
    "lastName": "last_name",
    "sessionId": "session_id",
    "userAgent": "user_agent",
    "userId": "user_id",
}

# Columns every staged row carries besides its raw fields: where and when it came from.
LINEAGE_FIELDS = [
    StructField("source_file", StringType(), nullable=False),
    StructField("line_number", IntegerType(), nullable=False),
    StructField("landed_at", LongType()),  # file modification time, epoch ms: for landing-to-table latency
    StructField("batch_id", StringType(), nullable=False),
    StructField("ingest_time", TimestampType(), nullable=False),
]


# A staged row's verdict, fixed when it is staged (expectations.routing): the names of the quarantine
# expectations it failed, empty when the star tables take it. Later merges and recoveries read this
# instead of judging history again with whatever the suites say today.
VERDICT_FIELD = StructField("rejections", ArrayType(StringType(), containsNull=False), nullable=False)
REJECTIONS = VERDICT_FIELD.name  # array<string>: the quarantine expectations a row fails; kept in staging


def with_corrupt_record(schema: StructType) -> StructType:
    """The raw schema plus the column Spark's PERMISSIVE JSON parser fills with lines it cannot parse."""
    return StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])


def staging_schema(raw: StructType, renames: dict[str, str]) -> StructType:
    fields = [StructField(renames.get(f.name, f.name), f.dataType) for f in raw.fields]
    return StructType([*fields, *LINEAGE_FIELDS, VERDICT_FIELD])


STAGING_SONGS_SCHEMA = staging_schema(RAW_SONG_SCHEMA, {})
STAGING_EVENTS_SCHEMA = staging_schema(RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)


QUARANTINE_SCHEMA = StructType(
    [
        StructField("dataset", StringType(), nullable=False),
        StructField("source_file", StringType(), nullable=False),
        StructField("line_number", IntegerType(), nullable=False),
        StructField("raw_line", StringType()),
        StructField("reasons", ArrayType(StringType()), nullable=False),
        StructField("batch_id", StringType(), nullable=False),
        StructField("quarantined_at", TimestampType(), nullable=False),
    ]
)
