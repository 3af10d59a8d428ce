"""Raw lines → parsed staging rows: one row per input line, malformed lines kept with their text and why.

Files are read whole (one row per file) and split here, so that every row knows its ``(source_file,
line_number)`` key and a line that does not parse is carried to the quarantine instead of vanishing,
with ``parse_errors`` saying what was wrong with it:

- ``not_utf8``: the line's bytes are not UTF-8 (a Latin-1 file, binary). It *accompanies* the JSON
  reasons below, judged on the text with each bad byte sequence replaced by U+FFFD (what every reader
  sees): ``["not_utf8"]`` alone says "re-encode the file and it will load", ``["not_utf8",
  "unparseable_json"]`` says it is not text at all. Spark's JSON reader would silently load such a line
  with U+FFFD in its names, hence a reason of its own.
- ``unparseable_json``: not JSON at all (truncated, garbage, binary). Also a line only Spark's lenient
  reader takes (single quotes, a bare ``NaN``, a repeated key) when it fails for another reason.
- ``not_a_json_object``: JSON, but an array (a song file holding ``[{...}]``), a number, a string, null.
- ``wrong_type:<rawField>``: an object one of whose fields does not fit the raw schema's type, one
  entry per field in schema order (``"ts": "1542241826796"``, ``"sessionId": 3.5``). A string field
  never has a wrong type: Spark keeps any value's JSON text.
- ``malformed_json``: Spark's reader rejected the line for none of the reasons above (never seen; kept
  so that a malformed line always says something).

Missing fields are not parse errors: they are nulls, for the expectation suites to judge. Unknown
fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql.types import DataType, DoubleType, IntegerType, LongType, StringType, StructType

from sparkify.schemas import CORRUPT_RECORD, with_corrupt_record

RAW_LINE = "raw_line"
PARSE_ERRORS = "parse_errors"

NOT_UTF8 = "not_utf8"
UNPARSEABLE_JSON = "unparseable_json"
NOT_A_JSON_OBJECT = "not_a_json_object"
WRONG_TYPE = "wrong_type:"  # + the raw field's name
MALFORMED_JSON = "malformed_json"

BOM = "\ufeff"
LINE_BREAK = r"\r?\n"
# Maps every byte to one character and back: a file that is not UTF-8 is split through it.
BYTE_FOR_BYTE = "ISO-8859-1"
# The strings Spark's JSON reader takes for a DOUBLE (allowNonNumericNumbers, on by default).
NON_NUMERIC_DOUBLES = ("NaN", "Infinity", "+Infinity", "+INF", "-Infinity", "-INF")

# The raw types :func:`does_not_fit` knows Spark's rules for.
CLASSIFIABLE = (StringType, LongType, IntegerType, DoubleType)

# Spark's PERMISSIVE mode: a line that does not fit the schema is kept whole in ``_corrupt_record``.
# Options also keep Spark from pruning the schema to the fields a query reads (it prunes an option-less
# from_json), which would let a wrong type through when only the verdict is read.
PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}

_IS_UTF8 = "_is_utf8"


def explode_lines(files_df: DataFrame) -> DataFrame:
    """Split whole files into non-blank lines numbered from 1, each with its bytes as they were.

    ``files_df`` has ``source_file``, ``landed_at`` (epoch ms) and ``value`` (the file's text), as the
    ``text`` source gives with ``wholetext``. Blank lines (a trailing newline) are not input lines. A
    leading byte order mark (U+FEFF, as Windows editors write) is not part of the first line.

    ``split`` decodes its input first, turning bytes that are not UTF-8 into U+FFFD, after which no
    line could tell it was not UTF-8. So a file that is not valid UTF-8 (one check per file) is split
    as Latin-1, which maps bytes to characters one to one, and each line is turned back into its bytes;
    a valid file is split directly.
    """
    is_utf8 = F.col(_IS_UTF8)
    return (
        files_df.select("source_file", "landed_at", without_bom(F.col("value")).alias("value"))
        .withColumn(_IS_UTF8, F.is_valid_utf8("value"))
        .select(
            "source_file",
            "landed_at",
            _IS_UTF8,
            F.posexplode(
                F.split(F.when(is_utf8, F.col("value")).otherwise(as_bytes(F.col("value"))), LINE_BREAK)
            ).alias("pos", "piece"),
        )
        .filter(F.trim(F.col("piece")) != "")
        .select(
            "source_file",
            (F.col("pos") + 1).cast("int").alias("line_number"),
            "landed_at",
            F.when(is_utf8, F.col("piece")).otherwise(from_bytes(F.col("piece"))).alias(RAW_LINE),
        )
    )


def without_bom(text: Column) -> Column:
    """``text`` without a leading U+FEFF; a file without one is not copied."""
    return F.when(text.startswith(BOM), F.substr(text, F.lit(2))).otherwise(text)


def as_bytes(text: Column) -> Column:
    """``text``'s bytes, one character each (Latin-1): valid UTF-8 whatever they were."""
    return F.decode(text.cast("binary"), BYTE_FOR_BYTE)


def from_bytes(text: Column) -> Column:
    """The inverse of :func:`as_bytes`."""
    return F.encode(text, BYTE_FOR_BYTE).cast("string")


def parse_lines(lines_df: DataFrame, raw_schema: StructType, renames: dict[str, str]) -> DataFrame:
    """Parse each JSON line with an explicit schema, and say why a line did not parse.

    Returns the raw fields (renamed), ``source_file``, ``line_number``, ``landed_at``, ``raw_line``
    (valid UTF-8: bad bytes are U+FFFD, so every reader of the quarantine can read it), ``is_malformed``
    and ``parse_errors`` (array<string>, never null, empty when the line parsed; the reasons are in the
    module's docstring). ``is_malformed`` is exactly ``parse_errors`` being non-empty.

    Spark's PERMISSIVE mode puts every line that does not fit the schema (broken JSON, non-objects,
    wrong types) in ``_corrupt_record``; only those lines (and lines that are not UTF-8) are classified,
    by parsing them again as VARIANT, so a line that parsed pays a UTF-8 check and nothing more.

    Example:
        >>> parse_lines(explode_lines(files_df), RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)  # doctest: +SKIP
    """
    return LineParser(raw_schema, renames)(lines_df)


class LineParser:
    """:func:`parse_lines` for one raw schema, its column expressions built once.

    Building them is some 2,000 py4j calls (the wrong-type rules are many small expressions); a job that
    parses batch after batch builds them once, and each batch then only plans them.
    """

    def __init__(self, raw_schema: StructType, renames: dict[str, str]) -> None:
        check_classifiable(raw_schema)
        raw, is_utf8 = F.col(RAW_LINE), F.col(_IS_UTF8)
        self.is_utf8 = F.is_valid_utf8(raw)
        self.valid_line = F.when(is_utf8, raw).otherwise(F.make_valid_utf8(raw))
        self.parsed = F.from_json(raw, with_corrupt_record(raw_schema), PERMISSIVE)
        is_corrupt = F.col(f"parsed.{CORRUPT_RECORD}").isNotNull()
        parse_errors = F.when(is_utf8 & ~is_corrupt, no_errors()).otherwise(
            F.concat(
                F.when(is_utf8, no_errors()).otherwise(F.array(F.lit(NOT_UTF8))),
                F.when(is_corrupt, json_errors(raw, raw_schema)).otherwise(no_errors()),
            )
        )
        fields = [F.col(f"parsed.{f.name}").alias(renames.get(f.name, f.name)) for f in raw_schema.fields]
        self.columns = [
            *fields,
            F.col("source_file"),
            F.col("line_number"),
            F.col("landed_at"),
            raw,
            # The same as parse_errors being non-empty (json_errors never is), without reading it again.
            (~is_utf8 | is_corrupt).alias("is_malformed"),
            parse_errors.alias(PARSE_ERRORS),
        ]

    def __call__(self, lines_df: DataFrame) -> DataFrame:
        return (
            lines_df.withColumn(_IS_UTF8, self.is_utf8)
            .withColumn(RAW_LINE, self.valid_line)
            .withColumn("parsed", self.parsed)
            .select(*self.columns)
        )


def no_errors() -> Column:
    return F.array().cast("array<string>")


def let(value: Column, body: Callable[[Column], Column]) -> Column:
    """``body(value)``, with ``value`` computed once however often ``body`` reads it.

    Spark SQL has no ``let``; a lambda over a one-element array binds one. Being a lambda, ``body`` is
    also interpreted rather than generated, which is the point on the hot path: the classification
    is large, and inlined into the generated code every line runs through (taken or not) it made that
    code too big for the JIT: about a third more CPU per line that parsed, measured.
    """
    return F.transform(F.array(value), body).getItem(0)


def json_errors(line: Column, raw_schema: StructType) -> Column:
    """Why Spark's reader rejected ``line``, from the line parsed again as VARIANT: not JSON, not an
    object, or the fields of the wrong type (never empty)."""
    return let(
        F.try_parse_json(line),
        lambda v: (
            F.when(v.isNull(), F.array(F.lit(UNPARSEABLE_JSON)))
            .when(~F.schema_of_variant(v).startswith("OBJECT<"), F.array(F.lit(NOT_A_JSON_OBJECT)))
            .otherwise(
                let(
                    wrong_types(v, raw_schema),
                    lambda wrong: F.when(F.size(wrong) > 0, wrong).otherwise(F.array(F.lit(MALFORMED_JSON))),
                )
            )
        ),
    )


def wrong_types(variant: Column, raw_schema: StructType) -> Column:
    """``wrong_type:<field>`` for each field of ``raw_schema`` whose value in the object ``variant`` does
    not fit its type, in schema order."""
    checks = [
        F.when(
            let(F.variant_get(variant, variant_path(f.name), "variant"), refuses(f.dataType)),
            F.array(F.lit(f"{WRONG_TYPE}{f.name}")),
        ).otherwise(no_errors())
        for f in raw_schema.fields
        if not isinstance(f.dataType, StringType)
    ]
    return F.concat(*checks) if checks else no_errors()


def refuses(data_type: DataType) -> Callable[[Column], Column]:
    """:func:`does_not_fit` for one type, as the one-argument lambda :func:`let` takes."""
    return lambda value: does_not_fit(value, data_type)


def does_not_fit(value: Column, data_type: DataType) -> Column:
    """True where the VARIANT ``value`` is one Spark's JSON reader would refuse for ``data_type``: its
    rules (``JacksonParser``), written against the variant's type. Null and absent values fit."""
    kind = F.schema_of_variant(value)
    if isinstance(data_type, LongType):
        fits = kind == "BIGINT"  # an integer in range; a larger one is a DECIMAL, 1.0 and 1e3 are not ints
    elif isinstance(data_type, IntegerType):
        fits = (kind == "BIGINT") & F.try_variant_get(value, "$", "int").isNotNull()
    elif isinstance(data_type, DoubleType):
        fits = (
            kind.isin("BIGINT", "DOUBLE")
            | kind.startswith("DECIMAL")
            | ((kind == "STRING") & F.variant_get(value, "$", "string").isin(*NON_NUMERIC_DOUBLES))
        )
    else:  # check_classifiable keeps other types out
        raise TypeError(f"no wrong-type rule for {data_type.simpleString()}")
    return value.isNotNull() & (kind != "VOID") & ~fits


def check_classifiable(raw_schema: StructType) -> None:
    """Raise before any JVM call if a field's type or name has no wrong-type rule."""
    for f in raw_schema.fields:
        if not isinstance(f.dataType, CLASSIFIABLE):
            raise TypeError(
                f"raw_schema field {f.name!r}: type {f.dataType.simpleString()} has no wrong-type rule; "
                f"known: {', '.join(t.typeName() for t in CLASSIFIABLE)}"
            )
        if re.search(r"['\\]", f.name):
            raise ValueError(f"raw_schema field {f.name!r}: a quote or backslash cannot be in a variant path")


def variant_path(field: str) -> str:
    return f"$['{field}']"


def with_lineage(parsed_df: DataFrame, batch_id: str, ingest_time: dt.datetime) -> DataFrame:
    """Stamp the batch that took these rows and when (values passed in, so the transform stays pure)."""
    return parsed_df.withColumn("batch_id", F.lit(batch_id)).withColumn(
        "ingest_time", F.lit(ingest_time).cast("timestamp")
    )


def is_accepted(rejections: Column) -> Column:
    """A staged row the star tables take: its stored verdict (``schemas.REJECTIONS``) names no expectation."""
    return F.size(rejections) == 0
