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


def events_batch(
    handover: SongplaysHandover, started: threading.Event, merge_now: threading.Event, merged: list
) -> None:
    """An events batch that runs until ``merge_now`` is set, then takes what was handed over into its
    MERGE (noted in ``merged``)."""
    with handover.writing():
        started.set()
        merge_now.wait()
        with handover.taken() as resolved:
            merged.append((threading.current_thread().name, resolved))


def write_here(written: list) -> None:
    written.append(threading.current_thread().name)


def test_with_the_events_query_idle_the_plays_are_merged_at_once_on_the_callers_thread():
    handover = SongplaysHandover(max_wait_s=600.0)  # a wait would hold the test for 10 minutes
    written: list[str] = []
    handover.hand_over("plays", lambda: write_here(written))
    assert written == [threading.current_thread().name]


def test_plays_handed_over_go_into_the_next_events_merge_and_are_not_written_again():
    handover = SongplaysHandover(max_wait_s=600.0)
    started, merge_now, merged = threading.Event(), threading.Event(), []
    events = threading.Thread(target=events_batch, args=(handover, started, merge_now, merged), name="events")
    events.start()
    started.wait()
    written: list[str] = []
    threading.Timer(0.3, merge_now.set).start()
    handover.hand_over("plays", lambda: write_here(written))  # returns once the events MERGE is done
    events.join()
    assert merged == [("events", "plays")]
    assert written == []


def test_just_after_an_events_batch_the_query_counts_as_active():
    handover = SongplaysHandover(max_wait_s=0.3, idle_after_s=600.0)
    with handover.writing():
        pass  # a batch just ended: the next one is about to start, not idle
    written: list[str] = []
    handover.hand_over("plays", lambda: write_here(written))  # waited for a batch, then wrote it here
    assert written == [threading.current_thread().name]
    with handover.taken() as resolved:  # the next batch finds nothing left
        assert resolved is None


def test_a_merge_that_fails_on_the_events_thread_raises_where_the_plays_were_handed_over():
    handover = SongplaysHandover(max_wait_s=600.0)
    started, failed = threading.Event(), []

    def failing_batch() -> None:
        with handover.writing():
            started.set()
            time.sleep(0.3)
            try:
                with handover.taken():
                    raise RuntimeError("MERGE failed")
            except RuntimeError as e:
                failed.append(e)

    events = threading.Thread(target=failing_batch)
    events.start()
    started.wait()
    with pytest.raises(RuntimeError, match="MERGE failed"):
        handover.hand_over("plays", lambda: None)
    events.join()
    assert len(failed) == 1  # the events batch saw its own MERGE fail too


def test_plays_no_events_batch_took_in_time_are_written_once_on_the_callers_thread():
    handover = SongplaysHandover(max_wait_s=0.3)
    started, merge_now, merged = threading.Event(), threading.Event(), []
    events = threading.Thread(target=events_batch, args=(handover, started, merge_now, merged))
    events.start()
    started.wait()
    written: list[str] = []
    handover.hand_over("plays", lambda: write_here(written))  # the batch never gets to its MERGE
    merge_now.set()
    events.join()
    assert written == [threading.current_thread().name]
    assert merged == [(events.name, None)]  # taken back: the batch found nothing to add


def test_plays_waiting_for_an_events_query_that_goes_quiet_are_written_once_it_is_idle():
    handover = SongplaysHandover(max_wait_s=120.0, idle_after_s=0.5)
    with handover.writing():
        pass  # the last events batch of a drip just ended
    written: list[str] = []
    started = time.monotonic()
    handover.hand_over("plays", lambda: write_here(written))
    assert written == [threading.current_thread().name]
    assert time.monotonic() - started < 60  # idle after 0.5 s: not the 120 s of max_wait_s
