"""Two writers MERGE into the same songplays partition at once: the loser's commit conflict is retried,
and no update is lost."""

from __future__ import annotations

import logging
import threading

import pytest
from pyspark.testing import assertDataFrameEqual

from sparkify import merge
from sparkify.tables import SONGPLAYS, ensure_tables
from tests.builders import TS, utc

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def plays(spark, writer: str, round_: int, song_id=None):
    rows = [
        (
            f"{writer}-{round_}-{i}",
            utc(TS + i),
            42,
            "free",
            song_id,
            None,
            1,
            i,
            "Austin, TX",
            "Mozilla",
            2018,
            11,
        )
        for i in range(3)
    ]
    return spark.createDataFrame(rows, SONGPLAYS.schema)


def test_concurrent_merges_into_one_partition_retry_and_lose_nothing(spark, lake, caplog):
    ensure_tables(spark, lake)
    path = lake.table_path("songplays")
    merge.merge_songplays(spark, path, plays(spark, "seed", 0))  # not empty: both writers really MERGE
    caplog.set_level(logging.WARNING, logger="sparkify.retry")
    errors: list[BaseException] = []
    written = []
    for round_ in range(4):
        barrier = threading.Barrier(2)

        def write(writer: str, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            batch = plays(spark, writer, round_).localCheckpoint()  # built before the race starts
            barrier.wait()
            try:
                merge.merge_songplays(spark, path, batch)
            except BaseException as e:  # reported below: a thread cannot raise into the test
                errors.append(e)

        threads = [threading.Thread(target=write, args=(w,)) for w in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        written += [plays(spark, w, round_) for w in ("a", "b")]
        if any("commit conflict" in r.getMessage() for r in caplog.records):
            break
    assert not errors, errors
    assert any("commit conflict" in r.getMessage() for r in caplog.records), "the writers never collided"
    expected = plays(spark, "seed", 0)
    for df in written:
        expected = expected.unionByName(df)
    assertDataFrameEqual(spark.read.format("delta").load(path), expected)
