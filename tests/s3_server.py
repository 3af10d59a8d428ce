"""A real S3 API server on loopback (moto's), for tests that land or read s3a:// paths.

Import the fixtures into a test module that needs them:

    from tests.s3_server import s3_bucket, s3_server  # noqa: F401
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY = SECRET_KEY = "testing"  # moto accepts any; fixed ones keep tests hermetic
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def client(self) -> Any:
        """A boto3 S3 client for this server only, whatever the environment says."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            # Path-style, as s3a is configured against a local server; no proxy for loopback.
            config=Config(s3={"addressing_style": "path"}, proxies={}, retries={"max_attempts": 2}),
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on 127.0.0.1 at a free port for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[tuple[Any, str]]:
    """A fresh, empty bucket: yields (boto3 client, bucket name)."""
    client = s3_server.client()
    bucket = f"sparkify-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


class RestartableS3Server:
    """moto's S3 server on its own free port, which a test can stop and start again on the same port.

    moto keeps buckets and objects in process-global backends, so a server started again in the same
    process serves what the stopped one held: to a client, the outage of one S3 endpoint."""

    def __init__(self) -> None:
        self.port = 0  # a free one, the first time
        self._server: Any = None

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, self.port = self._server.get_host_and_port()
        return S3Server(f"http://{host}:{self.port}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def restartable_s3_server() -> Iterator[tuple[RestartableS3Server, S3Server]]:
    """A dedicated S3 server (not the session's, which other tests use) that the test may stop."""
    server = RestartableS3Server()
    endpoint = server.start()
    try:
        yield server, endpoint
    finally:
        server.stop()
