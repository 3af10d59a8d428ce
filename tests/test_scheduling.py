"""The stream's scheduling: dimension work gives way to the batches that make new plays visible, but is
never starved; songplays has one writer, the events query, which runs the writes handed over to it."""

from __future__ import annotations

import threading
import time

import pytest

from streaming.scheduling import PlaysFirst, SongplaysHandover


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


def run_events_batch(handover: SongplaysHandover, started: threading.Event, end: threading.Event) -> None:
    """An events batch that runs until ``end`` is set."""
    with handover.writing():
        started.set()
        end.wait()


def test_with_no_events_batch_running_the_write_runs_at_once_on_the_callers_thread():
    handover = SongplaysHandover(max_wait_s=600.0)  # a wait would hold the test for 10 minutes
    ran_on: list[str] = []
    handover.hand_over(lambda: ran_on.append(threading.current_thread().name))
    assert ran_on == [threading.current_thread().name]


def test_a_write_handed_over_runs_on_the_events_thread_once_its_batch_ends():
    handover = SongplaysHandover(max_wait_s=600.0)
    started, end = threading.Event(), threading.Event()
    events = threading.Thread(target=run_events_batch, args=(handover, started, end), name="events-query")
    events.start()
    started.wait()
    order: list[str] = []
    threading.Timer(0.3, lambda: (order.append("batch ends"), end.set())).start()
    handover.hand_over(lambda: order.append(f"write on {threading.current_thread().name}"))
    order.append("hand_over returns")
    events.join()
    assert order == ["batch ends", "write on events-query", "hand_over returns"]


def test_a_write_that_fails_on_the_events_thread_raises_where_it_was_handed_over():
    handover = SongplaysHandover(max_wait_s=600.0)
    started, end = threading.Event(), threading.Event()
    events = threading.Thread(target=run_events_batch, args=(handover, started, end))
    events.start()
    started.wait()
    threading.Timer(0.3, end.set).start()

    def failing() -> None:
        raise RuntimeError("MERGE failed")

    with pytest.raises(RuntimeError, match="MERGE failed"):
        handover.hand_over(failing)
    events.join()  # the events batch itself ended normally


def test_a_write_an_events_batch_did_not_take_in_time_runs_once_on_the_callers_thread():
    handover = SongplaysHandover(max_wait_s=0.3)
    started, end = threading.Event(), threading.Event()
    events = threading.Thread(target=run_events_batch, args=(handover, started, end))
    events.start()
    started.wait()
    ran_on: list[str] = []
    handover.hand_over(lambda: ran_on.append(threading.current_thread().name))  # the batch never ends
    end.set()
    events.join()
    assert ran_on == [threading.current_thread().name]  # taken back, and not run again by the batch


def test_an_events_batch_that_fails_leaves_the_write_to_the_caller():
    handover = SongplaysHandover(max_wait_s=0.3)
    started = threading.Event()
    ran_on: list[str] = []

    def failing_batch() -> None:
        with pytest.raises(ValueError), handover.writing():
            started.set()
            time.sleep(0.1)
            raise ValueError("the batch failed")

    events = threading.Thread(target=failing_batch, name="events-query")
    events.start()
    started.wait()
    handover.hand_over(lambda: ran_on.append(threading.current_thread().name))
    events.join()
    assert ran_on == [threading.current_thread().name]
