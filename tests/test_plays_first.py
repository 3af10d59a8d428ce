"""Dimension work gives way to the batches that make new plays visible, but is never starved."""

from __future__ import annotations

import threading

from streaming.sink import PlaysFirst


def test_nothing_running_means_no_wait():
    assert PlaysFirst(max_wait_s=600.0).give_way() is True  # a wait would hold the test for 10 minutes


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
    assert plays_first.give_way() is True
    order.append("dimensions go")
    worker.join()
    assert order == ["plays merged", "dimensions go"]


def test_a_steady_stream_of_file_batches_cannot_starve_the_dimensions():
    plays_first = PlaysFirst(max_wait_s=0.3)
    with plays_first.running():  # never ends while we wait
        assert plays_first.give_way() is False  # gave up waiting: the dimensions go anyway
