"""Rendering a planned day into an eventsim-like event file: page flows inside sessions.

Rendering is the costly half of the simulation, so it is a pure function of a picklable
`DayTask` with a generator of its own: days render in any process, in any order, and the
bytes do not change.
"""

import datetime as dt
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sparkify.synthetic.plans import DayPlan, SessionPlan
from sparkify.synthetic.plays import Jukebox
from sparkify.synthetic.seeding import rng_for, weighted_index
from sparkify.synthetic.users import DAY_MS, User

EVENT_FIELDS = (
    "artist",
    "auth",
    "firstName",
    "gender",
    "itemInSession",
    "lastName",
    "length",
    "level",
    "location",
    "method",
    "page",
    "registration",
    "sessionId",
    "song",
    "status",
    "ts",
    "userAgent",
    "userId",
)

# (method, status) of each page, as eventsim logs them: state changes are PUTs, and the
# ones that redirect answer 307.
PAGE_HTTP = {
    "NextSong": ("PUT", 200),
    "Home": ("GET", 200),
    "Thumbs Up": ("PUT", 307),
    "Thumbs Down": ("PUT", 307),
    "Add to Playlist": ("PUT", 200),
    "Add Friend": ("PUT", 307),
    "Roll Advert": ("GET", 200),
    "Settings": ("GET", 200),
    "Save Settings": ("PUT", 307),
    "Help": ("GET", 200),
    "About": ("GET", 200),
    "Error": ("GET", 404),
    "Upgrade": ("GET", 200),
    "Submit Upgrade": ("PUT", 307),
    "Downgrade": ("GET", 200),
    "Submit Downgrade": ("PUT", 307),
    "Logout": ("PUT", 307),
    "Login": ("PUT", 307),
    "Register": ("GET", 200),
    "Submit Registration": ("PUT", 307),
    "Cancel": ("PUT", 307),
    "Cancellation Confirmation": ("GET", 200),
}

# Next page of a logged-in user, by level: runs of NextSong broken by the rest.
_FLOW = {
    "NextSong": (0.78, 0.80),
    "Home": (0.045, 0.045),
    "Thumbs Up": (0.04, 0.045),
    "Add to Playlist": (0.022, 0.025),
    "Add Friend": (0.015, 0.015),
    "Roll Advert": (0.035, 0.0),
    "Thumbs Down": (0.012, 0.01),
    "Settings": (0.006, 0.006),
    "Save Settings": (0.003, 0.003),
    "Help": (0.005, 0.005),
    "About": (0.003, 0.003),
    "Error": (0.001, 0.001),
    "Upgrade": (0.006, 0.0),
    "Downgrade": (0.0, 0.004),
    "Logout": (0.012, 0.012),
}
FLOW_PAGES = tuple(_FLOW)
CUM_FLOW = {
    "free": tuple(itertools.accumulate(w for w, _ in _FLOW.values())),
    "paid": tuple(itertools.accumulate(w for _, w in _FLOW.values())),
}
GUEST_PAGES = ("Home", "About", "Help", "Register", "Error")
GUEST_WEIGHTS = (0.55, 0.15, 0.15, 0.1, 0.05)

LOGIN_FIRST_SHARE = 0.08  # sessions that start logged out: Home, then Login
STAYS_AFTER_LOGOUT_SHARE = 0.5  # the others end their session at Logout
CLOSE_RESERVE_MS = 30_000  # room kept before the deadline for the closing Cancel events
PAGE_GAP_MS = (2_000, 90_000)  # after a non-song page
QUICK_GAP_MS = (1_000, 5_000)  # between events that follow each other (submit, confirm)

_EPOCH = dt.date(1970, 1, 1)
# One encoder, made once: json.dumps with options would build a new one per event.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@dataclass(frozen=True, slots=True)
class DayTask:
    """Everything needed to render one day's event file."""

    seed: int
    date: dt.date
    plan: DayPlan
    users: Sequence[User]
    jukebox: Jukebox

    @property
    def path(self) -> str:
        return f"log_data/{self.date:%Y/%m}/{self.date.isoformat()}-events.json"


@dataclass(frozen=True, slots=True)
class DayFile:
    path: str
    data: bytes
    events: int
    plays: int


def render_day(task: DayTask) -> DayFile:
    """Render `task` into one JSON-lines file, events in time order like eventsim's."""
    rng = rng_for(task.seed, "events", task.plan.day)
    day_ms = (task.date - _EPOCH).days * DAY_MS
    rows: list[tuple[int, int, int, str]] = []
    plays = 0
    for session in task.plan.sessions:
        if session.kind == "user":
            plays += _user_session(rng, session, task.users[session.user], task.jukebox, day_ms, rows)
        elif session.kind == "signup":
            _signup_session(rng, session, day_ms, rows)
        else:
            _guest_session(rng, session, day_ms, rows)
    rows.sort()
    data = "".join(row[3] + "\n" for row in rows).encode("ascii")
    return DayFile(task.path, data, len(rows), plays)


def _user_session(
    rng: random.Random,
    session: SessionPlan,
    user: User,
    jukebox: Jukebox,
    day_ms: int,
    rows: list[tuple[int, int, int, str]],
) -> int:
    """Append the session's events to `rows`; return how many are plays."""
    ts = day_ms + session.start
    limit = day_ms + session.deadline - CLOSE_RESERVE_MS
    level = session.level
    item = plays = 0

    def emit(page: str, who: User | None, auth: str, song: tuple[str, str, float] | None = None) -> None:
        nonlocal item
        rows.append(
            (ts, session.session_id, item, _event(page, who, auth, level, session.session_id, item, ts, song))
        )
        item += 1

    def quick_gap() -> int:
        return rng.randint(*QUICK_GAP_MS)

    # Forced steps ignore the limit: the planner leaves >= 9 minutes, they take <= 2.
    if rng.random() < LOGIN_FIRST_SHARE:
        emit("Home", None, "Logged Out")
        ts += quick_gap()
        emit("Login", None, "Logged Out")
        ts += quick_gap()
    if session.changes_level:
        visit, submit, level_after = (
            ("Upgrade", "Submit Upgrade", "paid")
            if level == "free"
            else ("Downgrade", "Submit Downgrade", "free")
        )
        emit(visit, user, "Logged In")
        ts += quick_gap()
        emit(submit, user, "Logged In")  # still at the old level: the change applies after it
        ts += quick_gap()
        level = level_after

    target = item + 1 + int(rng.expovariate(1 / user.mean_session_events))
    while item < target:
        page = FLOW_PAGES[weighted_index(rng, CUM_FLOW[level])]
        if page == "NextSong":
            song = jukebox.pick(rng)
            ends = ts + round(song[2] * 1000)
            if ends > limit:
                break
            emit(page, user, "Logged In", song)
            ts = ends
            plays += 1
            continue
        gap = rng.randint(*PAGE_GAP_MS)
        if ts + gap > limit:
            break
        if page == "Logout" and session.cancels:
            page = "Home"  # a cancelling user must still be logged in at the end
        emit(page, user, "Logged In")
        ts += gap
        if page == "Logout":
            if rng.random() >= STAYS_AFTER_LOGOUT_SHARE:
                return plays
            if rng.random() < 0.6:
                emit("Home", None, "Logged Out")
                ts += quick_gap()
            emit("Login", None, "Logged Out")
            ts += quick_gap()
    if session.cancels:
        emit("Cancel", user, "Logged In")
        ts += quick_gap()
        emit("Cancellation Confirmation", user, "Cancelled")
    return plays


def _guest_session(rng: random.Random, session: SessionPlan, day_ms: int, rows: list) -> None:
    ts = day_ms + session.start
    limit = day_ms + session.deadline
    for item in range(rng.randint(1, 6)):
        page = rng.choices(GUEST_PAGES, GUEST_WEIGHTS)[0]
        rows.append(
            (ts, session.session_id, item, _event(page, None, "Guest", "free", session.session_id, item, ts))
        )
        ts += rng.randint(*PAGE_GAP_MS)
        if ts > limit:
            return


def _signup_session(rng: random.Random, session: SessionPlan, day_ms: int, rows: list) -> None:
    # Submit Registration happens at the user's registration time (the plan's deadline).
    times = (session.start, session.start + rng.randint(10_000, 120_000), session.deadline)
    pages = ("Home", "Register", "Submit Registration")
    for item, (page, offset) in enumerate(zip(pages, times, strict=True)):
        ts = day_ms + offset
        rows.append(
            (ts, session.session_id, item, _event(page, None, "Guest", "free", session.session_id, item, ts))
        )


def _event(
    page: str,
    who: User | None,
    auth: str,
    level: str,
    session_id: int,
    item: int,
    ts: int,
    song: tuple[str, str, float] | None = None,
) -> str:
    """One event line, keys in eventsim's (alphabetical) order; `who` is None when logged out."""
    method, status = PAGE_HTTP[page]
    title, artist, length = song if song is not None else (None, None, None)
    if who is None:
        return _encode(
            {
                "artist": artist,
                "auth": auth,
                "firstName": None,
                "gender": None,
                "itemInSession": item,
                "lastName": None,
                "length": length,
                "level": level,
                "location": None,
                "method": method,
                "page": page,
                "registration": None,
                "sessionId": session_id,
                "song": title,
                "status": status,
                "ts": ts,
                "userAgent": None,
                "userId": "",
            }
        )
    return _encode(
        {
            "artist": artist,
            "auth": auth,
            "firstName": who.first_name,
            "gender": who.gender,
            "itemInSession": item,
            "lastName": who.last_name,
            "length": length,
            "level": level,
            "location": who.location,
            "method": method,
            "page": page,
            "registration": who.registration,
            "sessionId": session_id,
            "song": title,
            "status": status,
            "ts": ts,
            "userAgent": who.user_agent,
            "userId": who.user_id,
        }
    )
