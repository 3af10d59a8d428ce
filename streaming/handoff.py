"""The hand-off from the backfill to the stream: each file is taken by one of them, once.

A stream started after a backfill sees every landed file as new. Its raw-file sink looks up which of a
batch's files staging already holds, and drops those staged by another batch (the backfill's, or this
stream's before a checkpoint reset). Files staged under the batch's own label are a replay
(``streaming.exactly_once``): kept, so that their merges still run. Both name a file by its path
relative to the landing root (``sparkify.sources``), so a file the backfill read from the archive is
the same file the stream once took from the landing prefix.

The lookup is a scan of staging's ``source_file`` column (Delta keeps only a 32-character prefix of
strings in its file statistics, too short to tell paths apart), so a query makes it on its first batch
after each start, and later only for batches holding a file that landed no later than the newest file
staged at that start: files landed since cannot have been staged by another job. That is why the
backfill must not run while the stream runs over the same prefixes (the writer lease refuses it).
"""

from __future__ import annotations

import logging
from typing import cast

import pyspark.sql.functions as F
from pyspark.sql import Row, SparkSession

from checkpoints_config import PipelineConfig
from sparkify.pipeline import ingest
from sparkify.progress import timed

log = logging.getLogger(__name__)


def newest_staged(spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset) -> int:
    """landed_at of the newest file in ``dataset``'s staging table (-1 when empty)."""
    path = config.table_path(dataset.staging.name)
    newest = cast(Row, spark.read.format("delta").load(path).agg(F.max("landed_at")).first())[0]
    return -1 if newest is None else newest


def staged_labels(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, files: list[str], label: str
) -> dict[str, set[str]]:
    """For each of ``files`` that staging holds, the labels of the batches that staged it."""
    if not files:
        return {}
    with timed(log, f"{label}: files staged before"):
        rows = (
            spark.read.format("delta")
            .load(config.table_path(dataset.staging.name))
            .filter(F.col("source_file").isin(files))
            .select("source_file", "batch_id")
            .distinct()
            .collect()
        )
    staged: dict[str, set[str]] = {}
    for r in rows:
        staged.setdefault(r.source_file, set()).add(r.batch_id)
    return staged


def taken_elsewhere(staged: dict[str, set[str]], label: str) -> list[str]:
    """The files some other batch than ``label`` staged (see :func:`staged_labels`)."""
    return sorted(f for f, labels in staged.items() if labels - {label})


def is_staged_under(staged: dict[str, set[str]], label: str) -> bool:
    """Whether batch ``label`` staged rows already: a replay whose staging append committed."""
    return any(label in labels for labels in staged.values())
