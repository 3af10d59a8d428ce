"""The song catalog: an endless, seed-determined stream of Million-Song-Dataset-like records.

The stream is drawn from one generator in order, so the first N songs are the same whatever
N is: `generate` lands a prefix and `drip` keeps landing the songs that follow it.
"""

import json
import math
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

from sparkify.synthetic.names import (
    ARTIST_PLACES,
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    NAME_ADJECTIVES,
    NAME_NOUNS,
    TITLE_SUFFIXES,
    TITLE_VERBS,
    TITLE_WORDS,
    UNLISTED_ARTISTS,
)
from sparkify.synthetic.seeding import rng_for

SONG_FIELDS = (
    "num_songs",
    "artist_id",
    "artist_latitude",
    "artist_longitude",
    "artist_location",
    "artist_name",
    "song_id",
    "title",
    "duration",
    "year",
)

# Characters 3-5 of a track id name its directories. The classic Udacity subset only uses
# A-C there, which keeps song_data at 27 leaf directories: listing for new files stays cheap.
TRACK_DIR_LETTERS = "ABC"
ID_CHARS = string.ascii_uppercase + string.digits

MAX_SONGS_PER_ARTIST = 12
MEAN_EXTRA_SONGS_PER_ARTIST = 2.5
# Same title, artist and (within 0.01 s) duration under another song_id, as MSD has for
# re-releases: exercises the "smallest song_id on ties" rule of the songplay lookup.
NEAR_DUPLICATE_SHARE = 0.02
COVER_SHARE = 0.04  # the title of an earlier song by another artist
UNKNOWN_YEAR_SHARE = 0.4
# Artists whose song records disagree on the coordinates (some songs carry them, some
# don't): exercises the "most non-null artist fields wins" rule of the artists table.
PATCHY_ARTIST_SHARE = 0.15
# Pareto shape of a song's play weight: the top 10% of songs get ~40% of plays, the top one
# a few percent (shapes near 1 let a single song take half of all plays).
POPULARITY_SHAPE = 1.6
UNLISTED_TRACKS = 1000

_PLURALS = {"Echo": "Echoes", "Fox": "Foxes", "Sky": "Skies", "Wolf": "Wolves"}
_UNLISTED = frozenset(UNLISTED_ARTISTS)


@dataclass(frozen=True, slots=True)
class Song:
    """One song file's record, plus where it lands and how often it gets played."""

    track_id: str
    song_id: str
    title: str
    duration: float
    year: int
    artist_id: str
    artist_name: str
    artist_location: str
    artist_latitude: float | None
    artist_longitude: float | None
    popularity: float  # relative play weight; not part of the file

    @property
    def path(self) -> str:
        """Where MSD keeps it: song_data/<3rd>/<4th>/<5th char of the track id>/<track id>.json."""
        t = self.track_id
        return f"song_data/{t[2]}/{t[3]}/{t[4]}/{t}.json"

    def to_json(self) -> bytes:
        """The file's bytes: one object, keys in MSD order, spaced as the classic files are."""
        record = {
            "num_songs": 1,
            "artist_id": self.artist_id,
            "artist_latitude": self.artist_latitude,
            "artist_longitude": self.artist_longitude,
            "artist_location": self.artist_location,
            "artist_name": self.artist_name,
            "song_id": self.song_id,
            "title": self.title,
            "duration": self.duration,
            "year": self.year,
        }
        return (json.dumps(record) + "\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class UnlistedTrack:
    """A song people play that never lands as a song file (eventsim draws from all of MSD)."""

    title: str
    artist_name: str
    duration: float
    popularity: float


@dataclass(frozen=True, slots=True)
class _Artist:
    artist_id: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    era: int
    is_patchy: bool


def iter_catalog(seed: int) -> Iterator[Song]:
    """Yield the catalog's songs in landing order, forever; ids never repeat."""
    rng = rng_for(seed, "catalog")
    taken: set[str] = set()
    titles: list[str] = []
    while True:
        artist = _new_artist(rng, taken)
        others_titles = len(titles)  # titles before this artist's are other artists'
        count = min(MAX_SONGS_PER_ARTIST, 1 + int(rng.expovariate(1 / MEAN_EXTRA_SONGS_PER_ARTIST)))
        for _ in range(count):
            if others_titles and rng.random() < COVER_SHARE:
                title = titles[rng.randrange(others_titles)]
            else:
                title = _title(rng)
            song = _new_song(rng, taken, artist, title, _duration(rng))
            titles.append(title)
            yield song
            if rng.random() < NEAR_DUPLICATE_SHARE:
                # +-0.008 s keeps the pair within the 0.01 s match tolerance after rounding.
                twin_duration = round(song.duration + rng.uniform(-0.008, 0.008), 5)
                yield _new_song(rng, taken, artist, title, twin_duration)


def unlisted_tracks(seed: int, count: int = UNLISTED_TRACKS) -> list[UnlistedTrack]:
    """Songs by famous artists that the catalog never holds: the plays that find no song."""
    rng = rng_for(seed, "unlisted")
    # Zipf over artists, so a few famous names dominate the misses as they do in eventsim.
    artist_weights = [1 / (rank + 1) for rank in range(len(UNLISTED_ARTISTS))]
    artists = rng.choices(UNLISTED_ARTISTS, weights=artist_weights, k=count)
    return [
        UnlistedTrack(_title(rng), artist, _duration(rng), rng.paretovariate(POPULARITY_SHAPE))
        for artist in artists
    ]


def _new_song(rng: random.Random, taken: set[str], artist: _Artist, title: str, duration: float) -> Song:
    drops_coordinates = artist.is_patchy and rng.random() < 0.5
    year = 0 if rng.random() < UNKNOWN_YEAR_SHARE else min(2010, artist.era + rng.randint(0, 12))
    return Song(
        track_id=_unique_id(rng, taken, "TR" + "".join(rng.choices(TRACK_DIR_LETTERS, k=3)), 13),
        song_id=_unique_id(rng, taken, "SO", 16),
        title=title,
        duration=duration,
        year=year,
        artist_id=artist.artist_id,
        artist_name=artist.name,
        artist_location=artist.location,
        artist_latitude=None if drops_coordinates else artist.latitude,
        artist_longitude=None if drops_coordinates else artist.longitude,
        popularity=rng.paretovariate(POPULARITY_SHAPE),
    )


def _new_artist(rng: random.Random, taken: set[str]) -> _Artist:
    artist_id = _unique_id(rng, taken, "AR", 16)
    name = _artist_name(rng)
    while name in _UNLISTED:
        name = _artist_name(rng)
    latitude: float | None
    longitude: float | None
    place, latitude, longitude = rng.choice(ARTIST_PLACES)
    kind = rng.random()
    if kind < 0.3:  # MSD has many artists with nothing known about where they are from
        place, latitude, longitude = "", None, None
    elif kind < 0.45:
        latitude = longitude = None
    else:
        latitude = round(latitude + rng.uniform(-0.05, 0.05), 5)
        longitude = round(longitude + rng.uniform(-0.05, 0.05), 5)
    is_patchy = latitude is not None and rng.random() < PATCHY_ARTIST_SHARE
    return _Artist(artist_id, name, place, latitude, longitude, rng.randint(1960, 2008), is_patchy)


def _unique_id(rng: random.Random, taken: set[str], prefix: str, length: int) -> str:
    while True:
        candidate = prefix + "".join(rng.choices(ID_CHARS, k=length))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _duration(rng: random.Random) -> float:
    seconds = min(max(rng.lognormvariate(math.log(225.0), 0.38), 30.0), 1200.0)
    return round(seconds, 5)


def _plural(noun: str) -> str:
    return _PLURALS.get(noun, noun + "s")


def _artist_name(rng: random.Random) -> str:
    kind = rng.random()
    adjective, noun = rng.choice(NAME_ADJECTIVES), rng.choice(NAME_NOUNS)
    if kind < 0.3:
        return f"The {adjective} {_plural(noun)}"
    if kind < 0.75:
        first = rng.choice(FEMALE_FIRST_NAMES + MALE_FIRST_NAMES)
        person = f"{first} {rng.choice(LAST_NAMES)}"
        return f"{person} & The {_plural(noun)}" if kind > 0.65 else person
    if kind < 0.85:
        return f"DJ {noun}"
    if kind < 0.95:
        return f"{adjective} {noun}"
    return noun + rng.choice(NAME_NOUNS).lower()


def _title(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        title = f"{rng.choice(NAME_ADJECTIVES)} {rng.choice(NAME_NOUNS)}"
    elif kind < 0.6:
        title = f"{rng.choice(TITLE_VERBS)} {rng.choice(TITLE_WORDS)}"
    elif kind < 0.72:
        title = f"The {rng.choice(NAME_NOUNS)}"
    elif kind < 0.84:
        title = f"{rng.choice(NAME_NOUNS)} and {rng.choice(NAME_NOUNS)}"
    elif kind < 0.94:
        title = f"I {rng.choice(TITLE_VERBS)} {rng.choice(TITLE_WORDS)}"
    elif kind < 0.98:
        title = f"Song for {rng.choice(FEMALE_FIRST_NAMES + MALE_FIRST_NAMES)}"
    else:
        title = f'"{rng.choice(NAME_NOUNS)}"'  # quotes inside a title, as in "Heroes"
    if rng.random() < 0.06:
        title += rng.choice(TITLE_SUFFIXES)
    return title
