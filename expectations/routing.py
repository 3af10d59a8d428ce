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

The same pass counts, per expectation, what quality_results records (:func:`tallies`): GX then only has
to judge each expectation, not to report its counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql.types import StructType

from expectations.suites import ROUTED_KWARGS, Expectation, Policy, Suite, SuiteError
from sparkify.schemas import REJECTIONS
from sparkify.staging import PARSE_ERRORS

FAILURES = "failures"  # array<string>: every expectation of the suite a row fails; counted, not kept

OF_TYPE = "expect_column_values_to_be_of_type"  # judged on the batch's schema, not row by row
# GX's unexpected_percent is over the rows whose value is not null, but for these two types, whose very
# subject is the nulls (ColumnMapExpectation._validate against their own _validate).
PERCENT_OF_ALL_ROWS = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})
# GX counts the failing rows of a window condition (unique) by filtering, of the others by a Spark sum,
# which is null over no row (map_condition_auxilliary_methods).
COUNTED_BY_FILTER = frozenset({"expect_column_values_to_be_unique"})


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


def applies(e: Expectation) -> Column:
    """True where ``e``'s row_condition keeps the row (every row without one); never null."""
    condition = e.kwargs.get("row_condition")
    return F.coalesce(F.expr(condition), F.lit(False)) if condition else F.lit(True)


def failure_predicate(e: Expectation, schema: StructType) -> Column:
    """True where the row fails ``e``; never null."""
    return applies(e) & F.coalesce(PREDICATES[e.type](e, schema), F.lit(False))


def failed_names(expectations: Iterable[Expectation], schema: StructType) -> Column:
    """An array of the names of the expectations the row fails (empty when it passes all)."""
    checks = [F.when(failure_predicate(e, schema), F.lit(e.name)) for e in expectations]
    if not checks:
        return F.array().cast("array<string>")
    return F.filter(F.array(*checks), lambda x: x.isNotNull())


def with_verdicts(parsed_df: DataFrame, suite: Suite) -> DataFrame:
    """Add ``failures``, every expectation of ``suite`` the row fails, and ``rejections``: why the row
    goes to quarantine, its parse errors if it did not parse, else the ``quarantine``-policy expectations
    it fails. Rows with an empty ``rejections`` proceed to the star tables."""
    return Verdicts.of(suite, parsed_df.schema)(parsed_df)


@dataclass(frozen=True, eq=False)
class Verdicts:
    """:func:`with_verdicts` for one suite and one schema, its two columns built once: a job reuses them
    for every batch (building them is over a thousand py4j calls)."""

    failures: Column
    rejections: Column

    @classmethod
    def of(cls, suite: Suite, schema: StructType) -> Verdicts:
        """Raise :class:`SuiteError` if an expectation names a column ``schema`` lacks."""
        columns = schema.fieldNames()
        for e in suite.expectations:
            if e.column not in columns:
                raise SuiteError(
                    f"suite {suite.name}: expectation {e.name} names column {e.column!r}, "
                    "which the batch lacks"
                )
        quarantining = [e.name for e in suite.with_policy(Policy.QUARANTINE)]
        rejected_by_suite = F.filter(F.col(FAILURES), lambda name: name.isin(quarantining))
        return cls(
            failed_names(suite.expectations, schema),
            F.when(F.col("is_malformed"), F.col(PARSE_ERRORS)).otherwise(rejected_by_suite),
        )

    def __call__(self, parsed_df: DataFrame) -> DataFrame:
        return parsed_df.withColumn(FAILURES, self.failures).withColumn(REJECTIONS, self.rejections)


def tally_keys(e: Expectation) -> tuple[str, str, str]:
    """The names of ``e``'s three counts in :func:`tally_columns`: its rows and their nulls are shared by
    the expectations with the same row_condition (and column), its failing rows are its own."""
    condition = e.kwargs.get("row_condition") or ""
    return f"rows|{condition}", f"nulls|{condition}|{e.column}", f"failing|{e.name}"


def tally_columns(suite: Suite, within: Column) -> list[Column]:
    """The aggregates :func:`tallies` reads, over the rows ``within`` holds true for (and ``failures``):
    for each expectation judged row by row, the rows it applies to, their nulls in its column (where its
    percent needs them), and the rows that fail it; each count once, however many expectations share it."""
    counts: dict[str, Column] = {}
    for e in suite.expectations:
        if e.type == OF_TYPE:
            continue
        rows, nulls, failing = tally_keys(e)
        judged = within & applies(e)
        counts.setdefault(rows, F.count(F.when(judged, 1)))
        if e.type not in PERCENT_OF_ALL_ROWS:
            counts.setdefault(nulls, F.count(F.when(judged & F.col(e.column).isNull(), 1)))
        counts[failing] = F.count(F.when(within & F.array_contains(F.col(FAILURES), e.name), 1))
    return [column.alias(name) for name, column in counts.items()]


def tallies(counts: Row, suite: Suite, schema: StructType) -> dict[str, dict[str, Any]]:
    """Per expectation name, the figures GX's ``BASIC`` result format reports for it, from the values of
    :func:`tally_columns`: element, unexpected and percent counts, or for a type expectation the type
    observed in ``schema`` (GX's ``_format_map_output`` and ``_validate_spark``)."""
    out: dict[str, dict[str, Any]] = {}
    for e in suite.expectations:
        if e.type == OF_TYPE:
            out[e.name] = {"observed_value": type(schema[e.column].dataType).__name__}
            continue
        rows_key, nulls_key, failing_key = tally_keys(e)
        rows, failing = counts[rows_key], counts[failing_key]
        over = rows if e.type in PERCENT_OF_ALL_ROWS else rows - counts[nulls_key]
        out[e.name] = {
            "element_count": rows,
            "unexpected_count": failing if rows or e.type in COUNTED_BY_FILTER else None,
            "unexpected_percent": failing / over * 100 if rows and over else None,
        }
    return out
