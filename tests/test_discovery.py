"""Event-driven discovery: S3 event notifications through SQS into landed_files, and the stream that
reads them, against moto's real S3 and SQS server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pyspark.sql.functions as F
import pytest
from pyspark.testing import assertDataFrameEqual

from batch_backfill.job import run_backfill
from checkpoints_config import load_config
from sparkify.errors import UsageError
from sparkify.ops.notifications import setup_notifications, with_notifications
from sparkify.s3 import aws_client, s3_client
from sparkify.session import use_s3
from sparkify.tables import LANDED_FILES, STAR_TABLES
from streaming.discovery import (
    QueueDrainer,
    escape_glob,
    is_listed,
    landed_rows,
    landing_prefixes,
    parse_notification,
    repeat_scope,
)
from streaming.job import run_stream
from tests.conftest import ROUTING_ONLY, lake_config
from tests.landing import EVENT_FILES, SONG_FILES

T0 = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)


def event(key: str, name: str = "ObjectCreated:Put", bucket: str = "b", at: str = "2026-12-05T10:00:00.000Z"):
    return {
        "eventName": name,
        "eventTime": at,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 7}},
    }


def test_a_notification_announces_the_created_objects_with_their_keys_decoded():
    body = json.dumps(
        {
            "Records": [
                event("log_data/2018/11/a+day%2B%25.json"),
                event("log_data/gone.json", name="ObjectRemoved:Delete"),
                event("song_data/A/x.json", at="2026-12-05T10:00:01.500Z"),
            ]
        }
    )
    assert parse_notification(body) == [
        parse_notification(json.dumps({"Records": [event("log_data/2018/11/a+day%2B%25.json")]}))[0],
        parse_notification(
            json.dumps({"Records": [event("song_data/A/x.json", at="2026-12-05T10:00:01.500Z")]})
        )[0],
    ]
    first, second = parse_notification(body)
    assert (first.bucket, first.key, first.size, first.event_time) == (
        "b",
        "log_data/2018/11/a day+%.json",
        7,
        T0,
    )
    assert second.event_time == T0 + dt.timedelta(seconds=1.5)


@pytest.mark.parametrize(
    "body",
    [
        '{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}',  # sent when set up
        "not json",
        "[1, 2]",
    ],
)
def test_a_message_that_announces_no_object_gives_nothing(body):
    assert parse_notification(body) == []


@pytest.mark.parametrize(
    ("relative", "listed"),
    [
        ("A/B/TRX.json", True),
        ("2018/11/2018-11-01-events.json", True),
        ("A/B/TRX.json.tmp", False),
        ("A/.TRX.json", False),  # a lander's hidden temporary file
        ("_tmp/TRX.json", False),
        ("A/B/TRX.JSON", False),  # the glob is case-sensitive, as Spark's
    ],
)
def test_an_object_is_taken_exactly_when_listing_would_take_it(relative, listed):
    assert is_listed(relative) is listed


def test_landed_rows_keep_the_objects_under_a_landing_root_once_with_their_earliest_event():
    parsed = parse_notification(
        json.dumps(
            {
                "Records": [
                    event("landing/log_data/d2.json", at="2026-12-05T10:00:09.000Z"),
                    event("landing/log_data/d2.json", at="2026-12-05T10:00:00.000Z"),  # out of order
                    event("landing/song_data/A/s.json"),
                    event("landing/song_data/A/s.json"),  # delivered twice
                    event("landing/log_data/_hidden/x.json"),
                    event("elsewhere/log_data/d3.json"),
                    event("landing/log_data/d4.json", bucket="other"),
                ]
            }
        )
    )
    prefixes = {"songs": ("b", "landing/song_data/"), "events": ("b", "landing/log_data/")}
    assert sorted(landed_rows(parsed, prefixes, T0)) == [
        ("events", "b", "landing/log_data/d2.json", 7, T0, T0.date(), T0),
        ("songs", "b", "landing/song_data/A/s.json", 7, T0, T0.date(), T0),
    ]


def test_recording_looks_for_repeats_in_the_batch_s_datasets_over_the_days_a_message_can_come_back():
    day = dt.timedelta(days=1)
    rows = [
        ("songs", "b", "k1", 1, T0, T0.date(), T0),
        ("events", "b", "k2", 1, T0 - 3 * day, (T0 - 3 * day).date(), T0),
    ]
    assert repeat_scope(rows) == "t.dataset IN ('events', 'songs') AND t.event_date >= DATE'2026-11-17'"


def test_glob_characters_in_a_key_are_escaped_to_mean_themselves():
    assert escape_glob("s3a://b/log/a[1]{x}*?.json") == "s3a://b/log/a\\[1\\]\\{x\\}\\*\\?.json"
    assert escape_glob("s3a://b/log/plain name.json") == "s3a://b/log/plain name.json"


def test_a_rerun_replaces_our_notifications_and_keeps_the_bucket_s_others():
    theirs = {"Id": "theirs", "QueueArn": "arn:aws:sqs:us-east-1:1:q", "Events": ["s3:ObjectRemoved:*"]}
    existing = {"ResponseMetadata": {}, "QueueConfigurations": [theirs], "TopicConfigurations": [{"Id": "t"}]}
    once = with_notifications(existing, "arn:q", {"songs": "landing/song_data/"})
    assert with_notifications(once, "arn:q", {"songs": "landing/song_data/"}) == once
    assert once == {
        "TopicConfigurations": [{"Id": "t"}],
        "QueueConfigurations": [
            theirs,
            {
                "Id": "sparkify-songs",
                "QueueArn": "arn:q",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": "landing/song_data/"},
                            {"Name": "suffix", "Value": ".json"},
                        ]
                    }
                },
            },
        ],
    }


def test_notifications_need_landing_prefixes_on_s3(tmp_path):
    with pytest.raises(UsageError, match=r"paths.song_data = .* is not on S3"):
        setup_notifications(lake_config(tmp_path), "q", s3=None, sqs=None)
    with pytest.raises(UsageError, match=r"paths.song_data = .* is not on S3"):
        QueueDrainer(None, lake_config(tmp_path), sqs=None, queue_url="q", batch_max=10)


def test_landing_prefixes_are_bucket_and_key_prefix_whatever_the_scheme_and_slashes():
    env = {"SPARKIFY_PATHS_SONG_DATA": "s3://b1/landing/song_data/", "SPARKIFY_PATHS_LOG_DATA": "s3a://b2"}
    assert landing_prefixes(load_config("s3", env=env)) == {
        "songs": ("b1", "landing/song_data/"),
        "events": ("b2", ""),
    }


def s3_config(s3_server, bucket: str, **env: str):
    base = {
        "SPARKIFY_PATHS_SONG_DATA": f"s3a://{bucket}/landing/song_data",
        "SPARKIFY_PATHS_LOG_DATA": f"s3a://{bucket}/landing/log_data",
        "SPARKIFY_PATHS_OUTPUT_ROOT": f"s3a://{bucket}/lake",
        "SPARKIFY_S3_ENDPOINT": s3_server.endpoint_url,
        "SPARKIFY_S3_ACCESS_KEY_ID": s3_server.access_key,
        "SPARKIFY_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "SPARKIFY_S3_PATH_STYLE": "true",
    }
    return load_config("s3", env={**base, **ROUTING_ONLY, **env})


@pytest.fixture
def sqs_server(s3_server, monkeypatch):
    """SQS on the same moto server: ``[s3] endpoint`` is S3's alone, so boto3 finds SQS's endpoint in
    its own environment variable, as it would a user's local server's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", s3_server.endpoint_url)
    return s3_server


def received_keys(sqs, url: str) -> list[str]:
    keys = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            keys += [o.key for o in parse_notification(m["Body"])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sorted(keys)


@pytest.mark.s3
def test_set_up_notifications_announce_json_objects_under_the_landing_prefixes(sqs_server, s3_bucket):
    s3_server = sqs_server
    client, bucket = s3_bucket
    config = s3_config(s3_server, bucket)
    sqs = aws_client(config, "sqs")
    queue = f"q-{uuid.uuid4().hex[:8]}"
    first = setup_notifications(config, queue, s3_client(config), sqs)
    again = setup_notifications(config, queue, s3_client(config), sqs)  # safe to run again
    assert again == first
    ours = client.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert sorted(q["Id"] for q in ours) == ["sparkify-events", "sparkify-songs"]
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=first.queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert policy["Statement"][0]["Condition"] == {"ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{bucket}"]}}

    for key in (
        "landing/log_data/2018/a b.json",
        "landing/song_data/A/x.json",
        "landing/log_data/x.txt",
        "other/y.json",
    ):
        client.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    assert received_keys(sqs, first.queue_url) == [
        "landing/log_data/2018/a b.json",
        "landing/song_data/A/x.json",
    ]


def put_files(client, bucket: str, files: dict[str, str]) -> None:
    for key, text in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=text.encode())


def landing_keys(prefix: str, files: dict[str, str]) -> dict[str, str]:
    return {f"landing/{prefix}/{rel}": text for rel, text in files.items()}


SONGS, EVENTS = landing_keys("song_data", SONG_FILES), landing_keys("log_data", EVENT_FILES)


class DiesDeleting:
    """An SQS client whose first delete fails: the drainer dies after its commit, before the delete."""

    def __init__(self, sqs):
        self.sqs, self.deletes = sqs, 0

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def delete_message_batch(self, **kwargs):
        self.deletes += 1
        if self.deletes == 1:
            raise ConnectionError("killed after recording, before deleting")
        return self.sqs.delete_message_batch(**kwargs)


@pytest.mark.spark
@pytest.mark.s3
@pytest.mark.slow
def test_the_stream_takes_announced_files_once_whatever_the_notifications_and_the_backfill_the_rest(
    spark, sqs_server, s3_bucket, reference
):
    s3_server = sqs_server
    client, bucket = s3_bucket
    config = s3_config(s3_server, bucket)
    use_s3(spark, config)
    sqs = aws_client(config, "sqs")
    before_queue = {k: v for k, v in SONGS.items() if "/A/" in k} | dict(list(EVENTS.items())[:1])
    put_files(client, bucket, before_queue)  # landed before the notifications existed: never announced
    run_backfill(spark, config, out=io.StringIO())

    done = setup_notifications(config, f"q-{uuid.uuid4().hex[:8]}", s3_client(config), sqs)
    sqs.set_queue_attributes(QueueUrl=done.queue_url, Attributes={"VisibilityTimeout": "1"})
    later = {k: v for k, v in {**SONGS, **EVENTS}.items() if k not in before_queue}
    put_files(client, bucket, later)
    put_files(client, bucket, dict(list(later.items())[:1]))  # announced twice
    put_files(client, bucket, dict(list(before_queue.items())[:1]))  # a backfilled file, announced now

    # The drainer dies between its commit and deleting the messages: they come back, and change nothing.
    drainer = QueueDrainer(spark, config, DiesDeleting(sqs), done.queue_url, batch_max=100)
    with pytest.raises(ConnectionError):
        drainer.drain_once()
    landed_path = config.table_path(LANDED_FILES.name)
    recorded = spark.read.format("delta").load(landed_path).select("dataset", "bucket", "key").collect()
    announced = {**later, **dict(list(before_queue.items())[:1])}
    expected = [("songs" if "song_data" in k else "events", bucket, k) for k in announced]
    assertDataFrameEqual(recorded, expected, checkRowOrder=False)

    env = {
        "SPARKIFY_STREAM_DISCOVERY": "notifications",
        "SPARKIFY_STREAM_NOTIFICATIONS_QUEUE": done.queue_url,
    }
    streaming = s3_config(s3_server, bucket, **env)
    out = io.StringIO()
    run_stream(spark, streaming, available_now=True, out=out)
    assert "new file(s) announced" in out.getvalue()

    landed = spark.read.format("delta").load(landed_path).select("dataset", "bucket", "key", "size")
    sizes = [(d, b, k, len(announced[k].encode())) for d, b, k in expected]
    assertDataFrameEqual(landed, sizes, checkRowOrder=False)
    attributes = sqs.get_queue_attributes(QueueUrl=done.queue_url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == ("0", "0")
    _, _, _, expected_tables = reference
    for spec in STAR_TABLES:
        actual = spark.read.format("delta").load(streaming.table_path(spec.name))
        assertDataFrameEqual(actual, expected_tables[spec.name].collect(), checkRowOrder=False)
    for staging in ("staging_songs", "staging_events"):
        staged = spark.read.format("delta").load(streaming.table_path(staging))
        assert staged.count() == staged.select("source_file", "line_number").distinct().count()
    stream_batches = (
        spark.read.format("delta")
        .load(streaming.table_path("staging_events"))
        .filter(F.col("batch_id").startswith("stream-"))
        .select("source_file")
        .distinct()
    )
    assertDataFrameEqual(
        stream_batches,
        [(k.removeprefix("landing/log_data/"),) for k in later if "log_data" in k],
        checkRowOrder=False,
    )


@pytest.mark.s3
def test_draining_goes_on_past_messages_that_announce_nothing_and_deletes_them(sqs_server, s3_bucket):
    _, bucket = s3_bucket
    config = s3_config(sqs_server, bucket)
    sqs = aws_client(config, "sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}
    elsewhere = {"Records": [event("other/prefix/x.json", bucket=bucket)]}
    for body in (test_event, elsewhere, test_event):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    drainer = QueueDrainer(None, config, sqs, url, batch_max=1)  # one message a drain; no Spark needed
    assert drainer.drain_all() == 0
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )
