"""The phase printer without a terminal (a pipe, CI): one plain line a phase, in order, with its time and
outcome, no control characters; the notes go to the log only. No JVM."""

from __future__ import annotations

import io
import logging
import re
from itertools import count

import pytest

from sparkify.ops.phases import NoteStream, Phases, counted, shown


def plain(clock_step: float = 1.5) -> tuple[Phases, io.StringIO]:
    out = io.StringIO()
    ticks = count()
    return Phases(out, live=False, clock=lambda: next(ticks) * clock_step), out


def test_each_phase_prints_one_plain_line_when_it_ends_with_its_time_and_summary(caplog):
    phases, out = plain()
    caplog.set_level(logging.INFO, logger="sparkify.ops.phases")

    with phases.phase("generate") as phase:
        phase.note("log_data: 1/2 days")
        phase.stream().write("[backfill songs] 1/2 files\n[backfill songs] 2/2 ")
        phase.done("20 song files")
    phases.say("a summary line")
    with phases.phase("backfill") as phase:
        pass

    assert out.getvalue() == "generate     2s  20 song files\na summary line\nbackfill     2s\n"
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    notes = [r.getMessage() for r in caplog.records]
    assert notes[:2] == ["generate: log_data: 1/2 days", "generate: [backfill songs] 1/2 files"]
    assert "generate: done in 1.5s. 20 song files" in notes


def test_a_phase_that_raises_says_failed_and_lets_the_error_through():
    phases, out = plain()
    with pytest.raises(RuntimeError, match="boom"), phases.phase("backfill") as phase:
        phase.done("never shown")
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), phases.phase("stream"):
        raise KeyboardInterrupt
    assert out.getvalue().splitlines() == ["backfill     2s  failed", "stream       2s  interrupted"]


def test_long_phases_show_minutes():
    phases, out = plain(clock_step=75)
    with phases.phase("stream"):
        pass
    assert out.getvalue() == "stream    1m15s\n"


def test_not_a_terminal_means_plain_lines(monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    assert not Phases.for_terminal(out=io.StringIO()).live
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # what rich would draw on: live, unless verbose
    assert Phases.for_terminal(out=io.StringIO()).live
    assert not Phases.for_terminal(verbose=True, out=io.StringIO()).live


def test_a_live_phase_ends_in_its_line_with_a_mark(monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    out = io.StringIO()
    phases = Phases(out, live=True, clock=lambda: 0.0)
    with phases.phase("drain") as phase:
        phase.note("[stream] started [events]")  # brackets are text, not rich markup
        phase.done("what was left")
    shown_text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "[stream] started [events]" in shown_text
    assert shown_text.endswith("✓ drain        0s  what was left\n")


def test_note_stream_hands_over_whole_non_blank_lines():
    notes: list[str] = []
    stream = NoteStream(notes.append)
    stream.write("one\n\n  two  \nthr")
    stream.write("ee\n")
    assert notes == ["one", "two", "three"]


def test_counted_and_shown(tmp_path, monkeypatch):
    assert [counted(1, "file"), counted(0, "day"), counted(2000, "micro-batch")] == [
        "1 file",
        "0 days",
        "2,000 micro-batches",
    ]
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "lake" / "x.log") == "lake/x.log"
    assert shown("/elsewhere/x.log") == "/elsewhere/x.log"
    assert shown("s3a://bucket/lake") == "s3a://bucket/lake"
