"""`drip`: keep landing new files at a steady rate, continuing a generated dataset."""

import datetime as dt
import os
import threading
import time
from typing import Any

from sparkify.landing import open_lander
from sparkify.synthetic.generate import DEFAULT_START, GenerateSummary, Progress, check_scale, land_day
from sparkify.synthetic.world import World

# Plays of a dripped day may pick songs landing in this tick (after the event file) or in the
# next LATE_TICKS ticks: late-arriving songs, which the songplay lookup must back-fill.
LATE_TICKS = 2


def drip(
    out: str | os.PathLike[str],
    *,
    seed: int = 42,
    songs: int = 500,
    users: int = 100,
    days: int = 7,
    start: dt.date = DEFAULT_START,
    interval_seconds: float = 2.0,
    songs_per_tick: int = 5,
    max_ticks: int | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    s3_client: Any = None,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Land one more day of events and a few more songs every `interval_seconds`.

    `seed`, `songs`, `users`, `days` and `start` describe the dataset `generate_dataset` landed
    (drip does not land it): tick t lands the event file of day `days + t` and then songs
    `songs + t * songs_per_tick` onwards, so no name collides with a landed file and two
    drips with the same arguments land the same bytes. About 3% of a dripped day's plays are
    of songs landing in the same tick (after the event file) or in the next `LATE_TICKS`.

    Runs until `stop` is set, Ctrl-C, `max_ticks` ticks or `max_seconds` seconds, whichever
    comes first, and returns what it landed. The first tick lands at once.

    Example:
        >>> drip("lake/landing", interval_seconds=1.0, max_ticks=3)  # doctest: +SKIP
    """
    check_scale(seed=seed, songs=songs, users=users, days=days, start=start)
    if not interval_seconds >= 0:
        raise ValueError(f"interval_seconds must be >= 0, got {interval_seconds!r}")
    if not isinstance(songs_per_tick, int) or songs_per_tick < 0:
        raise ValueError(f"songs_per_tick must be an int >= 0, got {songs_per_tick!r}")
    if max_ticks is not None and max_ticks < 0:
        raise ValueError(f"max_ticks must be >= 0 or None, got {max_ticks!r}")
    if max_seconds is not None and not max_seconds >= 0:
        raise ValueError(f"max_seconds must be >= 0 or None, got {max_seconds!r}")
    began = time.monotonic()
    lander = open_lander(out, s3_client)
    stop = stop or threading.Event()  # also the interruptible sleep between ticks
    report = progress or (lambda _: None)

    world = World(seed=seed, initial_users=users, start=start)
    world.skip_days(days)  # session ids and user histories carry on from the dataset
    song_files = event_files = events = plays = 0
    try:
        while not stop.is_set() and (max_ticks is None or event_files < max_ticks):
            first_new = songs + event_files * songs_per_tick
            landed_after = first_new + songs_per_tick
            jukebox = world.jukebox(
                landed=first_new, upcoming=range(first_new, landed_after + LATE_TICKS * songs_per_tick)
            )
            day_file = land_day(lander, world.next_day(jukebox))
            new_songs = world.catalog(landed_after)[first_new:]
            song_files += lander.land_many((song.path, song.to_json()) for song in new_songs)
            event_files += 1
            events += day_file.events
            plays += day_file.plays
            report(
                f"drip tick {event_files}: {day_file.path} ({day_file.events:,} events), "
                f"{len(new_songs)} songs"
            )

            wait = began + event_files * interval_seconds - time.monotonic()
            if max_seconds is not None:
                left = began + max_seconds - time.monotonic()
                if left <= max(wait, 0):
                    break
            if max_ticks is not None and event_files >= max_ticks:
                break
            stop.wait(max(wait, 0))
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to end a drip from a terminal
    return GenerateSummary(song_files, event_files, events, plays, time.monotonic() - began)
