"""``sparkify backfill``: load all history under the configured prefixes through the shared batch step.

Each dataset's files are read from its landing prefix and from the prefix's copy in the archive (where
``stream.clean_source = "archive"`` moved the files a stream took, now or earlier), whatever
``clean_source`` says now: a rebuild from scratch still reads every file. A file is known by its path
relative to either root (``sparkify.sources``), so the two copies of one file count once.

Resumable: files already in staging are skipped, and a chunk that was staged but not fully merged
(killed in between) is merged again from staging on the next run, before any new file is read. The
MERGEs only let better rows win, so repeating a chunk's merge changes nothing.
"""

from __future__ import annotations

import functools
import logging
import sys
import uuid
from dataclasses import dataclass
from typing import NamedTuple, TextIO

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from batch_backfill.chunks import chunk_files
from batch_backfill.load import load_chunk, recover_batch
from checkpoints_config import PipelineConfig
from expectations.validation import load_checks
from sparkify import tables
from sparkify.pipeline import ingest
from sparkify.pipeline.star_checks import check_star_tables, star_summary
from sparkify.progress import Progress, timed
from sparkify.sources import archived_root, list_raw_files, read_whole_files

log = logging.getLogger(__name__)
BATCH_PREFIX = "backfill-"
DEFAULT_CHUNK_BYTES = 1 << 30  # one read per dataset for anything up to 1 GiB of JSON
DEFAULT_CHUNK_FILES = 200_000
LANDED, ARCHIVED = "landed", "archived"  # where a pending file is read from


@dataclass(frozen=True)
class BackfillSummary:
    files: int
    rows_in: int
    rows_staged: int
    rows_quarantined: int
    recovered_batches: int
    files_landed: int  # of ``files``, read from the landing prefixes
    files_archived: int  # of ``files``, read from their archived copies


class PendingFile(NamedTuple):
    source_file: str  # relative to its root
    size: int
    place: str  # LANDED or ARCHIVED


def places(config: PipelineConfig, root: str) -> dict[str, str]:
    """Where a dataset's files are: its landing ``root``, and that root's copy in the archive."""
    return {LANDED: root, ARCHIVED: archived_root(config.archive_path(root), root)}


def run_backfill(
    spark: SparkSession,
    config: PipelineConfig,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    chunk_files_max: int = DEFAULT_CHUNK_FILES,
    out: TextIO = sys.stderr,
) -> BackfillSummary:
    """Backfill songs first (so plays find them), then events; report progress on ``out``."""
    with timed(log, "create missing tables"):
        created = tables.ensure_tables(spark, config)
    # A lake whose staging and quarantine were created just now has taken no file and left no batch
    # unfinished: the lookups of either (Spark jobs over empty tables) are a fixed cost of a first load.
    new_lake = {tables.QUARANTINE.name, *(d.staging.name for d in ingest.DATASETS)} <= created
    with timed(log, "recover unfinished batches"):
        recovered = 0 if new_lake else recover_unfinished(spark, config, out)
    not_loaded = found_files if new_lake else pending_files
    checks = load_checks(config.quality)
    run_id = uuid.uuid4().hex[:8]
    results: list[ingest.BatchResult] = []
    taken = {LANDED: 0, ARCHIVED: 0}
    for dataset in ingest.DATASETS:
        root = ingest.landing_root(config, dataset)
        roots = places(config, root)
        with timed(log, f"list {dataset.name} files not loaded yet"):
            pending = not_loaded(spark, config, dataset, root)
        place_of = {f.source_file: f.place for f in pending}
        counts = {place: sum(f.place == place for f in pending) for place in roots}
        print(
            f"[backfill {dataset.name}] {len(pending):,} files to load from {root} "
            f"({counts[LANDED]:,} landed, {counts[ARCHIVED]:,} archived), "
            f"{sum(f.size for f in pending) / 1e6:,.1f} MB",
            file=out,
            flush=True,
        )
        progress = Progress(f"backfill {dataset.name}", total=len(pending), unit="files", stream=out)
        sized = [(f.source_file, f.size) for f in pending]
        routing = ingest.Routing.of(dataset, checks)
        for i, chunk in enumerate(chunk_files(sized, chunk_bytes, chunk_files_max)):
            batch_id = f"{BATCH_PREFIX}{dataset.name}-{run_id}-{i:05d}"
            files_df = read_chunk(spark, roots, [(f, place_of[f]) for f, _ in chunk])
            result = load_chunk(spark, config, routing, files_df, batch_id, checks)
            results.append(result)
            for f, _ in chunk:
                taken[place_of[f]] += 1
            read, quarantined = sum(r.rows_in for r in results), sum(r.rows_quarantined for r in results)
            progress.advance(len(chunk), note=f"{read:,} lines read, {quarantined:,} quarantined")
    if results or recovered:
        with timed(log, "check the star tables"):
            validations = check_star_tables(spark, config, checks, f"{BATCH_PREFIX}star-{run_id}")
        print(f"[backfill] {star_summary(validations)}", file=out, flush=True)
    return BackfillSummary(
        files=sum(taken.values()),
        rows_in=sum(r.rows_in for r in results),
        rows_staged=sum(r.rows_staged for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        recovered_batches=recovered,
        files_landed=taken[LANDED],
        files_archived=taken[ARCHIVED],
    )


def read_chunk(spark: SparkSession, roots: dict[str, str], chunk: list[tuple[str, str]]) -> DataFrame:
    """The whole files of ``chunk`` (``(source_file, place)`` pairs): one read per place it holds files
    from, each narrowed to those files."""
    reads = []
    for place, root in roots.items():
        mine = [(f,) for f, p in chunk if p == place]
        if mine:
            only = spark.createDataFrame(mine, "source_file STRING")
            reads.append(read_whole_files(spark, root, only))
    return functools.reduce(DataFrame.unionByName, reads)


def pending_files(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, root: str
) -> list[PendingFile]:
    """The :func:`found_files` not taken yet.

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
    return as_pending(listed_files(spark, config, root).join(taken, "source_file", "left_anti"))


def found_files(
    spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset, root: str
) -> list[PendingFile]:
    """Every file under ``root`` or its archived copy (:func:`places`), sorted by path (``dataset``: as
    :func:`pending_files` takes it)."""
    return as_pending(listed_files(spark, config, root))


def listed_files(spark: SparkSession, config: PipelineConfig, root: str) -> DataFrame:
    """The files under ``root`` or its archived copy, with their size and place.

    A path relative to the root found in both places counts once, from the archive: that copy is the
    one a stream took (one landed later under the same name is the same file to staging).
    """
    roots = places(config, root)
    archived = list_raw_files(spark, roots[ARCHIVED]).withColumn("place", F.lit(ARCHIVED))
    landed = (
        list_raw_files(spark, roots[LANDED])
        .join(archived.select("source_file"), "source_file", "left_anti")
        .withColumn("place", F.lit(LANDED))
    )
    return archived.unionByName(landed)


def as_pending(files_df: DataFrame) -> list[PendingFile]:
    return [PendingFile(r.source_file, r["size"], r.place) for r in files_df.orderBy("source_file").collect()]


def recover_unfinished(spark: SparkSession, config: PipelineConfig, out: TextIO) -> int:
    """Merge again, from staging, every backfill batch that was staged but has no pipeline_metrics row."""
    unfinished = (
        ingest.unfinished_batches(spark, config).filter(F.col("batch_id").startswith(BATCH_PREFIX)).collect()
    )
    datasets = {d.name: d for d in ingest.DATASETS}
    for row in sorted(unfinished, key=lambda r: (r.dataset != "songs", r.batch_id)):  # songs first
        print(f"[backfill] {row.batch_id} was staged but not merged: merging it again", file=out, flush=True)
        recover_batch(spark, config, datasets[row.dataset], row.batch_id)
    return len(unfinished)
