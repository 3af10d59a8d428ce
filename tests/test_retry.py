"""Retrying Delta commit conflicts (pure: no JVM)."""

from __future__ import annotations

import random

import pytest
from delta.exceptions import ConcurrentAppendException

from sparkify.retry import retry_on_conflict


def flaky(failures: int, error: BaseException):
    calls = {"n": 0}

    def action() -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return "committed"

    return action, calls


def test_conflicts_are_retried_with_growing_backoff():
    action, calls = flaky(3, ConcurrentAppendException(message="lost the race"))
    sleeps: list[float] = []
    assert retry_on_conflict(action, "test", sleep=sleeps.append, rng=random.Random(0)) == "committed"
    assert calls["n"] == 4
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]


def test_gives_up_after_the_last_attempt_with_the_conflict():
    action, calls = flaky(10, ConcurrentAppendException(message="always"))
    with pytest.raises(ConcurrentAppendException):
        retry_on_conflict(action, "test", attempts=3, sleep=lambda _: None)
    assert calls["n"] == 3


def test_other_errors_are_not_retried():
    action, calls = flaky(1, ValueError("bad input"))
    with pytest.raises(ValueError):
        retry_on_conflict(action, "test", sleep=lambda _: None)
    assert calls["n"] == 1
