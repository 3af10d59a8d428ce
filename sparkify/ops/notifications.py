"""``sparkify s3 setup-notifications``: S3 event notifications for the landing prefixes, into SQS.

What ``stream.discovery = "notifications"`` reads (``streaming.discovery``): an SQS queue that S3 may
send to, and on each landing bucket a notification of every ``*.json`` object created under its
prefix. Safe to run again: the queue is looked up or created, the policy replaced, and the bucket's
other notifications are kept (S3 replaces a bucket's whole notification configuration on each put).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from checkpoints_config import PipelineConfig
from streaming.discovery import landing_prefixes

ID_PREFIX = "sparkify-"  # our notifications' ids on a bucket: replaced on a rerun, others kept


@dataclass(frozen=True)
class Notifications:
    queue_url: str
    queue_arn: str
    prefixes: dict[str, tuple[str, str]]  # dataset → (bucket, prefix) it announces


def queue_policy(queue_arn: str, buckets: list[str]) -> dict[str, Any]:
    """The queue's access policy: S3 may send messages to it, from these buckets only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "sparkify-s3-events",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{b}" for b in sorted(buckets)]}},
            }
        ],
    }


def with_notifications(existing: dict[str, Any], queue_arn: str, prefixes: dict[str, str]) -> dict[str, Any]:
    """A bucket's notification configuration with ours (one per dataset: created ``*.json`` objects
    under its prefix, to the queue) in place of any earlier ones of ours; everything else kept."""
    merged = {k: v for k, v in existing.items() if k != "ResponseMetadata"}
    queues = [q for q in merged.get("QueueConfigurations", []) if not q.get("Id", "").startswith(ID_PREFIX)]
    for dataset, prefix in sorted(prefixes.items()):
        rules = [{"Name": "suffix", "Value": ".json"}]
        if prefix:
            rules.insert(0, {"Name": "prefix", "Value": prefix})
        queues.append(
            {
                "Id": f"{ID_PREFIX}{dataset}",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": rules}},
            }
        )
    merged["QueueConfigurations"] = queues
    return merged


def setup_notifications(config: PipelineConfig, queue_name: str, s3: Any, sqs: Any) -> Notifications:
    """Create (or find) the queue ``queue_name``, let the landing buckets send to it, and have them
    announce every ``*.json`` object created under the landing prefixes."""
    prefixes = landing_prefixes(config)
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]  # returns the queue if it exists
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    buckets = sorted({bucket for bucket, _ in prefixes.values()})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(queue_policy(arn, buckets))})
    for bucket in buckets:
        mine = {name: prefix for name, (b, prefix) in prefixes.items() if b == bucket}
        existing = s3.get_bucket_notification_configuration(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=with_notifications(existing, arn, mine)
        )
    return Notifications(url, arn, prefixes)
