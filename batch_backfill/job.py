"""``sparkify backfill``: load all history under the configured prefixes through the shared batch step.

Resumable: files already in staging are skipped, and a chunk that was staged but not fully merged
(killed in between) is merged again from staging on the next run, before any new file is read. The
MERGEs only let better rows win, so repeating a chunk's merge changes nothing.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from typing import TextIO

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from batch_backfill.chunks import chunk_files
from checkpoints_config import PipelineConfig
from sparkify import ingest, status, tables
from sparkify.progress import Progress, timed
from sparkify.sources import list_raw_files, read_whole_files

log = logging.getLogger(__name__)
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
    with timed(log, "create missing tables"):
        tables.ensure_tables(spark, config)
    with timed(log, "recover unfinished batches"):
        recovered = recover_unfinished(spark, config, out)
    run_id = uuid.uuid4().hex[:8]
    results: list[ingest.BatchResult] = []
    files = 0
    for dataset in ingest.DATASETS:
        root = ingest.landing_root(config, dataset)
        with timed(log, f"list {dataset.name} files not loaded yet"):
            pending = pending_files(spark, config, dataset, root)
        progress = Progress(f"backfill {dataset.name}", total=len(pending), unit="files", stream=out)
        progress.say(f"{sum(s for _, s in pending) / 1e6:,.1f} MB to load from {root}")
        for i, chunk in enumerate(chunk_files(pending, chunk_bytes, chunk_files_max)):
            only = spark.createDataFrame(chunk, "path STRING, size BIGINT")
            batch_id = f"{BATCH_PREFIX}{dataset.name}-{run_id}-{i:05d}"
            files_df = read_whole_files(spark, root, only)
            result = ingest.ingest_files(
                spark, config, dataset, files_df, batch_id, exclusive=True, job="backfill"
            )
            results.append(result)
            files += len(chunk)
            read, quarantined = sum(r.rows_in for r in results), sum(r.rows_quarantined for r in results)
            progress.advance(len(chunk), note=f"{read:,} lines read, {quarantined:,} quarantined")
    return BackfillSummary(
        files=files,
        rows_in=sum(r.rows_in for r in results),
        rows_staged=sum(r.rows_staged for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        recovered_batches=recovered,
    )


def pending_files(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, root: str
) -> list[tuple[str, int]]:
    """Files under ``root`` not taken yet, sorted by path.

    A file is taken once it is in staging, or (for a file none of whose lines parsed) once it is in the
    quarantine under a batch that finished; a batch that died after its quarantine write but before
    staging leaves its files pending, and the insert-only quarantine absorbs the repeat.
    """
    load = lambda name: spark.read.format("delta").load(config.table_path(name))  # noqa: E731
    done = load(tables.PIPELINE_METRICS.name).select("batch_id")
    quarantined = (
        load(tables.QUARANTINE.name)
        .filter(F.col("dataset") == dataset.name)
        .join(done, "batch_id", "left_semi")
        .select("source_file")
    )
    taken = load(dataset.staging.name).select("source_file").union(quarantined).distinct()
    pending = (
        list_raw_files(spark, root)
        .join(taken.withColumnRenamed("source_file", "path"), "path", "left_anti")
        .orderBy("path")
    )
    return [(r["path"], r["size"]) for r in pending.collect()]


def recover_unfinished(spark: SparkSession, config: PipelineConfig, out: TextIO) -> int:
    """Merge again, from staging, every backfill batch that was staged but has no pipeline_metrics row."""
    unfinished = (
        status.unfinished_batches(spark, config).filter(F.col("batch_id").startswith(BATCH_PREFIX)).collect()
    )
    datasets = {d.name: d for d in ingest.DATASETS}
    for row in sorted(unfinished, key=lambda r: (r.dataset != "songs", r.batch_id)):  # songs first
        print(f"[backfill] {row.batch_id} was staged but not merged: merging it again", file=out, flush=True)
        ingest.recover_batch(spark, config, datasets[row.dataset], row.batch_id, exclusive=True)
    return len(unfinished)
