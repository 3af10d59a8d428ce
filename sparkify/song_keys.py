"""The keys plays are matched on, from every accepted song record staged so far.

An events batch matches its plays against all of staging_songs. Rereading and deduping the whole table
every micro-batch costs more as songs pile up (one small file per songs batch), so the stream holds the
keys in memory and adds only what staging_songs gained since: staging is append-only, and its change
data feed (on for every table, ``sparkify.session``) lists the appended rows by version.
"""

from __future__ import annotations

import logging

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from expectations.routing import REJECTIONS, is_accepted
from sparkify.progress import timed
from sparkify.transforms.songs import build_song_keys

log = logging.getLogger(__name__)

UNCHANGED = "DELTA_CDC_START_VERSION_AFTER_LATEST"  # Delta's error for a change feed past the last version


def staged_song_keys(staging_songs: DataFrame) -> DataFrame:
    """The match keys of the accepted rows of ``staging_songs`` (by each row's stored verdict)."""
    return build_song_keys(staging_songs.filter(is_accepted(F.col(REJECTIONS))))


class HeldSongKeys:
    """:func:`staged_song_keys` of staging_songs at its latest version, held by one query across batches.

    Each call looks at the change feed after the version held: nothing new costs one failed plan (about
    0.1 s); appended rows are deduped with the held keys (the dedupe is a total order, so adding rows in
    any grouping gives the same keys). Anything the feed cannot give (a restore, a table without the
    feed) rereads the table whole. Each generation is a local checkpoint, so its plan is one scan however
    long the stream runs, and the previous one's blocks are freed at once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = -1  # of staging_songs, that ``keys`` reflects
        self.keys: DataFrame | None = None

    def current(self, spark: SparkSession) -> DataFrame:
        """The keys as of staging_songs' latest version (read now: after the caller's own commits)."""
        if self.keys is not None:
            try:
                self.changes_after(spark, self.version)  # only planned: raises at once if nothing was added
            except Exception as e:
                if UNCHANGED in str(e):
                    return self.keys
        latest = DeltaTable.forPath(spark, self.path).history(1).first()["version"]
        with timed(log, f"song keys as of staging_songs version {latest}"):
            keys = self.added_to_held(spark, latest) or self.read_whole(spark, latest)
        self.replace(keys, latest)
        return keys

    def added_to_held(self, spark: SparkSession, latest: int) -> DataFrame | None:
        """The held keys with the rows appended up to ``latest``; None if none are held, or the change
        feed cannot give those rows (a restore, the feed turned off)."""
        if self.keys is None:
            return None
        try:
            added = staged_song_keys(self.changes_after(spark, self.version, latest))
            return build_song_keys(self.keys.unionByName(added)).localCheckpoint()
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

    def replace(self, keys: DataFrame, version: int) -> None:
        previous, self.keys, self.version = self.keys, keys, version
        if previous is not None:
            release(previous)

    def close(self) -> None:
        if self.keys is not None:
            release(self.keys)
            self.keys = None


def release(checkpointed: DataFrame) -> None:
    """Free the blocks of a ``localCheckpoint`` now rather than at the driver's next garbage collection:
    PySpark has no call for it, so reach the checkpointed RDD under the plan (as Delta frees the source it
    materializes for a MERGE)."""
    checkpointed._jdf.queryExecution().logical().rdd().unpersist(False)
