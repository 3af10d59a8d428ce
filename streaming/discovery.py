"""Event-driven discovery (``stream.discovery = "notifications"``): S3 event notifications, not listing.

S3 sends an event to an SQS queue for every object created under the landing prefixes
(``sparkify s3 setup-notifications``). :class:`QueueDrainer` moves them into the Delta table
``landed_files`` (dataset, bucket, key, size, event time) and deletes the messages only once that commit
is made; the raw-file queries stream ``landed_files`` (:func:`notified_file_stream`) and read just the
objects of each batch (:func:`read_notified_files`). So the cost of a trigger does not grow with the
files already landed, and replay stays exact: Spark's Delta source keeps its offsets in the checkpoint
like any other, and ``landed_files`` is written insert-only by (bucket, key), so a notification
delivered twice or late changes nothing. This is the shape of Hudi's S3EventsSource and
S3EventsHoodieIncrSource.

A file landed before the queue existed was never announced: the backfill takes it (run it after setting
up the notifications, then the stream; ``streaming.handoff`` drops whatever both took).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from checkpoints_config import PipelineConfig
from sparkify import merge, tables
from sparkify.errors import UsageError
from sparkify.pipeline import ingest
from sparkify.progress import timed
from sparkify.s3 import S3_SCHEMES, split_s3_uri
from sparkify.sources import RAW_GLOB, path_exists, root_prefix, with_file_metadata

log = logging.getLogger(__name__)

RECEIVE_MAX = 10  # SQS's largest batch per ReceiveMessage
# How far back a notification may repeat: SQS keeps a message 14 days at most (MessageRetentionPeriod),
# plus a day for the event's date boundary.
REPEAT_DAYS = 15
GLOB_CHARS = "\\{}[]*?"  # what Hadoop would read as a glob in a path: escaped to mean themselves


@dataclass(frozen=True)
class LandedObject:
    """One object an S3 event announced."""

    bucket: str
    key: str  # decoded: the object's real key
    size: int
    event_time: dt.datetime


def parse_notification(body: str) -> list[LandedObject]:
    """The created objects an SQS message body from S3 announces; nothing for S3's ``s3:TestEvent``
    (sent when the notification is set up) or for other events.

    Keys arrive URL-encoded with ``+`` for a space (S3's documented form), so they are decoded here.

    Example:
        >>> body = ('{"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-05T10:00:00Z",'
        ...         ' "s3": {"bucket": {"name": "b"}, "object": {"key": "log/a+b%2B.json", "size": 3}}}]}')
        >>> [(o.bucket, o.key, o.size) for o in parse_notification(body)]
        [('b', 'log/a b+.json', 3)]
    """
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        log.warning("ignored an SQS message that is not JSON: %.200s", body)
        return []
    found = []
    for record in message.get("Records", []) if isinstance(message, dict) else []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        found.append(
            LandedObject(
                s3["bucket"]["name"],
                urllib.parse.unquote_plus(s3["object"]["key"]),
                int(s3["object"].get("size", 0)),
                dt.datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")),
            )
        )
    return found


def is_listed(relative_key: str) -> bool:
    """Whether listing the landing prefix would take this object (its key relative to the prefix):
    ``*.json``, and no part hidden (``.`` or ``_`` first: a lander's temporary file), as Spark skips."""
    parts = relative_key.split("/")
    return fnmatch.fnmatchcase(parts[-1], RAW_GLOB) and not any(p[:1] in (".", "_") for p in parts)


LandedRow = tuple[str, str, str, int, dt.datetime, dt.date, dt.datetime]  # a landed_files row


def landing_prefixes(config: PipelineConfig) -> dict[str, tuple[str, str]]:
    """Each dataset's landing (bucket, key prefix: ``""`` or ending in ``/``); a usage error when a
    landing root is not on S3, where nothing announces objects."""
    prefixes = {}
    for dataset in ingest.DATASETS:
        root = ingest.landing_root(config, dataset)
        if root.partition("://")[0] not in S3_SCHEMES:
            raise UsageError(
                f"paths.{dataset.landing_key} = {root!r} is not on S3: notifications need s3:// or s3a:// "
                "landing prefixes (stream.discovery = listing works anywhere)"
            )
        bucket, prefix = split_s3_uri(root)
        prefixes[dataset.name] = (bucket, prefix.rstrip("/") + "/" if prefix else "")
    return prefixes


def landed_rows(
    objects: Sequence[LandedObject], prefixes: dict[str, tuple[str, str]], recorded_at: dt.datetime
) -> list[LandedRow]:
    """``landed_files`` rows for the objects under a landing prefix (:func:`landing_prefixes`) that
    listing would take, one per (bucket, key): the earliest event wins."""
    rows: dict[tuple[str, str], LandedRow] = {}
    for o in sorted(objects, key=lambda o: o.event_time):
        for name, (bucket, head) in prefixes.items():
            if o.bucket == bucket and o.key.startswith(head) and is_listed(o.key[len(head) :]):
                row = (name, o.bucket, o.key, o.size, o.event_time, o.event_time.date(), recorded_at)
                rows.setdefault((o.bucket, o.key), row)
    return list(rows.values())


def repeat_scope(rows: Sequence[LandedRow]) -> str:
    """Where in landed_files an announced object may be already: the same dataset, and an event day no
    more than :data:`REPEAT_DAYS` before the earliest of ``rows``. A notification that comes again (SQS
    delivers at least once, and again after a crash before its delete) carries its first event's time,
    and SQS keeps a message 14 days at most; so the MERGE reads a fortnight, not all history.

    Example:
        >>> t = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
        >>> repeat_scope([("events", "b", "k", 1, t, t.date(), t)])
        "t.dataset IN ('events') AND t.event_date >= DATE'2026-11-20'"
    """
    datasets = ", ".join(f"'{d}'" for d in sorted({r[0] for r in rows}))
    since = min(r[5] for r in rows) - dt.timedelta(days=REPEAT_DAYS)
    return f"t.dataset IN ({datasets}) AND t.event_date >= DATE'{since.isoformat()}'"


class Drained(NamedTuple):
    messages: int  # received, and deleted once recorded
    objects: int  # recorded in landed_files: those under a landing prefix that listing would take


class QueueDrainer:
    """Moves the queue's notifications into ``landed_files``, then deletes them from the queue.

    A crash between the commit and the delete leaves messages that come back and change nothing (the
    table is written insert-only by key); a crash before the commit leaves them to be received again.
    Messages that announce nothing to take (other prefixes, S3's test event) are deleted too.
    """

    def __init__(
        self, spark: SparkSession, config: PipelineConfig, sqs: Any, queue_url: str, batch_max: int
    ) -> None:
        self.spark, self.sqs, self.queue_url, self.batch_max = spark, sqs, queue_url, batch_max
        self.path = config.table_path(tables.LANDED_FILES.name)
        self.prefixes = landing_prefixes(config)

    def drain_once(self, wait_seconds: int = 0) -> Drained:
        """Receive up to ``batch_max`` messages (waiting up to ``wait_seconds`` for the first), record
        what they announce in one commit, delete them."""
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_max:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.batch_max - len(messages)),
                WaitTimeSeconds=0 if messages else wait_seconds,
            )
            received = answer.get("Messages", [])
            if not received:
                break
            messages += received
        if not messages:
            return Drained(0, 0)
        now = dt.datetime.now(dt.UTC)
        rows = landed_rows([o for m in messages for o in parse_notification(m["Body"])], self.prefixes, now)
        if rows:
            with timed(log, f"record {len(rows)} landed object(s)"):
                source = self.spark.createDataFrame(rows, tables.LANDED_FILES.schema)
                merge.upsert(
                    self.spark, self.path, source, ["bucket", "key"], better=None, scope=repeat_scope(rows)
                )
        for i in range(0, len(messages), RECEIVE_MAX):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(messages[i : i + RECEIVE_MAX])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return Drained(len(messages), len(rows))

    def drain_all(self) -> int:
        """Drain until the queue answers empty (``--available-now``: take what has been announced).
        Each receive waits up to a second: SQS answers an immediate receive from a sample of its
        servers, so "nothing" is only believed from a long poll."""
        total = 0
        while (drained := self.drain_once(wait_seconds=1)).messages:
            total += drained.objects
        return total

    def run(self, stop: threading.Event, wait_seconds: int = 1) -> None:
        """Drain until ``stop`` is set, long-polling the queue (the body of the stream's drainer
        thread). An error is logged and the drain retried: the messages stay in the queue meanwhile."""
        while not stop.is_set():
            try:
                self.drain_once(wait_seconds)
            except Exception:
                log.exception("draining %s failed; retrying", self.queue_url)
                stop.wait(5.0)


def queue_url(sqs: Any, queue: str) -> str:
    """``stream.notifications_queue`` as a URL (it may be given as a name)."""
    return queue if "://" in queue else sqs.get_queue_url(QueueName=queue)["QueueUrl"]


def notified_file_stream(spark: SparkSession, config: PipelineConfig, dataset: ingest.Dataset) -> DataFrame:
    """The objects announced under ``dataset``'s prefix, as they are recorded in ``landed_files``."""
    return (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", config.stream.max_files_per_trigger)
        .load(config.table_path(tables.LANDED_FILES.name))
        .filter(F.col("dataset") == dataset.name)
    )


def read_notified_files(root: str, batch_df: DataFrame) -> DataFrame:
    """The whole files of a batch of ``landed_files`` rows, as listing would have read them (the same
    ``source_file``, ``landed_at``, ``value``): each object read by its own path, nothing listed.

    An object deleted since it was announced is skipped with a warning.
    """
    spark = batch_df.sparkSession
    scheme = root.partition("://")[0]  # the root's own: s3a, or s3 on EMR
    paths = [f"{scheme}://{r.bucket}/{r.key}" for r in batch_df.select("bucket", "key").collect()]
    prefix = root_prefix(spark, root)

    def read(some: list[str]) -> DataFrame:
        if not some:
            return spark.createDataFrame([], "source_file STRING, landed_at BIGINT, value STRING")
        files_df = spark.read.format("text").option("wholetext", "true").load([escape_glob(p) for p in some])
        return with_file_metadata(files_df, prefix)

    try:
        return read(paths)
    except AnalysisException as error:
        if "PATH_NOT_FOUND" not in str(error):
            raise
        present = [p for p in paths if path_exists(spark, p)]
        log.warning("skipped %d announced object(s) no longer there", len(paths) - len(present))
        return read(present)


def escape_glob(path: str) -> str:
    """``path`` with Hadoop's glob characters escaped, so that it means exactly that object."""
    return "".join("\\" + c if c in GLOB_CHARS else c for c in path)
