"""The lake's table names, without their schemas: what a JVM-free reader (``sparkify query`` on DuckDB)
checks names against.

``sparkify.tables`` holds the full specs, whose schemas need pyspark's types; a test keeps the two in step.
"""

from __future__ import annotations

from sparkify.errors import UsageError

# In sparkify.tables.ALL_TABLES's order: raw-file bookkeeping first, then the star tables.
TABLE_NAMES = (
    "staging_events",
    "staging_songs",
    "quarantine",
    "quality_results",
    "pipeline_metrics",
    "landed_files",
    "songplays",
    "users",
    "songs",
    "artists",
    "time",
    "users_level_history",
)


def check_table_name(name: str) -> None:
    """Refuse a name that is not one of the lake's tables (before any table is opened)."""
    if name not in TABLE_NAMES:
        raise UsageError(f"unknown table {name!r}; tables: {', '.join(sorted(TABLE_NAMES))}")
