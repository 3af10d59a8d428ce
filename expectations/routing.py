"""Route rows by a suite: each row learns which expectations it fails, as Spark columns.

Great Expectations reports per expectation over a batch; the quarantine needs the verdict per row. Each
supported expectation type is turned here into the Spark predicate "this row fails it", with GX's own
semantics (``match_regex``, ``in_set`` and ``between`` ignore nulls; ``row_condition`` narrows the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from expectations.suites import Expectation, Policy, Suite

MALFORMED = "malformed_json"


def fails_not_null(e: Expectation) -> Column:
    return F.col(e.column).isNull()


def fails_regex(e: Expectation) -> Column:
    c = F.col(e.column)
    return c.isNotNull() & ~c.rlike(e.kwargs["regex"])


def fails_in_set(e: Expectation) -> Column:
    c = F.col(e.column)
    return c.isNotNull() & ~c.isin(list(e.kwargs["value_set"]))


def fails_between(e: Expectation) -> Column:
    c = F.col(e.column)
    out = F.lit(False)
    if e.kwargs.get("min_value") is not None:
        out = out | (c < F.lit(e.kwargs["min_value"]))
    if e.kwargs.get("max_value") is not None:
        out = out | (c > F.lit(e.kwargs["max_value"]))
    return c.isNotNull() & out


PREDICATES: dict[str, Callable[[Expectation], Column]] = {
    "expect_column_values_to_not_be_null": fails_not_null,
    "expect_column_values_to_match_regex": fails_regex,
    "expect_column_values_to_be_in_set": fails_in_set,
    "expect_column_values_to_be_between": fails_between,
}


def failure_predicate(e: Expectation) -> Column:
    """True where the row fails ``e``; never null."""
    try:
        predicate = PREDICATES[e.type](e)
    except KeyError:
        raise ValueError(
            f"expectation {e.name!r}: type {e.type!r} cannot route rows; known: {', '.join(PREDICATES)}"
        ) from None
    condition = e.kwargs.get("row_condition")
    if condition:
        predicate = F.expr(condition) & predicate
    return F.coalesce(predicate, F.lit(False))


def failed_names(expectations: Iterable[Expectation]) -> Column:
    """An array of the names of the expectations the row fails (empty when it passes all)."""
    checks = [F.when(failure_predicate(e), F.lit(e.name)) for e in expectations]
    if not checks:
        return F.array().cast("array<string>")
    return F.filter(F.array(*checks), lambda x: x.isNotNull())


def with_rejections(parsed_df: DataFrame, suite: Suite) -> DataFrame:
    """Add ``rejections``: why the row goes to quarantine (malformed JSON, or a quarantine-policy failure).

    Rows with an empty array proceed to the star tables; ``warn`` expectations never reject.
    """
    rejected_by_suite = failed_names(suite.with_policy(Policy.QUARANTINE))
    return parsed_df.withColumn(
        "rejections",
        F.when(F.col("is_malformed"), F.array(F.lit(MALFORMED))).otherwise(rejected_by_suite),
    )


def is_accepted(rejections: Column) -> Column:
    return F.size(rejections) == 0
