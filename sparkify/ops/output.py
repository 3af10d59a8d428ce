"""How the command line prints a result: an aligned table, CSV, or JSON lines, as the rows arrive.

A result is a :class:`Rows`: column names, then rows in batches. Nothing here holds more than one batch,
so a result of any size streams; ``limit`` stops after that many rows and says so on stderr. An aligned
table takes its column widths from the first batch (a later, longer cell widens its line, never cuts).

Shared by ``sparkify.ops.cli``, ``sparkify.ops.demo`` and both query engines. Standard library only (a
Spark DataFrame is taken by duck typing), so that importing it starts no JVM.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FORMATS = ("table", "csv", "json")
BATCH_ROWS = 1000  # rows a batch: what the table format measures its widths on


@dataclass(frozen=True)
class Rows:
    """A result as it arrives: column names, then batches of rows (each row a tuple of Python values,
    timestamps as aware datetimes)."""

    columns: tuple[str, ...]
    batches: Iterable[Sequence[tuple[Any, ...]]]


def print_stream(
    rows: Rows, fmt: str, out: TextIO | None = None, limit: int | None = None, err: TextIO | None = None
) -> int:
    """Print ``rows`` as an aligned table, CSV, or JSON lines (one object a line), and return how many
    were printed. With ``limit``, print at most that many; when more exist (the producer should offer
    ``limit + 1``), say on ``err`` that the output is cut and how to see it all.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    out = out or sys.stdout
    batches, more = capped(rows.batches, limit)
    if fmt == "json":
        printed = write_json(rows.columns, batches, out)
    elif fmt == "csv":
        printed = write_csv(rows.columns, batches, out)
    else:
        printed = write_table(rows.columns, batches, out, cut=more)
    if more():
        print(f"showing the first {printed:,} rows; --limit 0 shows all", file=err or sys.stderr)
    return printed


def print_rows(
    df: DataFrame, fmt: str, out: TextIO | None = None, limit: int | None = None, err: TextIO | None = None
) -> int:
    """Print a Spark DataFrame as :func:`print_stream` does, its rows fetched a partition at a time."""
    return print_stream(spark_rows(df, limit), fmt, out, limit, err)


def spark_rows(df: DataFrame, limit: int | None = None) -> Rows:
    """A DataFrame's rows as they come (``toLocalIterator``: a partition at a time, never collected
    whole), ``limit + 1`` at most so a cut shows; timestamps made aware in UTC.

    PySpark turns a TIMESTAMP into a naive datetime in the process's time zone: ``astimezone`` reads it
    so, and gives the same instant the DuckDB engine gives. TIMESTAMP_NTZ values stay naive.
    """
    if limit is not None:
        df = df.limit(limit + 1)
    aware = [i for i, f in enumerate(df.schema.fields) if f.dataType.typeName() == "timestamp"]

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        rows = (tuple(r) for r in df.toLocalIterator(prefetchPartitions=True))
        while batch := list(itertools.islice(rows, BATCH_ROWS)):
            if aware:
                batch = [with_utc(r, aware) for r in batch]
            yield batch

    return Rows(tuple(df.columns), batches())


def with_utc(row: tuple[Any, ...], positions: Sequence[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in positions:
        if isinstance(values[i], dt.datetime):
            values[i] = values[i].astimezone(dt.UTC)
    return tuple(values)


def capped(
    batches: Iterable[Sequence[tuple[Any, ...]]], limit: int | None
) -> tuple[Iterator[Sequence[tuple[Any, ...]]], Callable[[], bool]]:
    """The batches cut after ``limit`` rows, and a function that tells, once they are consumed, whether
    a row beyond the limit was seen (the producer was asked for one more than it shows)."""
    seen_more = [False]

    def cut() -> Iterator[Sequence[tuple[Any, ...]]]:
        left = limit
        for batch in batches:
            if not batch:
                continue
            if left is None:
                yield batch
                continue
            if len(batch) > left:
                seen_more[0] = True
                if left:
                    yield batch[:left]
                return
            left -= len(batch)
            yield batch

    return cut(), lambda: seen_more[0]


def write_json(columns: Sequence[str], batches: Iterable[Sequence[tuple[Any, ...]]], out: TextIO) -> int:
    printed = 0
    for batch in batches:
        for row in batch:
            record = {c: json_value(v) for c, v in zip(columns, row, strict=True)}
            out.write(json.dumps(record, default=str, allow_nan=False) + "\n")
        printed += len(batch)
    return printed


def json_value(value: Any) -> Any:
    """A value JSON can carry as it means: exact integers from DECIMAL(p, 0) (DuckDB sums integers into
    HUGEINT), other decimals as numbers, non-finite floats as strings, times in ISO 8601."""
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def write_csv(columns: Sequence[str], batches: Iterable[Sequence[tuple[Any, ...]]], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(columns)
    printed = 0
    for batch in batches:
        writer.writerows([[cell(v, null="") for v in row] for row in batch])
        printed += len(batch)
    return printed


def write_table(
    columns: Sequence[str], batches: Iterable[Sequence[tuple[Any, ...]]], out: TextIO, cut: Callable[[], bool]
) -> int:
    """Aligned columns, widths from the first batch; then ``(N rows)``, or ``(first N rows)`` if cut."""
    iterator = iter(batches)
    first = [[cell(v) for v in row] for row in next(iterator, [])]
    widths = [max([len(c), *(len(row[i]) for row in first)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip() + "\n"

    out.write(line(columns) + line(["-" * w for w in widths]))
    printed = 0
    for rendered in itertools.chain([first], ([[cell(v) for v in row] for row in b] for b in iterator)):
        out.writelines(line(row) for row in rendered)
        printed += len(rendered)
    noun = "row" if printed == 1 else "rows"
    out.write(f"(first {printed:,} {noun})\n" if cut() else f"({printed:,} {noun})\n")
    return printed


def cell(value: Any, null: str = "NULL") -> str:
    """A value as the table and CSV print it: times in ISO 8601 with their offset (UTC)."""
    if value is None:
        return null
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)
