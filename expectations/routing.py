"""Route rows by a suite: each row learns which expectations it fails, in one Spark pass.

Great Expectations reports per expectation over a batch; the quarantine needs the verdict per row. Each
expectation type the suites may use (``expectations.suites.ROUTED_KWARGS``) is turned here into the
Spark predicate "this row fails it", with GX's semantics: ``match_regex``, ``in_set``, ``between`` and
``unique`` ignore nulls, ``row_condition`` narrows the rows, ``unique`` fails every copy of a repeated
value, ``of_type`` fails the whole batch or none of it. ``tests/test_validation.py`` proves, for every
expectation in the suites, that the rows failing here are exactly GX's unexpected count on the batch.

``mostly`` is a tolerance for the batch, not for a row: it decides whether the expectation succeeds
(what quality_results records, and whether a ``fail`` expectation stops the batch), while every row
that fails a ``quarantine`` expectation goes to the quarantine whatever ``mostly`` allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql.types import StructType

from expectations.suites import ROUTED_KWARGS, Expectation, Policy, Suite
from sparkify.staging import PARSE_ERRORS

REJECTIONS = "rejections"  # array<string>: the quarantine-policy expectations a row fails; kept in staging


def fails_not_null(e: Expectation, schema: StructType) -> Column:
    return F.col(e.column).isNull()


def fails_null(e: Expectation, schema: StructType) -> Column:
    return F.col(e.column).isNotNull()


def fails_regex(e: Expectation, schema: StructType) -> Column:
    c = F.col(e.column)
    return c.isNotNull() & ~c.rlike(e.kwargs["regex"])


def fails_in_set(e: Expectation, schema: StructType) -> Column:
    c = F.col(e.column)
    return c.isNotNull() & ~c.isin(list(e.kwargs["value_set"]))


def fails_between(e: Expectation, schema: StructType) -> Column:
    c, low, high = F.col(e.column), e.kwargs.get("min_value"), e.kwargs.get("max_value")
    out = F.lit(False)
    if low is not None:
        out = out | ((c <= F.lit(low)) if e.kwargs.get("strict_min") else (c < F.lit(low)))
    if high is not None:
        out = out | ((c >= F.lit(high)) if e.kwargs.get("strict_max") else (c > F.lit(high)))
    return c.isNotNull() & out


def fails_unique(e: Expectation, schema: StructType) -> Column:
    c = F.col(e.column)
    return c.isNotNull() & (F.count(c).over(Window.partitionBy(c)) > 1)


def fails_of_type(e: Expectation, schema: StructType) -> Column:
    actual = type(schema[e.column].dataType).__name__
    return F.lit(actual != e.kwargs["type_"])


PREDICATES: dict[str, Callable[[Expectation, StructType], Column]] = {
    "expect_column_values_to_not_be_null": fails_not_null,
    "expect_column_values_to_be_null": fails_null,
    "expect_column_values_to_match_regex": fails_regex,
    "expect_column_values_to_be_in_set": fails_in_set,
    "expect_column_values_to_be_between": fails_between,
    "expect_column_values_to_be_unique": fails_unique,
    "expect_column_values_to_be_of_type": fails_of_type,
}
assert PREDICATES.keys() == ROUTED_KWARGS.keys(), "every type the suites may use is routed"


def failure_predicate(e: Expectation, schema: StructType) -> Column:
    """True where the row fails ``e``; never null."""
    predicate = PREDICATES[e.type](e, schema)
    condition = e.kwargs.get("row_condition")
    if condition:
        predicate = F.expr(condition) & predicate
    return F.coalesce(predicate, F.lit(False))


def failed_names(expectations: Iterable[Expectation], schema: StructType) -> Column:
    """An array of the names of the expectations the row fails (empty when it passes all)."""
    checks = [F.when(failure_predicate(e, schema), F.lit(e.name)) for e in expectations]
    if not checks:
        return F.array().cast("array<string>")
    return F.filter(F.array(*checks), lambda x: x.isNotNull())


def with_rejections(parsed_df: DataFrame, suite: Suite) -> DataFrame:
    """Add ``rejections``: why the row goes to quarantine, its parse errors if it did not parse, else the
    ``quarantine``-policy expectations it fails. Rows with an empty array proceed to the star tables."""
    rejected_by_suite = failed_names(suite.with_policy(Policy.QUARANTINE), parsed_df.schema)
    return parsed_df.withColumn(
        REJECTIONS, F.when(F.col("is_malformed"), F.col(PARSE_ERRORS)).otherwise(rejected_by_suite)
    )


def is_accepted(rejections: Column) -> Column:
    return F.size(rejections) == 0
