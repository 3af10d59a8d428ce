"""Dimension work gives way to the batches that make new plays visible, but is never starved."""

from __future__ import annotations

import threading
import time

from streaming.sink import PlaysFirst


def test_nothing_running_means_no_wait():
    began = time.monotonic()
    PlaysFirst(max_wait_s=5.0).give_way()
    assert time.monotonic() - began < 1.0


def test_dimension_work_waits_until_the_running_file_batch_ends():
    plays_first = PlaysFirst(max_wait_s=30.0)
    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def file_batch() -> None:
        with plays_first.running():
            started.set()
            release.wait()
            order.append("plays merged")

    worker = threading.Thread(target=file_batch)
    worker.start()
    started.wait()
    threading.Timer(0.3, release.set).start()
    plays_first.give_way()
    order.append("dimensions go")
    worker.join()
    assert order == ["plays merged", "dimensions go"]


def test_a_steady_stream_of_file_batches_cannot_starve_the_dimensions():
    plays_first = PlaysFirst(max_wait_s=0.3)
    with plays_first.running():  # never ends while we wait
        began = time.monotonic()
        plays_first.give_way()
        waited = time.monotonic() - began
    assert 0.25 <= waited < 5.0
