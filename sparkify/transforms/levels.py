"""users_level_history: each user's level as an SCD type 2 (valid_from, valid_to, is_current)."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Window

from sparkify.keys import parse_user_id


def build_level_history(events_df: DataFrame) -> DataFrame:
    """Runs of the same level in each user's events, ordered by (ts, session_id, item_in_session).

    The input must hold every accepted event of the users it covers: a run is only known whole. A run is
    valid from its first event to the first event of the next run (exclusive); the last is current.
    """
    events = (
        events_df.select(
            parse_user_id(F.col("user_id")).alias("user_id"), "ts", "session_id", "item_in_session", "level"
        )
        .filter(F.col("user_id").isNotNull() & F.col("level").isNotNull() & F.col("ts").isNotNull())
        .distinct()
    )
    in_order = Window.partitionBy("user_id").orderBy("ts", "session_id", "item_in_session", "level")
    starts = (
        events.withColumn("previous_level", F.lag("level").over(in_order))
        .filter(F.col("previous_level").isNull() | (F.col("previous_level") != F.col("level")))
        .select("user_id", "level", F.timestamp_millis(F.col("ts")).alias("valid_from"))
    )
    runs = Window.partitionBy("user_id").orderBy("valid_from", "level")
    return starts.withColumn("valid_to", F.lead("valid_from").over(runs)).select(
        "user_id", "level", "valid_from", "valid_to", F.col("valid_to").isNull().alias("is_current")
    )
