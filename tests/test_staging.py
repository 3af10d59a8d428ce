"""Raw lines → parsed rows: every reason a line does not parse, on tiny inline lines, as whole frames.

Lines go in as bytes (hex → ``unhex`` → string, as the ``text`` source hands them over), so a line can
be Latin-1 or binary.
"""

from __future__ import annotations

import json

import pyspark.sql.functions as F
import pytest
from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)
from pyspark.testing import assertDataFrameEqual

from sparkify.schemas import (
    CORRUPT_RECORD,
    EVENT_COLUMN_NAMES,
    RAW_EVENT_SCHEMA,
    RAW_SONG_SCHEMA,
    with_corrupt_record,
)
from sparkify.staging import PERMISSIVE, check_classifiable, explode_lines, parse_lines
from tests.builders import TS, event
from tests.landing import play, song_record

# The parsed event fields, under their staging names.
EVENT_FIELDS = [
    StructField(EVENT_COLUMN_NAMES.get(f.name, f.name), f.dataType) for f in RAW_EVENT_SCHEMA.fields
]
VERDICT = "line_number INT, is_malformed BOOLEAN, parse_errors ARRAY<STRING>"


def lines_df(spark, *lines: str | bytes) -> DataFrame:
    """One file's lines (``str`` as UTF-8, ``bytes`` as they are), numbered from 1."""
    rows = [(n, (x.encode() if isinstance(x, str) else x).hex()) for n, x in enumerate(lines, start=1)]
    return spark.createDataFrame(rows, "line_number INT, hex STRING").select(
        F.lit("f.json").alias("source_file"),
        "line_number",
        F.lit(0).cast("long").alias("landed_at"),
        F.unhex("hex").cast("string").alias("raw_line"),
    )


def verdicts(spark, *lines: str | bytes, songs: bool = False) -> DataFrame:
    schema, renames = (RAW_SONG_SCHEMA, {}) if songs else (RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)
    return parse_lines(lines_df(spark, *lines), schema, renames).select(
        "line_number", "is_malformed", "parse_errors"
    )


def expected_verdicts(spark, *errors: list[str]) -> DataFrame:
    return spark.createDataFrame([(n, bool(e), e) for n, e in enumerate(errors, start=1)], VERDICT)


def camel(**overrides) -> str:
    """An event line as the app writes it, non-ASCII as UTF-8 (not \\u escapes)."""
    row = play("42", 812, 3, TS, "Uprising", "Muse", 236.4, level="paid")
    return json.dumps({**row, **overrides}, ensure_ascii=False)


# --- what Spark's reader does (the experiment behind the classification, kept as a test) -----------


@pytest.mark.spark
def test_spark_permissive_reader_marks_these_lines_corrupt_and_not_those(spark):
    """from_json PERMISSIVE, RAW_EVENT_SCHEMA: which lines end in ``_corrupt_record``. Spark is
    stricter than a cast for numbers (no strings, no floats for integers, no overflow) and lenient for
    strings (any JSON value is kept as its text), unknown fields and trailing text."""
    cases = [
        ('{"ts": "abc"}', True),
        ('{"ts": "1542241826796"}', True),  # a numeric string is still a string
        ('{"ts": 1542241826796.0}', True),  # a float for a LongType
        ('{"sessionId": 3.5}', True),  # a float for an IntegerType
        ('{"sessionId": 2147483648}', True),  # int overflow
        ('{"ts": 99999999999999999999}', True),  # long overflow
        ('{"status": "200"}', True),
        ('{"ts": ""}', True),  # an empty string is not a null
        ('{"length": "236.4"}', True),
        ('{"itemInSession": {"n": 1}}', True),
        ('[{"ts": 1}]', True),  # an array of objects (Spark 4 does not take its first element)
        ("42", True),
        ("null", True),
        ('{"ts": 1542241826796, "page": "NextSong"', True),  # truncated
        ("\ufeff" + '{"ts": 1}', True),  # a byte order mark: explode_lines strips it
        ('{"length": 236, "ts": 1}', False),  # an int for a DoubleType
        ('{"length": "NaN", "registration": "-Infinity"}', False),  # allowNonNumericNumbers
        ('{"userId": 42, "artist": {"a": [1]}}', False),  # a StringType takes any value, as JSON text
        ('{"ts": 1, "tempo": 120, "tags": ["x"]}', False),  # unknown fields are ignored
        ('{"page": "Home"}', False),  # missing fields are nulls
        ('{"ts": null}', False),
        ('{"ts": 1} trailing', False),  # text after the object is ignored
        ("{'ts': 1}", False),  # single quotes (allowSingleQuotes)
    ]
    df = spark.createDataFrame([(n, line) for n, (line, _) in enumerate(cases)], "n INT, line STRING")
    parsed = F.from_json("line", with_corrupt_record(RAW_EVENT_SCHEMA), PERMISSIVE)
    actual = df.select("n", parsed[CORRUPT_RECORD].isNotNull().alias("corrupt"))
    expected = spark.createDataFrame([(n, c) for n, (_, c) in enumerate(cases)], "n INT, corrupt BOOLEAN")
    assertDataFrameEqual(actual, expected)


# --- lines that parse ----------------------------------------------------------------------------


@pytest.mark.spark
def test_a_line_that_parses_keeps_every_column_and_has_no_parse_errors(spark):
    """Non-ASCII text stays intact, unknown fields fail nothing, a missing ``ts`` is a null (the suites'
    ``ts_present`` judges it), and a null row has nulls everywhere."""
    names = camel(firstName="Zoë", lastName="Núñez", location="São Paulo", song="Jóga", artist="Björk")
    extra = camel(tempo=120, tags=["x", {"y": 1}])
    missing_ts = json.dumps({k: v for k, v in json.loads(camel()).items() if k != "ts"})
    lines = [names, extra, missing_ts, "{}"]
    actual = parse_lines(lines_df(spark, *lines), RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)

    schema = StructType(
        [
            *EVENT_FIELDS,
            StructField("source_file", StringType()),
            StructField("line_number", IntegerType()),
            StructField("landed_at", LongType()),
            StructField("raw_line", StringType()),
            StructField("is_malformed", BooleanType()),
            StructField("parse_errors", ArrayType(StringType())),
        ]
    )
    fields = [f.name for f in EVENT_FIELDS]
    base = event(user_id="42", session_id=812, item_in_session=3, ts=TS)
    rows = [
        {**base, "first_name": "Zoë", "last_name": "Núñez", "location": "São Paulo", "song": "Jóga",
         "artist": "Björk"},
        base,
        {**base, "ts": None},
        dict.fromkeys(fields),
    ]  # fmt: skip
    expected = spark.createDataFrame(
        [
            (*(r[f] for f in fields), "f.json", n, 0, line, False, [])
            for n, (r, line) in enumerate(zip(rows, lines, strict=True), start=1)
        ],
        schema,
    )
    assertDataFrameEqual(actual, expected)


# --- each reason -----------------------------------------------------------------------------------


@pytest.mark.spark
def test_unparseable_json_truncated_garbage_and_control_bytes(spark):
    actual = verdicts(
        spark,
        '{"ts": 1542241826796, "page": "NextSong", "userId": "42"',  # truncated
        "this is not JSON, just text",
        b"\x00\x01\x02\x03\x7f",  # binary that happens to be valid UTF-8
        '{"ts": 1,}',  # trailing comma
        camel(),
    )
    u = ["unparseable_json"]
    assertDataFrameEqual(actual, expected_verdicts(spark, u, u, u, u, []))


@pytest.mark.spark
def test_not_a_json_object_array_number_string_null(spark):
    actual = verdicts(
        spark,
        json.dumps([song_record("SOA", "Uprising", 236.4)]),  # a song file holding an array
        "[]",
        "42",
        '"hello"',
        "null",
        "true",
        songs=True,
    )
    n = ["not_a_json_object"]
    assertDataFrameEqual(actual, expected_verdicts(spark, n, n, n, n, n, n))


@pytest.mark.spark
def test_wrong_type_names_each_offending_raw_field_in_schema_order(spark):
    actual = verdicts(
        spark,
        camel(ts="abc"),
        camel(ts=str(TS)),
        camel(ts=float(TS)),
        camel(sessionId=3.5, status="200", ts="x"),
        camel(sessionId=2_147_483_648),
        camel(itemInSession={"n": 1}),
        camel(length="236.4", registration=True),
        camel(length=236, registration="NaN", userId=42, artist={"a": [1]}),  # all fit
        camel(ts=None, sessionId=None),  # nulls fit
    )
    assertDataFrameEqual(
        actual,
        expected_verdicts(
            spark,
            ["wrong_type:ts"],
            ["wrong_type:ts"],
            ["wrong_type:ts"],
            ["wrong_type:sessionId", "wrong_type:status", "wrong_type:ts"],
            ["wrong_type:sessionId"],
            ["wrong_type:itemInSession"],
            ["wrong_type:length", "wrong_type:registration"],
            [],
            [],
        ),
    )


@pytest.mark.spark
def test_wrong_type_in_a_song_record(spark):
    actual = verdicts(
        spark,
        json.dumps(song_record("SOA", "Uprising", 236.4, year="2006", num_songs=1.0)),
        json.dumps(song_record("SOA", "Uprising", "236.4")),  # type: ignore[arg-type]
        json.dumps(song_record("SOA", "Uprising", 236, artist_latitude=None)),
        songs=True,
    )
    expected = expected_verdicts(
        spark, ["wrong_type:num_songs", "wrong_type:year"], ["wrong_type:duration"], []
    )
    assertDataFrameEqual(actual, expected)


@pytest.mark.spark
def test_a_wrong_type_is_caught_when_only_the_verdict_is_read(spark):
    """Spark prunes a from_json schema to the fields a query reads when it has no options; the parse
    must still check every field when a query reads nothing but the verdict."""
    parsed = parse_lines(lines_df(spark, camel(ts="abc"), camel()), RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)
    actual = parsed.select("parse_errors")
    assertDataFrameEqual(
        actual, spark.createDataFrame([(["wrong_type:ts"],), ([],)], "parse_errors ARRAY<STRING>")
    )
    assert parsed.filter("is_malformed").select("line_number").collect() == [(1,)]


@pytest.mark.spark
def test_not_utf8_accompanies_the_json_reasons_and_raw_line_is_repaired(spark):
    """Latin-1 "Zoë" would parse as "Zo\ufffd": ``not_utf8`` alone says re-encoding fixes it; binary
    also fails as JSON. ``raw_line`` holds U+FFFD for each bad byte sequence, so it is valid text."""
    latin1 = '{"firstName": "Zoë", "ts": 1}'.encode("latin-1")
    latin1_wrong = '{"firstName": "Zoë", "ts": "x"}'.encode("latin-1")
    binary = b"\x1f\x8b\x08\x00\xff\xfe\x00\x01"
    lines = [latin1, latin1_wrong, binary, '{"firstName": "Zoë", "ts": 1}']
    actual = parse_lines(lines_df(spark, *lines), RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES).select(
        "line_number", "raw_line", "first_name", "is_malformed", "parse_errors"
    )
    repaired = [x.decode("utf-8", errors="replace") if isinstance(x, bytes) else x for x in lines]
    expected = spark.createDataFrame(
        [
            (1, repaired[0], "Zo\ufffd", True, ["not_utf8"]),
            # Spark keeps the fields it read before the one that failed (partial results).
            (2, repaired[1], "Zo\ufffd", True, ["not_utf8", "wrong_type:ts"]),
            (3, repaired[2], None, True, ["not_utf8", "unparseable_json"]),
            (4, repaired[3], "Zoë", False, []),
        ],
        "line_number INT, raw_line STRING, first_name STRING, is_malformed BOOLEAN, "
        "parse_errors ARRAY<STRING>",
    )
    assertDataFrameEqual(actual, expected)


# --- splitting files -------------------------------------------------------------------------------


@pytest.mark.spark
def test_explode_lines_strips_a_leading_bom_keeps_bytes_and_skips_blank_lines(spark):
    files = {
        "bom.json": "\ufeff" + '{"a": 1}\n{"b": 2}\n',
        "crlf.json": '{"a": 1}\r\n\r\n{"b": 2}\r\n',
        "latin1.json": '{"n": "Zoë"}\n{"n": "Ada"}\n'.encode("latin-1"),
        "empty.json": "",
        "only-blank.json": "\n  \n",
    }
    files_df = spark.createDataFrame(
        [(name, (v.encode() if isinstance(v, str) else v).hex()) for name, v in files.items()],
        "source_file STRING, hex STRING",
    ).select(
        "source_file", F.lit(7).cast("long").alias("landed_at"), F.unhex("hex").cast("string").alias("value")
    )
    actual = explode_lines(files_df).select(
        "source_file", "line_number", "landed_at", F.hex(F.col("raw_line").cast("binary")).alias("hex")
    )
    expected = [
        ("bom.json", 1, b'{"a": 1}'),
        ("bom.json", 2, b'{"b": 2}'),
        ("crlf.json", 1, b'{"a": 1}'),
        ("crlf.json", 3, b'{"b": 2}'),
        ("latin1.json", 1, '{"n": "Zoë"}'.encode("latin-1")),  # the file's own bytes, not U+FFFD
        ("latin1.json", 2, b'{"n": "Ada"}'),
    ]
    assertDataFrameEqual(
        actual,
        spark.createDataFrame(
            [(f, n, 7, b.hex().upper()) for f, n, b in expected],
            "source_file STRING, line_number INT, landed_at BIGINT, hex STRING",
        ),
    )


@pytest.mark.spark
def test_a_bom_file_parses_its_first_line(spark):
    files_df = spark.createDataFrame(
        [("bom.json", 0, "\ufeff" + camel() + "\n")], "source_file STRING, landed_at BIGINT, value STRING"
    )
    actual = parse_lines(explode_lines(files_df), RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)
    assertDataFrameEqual(
        actual.select("line_number", "ts", "user_id", "raw_line", "parse_errors"),
        spark.createDataFrame(
            [(1, TS, "42", camel(), [])],
            "line_number INT, ts BIGINT, user_id STRING, raw_line STRING, parse_errors ARRAY<STRING>",
        ),
    )


# --- the boundary (no JVM) ---------------------------------------------------------------------------


def test_a_raw_schema_with_a_type_the_classification_does_not_know_is_refused():
    with pytest.raises(TypeError, match="'explicit': type boolean has no wrong-type rule"):
        check_classifiable(StructType([StructField("explicit", BooleanType())]))
    with pytest.raises(ValueError, match="quote or backslash"):
        check_classifiable(StructType([StructField("it's", StringType())]))
    check_classifiable(RAW_EVENT_SCHEMA)
    check_classifiable(RAW_SONG_SCHEMA)
