"""What gets played: a popularity-skewed pick over the catalog, and the plays that miss it."""

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sparkify.synthetic.seeding import weighted_index
from sparkify.synthetic.songs import Song, UnlistedTrack

# Shares of plays; the rest are exact plays of landed catalog songs (about 85%).
UNLISTED_SHARE = 0.13  # a song that never lands
NEAR_MISS_SHARE = 0.02  # a catalog title and artist, but a length off by 0.05-3 s: must not match
LATE_SHARE = 0.03  # (drip only) a song that lands with or after the day's event file


@dataclass(frozen=True, slots=True)
class Jukebox:
    """The songs one day's plays are drawn from; picklable, so days render in any process.

    `titles`/`artists`/`durations` hold the catalog prefix; plays of it are weighted by
    popularity over its first `len(cum_popularity)` songs (those landed before the day's
    event file). `upcoming` indexes songs that land with or after it (late arrivals).
    """

    titles: tuple[str, ...]
    artists: tuple[str, ...]
    durations: tuple[float, ...]
    cum_popularity: tuple[float, ...]
    upcoming: range
    unlisted: tuple[UnlistedTrack, ...]
    cum_unlisted_popularity: tuple[float, ...]

    @classmethod
    def build(
        cls,
        catalog: Sequence[Song],
        landed: int,
        unlisted: Sequence[UnlistedTrack],
        upcoming: range = range(0),
    ) -> "Jukebox":
        """Plays pick among `catalog[:landed]` by popularity, and sometimes `catalog[upcoming]`."""
        if not 0 < landed <= len(catalog) or upcoming.stop > len(catalog):
            raise ValueError(f"landed={landed} and upcoming={upcoming} must index the {len(catalog)} songs")
        held = catalog[: max(landed, upcoming.stop)]
        return cls(
            titles=tuple(s.title for s in held),
            artists=tuple(s.artist_name for s in held),
            durations=tuple(s.duration for s in held),
            cum_popularity=tuple(itertools.accumulate(s.popularity for s in catalog[:landed])),
            upcoming=upcoming,
            unlisted=tuple(unlisted),
            cum_unlisted_popularity=tuple(itertools.accumulate(t.popularity for t in unlisted)),
        )

    def pick(self, rng: random.Random) -> tuple[str, str, float]:
        """Return (song, artist, length) of the next play."""
        r = rng.random()
        if r < UNLISTED_SHARE:
            track = self.unlisted[weighted_index(rng, self.cum_unlisted_popularity)]
            return track.title, track.artist_name, track.duration
        if r < UNLISTED_SHARE + NEAR_MISS_SHARE:
            i = weighted_index(rng, self.cum_popularity)
            off_by = rng.uniform(0.05, 3.0) * rng.choice((-1, 1))
            return self.titles[i], self.artists[i], round(self.durations[i] + off_by, 5)
        if self.upcoming and r < UNLISTED_SHARE + NEAR_MISS_SHARE + LATE_SHARE:
            i = rng.choice(self.upcoming)
        else:
            i = weighted_index(rng, self.cum_popularity)
        # The very float of the song file, so the event's length prints identically.
        return self.titles[i], self.artists[i], self.durations[i]
