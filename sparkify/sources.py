"""Finding and reading raw files: one listing and one read per place, whole files at a time.

A file's identity (``source_file`` in staging and the quarantine) is its path relative to its landing
root, as Spark encodes it in ``_metadata.file_path`` (a space is ``%20``, a ``%`` is ``%25``): e.g.
``A/A/A/TRAAA0000000000001.json`` under ``song_data``. So a file that Spark's ``cleanSource`` moved to
the archive (under its full original path, :func:`archived_root`) is still the same file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from checkpoints_config import join_path

RAW_GLOB = "*.json"
SCHEME_AND_AUTHORITY = r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?"  # file:, file://, s3a://bucket


def relative_path(file_path: Column, prefix: str) -> Column:
    """``_metadata.file_path`` (an encoded URI) → the part after ``<prefix>/``, still encoded.

    ``prefix`` is the landing root's encoded path without scheme and authority (:func:`root_prefix`).
    A path outside it (never expected) is kept whole, so that two files cannot collide.
    """
    head = prefix.rstrip("/") + "/"
    path = F.regexp_replace(file_path, SCHEME_AND_AUTHORITY, "")
    return F.when(path.startswith(head), path.substr(F.lit(len(head) + 1), F.length(path))).otherwise(
        file_path
    )


def relative_path_of(file_path: str, prefix: str) -> str:
    """Pure-Python twin of :func:`relative_path`.

    Example:
        >>> relative_path_of("s3a://b/landing/song_data/A/B/x.json", "/landing/song_data")
        'A/B/x.json'
    """
    head = prefix.rstrip("/") + "/"
    path = re.sub(SCHEME_AND_AUTHORITY, "", file_path, count=1)
    return path[len(head) :] if path.startswith(head) else file_path


def is_relative(source_file: str) -> bool:
    """Whether ``source_file`` is a path relative to its root (not one kept whole, nor absolute)."""
    return not (source_file.startswith("/") or re.match(SCHEME_AND_AUTHORITY, source_file))


def is_local(path: str) -> bool:
    """Whether ``path`` is on the local filesystem (``file:``, ``file://`` or no scheme at all)."""
    return path.startswith("file:") or "://" not in path


def local_path(path: str) -> Path:
    """A local ``path`` (:func:`is_local`) without its ``file:`` scheme."""
    return Path(path.removeprefix("file://").removeprefix("file:"))


def root_prefix(spark: SparkSession, root: str) -> str:
    """``root``'s path as Spark encodes it in ``_metadata.file_path``, without scheme and authority
    (``/tmp/a%20b`` for ``/tmp/a b``, ``/landing/song_data`` for ``s3a://bucket/landing/song_data``).
    Hadoop's own encoding, so that it always agrees with Spark's."""
    jvm: Any = spark.sparkContext._jvm  # py4j's view of the JVM: untyped, and set while a session runs
    return jvm.org.apache.hadoop.fs.Path(root).toUri().getRawPath()


def archived_root(archive_dir: str, root: str) -> str:
    """Where Spark's ``cleanSource = archive`` puts the files it takes from ``root``: each file goes to
    ``<archive_dir>/<its full path>``, so ``root``'s files are under ``<archive_dir>/<root's path>``.

    Example:
        >>> archived_root("s3a://b/landing/_archive", "s3a://b/landing/song_data")
        's3a://b/landing/_archive/landing/song_data'
    """
    return join_path(archive_dir, re.sub(SCHEME_AND_AUTHORITY, "", root.rstrip("/"), count=1))


def list_raw_files(spark: SparkSession, root: str, prefix: str | None = None) -> DataFrame:
    """``source_file`` (relative to ``prefix``, by default ``root``'s own), ``size`` of every ``*.json``
    file under ``root`` (recursively), listed by Spark in parallel.

    Only metadata columns are selected, so the binaryFile source reads no content (its read schema is
    empty). ``_metadata.file_path`` rather than the source's ``path`` column, which is not encoded and
    so would not match what :func:`read_whole_files` stages. Hidden files (``.``, ``_`` prefixes, as a
    half-landed file is named) are skipped by Spark itself. A missing root is empty.
    """
    if not path_exists(spark, root):
        return spark.createDataFrame([], "source_file STRING, size BIGINT")
    prefix = root_prefix(spark, root) if prefix is None else prefix
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .load(root)
        .select(
            relative_path(F.col("_metadata.file_path"), prefix).alias("source_file"),
            F.col("_metadata.file_size").alias("size"),
        )
    )


def path_exists(spark: SparkSession, root: str) -> bool:
    jvm: Any = spark.sparkContext._jvm  # py4j's view of the JVM: untyped, and set while a session runs
    path = jvm.org.apache.hadoop.fs.Path(root)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path)


def read_whole_files(
    spark: SparkSession, root: str, only: DataFrame | None = None, prefix: str | None = None
) -> DataFrame:
    """One row per raw file under ``root``: ``source_file`` (relative to ``prefix``, by default
    ``root``'s own), ``landed_at`` (epoch ms), ``value`` (text).

    ``only`` (a frame with ``source_file``) narrows the read to those files with a broadcast semi-join,
    so a chunk of a backfill is still one read of the prefix, not one per file.
    """
    prefix = root_prefix(spark, root) if prefix is None else prefix
    files_df = (
        spark.read.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", RAW_GLOB)
        .load(root)
    )
    files_df = with_file_metadata(files_df, prefix)
    if only is None:
        return files_df
    return files_df.join(F.broadcast(only.select("source_file")), "source_file", "left_semi")


def with_file_metadata(files_df: DataFrame, prefix: str) -> DataFrame:
    """``value`` rows of the text source → with the file they came from (relative to ``prefix``, see
    :func:`relative_path`) and when it landed."""
    return files_df.select(
        relative_path(F.col("_metadata.file_path"), prefix).alias("source_file"),
        F.unix_millis(F.col("_metadata.file_modification_time")).alias("landed_at"),
        "value",
    )
