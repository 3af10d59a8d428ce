"""users (user_id → first_name, last_name, gender, level): the latest event wins."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from sparkify import tables
from sparkify.keys import parse_user_id
from sparkify.transforms.dedupe import Side, dedupe_by_rank


def user_rank(c: Side = F.col) -> Column:
    """Later event wins: by ts, ties to the greater session_id, then item_in_session, then the values."""
    order = ("ts", "session_id", "item_in_session", "first_name", "last_name", "gender", "level")
    return F.struct(*(c(name) for name in order))


def build_users(events_df: DataFrame) -> DataFrame:
    """One row per user from every accepted event with a usable userId.

    ``ts``, ``session_id`` and ``item_in_session`` say which event the row came from; the MERGE needs
    them to let only a later event win.
    """
    with_user = events_df.withColumn("user_id", parse_user_id(F.col("user_id"))).filter(
        F.col("user_id").isNotNull()
    )
    return dedupe_by_rank(with_user.select(*tables.USERS.columns), ["user_id"], user_rank())
