"""A corpus of bad inputs: each case its own file, its bad line(s) between good ones, with what the
pipeline must do with every line (tests/test_bad_inputs.py runs it through the backfill and the stream).

A line is *accepted* (staged and taken by the star tables), *rejected* (staged, then quarantined by the
expectations it names) or *malformed* (not staged; quarantined with its parse errors). The corpus's
*good twin* holds only the accepted lines, as plain UTF-8 files: the star tables of any run over the
corpus must equal those of a backfill over the twin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.builders import TS
from tests.landing import play, song_record

BOM = "\ufeff".encode()
HUGE = 10 * 1024 * 1024  # characters in a huge line (ASCII, so bytes too)
PARSE_ERROR_PREFIXES = ("not_utf8", "unparseable_json", "not_a_json_object", "wrong_type:", "malformed_json")
DATASET_DIRS = {"songs": "song_data", "events": "log_data"}


@dataclass(frozen=True)
class Line:
    data: bytes
    staged: bool = True  # it parses
    reasons: tuple[str, ...] = ()  # why it is quarantined: parse errors, or the expectations it fails

    @property
    def is_accepted(self) -> bool:
        return self.staged and not self.reasons


@dataclass(frozen=True)
class Case:
    name: str
    dataset: str  # "songs" or "events"
    path: str  # relative to the dataset's landing root: the source_file Spark will name it by
    lines: tuple[Line, ...] = field(default_factory=tuple)
    bom: bool = False

    def file_bytes(self) -> bytes:
        return (BOM if self.bom else b"") + b"".join(line.data + b"\n" for line in self.lines)

    def twin_bytes(self) -> bytes | None:
        """Only the accepted lines, without a BOM; None when there are none (no file in the twin)."""
        good = [line.data for line in self.lines if line.is_accepted]
        return b"".join(d + b"\n" for d in good) if good else None

    def numbered(self) -> list[tuple[int, Line]]:
        return list(enumerate(self.lines, start=1))


def text(obj: dict[str, Any]) -> bytes:
    """One JSON line, non-ASCII written as UTF-8 (as the app does), not as \\u escapes."""
    return json.dumps(obj, ensure_ascii=False).encode()


def good(obj: dict[str, Any]) -> Line:
    return Line(text(obj))


def malformed(data: bytes, *reasons: str) -> Line:
    return Line(data, staged=False, reasons=reasons)


def rejected(obj: dict[str, Any], *expectations: str) -> Line:
    return Line(text(obj), staged=True, reasons=expectations)


MIN = 60_000


def plays(session: int, user: str = "42", **overrides: Any) -> tuple[Line, Line]:
    """Two good plays of one session: the lines around a case's bad one."""
    return (
        good(play(user, session, 0, TS + session * MIN, "Uprising", "Muse", 236.4, **overrides)),
        good(play(user, session, 2, TS + session * MIN + 2000, "Uprising", "Muse", 236.4, **overrides)),
    )


def bad_play(session: int, **overrides: Any) -> dict[str, Any]:
    """The play between a case's two good ones (item 1), with what makes it bad."""
    row = play("42", session, 1, TS + session * MIN + 1000, "Uprising", "Muse", 236.4)
    row.update(overrides)
    return row


def around(session: int, bad: Line, user: str = "42") -> tuple[Line, ...]:
    first, last = plays(session, user)
    return (first, bad, last)


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def corpus() -> list[Case]:
    """Every case, each in its own file; sessions differ per file so that every good line counts."""
    bjork = song_record(
        "SOJOGA", "Jóga", 305.0, artist_id="ARBJORK", artist_name="Björk", artist_location="Reykjavík, Ísland"
    )
    unicode_play = play("8", 30, 0, TS + 30 * MIN, "Jóga", "Björk", 305.0, firstName="Zoë", lastName="Núñez",
                        location="São Paulo, SP", userAgent="Mozilla/5.0 (Macintosh; 日本語)")  # fmt: skip
    # A play whose 10 MB user agent was cut short: the string is never closed.
    huge_cut = b'{"page": "NextSong", "userId": "42", "userAgent": "' + b"x" * HUGE
    latin1_play = play("42", 50, 1, TS + 50 * MIN + 1000, "Uprising", "Muse", 236.4, firstName="Zoë")
    binary = bytes([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xCB, 0x48, 0xCD, 0xFF, 0x07])
    return [
        # --- songs ---
        Case("good song", "songs", "A/A/A/TRGOOD000001.json", (good(song_record("SOA", "Uprising", 236.4)),)),
        Case("non-ASCII song", "songs", "A/A/B/TRUNICODE0001.json", (good(bjork),)),
        Case(
            "song file holding a JSON array",
            "songs",
            "B/A/A/TRARRAY00001.json",
            (malformed(b"[" + text(song_record("SOARR", "Array", 1.0)) + b"]", "not_a_json_object"),),
        ),
        Case(
            "song file starting with a BOM",
            "songs",
            "B/A/B/TRBOM000001.json",
            (good(song_record("SOBOM", "Starlight", 240.0)),),
            bom=True,
        ),
        Case(
            "song with unknown extra fields",
            "songs",
            "B/A/C/TREXTRA00001.json",
            (good({**song_record("SOEXTRA", "Hysteria", 227.0), "tempo": 94.5, "tags": ["rock", {"x": 1}]}),),
        ),
        Case("empty song file", "songs", "B/B/A/TREMPTY00001.json"),
        # --- events ---
        Case(
            "truncated JSON line",
            "events",
            "bad/truncated.json",
            around(
                10, malformed(b'{"ts": 1542241826796, "page": "NextSong", "userId": "42"', "unparseable_json")
            ),
        ),
        Case(
            "non-JSON garbage",
            "events",
            "bad/garbage.json",
            around(11, malformed(b"<html><body>503 Service Unavailable</body></html>", "unparseable_json")),
        ),
        Case(
            "binary bytes",
            "events",
            "bad/binary.json",
            around(12, malformed(binary, "not_utf8", "unparseable_json")),
        ),
        Case(
            "ts as a string",
            "events",
            "bad/ts-string.json",
            around(13, malformed(text(bad_play(13, ts=str(TS + 13 * MIN + 1000))), "wrong_type:ts")),
        ),
        Case(
            "missing ts",
            "events",
            "bad/missing-ts.json",
            around(14, rejected(without(bad_play(14), "ts"), "ts_present")),
        ),
        Case(
            "NextSong with an empty userId",
            "events",
            "bad/empty-user.json",
            around(
                15,
                rejected(
                    bad_play(15, userId="", firstName=None, lastName=None, gender=None), "play_has_user_id"
                ),
            ),
        ),
        Case(
            "negative length",
            "events",
            "bad/negative-length.json",
            around(16, rejected(bad_play(16, length=-236.4), "length_positive")),
        ),
        Case(
            "unknown level",
            "events",
            "bad/unknown-level.json",
            around(17, rejected(bad_play(17, level="gold"), "level_known")),
        ),
        Case("empty event file", "events", "bad/empty.json"),
        Case(
            "event file starting with a BOM", "events", "bad/bom.json", plays(20, "7", level="paid"), bom=True
        ),
        Case("a 10 MB line", "events", "bad/huge.json", around(42, malformed(huge_cut, "unparseable_json"))),
        Case("non-ASCII names", "events", "2018/11/unicode-events.json", (good(unicode_play),)),
        Case(
            "an extra unknown field",
            "events",
            "bad/extra-field.json",
            around(18, good({**bad_play(18), "sessionColor": "blue", "experiments": {"a": [1, 2]}})),
        ),
        Case(
            "a file that is not UTF-8 (Latin-1)",
            "events",
            "bad/latin1.json",
            around(50, malformed(json.dumps(latin1_play, ensure_ascii=False).encode("latin-1"), "not_utf8")),
        ),
    ]


def land_corpus(landing: Path, cases: list[Case], twin: bool = False) -> None:
    """Write the cases (or their good twins) under ``landing``/song_data and ``landing``/log_data."""
    for case in cases:
        data = case.twin_bytes() if twin else case.file_bytes()
        if data is None:
            continue
        path = landing / DATASET_DIRS[case.dataset] / case.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def lines_read(landing: Path) -> list[tuple[str, str, int]]:
    """(dataset, source_file, line_number) of every non-blank line of every file under ``landing``, from
    the bytes on disk (a leading BOM is not part of line 1): what conservation counts."""
    read = []
    for dataset, folder in DATASET_DIRS.items():
        root = landing / folder
        for path in sorted(root.rglob("*.json")):
            data = path.read_bytes().removeprefix(BOM)
            for n, line in enumerate(data.split(b"\n"), start=1):
                if line.rstrip(b"\r").strip(b" "):
                    read.append((dataset, str(path.relative_to(root)), n))
    return read


def quarantined(cases: list[Case]) -> list[tuple[str, str, int, list[str]]]:
    """What the quarantine must hold: (dataset, source_file, line_number, sorted reasons)."""
    return [
        (c.dataset, c.path, n, sorted(line.reasons))
        for c in cases
        for n, line in c.numbered()
        if line.reasons
    ]


def staged(cases: list[Case]) -> list[tuple[str, str, int]]:
    return [(c.dataset, c.path, n) for c in cases for n, line in c.numbered() if line.staged]


def raw_line_digest(line: Line) -> str:
    """SHA-256 of the text the quarantine keeps for ``line``: its bytes as UTF-8, each bad sequence U+FFFD."""
    return hashlib.sha256(line.data.decode("utf-8", errors="replace").encode()).hexdigest()
