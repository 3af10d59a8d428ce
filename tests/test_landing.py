"""Files land whole (locally and on a real S3 API), and drip keeps landing new ones."""

import collections
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from sparkify import landing
from sparkify.landing import LocalLander, S3Lander, open_lander, parse_s3_uri
from sparkify.synthetic import drip, generate_dataset

TINY = dict(seed=11, songs=60, users=20, days=2)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def bucket_digest(client, bucket: str, prefix: str = "") -> dict[str, str]:
    digests = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            digests[obj["Key"].removeprefix(prefix)] = hashlib.sha256(body).hexdigest()
    return digests


def session_ids(event_file: Path) -> set[int]:
    return {json.loads(line)["sessionId"] for line in event_file.read_text().splitlines()}


def hidden_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.startswith((".", "_"))]


# Local landing


def test_local_lander_lands_whole_files_and_leaves_no_temp_file(tmp_path):
    lander = LocalLander(tmp_path)
    lander.land("log_data/2018/11/a.json", b"first\n")
    lander.land("log_data/2018/11/a.json", b"second\n")
    assert lander.land_many([("song_data/A/B/C/x.json", b"{}"), ("song_data/A/B/C/y.json", b"[]")]) == 2
    assert tree_digest(tmp_path) == {
        "log_data/2018/11/a.json": hashlib.sha256(b"second\n").hexdigest(),
        "song_data/A/B/C/x.json": hashlib.sha256(b"{}").hexdigest(),
        "song_data/A/B/C/y.json": hashlib.sha256(b"[]").hexdigest(),
    }
    assert hidden_files(tmp_path) == []


def test_local_temp_file_is_hidden_from_spark_and_renamed_within_its_directory(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        assert Path(src).read_bytes() == b"payload", "the temp file is complete before the rename"
        real_replace(src, dst)

    monkeypatch.setattr(landing.os, "replace", spy)
    LocalLander(tmp_path).land("log_data/2018/11/2018-11-01-events.json", b"payload")
    [(temp, target)] = renames
    assert target == tmp_path / "log_data/2018/11/2018-11-01-events.json"
    assert temp.parent == target.parent
    assert temp.name.startswith("."), "Spark's file source skips names starting with '.'"


def test_local_lander_removes_its_temp_file_when_landing_fails(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(landing.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        LocalLander(tmp_path).land("log_data/x.json", b"data")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("relpath", ["../escape.json", "/etc/passwd", "a/../../b.json", ""])
def test_landers_refuse_paths_outside_their_root(tmp_path, relpath):
    with pytest.raises(ValueError, match="relpath"):
        LocalLander(tmp_path).land(relpath, b"x")


def test_generate_leaves_no_hidden_file_behind(tmp_path):
    generate_dataset(str(tmp_path), workers=1, **TINY)
    assert hidden_files(tmp_path) == []


# Choosing where to land


def test_open_lander_picks_local_or_s3_by_the_out_argument(tmp_path):
    assert isinstance(open_lander(str(tmp_path)), LocalLander)
    assert isinstance(open_lander(tmp_path), LocalLander)
    s3 = open_lander("s3a://my-bucket/landing/raw/", s3_client=object())
    assert isinstance(s3, S3Lander)
    assert s3.bucket == "my-bucket"
    assert s3.key("song_data/A/A/A/x.json") == "landing/raw/song_data/A/A/A/x.json"
    assert open_lander("s3://my-bucket", s3_client=object()).key("x.json") == "x.json"


@pytest.mark.parametrize(
    ("out", "client", "message"),
    [
        ("s3a://my-bucket/prefix", None, "s3_client"),
        ("s3://Bad_Bucket/prefix", object(), "bucket"),
        ("s3a:///prefix", object(), "bucket"),
        ("gs://my-bucket/prefix", object(), "only local paths"),
        ("local/dir", object(), "s3_client was given"),
        ("", None, "empty"),
    ],
)
def test_open_lander_refuses_what_it_cannot_land_to(out, client, message):
    with pytest.raises(ValueError, match=message):
        open_lander(out, s3_client=client)


def test_parse_s3_uri_splits_bucket_and_prefix():
    assert parse_s3_uri("s3a://bucket.with.dots/a/b/") == ("bucket.with.dots", "a/b")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")


# Drip


def test_drip_lands_new_days_and_songs_without_touching_landed_files(tmp_path):
    generate_dataset(str(tmp_path), workers=1, **TINY)
    before = tree_digest(tmp_path)
    summary = drip(str(tmp_path), **TINY, interval_seconds=0, songs_per_tick=4, max_ticks=3)
    after = tree_digest(tmp_path)
    assert {path: after[path] for path in before} == before
    new = sorted(set(after) - set(before))
    assert [p for p in new if p.startswith("log_data/")] == [
        "log_data/2018/11/2018-11-03-events.json",
        "log_data/2018/11/2018-11-04-events.json",
        "log_data/2018/11/2018-11-05-events.json",
    ]
    assert len([p for p in new if p.startswith("song_data/")]) == 12
    assert (summary.event_files, summary.song_files) == (3, 12)
    assert summary.events > 0 and 0 < summary.plays < summary.events
    assert hidden_files(tmp_path) == []


def test_drip_continues_session_ids_after_the_dataset(tmp_path):
    generate_dataset(str(tmp_path / "full"), workers=1, **{**TINY, "days": 3})
    drip(str(tmp_path / "dripped"), **TINY, interval_seconds=0, max_ticks=1)
    day = "log_data/2018/11/2018-11-03-events.json"
    assert (tmp_path / "dripped" / day).read_bytes() != b""
    full_ids = session_ids(tmp_path / "full" / day)
    dripped = session_ids(tmp_path / "dripped" / day)
    landed_days = [p for p in (tmp_path / "full/log_data").rglob("*.json") if p.name < "2018-11-03"]
    earlier = set().union(*map(session_ids, landed_days))
    assert min(dripped) > max(earlier), "drip numbers sessions after the landed days"
    assert len(dripped & full_ids) > 0.9 * len(dripped), "the same sessions as if generated"


def test_drip_lands_the_same_bytes_for_the_same_arguments(tmp_path):
    for name in ("one", "two"):
        drip(str(tmp_path / name), **TINY, interval_seconds=0, max_ticks=2)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


def test_dripped_plays_sometimes_reference_songs_that_land_after_them(tmp_path):
    def catalog() -> set[tuple[str, str, float]]:
        songs = (json.loads(p.read_text()) for p in (tmp_path / "song_data").rglob("*.json"))
        return {(s["title"], s["artist_name"], s["duration"]) for s in songs}

    generate_dataset(str(tmp_path), workers=1, **TINY)
    landed_before = catalog()
    drip(str(tmp_path), **TINY, interval_seconds=0, songs_per_tick=5, max_ticks=4)
    landed_after = catalog() - landed_before
    first_dripped_day = tmp_path / "log_data/2018/11/2018-11-03-events.json"
    events = map(json.loads, first_dripped_day.read_text().splitlines())
    plays = [(e["song"], e["artist"], e["length"]) for e in events if e["page"] == "NextSong"]
    late = [play for play in plays if play in landed_after]
    assert 0 < len(late) < 0.1 * len(plays)


def test_drip_stops_when_its_event_is_set(tmp_path):
    stop = threading.Event()
    ticks = collections.Counter()

    def progress(message: str) -> None:
        ticks["seen"] += 1
        if ticks["seen"] == 2:
            stop.set()

    summary = drip(str(tmp_path), **TINY, interval_seconds=0.01, stop=stop, progress=progress)
    assert summary.event_files == 2


def test_drip_stops_promptly_from_another_thread(tmp_path):
    stop = threading.Event()
    kwargs = dict(TINY, interval_seconds=30, stop=stop)
    runner = threading.Thread(target=drip, args=(str(tmp_path),), kwargs=kwargs)
    runner.start()
    deadline = time.monotonic() + 10
    while not list((tmp_path / "log_data").rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive(), "drip must not sleep through its stop event"
    assert len(list((tmp_path / "log_data").rglob("*.json"))) == 1


def test_drip_stops_after_max_seconds(tmp_path):
    began = time.monotonic()
    summary = drip(str(tmp_path), **TINY, interval_seconds=0.05, max_seconds=0.3)
    assert time.monotonic() - began < 2
    assert 1 <= summary.event_files <= 7


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("interval_seconds", -1),
        ("songs_per_tick", -1),
        ("max_ticks", -1),
        ("max_seconds", -0.5),
        ("users", 0),
    ],
)
def test_drip_refuses_bad_arguments_by_name(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        drip(str(tmp_path), **{**TINY, "max_ticks": 1, argument: value})


# S3, through a real S3 API server on loopback


@pytest.mark.s3
def test_generate_to_s3_lands_the_same_bytes_as_to_a_directory(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    summary = generate_dataset(f"s3a://{bucket}/landing/raw", s3_client=client, workers=1, **TINY)
    generate_dataset(str(tmp_path), workers=1, **TINY)
    assert bucket_digest(client, bucket, prefix="landing/raw/") == tree_digest(tmp_path)
    assert summary.song_files == TINY["songs"]


@pytest.mark.s3
def test_drip_to_s3_lands_new_objects(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    ticks = dict(TINY, interval_seconds=0, songs_per_tick=3, max_ticks=2)
    summary = drip(f"s3://{bucket}", s3_client=client, **ticks)
    drip(str(tmp_path), **ticks)
    assert bucket_digest(client, bucket) == tree_digest(tmp_path)
    assert (summary.event_files, summary.song_files) == (2, 6)


@pytest.mark.s3
def test_s3_lander_keys_objects_under_its_prefix(s3_bucket):
    client, bucket = s3_bucket
    lander = open_lander(f"s3a://{bucket}/a/b/", s3_client=client)
    lander.land("log_data/x.json", b"x")
    assert lander.land_many((f"song_data/{i}.json", b"{}") for i in range(40)) == 40
    keys = set(bucket_digest(client, bucket))
    assert keys == {"a/b/log_data/x.json"} | {f"a/b/song_data/{i}.json" for i in range(40)}
