"""A tiny hand-written landing zone: every rule of SPEC.md shows up in a handful of lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.builders import TS

DAY = 86_400_000


def song_record(song_id: str, title: str, duration: float, **overrides: Any) -> dict[str, Any]:
    row = {
        "num_songs": 1, "artist_id": "ARMUSE", "artist_latitude": 50.5, "artist_longitude": -3.5,
        "artist_location": "Teignmouth", "artist_name": "Muse", "song_id": song_id, "title": title,
        "duration": duration, "year": 2006,
    }  # fmt: skip
    row.update(overrides)
    return row


def play(
    user: str,
    session: int,
    item: int,
    ts: int,
    song: str | None,
    artist: str | None,
    length: float | None,
    level: str = "free",
    page: str = "NextSong",
    **overrides: Any,
) -> dict[str, Any]:
    """An event line as the app writes it (camelCase); a logged-out user ("") has no name."""
    row = {
        "artist": artist, "auth": "Logged In", "firstName": "Ada" if user else None,
        "gender": "F" if user else None, "itemInSession": item, "lastName": "Lee" if user else None,
        "length": length, "level": level, "location": "Austin, TX", "method": "PUT", "page": page,
        "registration": 1540919166796.0, "sessionId": session, "song": song, "status": 200, "ts": ts,
        "userAgent": "Mozilla/5.0", "userId": user,
    }  # fmt: skip
    row.update(overrides)
    return row


def lines(*objs: dict[str, Any] | str) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs)


SONG_FILES = {
    "A/A/A/TRAAA0000000000001.json": lines(song_record("SOA", "Uprising", 236.4)),
    "A/A/B/TRAAB0000000000002.json": lines(song_record("SOB", "Uprising", 236.405, artist_location="")),
    "A/B/C/TRABC0000000000003.json": lines(song_record("SOK", "Knights of Cydonia", 366.0)),
    # Several JSON lines in one song file must work too.
    "B/B/B/TRBBB0000000000004.json": lines(
        song_record("SOH", "Hysteria", 227.0),
        song_record("SOS", "Starlight", 240.0, artist_id="ARDUO", artist_name="Duo", artist_latitude=None),
    ),
    "C/C/C/TRCCC0000000000005.json": "{not json at all\n",
    "C/C/D/TRCCD0000000000006.json": lines(song_record(None, "Nameless", 100.0)),  # type: ignore[arg-type]
}

EVENT_FILES = {
    "2018/11/2018-11-15-events.json": lines(
        play("42", 1, 0, TS, None, None, None, page="Home"),
        play("42", 1, 1, TS + 1000, "Uprising", "Muse", 236.4),
        play("42", 1, 2, TS + 240_000, "Knights of Cydonia", "Muse", 366.0),
        play("42", 1, 3, TS + 600_000, "Unknown Song", "Nobody", 200.0),
        play("", 2, 0, TS + 700_000, None, None, None, page="Home", auth="Logged Out"),
        play("", 2, 1, TS + 710_000, "Hysteria", "Muse", 227.0),  # a play without a user: quarantined
        '{"ts": 1542241826796, "page": "NextSong", "userId": "42"',  # broken JSON
        lines(play("7", 3, 0, TS + 800_000, "Hysteria", "Muse", 227.0, level="paid")).strip(),
        '{"ts": "yesterday", "page": "Home", "userId": "7"}',  # wrong type
        play("42", 1, 4, TS + 900_000, None, None, None, page="Submit Upgrade"),
    ),
    "2018/11/2018-11-16-events.json": lines(
        play("42", 5, 0, TS + DAY, "Starlight", "Duo", 240.0, level="paid"),
        play("42", 5, 1, TS + DAY + 240_000, "Uprising", "Muse", 236.4, level="paid"),
        play("7", 6, 0, TS + DAY, "Uprising", "Muse", 236.412, level="paid"),
        play("abc", 6, 1, TS + DAY + 1, "Uprising", "Muse", 236.4),  # non-numeric user id: quarantined
    ),
    "2018/12/2018-12-01-events.json": lines(
        play("42", 9, 0, TS + 16 * DAY, None, None, None, page="Submit Downgrade", level="paid"),
        play("42", 9, 1, TS + 16 * DAY + 5000, "Starlight", "Duo", 240.0),
        "",
    ),
}


def land(root: Path, only: list[str] | None = None) -> list[Path]:
    """Write the landing files (all, or the relative paths in ``only``) under ``root``; return them."""
    written = []
    for prefix, files in (("song_data", SONG_FILES), ("log_data", EVENT_FILES)):
        for rel, text in files.items():
            name = f"{prefix}/{rel}"
            if only is not None and name not in only:
                continue
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


ALL_FILES = [f"song_data/{r}" for r in SONG_FILES] + [f"log_data/{r}" for r in EVENT_FILES]
