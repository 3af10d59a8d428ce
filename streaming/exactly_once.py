"""A micro-batch that Spark hands over again after a crash writes nothing twice.

Spark's sources give a replayed batch the same input under the same batch id, and only the first batch
a query runs after a start can be a replay: Spark re-runs just the batch whose commit it had not
written. So a sink looks, for that batch only, at what the batch already wrote:

- staging: rows under this batch's label mean its staging append committed: it is not appended again
  (the hand-off's lookup of the batch's files answers it, ``streaming.handoff.staged_labels``);
- pipeline_metrics: a row for (query, label) means the batch finished: it is not recorded again.

The quarantine (insert-only by line) and the star MERGEs (a row is replaced only by a better one) are
idempotent and always run, so a batch that died between two steps is completed by its replay. Every
later batch of the run pays nothing for this: no lookup, and no Delta ``txnAppId``/``txnVersion`` check,
which rebuilds the table's state on every append (bench/reports/exactly_once.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from checkpoints_config import PipelineConfig
from sparkify import tables


@dataclass
class ReplayGuard:
    """Which batches of one running query may be replays: its first after a start, a batch id it has
    seen before, or any batch after one that raised (Spark may hand the same batch over again)."""

    _last: int = field(default=-1, init=False)  # the last batch finished; -1: none since the start
    _open: bool = field(default=False, init=False)  # a batch began and has not finished

    def begin(self, batch_id: int) -> bool:
        """Note that ``batch_id`` begins; whether it may be a replay."""
        may_replay = self._open or self._last < 0 or batch_id <= self._last
        self._open = True
        return may_replay

    def finished(self, batch_id: int) -> None:
        self._last, self._open = batch_id, False


def recorded(spark: SparkSession, config: PipelineConfig, query: str, label: str) -> bool:
    """Whether pipeline_metrics already holds the row of batch ``label`` of ``query``."""
    metrics = spark.read.format("delta").load(config.table_path(tables.PIPELINE_METRICS.name))
    return not metrics.filter((F.col("query") == query) & (F.col("batch_id") == label)).isEmpty()


def validated(spark: SparkSession, config: PipelineConfig, dataset: str, label: str) -> bool:
    """Whether quality_results already holds GX's outcome on batch ``label`` of ``dataset``."""
    results = spark.read.format("delta").load(config.table_path(tables.QUALITY_RESULTS.name))
    return not results.filter((F.col("dataset") == dataset) & (F.col("batch_id") == label)).isEmpty()
