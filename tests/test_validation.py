"""Great Expectations and the row routing agree: for every expectation of every suite, the rows routed as
failing are exactly GX's unexpected count on the same batch, and GX's success is what the routing implies;
and what a batch records (GX's verdicts, the routing pass's counts) is what GX alone would have reported.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pyspark.sql.functions as F
import pytest
from pyspark.sql.types import BooleanType, StructField, StructType
from pyspark.testing import assertDataFrameEqual

from expectations.routing import (
    FAILURES,
    failed_names,
    failure_predicate,
    tallies,
    tally_columns,
    with_verdicts,
)
from expectations.suites import SUITE_DIR, Policy, Suite, SuiteError, load_suite
from expectations.validation import ExpectationError, QualityResult, Validator
from sparkify import tables
from sparkify.pipeline import ingest
from sparkify.schemas import EVENT_COLUMN_NAMES, RAW_EVENT_SCHEMA, RAW_SONG_SCHEMA, staging_schema
from sparkify.staging import PARSE_ERRORS, explode_lines, parse_lines, with_lineage
from tests.builders import TS
from tests.landing import lines, play

pytestmark = pytest.mark.spark

SUITES = sorted(p.stem for p in SUITE_DIR.glob("*.json"))

GOOD_EVENT = {
    "artist": "Muse",
    "auth": "Logged In",
    "first_name": "Ada",
    "gender": "F",
    "item_in_session": 3,
    "last_name": "Lee",
    "length": 236.4,
    "level": "paid",
    "location": "Austin, TX",
    "method": "PUT",
    "page": "NextSong",
    "registration": 1540919166796.0,
    "session_id": 812,
    "song": "Uprising",
    "status": 200,
    "ts": 1542241826796,
    "user_agent": "Mozilla/5.0",
    "user_id": "42",
}
# Each row breaks something (some break several, some nothing): every expectation fails at least once.
EVENT_CHANGES = [
    {},
    {"ts": None},
    {"ts": 1542241826},  # seconds, not ms
    {"page": None, "user_id": ""},
    {"page": "Dance", "level": "gold", "method": "POST", "auth": "Maybe", "gender": "X", "status": 500},
    {"item_in_session": -1, "length": 0.0},
    {"length": -3.5, "gender": None, "level": None},
    {"user_id": "abc"},
    {"user_id": ""},
    {"user_id": None, "session_id": None, "item_in_session": None},
    {"page": "Home", "user_id": "", "length": None, "song": None, "artist": None},
    {"page": "Home", "user_id": None},
]
GOOD_SONG = {
    "num_songs": 1,
    "artist_id": "ARJIE2Y1187B994AB7",
    "artist_latitude": 35.1,
    "artist_longitude": -90.0,
    "artist_location": "Memphis",
    "artist_name": "Line Renaud",
    "song_id": "SOUPIRU12A6D4FA1E1",
    "title": "Der Kleine Dompfaff",
    "duration": 152.92036,
    "year": 0,
}
SONG_CHANGES = [
    {},
    {"song_id": None, "artist_id": None, "title": None, "artist_name": None},
    {"song_id": "TRX123", "artist_id": "XX12"},
    {"duration": 0.0, "year": 3000, "artist_latitude": 91.0, "artist_longitude": -181.0},
    {"duration": -1.0, "year": -1, "artist_latitude": -90.0, "artist_longitude": 180.0},
    {"duration": None, "year": None, "artist_latitude": None},
]


def routed_count(df, e) -> int:
    """How many rows of ``df`` the routing says fail ``e`` (a column first: ``unique`` is a window)."""
    return df.withColumn("_fails", failure_predicate(e, df.schema)).filter("_fails").count()


def written_suite(directory, name: str, expectations: list[dict]) -> Suite:
    """A suite file ``<directory>/<name>.json`` holding ``expectations``, loaded as the jobs load one."""
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations}))
    return load_suite(name, directory)


def judged_and_tallied(validator: Validator, df, suite: Suite) -> list[QualityResult]:
    """What a batch records: GX's verdicts (gate and rest) with the routing pass's counts."""
    counts = df.withColumn(FAILURES, failed_names(suite.expectations, df.schema))
    figures = tallies(counts.agg(*tally_columns(suite, F.lit(True))).first(), suite, df.schema)
    gate = validator.gate(df, suite.name, "b-1", "test", figures)
    return timeless(gate.plus(validator.rest(df, suite.name, "b-1", "test", figures)).results)


def timeless(results) -> list[QualityResult]:
    return sorted((replace(r, validated_at=None) for r in results), key=lambda r: r.expectation)


def rows(good: dict, changes: list[dict]) -> list[dict]:
    return [{**good, **change} for change in changes]


def batch(spark, name: str):
    """A batch for suite ``name`` in which each of its expectations fails at least one row."""
    if name == "raw_events":
        schema = staging_schema(RAW_EVENT_SCHEMA, EVENT_COLUMN_NAMES)
        schema = StructType(
            [f for f in schema.fields if f.name in {*EVENT_COLUMN_NAMES.values(), *GOOD_EVENT}]
        )
        return spark.createDataFrame(rows(GOOD_EVENT, EVENT_CHANGES), schema)
    if name == "raw_songs":
        return spark.createDataFrame(rows(GOOD_SONG, SONG_CHANGES), RAW_SONG_SCHEMA)
    table = name.removeprefix("star_")
    schema = tables.TABLES_BY_NAME[table].schema
    if table == "songplays":
        schema = StructType([*schema.fields, StructField("user_known", BooleanType())])
    values = {
        "STRING": ["a", "a", "b", None],
        "TIMESTAMP": [dt.datetime(2018, 11, 1), dt.datetime(2018, 11, 1), None, dt.datetime(2018, 11, 2)],
        "BIGINT": [1, 1, 2, None],
        "INT": [1, 2, 2, None],
        "DOUBLE": [1.0, 1.0, None, 2.0],
        "BOOLEAN": [True, False, None, True],
    }
    kinds = {f.name: f.dataType.simpleString().upper() for f in schema.fields}
    data = [tuple(values[kinds[f.name]][i] for f in schema.fields) for i in range(4)]
    df = spark.createDataFrame(data, schema)
    if table == "users":
        df = df.replace({"a": "free", "b": "gold"}, subset=["level"])
    return df


@pytest.fixture(scope="module")
def validator():
    return Validator([load_suite(name) for name in SUITES])


@pytest.mark.parametrize("suite_name", SUITES)
def test_routing_agrees_with_gx_on_every_expectation(spark, validator, suite_name):
    df = batch(spark, suite_name).cache()
    suite = load_suite(suite_name)
    outcome = {r.expectation: r for r in validator.validate(df, suite_name, "b-1", "test").results}
    assert set(outcome) == {e.name for e in suite.expectations}
    for e in suite.expectations:
        routed = routed_count(df, e)
        gx = outcome[e.name]
        if gx.unexpected_count is None:  # judged on the batch as a whole (of_type)
            assert gx.success == (routed == 0), e.name
        else:
            assert (e.name, routed) == (e.name, gx.unexpected_count)
            assert gx.success == (routed == 0), e.name  # no suite uses mostly
        if e.type != "expect_column_values_to_be_of_type":
            assert routed > 0, f"{e.name}: the test batch must fail it at least once"


# Batches where GX's figures take their other branches: no row the row_condition keeps, a column that is
# all null (no percent over its non-null values), no row at all.
EDGES = {
    "raw_events": "page <> 'NextSong'",
    "raw_songs": "artist_latitude IS NULL",
    "star_users": "user_id IS NULL",
    "star_songs": "false",
}


@pytest.mark.parametrize("suite_name", SUITES)
def test_a_batch_records_what_gx_alone_would_report(spark, validator, suite_name):
    suite = load_suite(suite_name)
    full = batch(spark, suite_name)
    for df in (full, *([full.filter(EDGES[suite_name])] if suite_name in EDGES else [])):
        df = df.cache()
        counted = timeless(validator.validate(df, suite_name, "b-1", "test").results)
        assert judged_and_tallied(validator, df, suite) == counted


def test_mostly_decides_success_not_which_rows_fail(spark, tmp_path):
    suite = written_suite(
        tmp_path,
        "tolerant",
        [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "x", "mostly": 0.7},
                "meta": {"name": "x_mostly_present", "policy": "fail"},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "x",
                    "min_value": 1,
                    "max_value": 3,
                    "strict_min": True,
                    "strict_max": True,
                },
                "meta": {"name": "x_strictly_inside"},
            },
        ],
    )
    df = spark.createDataFrame([(1,), (2,), (3,), (None,)], "x INT")
    outcome = {r.expectation: r for r in Validator([suite]).validate(df, "tolerant", "b-1", "test").results}
    present, inside = outcome["x_mostly_present"], outcome["x_strictly_inside"]
    assert (present.success, present.unexpected_count, present.element_count) == (True, 1, 4)
    assert (inside.success, inside.unexpected_count, inside.policy) == (False, 2, Policy.QUARANTINE)
    for e in suite.expectations:
        assert routed_count(df, e) == outcome[e.name].unexpected_count
    assert judged_and_tallied(Validator([suite]), df, suite) == timeless(outcome.values())


def test_results_are_not_kept_in_the_context(spark, validator):
    df = batch(spark, "raw_songs")
    for i in range(3):
        validator.validate(df, "raw_songs", f"b-{i}", "songs")
    assert validator.context.validation_results_store.list_keys() == []


def test_an_expectation_gx_cannot_evaluate_stops_with_its_name(spark, tmp_path):
    suite = written_suite(
        tmp_path,
        "broken",
        [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "missing"},
                "meta": {"name": "m"},
            }
        ],
    )
    with pytest.raises(ExpectationError, match="expectation 'm' of suite broken could not be evaluated"):
        Validator([suite]).validate(spark.range(2), "broken", "b", "t")


def test_a_suite_naming_a_column_the_batch_lacks_stops_the_routing_with_its_name(spark, tmp_path):
    suite = written_suite(
        tmp_path,
        "elsewhere",
        [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "x"},
                "meta": {"name": "ok"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "no_such_field", "value_set": [1]},
                "meta": {"name": "unroutable", "policy": "warn"},
            },
        ],
    )
    df = spark.createDataFrame([(1, False)], "x INT, is_malformed BOOLEAN")
    with pytest.raises(SuiteError, match="unroutable names column 'no_such_field', which the batch lacks"):
        with_verdicts(df, suite)


def test_a_row_fails_every_expectation_it_breaks_and_is_rejected_by_quarantine_ones_only(spark, tmp_path):
    suite = written_suite(
        tmp_path,
        "mixed",
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}, "meta": {"name": "q"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "x", "min_value": 0},
                "meta": {"name": "w", "policy": "warn"},
            },
        ],
    )
    df = spark.createDataFrame(
        [(1, False, []), (-1, False, []), (None, False, []), (None, True, ["unparseable_json"])],
        f"x INT, is_malformed BOOLEAN, {PARSE_ERRORS} ARRAY<STRING>",
    )
    routed = with_verdicts(df, suite).select(FAILURES, "rejections").collect()
    assert [tuple(r) for r in routed] == [
        ([], []),
        (["w"], []),
        (["q"], ["q"]),
        (["q"], ["unparseable_json"]),
    ]
    warn_only = Suite("mixed", tuple(replace(e, policy=Policy.WARN) for e in suite.expectations))
    routed = with_verdicts(df, warn_only).select(FAILURES, "rejections").collect()
    assert [tuple(r) for r in routed] == [([], []), (["w"], []), (["q"], []), (["q"], ["unparseable_json"])]


def test_a_routing_reused_across_batches_routes_each_as_the_functions_do(spark, routing_only):
    """A job builds its routing once (``ingest.Routing.of``) and reuses its column expressions for every
    batch: each batch, the second as much as the first, ends exactly as parse_lines and with_verdicts
    built for it alone would route it, its counts included."""
    dataset = ingest.EVENTS
    suite = routing_only.suite(dataset.suite_name)
    routing = ingest.Routing.of(dataset, routing_only)
    started_at = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    gold = play("7", 2, 1, TS + 1, None, None, None, level="gold")  # fails an in_set expectation
    logged_out = play("", 2, 2, TS, None, None, None)
    ts_as_text = play("8", 3, 0, TS, "Hysteria", "Muse", 227.0, sessionId="3")  # a wrong type
    batches = [
        [("a.json", lines(play("42", 1, 0, TS, "Uprising", "Muse", 236.4), "{truncated"))],
        [("b.json", lines(gold, logged_out)), ("c.json", lines(ts_as_text, "not json at all"))],
    ]
    rejections = [
        [("a.json", 2, ["unparseable_json"])],
        [
            ("b.json", 1, ["level_known"]),
            ("b.json", 2, ["play_has_user_id"]),
            ("c.json", 1, ["wrong_type:sessionId"]),
            ("c.json", 2, ["unparseable_json"]),
        ],
    ]
    for i, files in enumerate(batches):
        files_df = spark.createDataFrame(
            [(f, 0, text) for f, text in files], "source_file STRING, landed_at BIGINT, value STRING"
        )
        expected = (
            parse_lines(explode_lines(files_df), dataset.raw_schema, dataset.renames)
            .transform(with_verdicts, suite)
            .transform(with_lineage, f"b{i}", started_at)
        )
        actual = routing.rows(files_df, f"b{i}", started_at)
        assertDataFrameEqual(actual, expected)
        assert (
            actual.agg(*routing.counts).first()
            == expected.agg(*ingest.Routing.of(dataset, routing_only).counts).first()
        )
        rejected = actual.filter(F.size("rejections") > 0).select("source_file", "line_number", "rejections")
        assert sorted(tuple(r) for r in rejected.collect()) == rejections[i]
