"""Split a list of files into chunks by bytes (pure: no Spark)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def chunk_files(
    files: Iterable[tuple[str, int]], max_bytes: int, max_files: int
) -> Iterator[list[tuple[str, int]]]:
    """Yield consecutive chunks of ``(path, size)`` holding at most ``max_bytes`` (or one larger file) and
    at most ``max_files`` files, in the order given.

    Example:
        >>> files = [("a", 5), ("b", 5), ("c", 5)]
        >>> [[p for p, _ in c] for c in chunk_files(files, max_bytes=10, max_files=9)]
        [['a', 'b'], ['c']]
    """
    if max_bytes <= 0 or max_files <= 0:
        raise ValueError(f"max_bytes and max_files must be positive, got {max_bytes} and {max_files}")
    chunk: list[tuple[str, int]] = []
    size = 0
    for path, n in files:
        if chunk and (size + n > max_bytes or len(chunk) >= max_files):
            yield chunk
            chunk, size = [], 0
        chunk.append((path, n))
        size += n
    if chunk:
        yield chunk
