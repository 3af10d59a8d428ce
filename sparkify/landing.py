"""Landing files where a stream watches: whole files only, to a local directory or to S3.

A Spark file source lists a directory and reads what it finds; a file it lists while it is
still being written is read half. Locally a file is therefore written under a hidden name
(Spark skips names starting with "." or "_") in the same directory and renamed into place,
which is atomic on one filesystem. On S3 an object only becomes visible once its PUT
completes, so a plain put_object is already atomic.
"""

import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from sparkify.s3 import S3_SCHEMES, split_s3_uri

# S3's rules for bucket names (3-63 chars, lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_PUT_THREADS = 16  # one PUT is a round trip; thousands of small song files need them in flight


class Lander(Protocol):
    """Somewhere files land whole: readers see each file complete or not at all."""

    def land(self, relpath: str, data: bytes) -> None:
        """Write `data` at `relpath` (a relative POSIX path), replacing any file there."""

    def land_many(self, files: Iterable[tuple[str, bytes]]) -> int:
        """Land each (relpath, data); return how many were landed."""


class LocalLander:
    """Lands files under a local directory: hidden temp file in the target directory, then rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalLander({str(self.root)!r})"

    def land(self, relpath: str, data: bytes) -> None:
        target = self.root / _checked_relpath(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same directory, so the rename stays on one filesystem and is atomic; pid and thread
        # keep concurrent writers of the same name apart. No fsync: readers need atomicity,
        # not durability across a power cut, and 10k fsyncs would dominate the run time.
        temp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            temp.write_bytes(data)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def land_many(self, files: Iterable[tuple[str, bytes]]) -> int:
        count = 0
        for relpath, data in files:
            self.land(relpath, data)
            count += 1
        return count


class S3Lander:
    """Lands files as S3 objects under `s3://bucket/prefix/` with the caller's boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not _BUCKET_NAME.fullmatch(bucket):
            raise ValueError(f"bucket {bucket!r} is not a valid S3 bucket name")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3Lander(s3://{self.bucket}/{self.prefix})"

    def key(self, relpath: str) -> str:
        relpath = _checked_relpath(relpath)
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def land(self, relpath: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(relpath), Body=data)

    def land_many(self, files: Iterable[tuple[str, bytes]]) -> int:
        # boto3 clients are thread-safe; list() re-raises the first failed PUT.
        with ThreadPoolExecutor(S3_PUT_THREADS, thread_name_prefix="s3-land") as pool:
            return len(list(pool.map(lambda file: self.land(*file), files)))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3a://bucket/some/prefix` (or `s3://…`) into ("bucket", "some/prefix"), refusing a bucket
    name S3 would refuse (before any object is written)."""
    bucket, prefix = split_s3_uri(uri)
    if not _BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"bucket {bucket!r} in {uri!r} is not a valid S3 bucket name")
    return bucket, prefix.strip("/")


def open_lander(out: str | os.PathLike[str], s3_client: Any = None) -> Lander:
    """Return the lander for `out`: a local directory, or an `s3a://`/`s3://` URI with a client.

    >>> open_lander("lake/landing")
    LocalLander('lake/landing')
    """
    text = os.fspath(out)
    if text.partition("://")[0] in S3_SCHEMES:
        if s3_client is None:
            raise ValueError(f"out={text!r} is on S3: pass s3_client (a boto3 S3 client)")
        return S3Lander(s3_client, *parse_s3_uri(text))
    if "://" in text:
        schemes = ", ".join(f"{scheme}://" for scheme in S3_SCHEMES)
        raise ValueError(f"out={text!r}: only local paths and {schemes} URIs are supported")
    if s3_client is not None:
        raise ValueError(f"s3_client was given but out={text!r} is a local path")
    if not text:
        raise ValueError("out must not be empty")
    return LocalLander(text)


def _checked_relpath(relpath: str) -> str:
    path = PurePosixPath(relpath)
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise ValueError(f"relpath {relpath!r} must be relative and stay under the landing root")
    return str(path)
