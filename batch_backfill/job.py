"""``sparkify backfill``: load all history under the configured prefixes through the shared batch step.

Resumable: files already in staging are skipped, and a chunk that was staged but not fully merged
(killed in between) is merged again from staging on the next run, before any new file is read. The
MERGEs only let better rows win, so repeating a chunk's merge changes nothing.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from typing import TextIO

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from batch_backfill.chunks import chunk_files
from checkpoints_config import PipelineConfig
from sparkify import ingest, tables
from sparkify.progress import Progress
from sparkify.sources import list_raw_files, read_whole_files

BATCH_PREFIX = "backfill-"
DEFAULT_CHUNK_BYTES = 1 << 30  # one read per dataset for anything up to 1 GiB of JSON
DEFAULT_CHUNK_FILES = 200_000


@dataclass(frozen=True)
class BackfillSummary:
    files: int
    rows_in: int
    rows_staged: int
    rows_quarantined: int
    recovered_batches: int


def run_backfill(
    spark: SparkSession,
    config: PipelineConfig,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    chunk_files_max: int = DEFAULT_CHUNK_FILES,
    out: TextIO = sys.stderr,
) -> BackfillSummary:
    """Backfill songs first (so plays find them), then events; report progress on ``out``."""
    tables.ensure_tables(spark, config)
    recovered = recover_unfinished(spark, config, out)
    run_id = uuid.uuid4().hex[:8]
    totals = [0, 0, 0, 0]
    for dataset, root in ((ingest.SONGS, config.paths.song_data), (ingest.EVENTS, config.paths.log_data)):
        pending = pending_files(spark, config, dataset, root)
        progress = Progress(f"backfill {dataset.name}", total=len(pending), unit="files", stream=out)
        progress.say(f"{sum(s for _, s in pending) / 1e6:,.1f} MB to load from {root}")
        for i, chunk in enumerate(chunk_files(pending, chunk_bytes, chunk_files_max)):
            only = spark.createDataFrame(chunk, "path STRING, size BIGINT")
            batch_id = f"{BATCH_PREFIX}{dataset.name}-{run_id}-{i:05d}"
            result = ingest.ingest_files(
                spark, config, dataset, read_whole_files(spark, root, only), batch_id
            )
            totals = [
                totals[0] + len(chunk),
                totals[1] + result.rows_in,
                totals[2] + result.rows_staged,
                totals[3] + result.rows_quarantined,
            ]
            progress.advance(len(chunk), note=f"{totals[1]:,} rows read, {totals[3]:,} quarantined")
    return BackfillSummary(*totals, recovered_batches=recovered)


def pending_files(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, root: str
) -> list[tuple[str, int]]:
    """Files under ``root`` that staging does not hold yet, sorted by path."""
    listed = list_raw_files(spark, root)
    staged = (
        spark.read.format("delta")
        .load(config.table_path(dataset.staging.name))
        .select(F.col("source_file").alias("path"))
    )
    pending = listed.join(staged.distinct(), "path", "left_anti").orderBy("path")
    return [(r["path"], r["size"]) for r in pending.collect()]


def recover_unfinished(spark: SparkSession, config: PipelineConfig, out: TextIO) -> int:
    """Merge again, from staging, every backfill batch that was staged but has no pipeline_metrics row."""
    done = spark.read.format("delta").load(config.table_path(tables.PIPELINE_METRICS.name)).select("batch_id")
    recovered = 0
    for dataset in (ingest.SONGS, ingest.EVENTS):
        staged = spark.read.format("delta").load(config.table_path(dataset.staging.name))
        unfinished = (
            staged.select("batch_id")
            .distinct()
            .filter(F.col("batch_id").startswith(BATCH_PREFIX))
            .join(done, "batch_id", "left_anti")
            .orderBy("batch_id")
            .collect()
        )
        for row in unfinished:
            batch_id = row["batch_id"]
            print(
                f"[backfill] {batch_id} was staged but not merged: merging it from staging",
                file=out,
                flush=True,
            )
            ingest.recover_batch(spark, config, dataset, batch_id)
            recovered += 1
    return recovered
