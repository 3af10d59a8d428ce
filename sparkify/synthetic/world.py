"""The simulated world of one seed: catalog, population and the days planned so far.

A `World` is advanced day by day (session ids are numbered across days) and grows its
catalog and population on demand, which is how `drip` continues the dataset that
`generate_dataset` landed with the same arguments.
"""

import datetime as dt
import itertools
from collections.abc import Sequence

from sparkify.synthetic.events import DayTask
from sparkify.synthetic.plans import DayPlan, plan_day
from sparkify.synthetic.plays import Jukebox
from sparkify.synthetic.songs import Song, iter_catalog, unlisted_tracks
from sparkify.synthetic.users import DAY_MS, Milestones, User, make_user, milestones, population_on

MIN_HORIZON_DAYS = 32


class World:
    """Catalog, users and day plans of one seed; mutable, owned by one generate or drip run."""

    def __init__(self, *, seed: int, initial_users: int, start: dt.date) -> None:
        self.seed = seed
        self.start = start
        self._initial_users = initial_users
        self._start_ms = (start - dt.date(1970, 1, 1)).days * DAY_MS
        self._song_stream = iter_catalog(seed)
        self._catalog: list[Song] = []
        self._unlisted = unlisted_tracks(seed)
        self._users: list[User] = []
        self._milestones: list[Milestones] = []
        self._horizon = 0  # milestones are drawn for the days before it
        self._next_day = 0
        self._next_session_id = 1

    def catalog(self, count: int) -> Sequence[Song]:
        """The first `count` songs of the catalog."""
        if count > len(self._catalog):
            self._catalog.extend(itertools.islice(self._song_stream, count - len(self._catalog)))
        return self._catalog[:count]

    def jukebox(self, landed: int, upcoming: range = range(0)) -> Jukebox:
        """Plays over the first `landed` songs, and sometimes of the songs in `upcoming`."""
        catalog = self.catalog(max(landed, upcoming.stop))
        return Jukebox.build(catalog, landed, self._unlisted, upcoming)

    def next_day(self, jukebox: Jukebox) -> DayTask:
        """Plan the day after the last one planned, ready to render with `jukebox`."""
        day = self._next_day
        plan = self._plan_next()
        return DayTask(self.seed, self.start + dt.timedelta(days=day), plan, tuple(self._users), jukebox)

    def skip_days(self, count: int) -> None:
        """Plan `count` days without rendering them: how drip catches up with a landed dataset."""
        for _ in range(count):
            self._plan_next()

    def _plan_next(self) -> DayPlan:
        day = self._next_day
        self._grow_population(day)
        plan = plan_day(self.seed, day, self._users, self._milestones, self._next_session_id)
        self._next_day += 1
        self._next_session_id = plan.next_session_id
        return plan

    def _grow_population(self, day: int) -> None:
        if day >= self._horizon:
            # Doubling keeps redraws rare in a long drip; the drawn days never change.
            self._horizon = max(MIN_HORIZON_DAYS, 2 * self._horizon, day + 1)
            self._milestones = [milestones(self.seed, user, self._horizon) for user in self._users]
        for index in range(len(self._users), population_on(self._initial_users, day)):
            user = make_user(self.seed, index, self._initial_users, self._start_ms)
            self._users.append(user)
            self._milestones.append(milestones(self.seed, user, self._horizon))
