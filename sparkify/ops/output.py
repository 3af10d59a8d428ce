"""How the command line prints a DataFrame: an aligned table, CSV, or JSON lines.

Shared by ``sparkify.ops.cli`` and ``sparkify.ops.demo``, which otherwise need nothing of each other.
Standard library only, so that importing it starts no JVM.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def print_rows(df: DataFrame, fmt: str, out: TextIO | None = None) -> None:
    """Print a DataFrame as an aligned table, CSV, or JSON lines (one object a line)."""
    out = out or sys.stdout
    columns = df.columns
    rows = [r.asDict() for r in df.collect()]
    if fmt == "json":
        for r in rows:
            out.write(json.dumps(r, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    else:
        cells = [[("NULL" if r[c] is None else str(r[c])) for c in columns] for r in rows]
        widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
        line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip()  # noqa: E731
        out.write(line(columns) + "\n" + line(["-" * w for w in widths]) + "\n")
        for row in cells:
            out.write(line(row) + "\n")
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")
