"""Column functions for keys and ids, with pure-Python twins so the rules can be tested without a JVM."""

from __future__ import annotations

import hashlib

import pyspark.sql.functions as F
from pyspark.sql import Column

USER_ID_PATTERN = r"^[0-9]{1,18}$"  # 18 digits always fit a BIGINT; longer is not an id we can keep


def is_play(page: Column) -> Column:
    """A play is a NextSong page event."""
    return page == F.lit("NextSong")


def parse_user_id(user_id: Column) -> Column:
    """``userId`` string → BIGINT; empty (logged out) or unusable → null."""
    return F.when(user_id.rlike(USER_ID_PATTERN), user_id.cast("bigint"))


def songplay_id(user_id: Column, session_id: Column, item_in_session: Column, ts: Column) -> Column:
    """A deterministic id from the play's natural key: 128 bits of SHA-256, written as a UUID.

    128 bits keep the chance of any collision among 10^10 plays below 10^-18 (a 64-bit hash would
    collide with probability ~2.7 at that size). Null parts hash as empty strings, keeping positions.
    """
    parts = [F.coalesce(c.cast("string"), F.lit("")) for c in (user_id, session_id, item_in_session, ts)]
    digest = F.sha2(F.concat_ws("|", *parts), 256)
    return F.concat_ws(
        "-",
        *(
            F.substring(digest, start, length)
            for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        ),
    )


def songplay_id_of(user_id: int, session_id: int, item_in_session: int, ts: int) -> str:
    """Pure-Python twin of :func:`songplay_id`, for tests and for looking a play up by hand."""
    digest = hashlib.sha256(f"{user_id}|{session_id}|{item_in_session}|{ts}".encode()).hexdigest()
    return f"{digest[0:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
