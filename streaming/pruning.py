"""Archiving's leftovers: the landing directories ``cleanSource = "archive"`` emptied, removed so that a
trigger's listing does not keep walking them (bench/reports/discovery.md). Only what archiving emptied
goes: a directory the user made stays, and nothing is touched when files are left where they landed."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from sparkify.sources import is_local, is_relative, relative_path_of

log = logging.getLogger(__name__)


@dataclass
class EmptiedDirPruner:
    """Removes the landing directories that archiving emptied: Spark moves files out, never directories,
    and an empty directory is still listed on every trigger (bench/reports/discovery.md).

    Only directories archiving emptied: an empty landing directory goes only if its counterpart under
    ``archived`` (where ``cleanSource`` puts ``root``'s files, ``sparkify.sources.archived_root``)
    exists, that is, a file from it was archived. An empty directory the user made stays.

    Spark archives a batch's files when it plans the next batch, so each batch removes the emptied
    directories of the previous one (its files are paths relative to ``root``, as staged). The last
    batch before a stop leaves its directories behind, so the first batch after a restart sweeps the
    prefix once (a new checkpoint has archived nothing yet).
    """

    root: str
    archived: str
    _taken: list[str] | None = field(default=None, init=False)

    def __call__(self, spark: SparkSession, files: list[str], batch_id: int) -> None:
        dirs = LocalDirs() if is_local(self.root) else HadoopDirs(spark)
        if self._taken is not None:
            dirs.remove_emptied(self._taken, self.root, self.archived)
        elif batch_id > 0:
            dirs.remove_empty_under(self.root, self.archived)
        self._taken = files


def directories_of(files: list[str]) -> list[str]:
    """The directories between each of ``files`` (encoded paths relative to a root) and that root,
    deepest first; a path kept whole (not relative) has none.

    Example:
        >>> directories_of(["A/B/x.json", "A/y.json", "z.json"])
        ['A/B', 'A']
    """
    dirs: set[str] = set()
    for f in files:
        if is_relative(f):
            parts = f.split("/")[:-1]
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(dirs, key=lambda d: (-d.count("/"), d))


class LocalDirs:
    """Directory clean-up on a local disk (no JVM round trip per directory). ``rmdir`` refuses a
    directory that gained a file meanwhile, which then stays."""

    @staticmethod
    def local(path: str) -> Path:
        return Path(unquote(urlparse(path).path) if path.startswith("file:") else path)

    @staticmethod
    def remove_if_archived(d: Path, counterpart: Path) -> bool:
        """Remove ``d`` if it is empty and archiving emptied it (``counterpart`` exists)."""
        if not counterpart.is_dir():
            return False
        try:
            d.rmdir()
        except OSError:  # not empty, or gone
            return False
        return True

    def remove_emptied(self, files: list[str], root: str, archived: str) -> None:
        """Remove the directories of ``files`` (relative to ``root``) that archiving left empty."""
        top, copy = self.local(root), self.local(archived)
        for d in directories_of(files):
            rel = unquote(d)  # the encoded relative path, as Spark names files (not '+' → ' ')
            self.remove_if_archived(top / rel, copy / rel)

    def remove_empty_under(self, root: str, archived: str) -> None:
        """Remove every directory under ``root`` (not ``root`` itself) that archiving left empty."""
        top, copy = self.local(root), self.local(archived)
        for d, _, _ in os.walk(top, topdown=False):
            if Path(d) != top:
                self.remove_if_archived(Path(d), copy / Path(d).relative_to(top))


class HadoopDirs:
    """Directory clean-up through Hadoop's filesystem API (S3A and the rest). A directory that gained a
    file meanwhile makes its delete fail, and stays."""

    def __init__(self, spark: SparkSession) -> None:
        # py4j's view of the JVM: untyped, and set while a session runs
        self.jvm: Any = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def under(self, root: str, rel: str) -> Any:  # a Hadoop Path (py4j)
        """The Hadoop path of ``rel`` (encoded, relative) under ``root``."""
        base = self.jvm.org.apache.hadoop.fs.Path(root).toUri().toString().rstrip("/")
        return self.jvm.org.apache.hadoop.fs.Path(self.jvm.java.net.URI(f"{base}/{rel}"))

    def remove_if_archived(self, d: Any, counterpart: Any) -> bool:
        """Remove ``d`` if it is empty and archiving emptied it (``counterpart`` exists)."""
        try:
            archived = counterpart.getFileSystem(self.conf).exists(counterpart)
        except Exception as e:
            log.debug("kept %s: %s", d, e)
            return False
        return bool(archived) and self.remove_if_empty(d)

    def remove_if_empty(self, d: Any) -> bool:
        fs = d.getFileSystem(self.conf)
        try:
            return bool(fs.exists(d) and not fs.listStatus(d) and fs.delete(d, False))
        except Exception as e:  # in use meanwhile: left for later
            log.debug("kept %s: %s", d, e)
            return False

    def remove_emptied(self, files: list[str], root: str, archived: str) -> None:
        """Remove the directories of ``files`` (relative to ``root``) that archiving left empty."""
        for d in directories_of(files):
            self.remove_if_archived(self.under(root, d), self.under(archived, d))

    def remove_empty_under(self, root: str, archived: str) -> None:
        """Remove every directory under ``root`` (not ``root`` itself) that archiving left empty: one
        listing per directory."""
        top = self.jvm.org.apache.hadoop.fs.Path(root)
        fs = top.getFileSystem(self.conf)
        prefix = fs.makeQualified(top).toUri().getRawPath()  # listStatus gives qualified paths

        def sweep(d: Any) -> bool:
            left = 0
            for child in fs.listStatus(d):
                sub = child.getPath()
                if child.isDirectory() and sweep(sub):
                    rel = relative_path_of(sub.toUri().toString(), prefix)
                    left += not (is_relative(rel) and self.remove_if_archived(sub, self.under(archived, rel)))
                else:
                    left += 1
            return left == 0

        if fs.exists(top):
            sweep(top)
