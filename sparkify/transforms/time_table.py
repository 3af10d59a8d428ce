"""time (start_time → hour, day, week, month, year, weekday), UTC, ISO weeks, weekday 1 = Monday."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame


def build_time(songplays_df: DataFrame) -> DataFrame:
    """One row per distinct play start time (the session time zone is UTC, see sparkify.session)."""
    t = F.col("start_time")
    return (
        songplays_df.select("start_time")
        .distinct()
        .select(
            t,
            F.hour(t).alias("hour"),
            F.dayofmonth(t).alias("day"),
            F.weekofyear(t).alias("week"),  # ISO 8601: weeks start on Monday, week 1 has Jan 4th
            F.month(t).alias("month"),
            F.year(t).alias("year"),
            (F.weekday(t) + 1).alias("weekday"),  # weekday() is 0 = Monday
        )
    )
