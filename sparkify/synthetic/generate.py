"""`generate_dataset`: land a whole synthetic Sparkify dataset, song files then event files."""

import datetime as dt
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sparkify.landing import Lander, open_lander
from sparkify.synthetic.events import DayFile, DayTask, render_day
from sparkify.synthetic.world import World

DEFAULT_START = dt.date(2018, 11, 1)  # the month of the classic Udacity log data
# Below this many user-days (~85k events, about a second) starting worker processes costs
# more than it saves, so the default renders in-process.
POOL_MIN_USER_DAYS = 5_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GenerateSummary:
    """What a run landed; the CLI prints it."""

    song_files: int
    event_files: int
    events: int
    plays: int
    seconds: float


def generate_dataset(
    out: str | os.PathLike[str],
    *,
    seed: int = 42,
    songs: int = 500,
    users: int = 100,
    days: int = 7,
    start: dt.date = DEFAULT_START,
    workers: int | None = None,
    s3_client: Any = None,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Land `songs` song files and `days` daily event files under `out`.

    Scale: about 17 events per user-day (a user is active on ~40% of days, ~1.5 sessions of
    ~26 events), ~78% of them plays, so `users=2000, days=30` gives ~1.03M events; the user
    population stays about `users` (some cancel, as many sign up). The same arguments and
    seed give byte-identical files whatever `workers` is.

    Parameters:
        out: local directory, or `s3a://bucket/prefix` (`s3://` too) with `s3_client`.
        seed: picks the world; another seed gives other bytes.
        songs: song files to land (`song_data/`); plays also hit ~15% songs that never land.
        users: listeners at `start`.
        days: event files (`log_data/`), one per UTC day from `start`.
        workers: processes rendering days (default: one per CPU, at most `days`; none for
            small runs).
        s3_client: a boto3 S3 client, required for S3 URIs; credentials are the caller's.
        progress: called with a human-readable line as files land.

    Example:
        >>> generate_dataset("lake/landing", songs=50, users=10, days=2)  # doctest: +SKIP
        GenerateSummary(song_files=50, event_files=2, events=..., plays=..., seconds=...)
    """
    check_scale(seed=seed, songs=songs, users=users, days=days, start=start)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    began = time.perf_counter()
    lander = open_lander(out, s3_client)
    report = progress or _ignore

    world = World(seed=seed, initial_users=users, start=start)
    song_files = lander.land_many((song.path, song.to_json()) for song in world.catalog(songs))
    report(f"song_data: {song_files:,} files")

    jukebox = world.jukebox(landed=songs)
    tasks = [world.next_day(jukebox) for _ in range(days)]
    events = plays = 0
    if workers is None:
        workers = (os.cpu_count() or 1) if users * days >= POOL_MIN_USER_DAYS else 1
    for done, day_file in enumerate(_render(tasks, workers), start=1):
        lander.land(day_file.path, day_file.data)
        events += day_file.events
        plays += day_file.plays
        report(f"log_data: {done}/{days} days, {events:,} events")
    return GenerateSummary(song_files, days, events, plays, time.perf_counter() - began)


def check_scale(*, seed: int, songs: int, users: int, days: int, start: dt.date) -> None:
    """Raise ValueError naming the first argument that cannot describe a dataset."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    for name, value in (("songs", songs), ("users", users), ("days", days)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
        raise ValueError(f"start must be a datetime.date, got {start!r}")


def land_day(lander: Lander, task: DayTask) -> DayFile:
    """Render one day and land its event file."""
    day_file = render_day(task)
    lander.land(day_file.path, day_file.data)
    return day_file


def _render(tasks: Sequence[DayTask], workers: int) -> Iterator[DayFile]:
    """Render days in order; in a pool when it pays. Each day has its own generator, so the
    bytes do not depend on which process renders it."""
    workers = min(workers, len(tasks))
    if workers <= 1:
        yield from map(render_day, tasks)
        return
    # spawn, not fork: the caller may already run a JVM (py4j threads), and forking a
    # threaded process can deadlock the child.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(render_day, tasks)


def _ignore(_: str) -> None:
    pass
