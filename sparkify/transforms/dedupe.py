"""Collapse a batch to one row per key, by a total order on the rows, so the winner never depends on order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

Side = Callable[[str], Column]
"""A row's columns by name: ``F.col`` for a DataFrame's own rows, :func:`side` for one side of a MERGE. A
rank is a function of it, so that a transform's dedupe and the MERGE that takes its rows compare the
same struct."""


def side(alias: str) -> Side:
    """The columns of the MERGE side named ``alias`` (``s`` the source, ``t`` the target)."""
    return lambda name: F.col(f"{alias}.{name}")


def dedupe_by_rank(
    df: DataFrame, keys: Sequence[str], rank: Column, keep: Literal["max", "min"] = "max"
) -> DataFrame:
    """Keep, per key, the row whose ``rank`` is greatest (or least); ties fall to the whole row's values.

    The MERGE writers compare the same ``rank`` against the target, so a batch deduped here and merged
    gives the same table whatever order the rows arrived in.
    """
    others = [c for c in df.columns if c not in keys]
    best = F.max if keep == "max" else F.min
    winner = best(F.struct(rank.alias("rank"), F.struct(*others).alias("row"))).alias("winner")
    return df.groupBy(*keys).agg(winner).select(*keys, "winner.row.*").select(*df.columns)


def count_non_null(*cols: Column) -> Column:
    """How many of ``cols`` are set (an empty string counts as set: it is what the source said)."""
    return sum((c.isNotNull().cast("int") for c in cols), F.lit(0))
