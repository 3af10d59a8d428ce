"""The stream on s3a://, against a real S3 API server on 127.0.0.1 (moto's): landing prefixes, tables and
checkpoints on S3 end in the star tables of a one-shot backfill over the same files; and
``sparkify generate --drip`` lands its files on S3 through the configured endpoint."""

from __future__ import annotations

import hashlib
import io

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


def streamed_files(spark, config: PipelineConfig) -> set[str]:
    """Files the stream (not the backfill) staged."""
    return {
        r.source_file
        for table in ("staging_events", "staging_songs")
        for r in spark.read.format("delta")
        .load(config.table_path(table))
        .filter(F.col("batch_id").startswith("stream-"))
        .select("source_file")
        .distinct()
        .collect()
    }


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
