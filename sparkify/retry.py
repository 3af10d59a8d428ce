"""Retry a Delta commit that lost a race with a concurrent writer.

A stream's four queries commit to the lake beside each other (and the songs-dimensions query writes
songplays itself when the events query is idle); Delta's optimistic concurrency makes the loser of a
race raise a concurrent-modification error. Every writer here is idempotent and
order independent, so running it again against the new snapshot is always correct.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

# Importing this module makes PySpark raise Delta's Python conflict exceptions instead of a bare
# Py4JJavaError: without it nothing below would ever be caught.
import delta.exceptions.captured  # noqa: F401
from delta import exceptions as delta_errors

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every exception Delta raises when a commit loses to a concurrent one: all delta.exceptions exports.
CONFLICTS: tuple[type[BaseException], ...] = tuple(getattr(delta_errors, n) for n in delta_errors.__all__)


def retry_on_conflict(
    action: Callable[[], T],
    what: str,
    attempts: int = 8,
    base_delay_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``action``; on a Delta commit conflict wait (exponential backoff with jitter) and run it again.

    Raises the last conflict after ``attempts`` tries; any other error at once.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CONFLICTS as e:
            if attempt == attempts:
                raise
            delay = base_delay_s * 2 ** (attempt - 1) * (0.5 + rng.random())
            log.warning(
                "%s: commit conflict (%s), retry %d/%d in %.2fs",
                what,
                type(e).__name__,
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")
