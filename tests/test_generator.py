"""The synthetic generator lands exactly the raw formats of SPEC.md, deterministically."""

import collections
import datetime as dt
import hashlib
import itertools
import json
import random
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparkify.synthetic import GenerateSummary, generate_dataset
from sparkify.synthetic.events import EVENT_FIELDS, PAGE_HTTP
from sparkify.synthetic.seeding import weighted_index
from sparkify.synthetic.songs import SONG_FIELDS

SMALL = dict(seed=7, songs=400, users=80, days=6)
START = dt.date(2018, 11, 1)
DAY_MS = 86_400_000

SONG_PATH = re.compile(r"song_data/([A-Z])/([A-Z])/([A-Z])/(TR[A-Z0-9]{16})\.json")
EVENT_PATH = re.compile(r"log_data/(\d{4})/(\d{2})/(\d{4})-(\d{2})-(\d{2})-events\.json")
ARTIST_ID = re.compile(r"AR[A-Z0-9]{16}")
SONG_ID = re.compile(r"SO[A-Z0-9]{16}")
USER_LOCATION = re.compile(r"[^,]+, [A-Z]{2}(-[A-Z]{2})*")
PERSONAL_FIELDS = ("firstName", "lastName", "gender", "location", "registration", "userAgent")
OPTIONAL_STR = (str, type(None))
OPTIONAL_FLOAT = (float, type(None))


def day_start_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


def tree_digest(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def load_songs(root: Path) -> list[tuple[str, dict]]:
    return [
        (path.relative_to(root).as_posix(), json.loads(path.read_text()))
        for path in sorted((root / "song_data").rglob("*.json"))
    ]


def load_events(root: Path) -> list[tuple[str, dict]]:
    return [
        (path.relative_to(root).as_posix(), json.loads(line))
        for path in sorted((root / "log_data").rglob("*.json"))
        for line in path.read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateSummary]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_dataset(str(root), workers=1, **SMALL)


@pytest.fixture(scope="module")
def songs(landed: tuple[Path, GenerateSummary]) -> list[tuple[str, dict]]:
    return load_songs(landed[0])


@pytest.fixture(scope="module")
def events(landed: tuple[Path, GenerateSummary]) -> list[tuple[str, dict]]:
    return load_events(landed[0])


@pytest.fixture(scope="module")
def plays(events: list[tuple[str, dict]]) -> list[dict]:
    return [event for _, event in events if event["page"] == "NextSong"]


# Song files


def test_summary_counts_what_landed(landed, songs, events, plays):
    root, summary = landed
    assert summary.song_files == len(songs) == SMALL["songs"]
    assert summary.event_files == len(list((root / "log_data").rglob("*.json"))) == SMALL["days"]
    assert summary.events == len(events)
    assert summary.plays == len(plays)
    assert summary.seconds > 0


def test_song_files_hold_one_msd_record_with_fields_in_order(landed, songs):
    root, _ = landed
    for path, song in songs:
        assert len((root / path).read_text().splitlines()) == 1
        assert tuple(song) == SONG_FIELDS, path
        assert song["num_songs"] == 1
        assert ARTIST_ID.fullmatch(song["artist_id"]), song
        assert SONG_ID.fullmatch(song["song_id"]), song
        assert isinstance(song["artist_latitude"], OPTIONAL_FLOAT)
        assert isinstance(song["artist_longitude"], OPTIONAL_FLOAT)
        assert (song["artist_latitude"] is None) == (song["artist_longitude"] is None)
        assert isinstance(song["artist_location"], str)
        assert isinstance(song["artist_name"], str) and song["artist_name"]
        assert isinstance(song["title"], str) and song["title"]
        assert isinstance(song["duration"], float) and 0 < song["duration"] <= 1200
        assert type(song["year"]) is int and (song["year"] == 0 or 1960 <= song["year"] <= 2020)


def test_song_files_live_under_the_letters_of_their_track_id(songs):
    track_ids = set()
    for path, _ in songs:
        match = SONG_PATH.fullmatch(path)
        assert match, path
        a, b, c, track_id = match.groups()
        assert (a, b, c) == tuple(track_id[2:5])
        track_ids.add(track_id)
    assert len(track_ids) == len(songs)
    assert len({song["song_id"] for _, song in songs}) == len(songs)


def test_catalog_has_unknowns_repeated_titles_and_near_duplicates(songs):
    records = [song for _, song in songs]
    assert any(s["artist_latitude"] is None and s["artist_location"] == "" for s in records)
    assert any(s["artist_latitude"] is None and s["artist_location"] != "" for s in records)
    assert any(s["year"] == 0 for s in records)
    by_artist = collections.Counter(s["artist_id"] for s in records)
    assert max(by_artist.values()) >= 3, "artists should have several songs"
    artists_per_title = collections.defaultdict(set)
    for s in records:
        artists_per_title[s["title"]].add(s["artist_id"])
    assert any(len(ids) > 1 for ids in artists_per_title.values()), "some titles repeat across artists"
    twins = collections.defaultdict(list)
    for s in records:
        twins[(s["title"], s["artist_name"])].append(s)
    near_duplicates = [
        (a, b)
        for group in twins.values()
        for i, a in enumerate(group)
        for b in group[i + 1 :]
        if abs(a["duration"] - b["duration"]) <= 0.01
    ]
    assert near_duplicates, "same title and artist within 0.01 s under two song_ids"
    assert all(a["song_id"] != b["song_id"] and a["duration"] != b["duration"] for a, b in near_duplicates)


def test_some_artists_have_records_that_disagree_on_coordinates(songs):
    has_coordinates = collections.defaultdict(set)
    for _, song in songs:
        has_coordinates[song["artist_id"]].add(song["artist_latitude"] is not None)
    assert any(len(seen) == 2 for seen in has_coordinates.values())


# Event files


def test_one_event_file_per_day_from_the_start_date(events):
    paths = sorted({path for path, _ in events})
    expected = [START + dt.timedelta(days=i) for i in range(SMALL["days"])]
    assert paths == [f"log_data/{d:%Y}/{d:%m}/{d.isoformat()}-events.json" for d in expected]
    assert all(EVENT_PATH.fullmatch(path) for path in paths)


def test_events_have_eventsim_fields_in_order_with_their_types(events):
    for path, event in events:
        assert tuple(event) == EVENT_FIELDS, path
        assert isinstance(event["artist"], OPTIONAL_STR)
        assert event["auth"] in {"Logged In", "Logged Out", "Guest", "Cancelled"}
        assert isinstance(event["firstName"], OPTIONAL_STR)
        assert event["gender"] in {"M", "F", None}
        assert type(event["itemInSession"]) is int and event["itemInSession"] >= 0
        assert isinstance(event["lastName"], OPTIONAL_STR)
        assert isinstance(event["length"], OPTIONAL_FLOAT)
        assert event["level"] in {"free", "paid"}
        assert event["location"] is None or USER_LOCATION.fullmatch(event["location"]), event
        assert event["method"] in {"GET", "PUT"} and event["status"] in {200, 307, 404}
        assert event["page"] in PAGE_HTTP
        assert isinstance(event["registration"], OPTIONAL_FLOAT)
        assert type(event["sessionId"]) is int and event["sessionId"] > 0
        assert isinstance(event["song"], OPTIONAL_STR)
        assert type(event["ts"]) is int
        assert isinstance(event["userAgent"], OPTIONAL_STR)
        assert isinstance(event["userId"], str)


def test_methods_and_statuses_follow_the_page(events):
    for _, event in events:
        assert (event["method"], event["status"]) == PAGE_HTTP[event["page"]], event
    statuses = collections.Counter((e["page"], e["status"]) for _, e in events)
    assert statuses[("Logout", 307)] and statuses[("Error", 404)] and statuses[("Home", 200)]


def test_timestamps_fall_inside_the_files_day_and_files_are_in_time_order(events):
    by_file = collections.defaultdict(list)
    for path, event in events:
        by_file[path].append(event["ts"])
    for path, stamps in by_file.items():
        day_start = day_start_ms(dt.date.fromisoformat(path.rsplit("/", 1)[1][:10]))
        assert day_start <= min(stamps) and max(stamps) < day_start + DAY_MS, path
        assert stamps == sorted(stamps)


def test_user_fields_are_null_exactly_when_nobody_is_logged_in(events):
    for _, event in events:
        anonymous = event["auth"] in {"Logged Out", "Guest"}
        assert (event["userId"] == "") == anonymous, event
        person = [event[k] for k in PERSONAL_FIELDS]
        if anonymous:
            assert person == [None] * 6, event
        else:
            assert event["userId"].isdigit() and None not in person, event
    auths = collections.Counter(event["auth"] for _, event in events)
    assert auths["Logged Out"] and auths["Guest"] and auths["Logged In"]


def test_sessions_count_items_up_from_zero_as_time_goes_on(events):
    sessions = collections.defaultdict(list)
    for _, event in events:
        sessions[event["sessionId"]].append(event)
    for session_id, session in sessions.items():
        session.sort(key=lambda e: e["itemInSession"])
        assert [e["itemInSession"] for e in session] == list(range(len(session))), session_id
        stamps = [e["ts"] for e in session]
        assert stamps == sorted(stamps), session_id
        assert len({e["userId"] for e in session} - {""}) <= 1, "one user a session"


def test_song_artist_length_are_set_on_plays_only(events):
    for _, event in events:
        triple = (event["song"], event["artist"], event["length"])
        if event["page"] == "NextSong":
            assert None not in triple and event["auth"] == "Logged In", event
        else:
            assert triple == (None, None, None), event


def test_plays_of_a_session_follow_one_another_by_the_song_length(events):
    sessions = collections.defaultdict(list)
    for _, event in events:
        sessions[event["sessionId"]].append(event)
    for session in sessions.values():
        session.sort(key=lambda e: e["itemInSession"])
        for play, following in itertools.pairwise(session):
            if play["page"] == "NextSong":
                assert following["ts"] - play["ts"] == round(play["length"] * 1000)


def test_most_plays_match_a_song_file_exactly_and_some_match_none(songs, plays):
    durations = collections.defaultdict(set)
    for _, song in songs:
        durations[(song["title"], song["artist_name"])].add(song["duration"])
    exact = near = none = 0
    for play in plays:
        candidates = durations.get((play["song"], play["artist"]), set())
        if play["length"] in candidates:
            exact += 1
        elif any(abs(play["length"] - d) <= 0.01 for d in candidates):
            near += 1
        else:
            none += 1
    assert near == 0, "a play either is a catalog song or matches nothing"
    assert 0.78 <= exact / len(plays) <= 0.92
    assert 0.08 <= none / len(plays) <= 0.22
    off_by_a_little = sum(
        1
        for p in plays
        if (p["song"], p["artist"]) in durations and p["length"] not in durations[(p["song"], p["artist"])]
    )
    assert off_by_a_little, "some plays have a catalog title and artist but another length"


def test_plays_are_skewed_towards_popular_songs(plays):
    counts = sorted(collections.Counter((p["song"], p["artist"]) for p in plays).values(), reverse=True)
    top_tenth = sum(counts[: max(1, len(counts) // 10)])
    assert top_tenth / len(plays) > 0.3
    assert counts[0] / len(plays) < 0.1, "no single song takes over"


def test_levels_change_only_through_submit_upgrade_or_downgrade(events):
    timelines = collections.defaultdict(list)
    for _, event in events:
        if event["userId"]:
            timelines[event["userId"]].append(event)
    changed = collections.Counter()
    for user_events in timelines.values():
        user_events.sort(key=lambda e: (e["ts"], e["sessionId"], e["itemInSession"]))
        for before, after in itertools.pairwise(user_events):
            if before["level"] != after["level"]:
                expected = "Submit Upgrade" if after["level"] == "paid" else "Submit Downgrade"
                assert before["page"] == expected, (before, after)
                changed[after["level"]] += 1
    assert changed["paid"] and changed["free"], "some users upgrade and some downgrade"


def test_new_users_register_before_their_first_event_and_cancelled_ones_leave(events):
    start_ms = day_start_ms(START)
    first_ts, last_ts, registration = {}, {}, {}
    for _, event in events:
        if event["userId"]:
            user = event["userId"]
            first_ts[user] = min(first_ts.get(user, event["ts"]), event["ts"])
            last_ts[user] = max(last_ts.get(user, event["ts"]), event["ts"])
            registration[user] = event["registration"]
    assert all(registration[user] <= first_ts[user] for user in first_ts)
    new_users = [user for user, ms in registration.items() if ms >= start_ms]
    assert new_users, "users sign up during the dataset"
    signups = {e["ts"] for _, e in events if e["page"] == "Submit Registration"}
    assert all(int(registration[user]) in signups for user in new_users)
    cancelled = [e for _, e in events if e["page"] == "Cancellation Confirmation"]
    assert cancelled and all(e["auth"] == "Cancelled" for e in cancelled)
    assert all(last_ts[e["userId"]] == e["ts"] for e in cancelled), "nobody comes back after cancelling"


# Determinism and building blocks


@given(
    weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e9]), min_size=1, max_size=12).filter(any),
    seed=st.integers(),
)
def test_weighted_index_stays_in_range_and_never_picks_a_zero_weight(weights, seed):
    cum_weights = list(itertools.accumulate(weights))
    rng = random.Random(seed)
    for _ in range(30):
        i = weighted_index(rng, cum_weights)
        assert weights[i] > 0


def test_weighted_index_survives_a_draw_that_rounds_up_to_the_total():
    class Almost1(random.Random):
        def random(self) -> float:
            return 1.0  # what r * total can round to

    assert weighted_index(Almost1(), [1.0, 3.0, 3.0]) == 1


def test_same_seed_gives_the_same_bytes_whatever_the_workers(landed, tmp_path):
    root, _ = landed
    generate_dataset(str(tmp_path), workers=2, **SMALL)
    assert tree_digest(tmp_path) == tree_digest(root)


def test_another_seed_gives_other_bytes(landed, tmp_path):
    root, _ = landed
    generate_dataset(str(tmp_path), workers=1, **{**SMALL, "seed": SMALL["seed"] + 1})
    ours, theirs = tree_digest(root), tree_digest(tmp_path)
    assert not set(ours) & {path for path in theirs if path.startswith("song_data/")}
    shared_days = set(ours) & set(theirs)
    assert shared_days and all(ours[path] != theirs[path] for path in shared_days)


def test_a_smaller_dataset_is_a_prefix_of_a_larger_one(landed, tmp_path):
    root, _ = landed
    generate_dataset(str(tmp_path), workers=1, **{**SMALL, "songs": 100, "days": 2})
    ours, smaller = tree_digest(root), tree_digest(tmp_path)
    assert set(smaller) <= set(ours)
    assert all(ours[p] == smaller[p] for p in smaller if p.startswith("song_data/"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    songs=st.integers(min_value=1, max_value=30),
    users=st.integers(min_value=1, max_value=12),
    days=st.integers(min_value=1, max_value=3),
    start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_any_seed_and_size_lands_well_formed_files(seed, songs, users, days, start):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scale = dict(seed=seed, songs=songs, users=users, days=days, start=start)
        summary = generate_dataset(tmp, workers=1, **scale)
        assert summary.song_files == len(load_songs(root)) == songs
        events = load_events(root)
        assert summary.events == len(events)
        keys = {(e["sessionId"], e["itemInSession"]) for _, e in events}
        assert len(keys) == len(events), "(sessionId, itemInSession) identifies an event"
        for path, event in events:
            day_start = day_start_ms(dt.date.fromisoformat(path.rsplit("/", 1)[1][:10]))
            assert day_start <= event["ts"] < day_start + DAY_MS
            assert tuple(event) == EVENT_FIELDS


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("songs", 0),
        ("users", -1),
        ("days", 0),
        ("seed", "42"),
        ("workers", 0),
        ("start", "2018-11-01"),
        ("start", dt.datetime(2018, 11, 1)),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        generate_dataset(str(tmp_path), **{**SMALL, argument: value})
    assert not any(tmp_path.iterdir()), "nothing lands when the arguments are wrong"
