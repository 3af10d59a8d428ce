"""The stream on s3a://, against a real S3 API server on 127.0.0.1 (moto's): landing prefixes, tables and
checkpoints on S3 end in the star tables of a one-shot backfill over the same files; and
``sparkify generate --drip`` lands its files on S3 through the configured endpoint."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time
import uuid

import pyspark.sql.functions as F
import pytest

from batch_backfill.job import run_backfill
from checkpoints_config import PipelineConfig, load_config
from sparkify.landing import open_lander
from sparkify.ops.cli import main
from sparkify.session import use_s3
from streaming.job import run_stream
from tests.conftest import ROUTING_ONLY
from tests.landing import ALL_FILES, EVENT_FILES, SONG_FILES
from tests.s3_server import S3Server
from tests.stream_process import log_tail, start_stream
from tests.test_backfill import assert_same_star_tables
from tests.test_stream_lifecycle import assert_each_line_staged_once

# Landed after the backfill: a day of plays, and the song file its plays (and earlier ones the backfill
# took without a match) need, so the stream's late-song resolution runs on S3 too.
LATER = ["log_data/2018/12/2018-12-01-events.json", "song_data/B/B/B/TRBBB0000000000004.json"]


def s3_env(server: S3Server, bucket: str) -> dict[str, str]:
    """Landing prefixes, tables and checkpoints in ``bucket`` of ``server``; GX off (routing only)."""
    return {
        "SPARKIFY_PATHS_SONG_DATA": f"s3a://{bucket}/landing/song_data",
        "SPARKIFY_PATHS_LOG_DATA": f"s3a://{bucket}/landing/log_data",
        "SPARKIFY_PATHS_OUTPUT_ROOT": f"s3a://{bucket}/lake",
        "SPARKIFY_S3_ENDPOINT": server.endpoint_url,
        "SPARKIFY_S3_ACCESS_KEY_ID": server.access_key,
        "SPARKIFY_S3_SECRET_ACCESS_KEY": server.secret_key,
        **ROUTING_ONLY,  # GX does not decide what S3 changes (tests/conftest.py)
    }


def land_on_s3(client, bucket: str, names: list[str]) -> None:
    """Land ``names`` (paths like ``log_data/2018/…`` from tests/landing.py) under ``s3a://bucket/landing``."""
    files = {f"song_data/{r}": t for r, t in SONG_FILES.items()}
    files |= {f"log_data/{r}": t for r, t in EVENT_FILES.items()}
    open_lander(f"s3a://{bucket}/landing", client).land_many((name, files[name].encode()) for name in names)


def keys_under(client, bucket: str, prefix: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def staged_files(spark, config: PipelineConfig, batches: str = "") -> set[str]:
    """Files staged (under batch ids starting with ``batches``: ``stream-`` for the stream's)."""
    return {
        r.source_file
        for table in ("staging_events", "staging_songs")
        for r in spark.read.format("delta")
        .load(config.table_path(table))
        .filter(F.col("batch_id").startswith(batches))
        .select("source_file")
        .distinct()
        .collect()
    }


def streamed_files(spark, config: PipelineConfig) -> set[str]:
    return staged_files(spark, config, batches="stream-")


@pytest.mark.spark
@pytest.mark.streaming
@pytest.mark.s3
@pytest.mark.slow
def test_backfill_then_stream_on_s3_end_in_the_reference_tables(spark, s3_server, s3_bucket, reference):
    _, _, _, expected = reference
    client, bucket = s3_bucket
    config = load_config("local", env=s3_env(s3_server, bucket))
    use_s3(spark, config)
    land_on_s3(client, bucket, [f for f in ALL_FILES if f not in LATER])
    run_backfill(spark, config, out=io.StringIO())
    land_on_s3(client, bucket, LATER)

    run_stream(spark, config, available_now=True, out=io.StringIO())

    assert_same_star_tables(spark, config, expected)
    assert_each_line_staged_once(spark, config)
    streamed = {"2018/12/2018-12-01-events.json", "B/B/B/TRBBB0000000000004.json"}
    assert streamed_files(spark, config) == streamed
    # Every query kept its checkpoint on S3, with the batch it committed.
    checkpoints = keys_under(client, bucket, "lake/_checkpoints/")
    for query in ("songs", "events", "songs-dimensions", "events-dimensions"):
        assert f"lake/_checkpoints/{query}/commits/0" in checkpoints, sorted(checkpoints)


def digest(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


@pytest.mark.s3
def test_generate_with_drip_to_s3_from_the_command_line(s3_server, s3_bucket, tmp_path, monkeypatch, capsys):
    """The command line builds its S3 client from the configuration (SPARKIFY_S3_ENDPOINT and keys) and
    lands what it lands locally. (tests/test_landing.py drips to S3 with a client it passes itself.)"""
    client, bucket = s3_bucket
    for key, value in s3_env(s3_server, bucket).items():
        monkeypatch.setenv(key, value)
    args = ["--seed", "7", "--songs", "6", "--users", "3", "--days", "1", "--workers", "1"]
    drip_args = ["--drip", "--interval", "0", "--max-ticks", "2"]

    assert main(["generate", "--out", f"s3a://{bucket}/raw", *args, *drip_args]) == 0
    assert "dripped 10 song files and 2 event files" in capsys.readouterr().out
    assert main(["generate", "--out", str(tmp_path), *args, *drip_args]) == 0

    on_s3 = {k.removeprefix("raw/"): client.get_object(Bucket=bucket, Key=k)["Body"].read()
             for k in keys_under(client, bucket, "")}  # fmt: skip
    local = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert digest(on_s3) == digest(local)
    landed = sorted(k.split("/")[0] for k in on_s3)
    assert (landed.count("song_data"), landed.count("log_data")) == (6 + 10, 1 + 2)  # generated + dripped


# The S3 server goes away for 30 s while the stream runs, then comes back with the same state.

OUTAGE_S = 30.0
WAIT_S = 300.0  # generous: on a loaded 2-core CI machine a stream batch can take tens of seconds
AFTER_OUTAGE = "log_data/2018/12/2018-12-01-events.json"
OUTAGE_ENV = {
    # Every landed file in one batch per query: three batches in all, the outage between them.
    "SPARKIFY_STREAM_MAX_FILES_PER_TRIGGER": "500",
    # The dimension queries run their first batch at start and not again before the stream is stopped
    # (the drain afterwards catches them up): the outage meets only the file queries' trigger loop,
    # which lists the landing prefixes every second, and the lease's heartbeat.
    "SPARKIFY_STREAM_DIMENSIONS_TRIGGER_INTERVAL": "1 hour",
}


def committed(client, bucket: str, query: str, batch: int) -> bool:
    """Whether ``query`` committed micro-batch ``batch``: its checkpoint's commit log, read with boto3,
    so that polling it costs the stream no JVM work."""
    prefix = f"lake/_checkpoints/{query}/commits/"
    return f"{prefix}{batch}" in keys_under(client, bucket, prefix)


def wait_until(condition, process, root, what: str) -> float:
    """Poll ``condition`` until it holds; return how long it took. Fails (and kills the process) if the
    stream exits first or ``WAIT_S`` passes."""
    started = time.monotonic()
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"stream exited ({process.returncode}) before {what}:\n{log_tail(root)}")
        if time.monotonic() - started > WAIT_S:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"no {what} within {WAIT_S:.0f} s:\n{log_tail(root)}")
        time.sleep(0.5)
    return time.monotonic() - started


@pytest.mark.spark
@pytest.mark.streaming
@pytest.mark.s3
@pytest.mark.slow
def test_the_stream_rides_out_a_30_s_s3_outage(spark, reference, restartable_s3_server, tmp_path):
    """The S3 server stops for 30 s while the stream waits for files in its trigger loop (after a batch
    of each query committed), then comes back on the same port with the same objects: the stream
    process stays up (S3A retries each request through the outage: Hadoop's default fs.s3a.retry.limit
    of 7 with exponential backoff from 500 ms waits about a minute), takes a file landed after the
    outage, and ends exact: each line staged once, the star tables those of a one-shot backfill."""
    reference_config, _, _, expected = reference
    outage, server = restartable_s3_server
    client = server.client()
    bucket = f"sparkify-outage-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    env = s3_env(server, bucket)
    land_on_s3(client, bucket, [f for f in ALL_FILES if f != AFTER_OUTAGE])
    process = start_stream(tmp_path, {**env, **OUTAGE_ENV})
    try:
        wait_until(lambda: all(committed(client, bucket, q, 0) for q in ("songs", "events")), process,
                   tmp_path, "first batch of each file query")  # fmt: skip
        outage.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_S:  # the outage itself, watching the process
            assert process.poll() is None, f"stream exited during the outage:\n{log_tail(tmp_path)}"
            time.sleep(0.5)
        outage.start()
        land_on_s3(client, bucket, [AFTER_OUTAGE])
        wait_until(lambda: committed(client, bucket, "events", 1), process, tmp_path, "a batch after it")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 0, log_tail(tmp_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    config = load_config("local", env=env)
    use_s3(spark, config)
    # That process staged every file with a line to stage (the drain below takes no file).
    assert streamed_files(spark, config) == staged_files(spark, reference_config)
    run_stream(spark, config, available_now=True, out=io.StringIO())  # the dimension queries catch up
    assert_same_star_tables(spark, config, expected)
    assert_each_line_staged_once(spark, config)
