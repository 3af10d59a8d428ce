"""The keys plays are matched on, from every accepted song record staged so far.

An events batch matches its plays against all of staging_songs. Rereading and deduping the whole table
every micro-batch costs more as songs pile up (one small file per songs batch), so the stream holds the
keys in memory and adds only what staging_songs gained since: staging is append-only, and its change
data feed (on for every table, ``sparkify.session``) lists the appended rows by version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession

from sparkify.local_checkpoints import release
from sparkify.progress import timed
from sparkify.schemas import REJECTIONS
from sparkify.staging import is_accepted
from sparkify.transforms.songs import build_song_keys

log = logging.getLogger(__name__)

UNCHANGED = "DELTA_CDC_START_VERSION_AFTER_LATEST"  # Delta's error for a change feed past the last version


def staged_song_keys(staging_songs: DataFrame) -> DataFrame:
    """The match keys of the accepted rows of ``staging_songs`` (by each row's stored verdict)."""
    return build_song_keys(staging_songs.filter(is_accepted(F.col(REJECTIONS))))


@dataclass(eq=False)
class Generation:
    """One set of held keys: as of ``version`` of staging_songs, read by ``users`` batches right now."""

    keys: DataFrame
    version: int
    users: int = 0


class HeldSongKeys:
    """:func:`staged_song_keys` of staging_songs at its latest version, held across batches.

    Each refresh looks at the change feed after the version held: nothing new costs one failed plan
    (about 0.1 s); appended rows are deduped with the held keys (the dedupe is a total order, so adding
    rows in any grouping gives the same keys). Anything the feed cannot give (a restore, a table without
    the feed) rereads the table whole. Each generation is a local checkpoint, so its plan is one scan
    however long the stream runs.

    A stream's two raw-file queries share one: the songs query refreshes it right after each staging
    commit, so an events batch, which must read the keys after its own staging commit (late songs),
    mostly finds them current and pays only the check. A generation is freed once it is replaced and no
    batch reads it any more.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.held: Generation | None = None
        self._lock = threading.Lock()

    @contextmanager
    def current(self, spark: SparkSession) -> Iterator[DataFrame]:
        """The keys as of staging_songs' latest version (looked up now: after the caller's own commits),
        kept for the caller until it leaves the block."""
        with self._lock:
            generation = self._refreshed(spark)
            generation.users += 1
        try:
            yield generation.keys
        finally:
            with self._lock:
                generation.users -= 1
                if generation is not self.held and not generation.users:
                    release(generation.keys)

    def refresh(self, spark: SparkSession) -> None:
        """Bring the keys up to staging_songs' latest version now, for the batches to come."""
        with self._lock:
            self._refreshed(spark)

    def _refreshed(self, spark: SparkSession) -> Generation:
        held = self.held
        if held is not None:
            try:
                self.changes_after(spark, held.version)  # only planned: raises at once if nothing was added
            except Exception as e:
                if UNCHANGED in str(e):
                    return held
        latest = cast(Row, DeltaTable.forPath(spark, self.path).history(1).first())["version"]
        with timed(log, f"song keys as of staging_songs version {latest}"):
            keys = self.added_to_held(spark, latest) or self.read_whole(spark, latest)
        self.held = Generation(keys, latest)
        if held is not None and not held.users:
            release(held.keys)
        return self.held

    def added_to_held(self, spark: SparkSession, latest: int) -> DataFrame | None:
        """The held keys with the rows appended up to ``latest``; None if none are held, or the change
        feed cannot give those rows (a restore, the feed turned off)."""
        if self.held is None:
            return None
        try:
            added = staged_song_keys(self.changes_after(spark, self.held.version, latest))
            return build_song_keys(self.held.keys.unionByName(added)).localCheckpoint()
        except Exception as e:
            log.info("song keys: rereading staging_songs whole (%s)", str(e).splitlines()[0])
            return None

    def read_whole(self, spark: SparkSession, latest: int) -> DataFrame:
        table = spark.read.format("delta").option("versionAsOf", latest).load(self.path)
        return staged_song_keys(table).localCheckpoint()

    def changes_after(self, spark: SparkSession, version: int, until: int | None = None) -> DataFrame:
        """The rows appended after ``version`` (up to ``until``, else the latest); raises if there are
        none, or the feed cannot give them."""
        reader = spark.read.format("delta").option("readChangeFeed", "true")
        reader = reader.option("startingVersion", version + 1)
        if until is not None:
            reader = reader.option("endingVersion", until)
        changes = reader.load(self.path).filter(F.col("_change_type") == "insert")
        return changes.drop("_change_type", "_commit_version", "_commit_timestamp")

    def close(self) -> None:
        """Free the held keys (no batch may be reading them)."""
        with self._lock:
            if self.held is not None:
                release(self.held.keys)
                self.held = None
