"""Simulated listeners: who they are, when they sign up, switch level and leave.

Each user is drawn from a generator of their own, so the population can grow day after day
(for drip) without changing anyone already drawn.
"""

import bisect
from dataclasses import dataclass

from sparkify.synthetic.names import (
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    USER_AGENTS,
    USER_LOCATIONS,
)
from sparkify.synthetic.seeding import rng_for

DAY_MS = 86_400_000
MINUTE_MS = 60_000

FREE_AT_SIGNUP_SHARE = 0.75
# A user stays about a year; as many new users sign up as leave, so a long drip keeps a
# steady population.
MEAN_LIFETIME_DAYS = 365.0
MEAN_DAYS_BETWEEN_LEVEL_CHANGES = 90.0
# Scale knobs: a user is active on ~40% of days (Beta(2, 3)) with ~1.5 sessions, each aiming
# at 8 + Exp(36) events but cut short by the user's next session or the day's end: about 26
# events a session and 17 a user-day, so users=2000, days=30 lands ~1.03M events.
ACTIVE_SHARE_BETA = (2.0, 3.0)
MIN_SESSION_EVENTS = 8.0
MEAN_EXTRA_SESSION_EVENTS = 36.0
# New users sign up between these offsets into their first day, leaving room before for the
# guest session that ends in "Submit Registration" and after for their first session.
SIGNUP_WINDOW_MS = (10 * MINUTE_MS, 18 * 60 * MINUTE_MS)


@dataclass(frozen=True, slots=True)
class User:
    """What every logged-in event of a user repeats, plus how active they are."""

    index: int
    user_id: str
    first_name: str
    last_name: str
    gender: str
    location: str
    user_agent: str
    registration: float  # epoch ms, a float as in eventsim
    registration_day: int  # day index from the dataset start; negative: there before it
    initial_level: str
    active_share: float  # chance of having any session on a given day
    mean_session_events: float


@dataclass(frozen=True, slots=True)
class Milestones:
    """The days on which a user's level flips and the day they cancel, up to a horizon."""

    churn_day: int
    level_change_days: tuple[int, ...]

    def level_on(self, user: User, day: int) -> str:
        """The user's level when `day` begins."""
        flips = bisect.bisect_left(self.level_change_days, day)
        if flips % 2 == 0:
            return user.initial_level
        return "paid" if user.initial_level == "free" else "free"

    def changes_level_on(self, day: int) -> bool:
        i = bisect.bisect_left(self.level_change_days, day)
        return i < len(self.level_change_days) and self.level_change_days[i] == day


def population_on(initial_users: int, day: int) -> int:
    """How many users (by index) may have signed up by the end of `day`.

    New users arrive at `initial_users / MEAN_LIFETIME_DAYS` a day, user `initial_users + j`
    on day (j + jitter) / that rate, so indexes past this bound sign up later.
    """
    if day < 0:
        return initial_users
    # +1: a margin against float rounding at the boundary; extra users just sign up later.
    return initial_users + int(-(-(day + 1) * initial_users // MEAN_LIFETIME_DAYS)) + 1


def make_user(seed: int, index: int, initial_users: int, start_ms: int) -> User:
    """Draw user `index`: the first `initial_users` were there before `start_ms`."""
    rng = rng_for(seed, "user", index)
    gender = rng.choice("FM")
    first_name = rng.choice(FEMALE_FIRST_NAMES if gender == "F" else MALE_FIRST_NAMES)
    if index < initial_users:
        registration = float(start_ms - rng.randint(DAY_MS, 400 * DAY_MS))
        registration_day = (int(registration) - start_ms) // DAY_MS
    else:
        arrival = (index - initial_users + rng.random()) * MEAN_LIFETIME_DAYS / initial_users
        registration_day = int(arrival)
        registration = float(start_ms + registration_day * DAY_MS + rng.randint(*SIGNUP_WINDOW_MS))
    return User(
        index=index,
        user_id=str(index + 1),
        first_name=first_name,
        last_name=rng.choice(LAST_NAMES),
        gender=gender,
        location=rng.choice(USER_LOCATIONS),
        user_agent=rng.choice(USER_AGENTS),
        registration=registration,
        registration_day=registration_day,
        initial_level="free" if rng.random() < FREE_AT_SIGNUP_SHARE else "paid",
        active_share=rng.betavariate(*ACTIVE_SHARE_BETA),
        mean_session_events=MIN_SESSION_EVENTS + rng.expovariate(1 / MEAN_EXTRA_SESSION_EVENTS),
    )


def milestones(seed: int, user: User, until_day: int) -> Milestones:
    """Draw when `user` changes level and cancels; days before `until_day` never change.

    Draws come in a fixed order from the user's own generator and stop at the horizon, so a
    longer horizon only appends days.
    """
    rng = rng_for(seed, "milestones", user.index)
    first_day = max(user.registration_day, 0)
    churn_day = first_day + int(rng.expovariate(1 / MEAN_LIFETIME_DAYS))
    changes = []
    day = first_day
    while True:
        day += 1 + int(rng.expovariate(1 / MEAN_DAYS_BETWEEN_LEVEL_CHANGES))
        if day >= until_day or day > churn_day:
            break
        changes.append(day)
    return Milestones(churn_day, tuple(changes))
