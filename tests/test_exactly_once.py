"""Which batches a running query treats as possible replays (pure: no JVM)."""

from streaming.exactly_once import ReplayGuard


def test_the_first_batch_after_a_start_a_repeated_id_and_one_after_a_failure_may_be_replays():
    guard = ReplayGuard()
    assert guard.begin(7)  # the first batch since the start: Spark may be re-running it
    guard.finished(7)
    assert not guard.begin(8)
    guard.finished(8)
    assert guard.begin(8)  # the same id again
    guard.finished(8)
    assert not guard.begin(9)  # ...and it raised, so it never finished
    assert guard.begin(9)
    guard.finished(9)
    assert not guard.begin(10)
