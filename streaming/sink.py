"""The ``foreachBatch`` sink: one micro-batch through the shared batch step, safe to replay.

A micro-batch replayed after a crash carries the same files under the same batch id (Spark's file
source guarantees it), so:

- the staging and pipeline_metrics appends carry Delta's ``txnAppId``/``txnVersion`` (the query's id and
  the batch id): a replayed append is skipped by Delta itself;
- the quarantine is insert-only by line, and the star MERGEs only let better rows win, so repeating them
  changes nothing (tests/test_merge.py and tests/test_stream.py replay batches to show it).

The app id is the streaming query's id, stored in its checkpoint: resetting the checkpoint gives a new
id, so the new query's batch 0 is not mistaken for the old one's and silently skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from checkpoints_config import PipelineConfig, join_path
from sparkify import ingest


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The id Spark wrote into ``<checkpoint>/metadata`` when the query first started."""
    text = "\n".join(r.value for r in spark.read.text(join_path(checkpoint, "metadata")).collect())
    return json.loads(text)["id"]


@dataclass
class MicroBatchSink:
    """Callable for ``writeStream.foreachBatch``; holds no session, only what names the query."""

    config: PipelineConfig
    dataset: ingest.Dataset
    checkpoint: str
    app_id: str | None = field(default=None, init=False)

    def batch_label(self, batch_id: int) -> str:
        return f"stream-{self.dataset.name}-{self.app_id[:8]}-{batch_id:08d}"  # type: ignore[index]

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        spark = batch_df.sparkSession
        if self.app_id is None:
            self.app_id = query_id(spark, self.checkpoint)
        label = self.batch_label(batch_id)
        batch = batch_df.persist(StorageLevel.MEMORY_AND_DISK)  # read once: checked, then ingested
        try:
            fresh = without_files_taken_elsewhere(spark, self.config, self.dataset, batch, label)
            txn = (self.app_id, batch_id)
            ingest.ingest_files(spark, self.config, self.dataset, fresh, label, txn=txn, job="stream")
        finally:
            batch.unpersist()


def without_files_taken_elsewhere(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, batch_df: DataFrame, label: str
) -> DataFrame:
    """Drop files that another batch (the backfill, or this stream before a checkpoint reset) staged.

    This is the hand-off: a stream started after a backfill sees the old files as new, and skips them
    here at the cost of one look at staging's file names. Files staged under this very batch id are
    kept: that is a replay after a crash, whose merges must still run.
    """
    batch_files = batch_df.select("source_file").distinct()
    staged = spark.read.format("delta").load(config.table_path(dataset.staging.name))
    elsewhere = (
        staged.filter(F.col("batch_id") != label)
        .select("source_file")
        .join(F.broadcast(batch_files), "source_file", "left_semi")
        .distinct()
    )
    return batch_df.join(F.broadcast(elsewhere), "source_file", "left_anti")
