"""The short chaos run: a ``kill -9`` of the stream over a dripping landing zone, then a drain, ends in
the tables of a one-shot backfill with no line lost or doubled (tests/chaos.py has the runner; ``make
chaos`` runs twenty kills). One kill keeps the runner and a real process kill in every CI run within its
time budget; each step a kill can fall after is hit on purpose by the replay tests of
tests/test_stream.py."""

from __future__ import annotations

import pytest

from tests.chaos import SMALL_WORLD, run_chaos
from tests.conftest import ROUTING_ONLY

pytestmark = [pytest.mark.spark, pytest.mark.streaming, pytest.mark.slow]

SEED = 20240611


def test_a_kill_then_a_drain_end_exactly_once(spark, tmp_path):
    # Routing-only: what a kill can double or lose is in staging, the quarantine and the star tables
    # (GX's record of a killed batch: the replay tests of tests/test_stream.py); `make chaos` runs GX.
    result = run_chaos(
        spark, tmp_path / "chaos", kills=1, seed=SEED, world=SMALL_WORLD, settings=ROUTING_ONLY
    )
    assert result.kills == 1
    assert result.reference_lines > 0
    assert result.lines_lost == 0
    assert result.lines_doubled == {"staging_events": 0, "staging_songs": 0, "quarantine": 0}
    assert result.metrics_doubled == 0
    assert result.tables_different == {}
