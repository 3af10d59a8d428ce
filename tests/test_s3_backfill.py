"""The backfill reads s3a:// landing prefixes and writes Delta tables on s3a://, against a real S3 API
server on 127.0.0.1 (moto's), configured through the classic dl.cfg plus SPARKIFY_S3_ENDPOINT."""

from __future__ import annotations

import io

import pytest
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import run_backfill
from checkpoints_config import load_config
from sparkify.session import use_s3
from sparkify.tables import STAR_TABLES
from tests.conftest import ROUTING_ONLY
from tests.landing import EVENT_FILES, SONG_FILES

pytestmark = [pytest.mark.spark, pytest.mark.s3, pytest.mark.slow]


def test_backfill_from_and_to_s3_with_a_classic_dl_cfg(spark, s3_server, s3_bucket, reference, tmp_path):
    client, bucket = s3_bucket
    for prefix, files in (("song_data", SONG_FILES), ("log_data", EVENT_FILES)):
        for rel, text in files.items():
            client.put_object(Bucket=bucket, Key=f"landing/{prefix}/{rel}", Body=text.encode())
    dl_cfg = tmp_path / "dl.cfg"
    dl_cfg.write_text(
        f"[AWS]\nAWS_ACCESS_KEY_ID = {s3_server.access_key}\n"
        f"AWS_SECRET_ACCESS_KEY = {s3_server.secret_key}\n\n"
        f"[DATA]\nSONG_DATA = s3a://{bucket}/landing/song_data\nLOG_DATA = s3a://{bucket}/landing/log_data\n"
        f"OUTPUT_DATA = s3a://{bucket}/lake\n"
    )
    # Routing-only: GX does not decide what S3 changes (tests/conftest.py).
    config = load_config(str(dl_cfg), env={"SPARKIFY_S3_ENDPOINT": s3_server.endpoint_url, **ROUTING_ONLY})
    use_s3(spark, config)

    summary = run_backfill(spark, config, out=io.StringIO())

    assert (summary.files, summary.rows_in) == (9, 23)
    _, _, _, expected = reference
    for spec in STAR_TABLES:
        actual = spark.read.format("delta").load(f"s3a://{bucket}/lake/{spec.name}")
        assertDataFrameEqual(actual, expected[spec.name].collect(), checkRowOrder=False)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/songplays/")["Contents"]}
    assert "lake/songplays/_delta_log/00000000000000000000.json" in keys
