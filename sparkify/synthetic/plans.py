"""Who is online when on one day: the cheap, sequential half of the event simulation.

Planning a day only decides sessions (who, when, at which level, whether they upgrade,
downgrade or cancel); it is fast and done in order, so session ids can be numbered densely
across days. Rendering the events of a planned day is the expensive half and can run in
any process (see `events.py`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sparkify.synthetic.seeding import rng_for
from sparkify.synthetic.users import DAY_MS, MINUTE_MS, Milestones, User

LAST_SESSION_START_MS = DAY_MS - 15 * MINUTE_MS
# Sessions of one user never overlap: each ends a minute before the next one starts, and
# starts are at least 10 minutes apart so that a forced upgrade or cancel always fits.
MIN_SESSION_SPACING_MS = 10 * MINUTE_MS
SESSION_GAP_MS = MINUTE_MS
EXTRA_SESSION_CHANCES = (0.35, 0.15)  # chance of a 2nd, 3rd session on an active day
GUEST_SESSIONS_PER_USER = 0.02
GUEST_SESSION_MS = 30 * MINUTE_MS
SIGNUP_LEAD_MS = 5 * MINUTE_MS  # the guest signup session starts this long before registering


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """One session to render; times are ms after the day starts."""

    session_id: int
    kind: str  # "user", "guest" (browses logged out) or "signup" (guest who registers)
    user: int  # index into the population; -1 for guests
    start: int
    deadline: int  # no event of the session is later than this
    level: str  # at the session's start
    changes_level: bool  # upgrades if `level` is free, else downgrades
    cancels: bool  # ends with Cancel / Cancellation Confirmation; the user never returns


@dataclass(frozen=True, slots=True)
class DayPlan:
    day: int  # index from the dataset's start date
    first_session_id: int
    sessions: tuple[SessionPlan, ...]

    @property
    def next_session_id(self) -> int:
        return self.first_session_id + len(self.sessions)


def plan_day(
    seed: int, day: int, users: Sequence[User], milestones: Sequence[Milestones], first_session_id: int
) -> DayPlan:
    """Plan day `day` for `users` (any not yet signed up or already gone are skipped).

    Session ids start at `first_session_id` and follow the sessions' start times.
    """
    rng = rng_for(seed, "plan", day)
    drafts: list[tuple[int, int, str, int, str, bool, bool]] = []
    online = 0
    for user in users:
        if user.registration_day > day:
            continue
        plan = milestones[user.index]
        if plan.churn_day < day:
            continue
        online += 1
        signs_up = user.registration_day == day
        changes_level = plan.changes_level_on(day)
        cancels = plan.churn_day == day
        if not (signs_up or changes_level or cancels) and rng.random() >= user.active_share:
            continue
        earliest = 0
        if signs_up:
            registered_at = int(user.registration) % DAY_MS
            drafts.append((registered_at - SIGNUP_LEAD_MS, -1, "signup", registered_at, "free", False, False))
            earliest = registered_at + MINUTE_MS
        count = 1 + sum(rng.random() < chance for chance in EXTRA_SESSION_CHANCES)
        starts: list[int] = []
        for start in sorted(rng.randint(earliest, LAST_SESSION_START_MS) for _ in range(count)):
            if not starts or start - starts[-1] >= MIN_SESSION_SPACING_MS:
                starts.append(start)
        changing_session = rng.randrange(len(starts)) if changes_level else -1
        level = plan.level_on(user, day)
        for i, start in enumerate(starts):
            deadline = starts[i + 1] - SESSION_GAP_MS if i + 1 < len(starts) else DAY_MS - 1
            is_last = i + 1 == len(starts)
            drafts.append(
                (start, user.index, "user", deadline, level, i == changing_session, cancels and is_last)
            )
            if i == changing_session:
                level = "paid" if level == "free" else "free"
    guests = int(online * GUEST_SESSIONS_PER_USER + rng.random())
    for _ in range(guests):
        start = rng.randint(0, LAST_SESSION_START_MS)
        drafts.append((start, -1, "guest", min(start + GUEST_SESSION_MS, DAY_MS - 1), "free", False, False))
    drafts.sort()
    sessions = tuple(
        SessionPlan(first_session_id + i, kind, user, start, deadline, level, changes, cancels)
        for i, (start, user, kind, deadline, level, changes, cancels) in enumerate(drafts)
    )
    return DayPlan(day, first_session_id, sessions)
