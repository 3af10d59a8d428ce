"""Drive S3A down each path that loads its own part of the AWS SDK, in a fresh JVM, against moto on loopback.

A missing SDK jar shows only when the code that needs it first runs (the JVM links classes lazily), so
one S3 call proves little: each check below takes a different path through hadoop-aws 3.4.2.

- ``list``, ``write``: the sync S3 client (Apache HTTP client), SimpleAWSCredentialsProvider;
- ``multipart``: a 12 MB write in 5 MB parts (S3ABlockOutputStream's multipart upload);
- ``rename``: a copy: of a small object by the sync client; of one at least ``multipart.threshold`` by
  the transfer manager and its async client (Netty), in parts;
- ``upload``: ``copyFromLocalFile``, the transfer manager's file upload. moto answers the async client's
  ``Expect: 100-continue`` with a bare 100, which the SDK reports as an S3Exception with status 100, with
  the SDK bundle too: that answer counts as "reached the server" (every class linked);
- ``env_chain``: no provider set, so S3A's default list (environment variables first; the keys are in
  this process's environment, which the JVM inherits);
- ``container``, ``instance_profile``: IAMInstanceCredentialsProvider (what EC2 and ECS use) against a
  credentials endpoint served here (container URI, then IMDSv2);
- ``tls``: list, write and a large rename (both clients) over HTTPS: a TLS proxy in front of moto, its
  certificate trusted by the JVM; S3A's ``fs.s3a.ssl.channel.mode`` binds only to the bundle's shaded
  HTTP client, so with the modules the SDK's own TLS setup runs;
- ``delta``: a Delta table written to and read from s3a://;
- ``sdk_default_chain``, ``web_identity``, ``assumed_role`` (extras: not paths the pipeline takes): the
  SDK's own default chain, and the two providers that need the ``sts`` module.

Prints one JSON line per check on stdout; the JVM's output goes to stderr. Run by bench_s3_jars.py:

    .venv/bin/python bench/s3a_probe.py --jars FILE | --packages P,... [--excludes E,...] --ivy DIR
        [--only list,write] [--stop-at-first-failure]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

ACCESS = SECRET = "testing"  # moto takes any keys
ENV_KEYS = {"AWS_ACCESS_KEY_ID": "from-env", "AWS_SECRET_ACCESS_KEY": "from-env"}
REGION = "us-east-1"
MB = 1 << 20
CORE = ("list", "write", "multipart", "rename", "upload", "env_chain", "container", "instance_profile")
CHECKS = (*CORE, "tls", "delta", "sdk_default_chain", "web_identity", "assumed_role")
SIMPLE = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"


class CredentialsEndpoint(BaseHTTPRequestHandler):
    """The container credentials URI and IMDSv2 in one: any GET answers with temporary keys."""

    paths: list[str] = []  # noqa: RUF012  (every request's path: a check asserts its provider came here)

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # IMDSv2's session token
        self.paths.append(self.path)
        self._send("token", "text/plain")

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path.endswith("/security-credentials/"):  # IMDS: the instance's role name
            self._send("probe-role", "text/plain")
            return
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        keys = {"Code": "Success", "AccessKeyId": "from-iam", "SecretAccessKey": "from-iam"}
        self._send(json.dumps({**keys, "Token": "token", "Expiration": expires}), "application/json")


def serve_in_thread(server: Any) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


TLS_CONNECTIONS: list[int] = []  # one entry per connection the TLS proxy accepted


def tls_proxy(target_port: int, work: Path) -> tuple[int, Path]:
    """An HTTPS front for moto (a self-signed certificate for 127.0.0.1), and a Java trust store holding
    the JVM's default CAs (Ivy still reaches Maven Central) plus that certificate."""
    cert, key, store = work / "cert.pem", work / "key.pem", work / "truststore.p12"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    java_home = Path(os.environ.get("JAVA_HOME") or Path(shutil.which("java") or "java").resolve().parents[1])
    shutil.copy(java_home / "lib" / "security" / "cacerts", store)
    subprocess.run(
        ["keytool", "-importcert", "-noprompt", "-alias", "probe", "-file", str(cert),
         "-keystore", str(store), "-storepass", "changeit"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            try:
                secure = context.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                client.close()
                continue
            TLS_CONNECTIONS.append(1)
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pump, args=(secure, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, secure), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], store


def root_cause(error: Exception) -> str:
    """The innermost ``Caused by:`` of a JVM error (else its first line), which names the missing class."""
    lines = [line.strip() for line in str(error).splitlines()]
    causes = [line for line in lines if line.startswith("Caused by:")]
    return (causes[-1] if causes else next((x for x in lines if x), repr(error)))[:400]


class Probe:
    """The session, the servers and one bucket per check (own settings, own S3A filesystem instance)."""

    def __init__(self, spark: Any, endpoint: str, tls_endpoint: str, creds_url: str, s3: Any, work: Path):
        self.spark, self.endpoint, self.tls_endpoint = spark, endpoint, tls_endpoint
        self.creds_url, self.s3, self.work = creds_url, s3, work
        self.jvm = spark.sparkContext._jvm
        self.hconf = spark.sparkContext._jsc.hadoopConfiguration()
        for key, value in {
            "fs.s3a.endpoint": endpoint,
            "fs.s3a.endpoint.region": REGION,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false",
            "fs.s3a.attempts.maximum": "1",
            "fs.s3a.retry.limit": "1",
        }.items():
            self.hconf.set(key, value)

    def bucket(self, provider: str | None = SIMPLE) -> str:
        name = f"probe-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        if provider:
            self.set(name, "aws.credentials.provider", provider)
            self.set(name, "access.key", ACCESS)
            self.set(name, "secret.key", SECRET)
        return name

    def set(self, bucket: str, key: str, value: str) -> None:
        self.hconf.set(f"fs.s3a.bucket.{bucket}.{key}", value)

    def path(self, bucket: str, key: str = "") -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(f"s3a://{bucket}/{key}")

    def fs(self, bucket: str) -> Any:
        return self.path(bucket).getFileSystem(self.hconf)

    def listed(self, bucket: str) -> None:
        self.s3.put_object(Bucket=bucket, Key="dir/object", Body=b"hello")
        listed = self.fs(bucket).listStatus(self.path(bucket, "dir"))
        assert [s.getPath().getName() for s in listed] == ["object"]

    def written(self, bucket: str, size: int = 1000) -> None:
        out = self.fs(bucket).create(self.path(bucket, "written.bin"))
        out.write(bytearray(b"w" * size))
        out.close()
        assert self.s3.head_object(Bucket=bucket, Key="written.bin")["ContentLength"] == size

    def renamed(self, bucket: str, size: int = 5) -> None:
        body = b"m" * size
        self.s3.put_object(Bucket=bucket, Key="a/x.bin", Body=body)
        assert self.fs(bucket).rename(self.path(bucket, "a/x.bin"), self.path(bucket, f"b/{size}.bin"))
        assert self.s3.get_object(Bucket=bucket, Key=f"b/{size}.bin")["Body"].read() == body

    def in_parts(self, bucket: str) -> str:
        """Writes and copies of 5 MB (S3A's least part) and more go in parts, copies through the transfer
        manager. Set before the bucket's filesystem is first made: S3A reads its settings then."""
        self.set(bucket, "multipart.size", "5M")
        self.set(bucket, "multipart.threshold", "5M")
        return bucket

    # the checks

    def check_list(self) -> None:
        self.listed(self.bucket())

    def check_write(self) -> None:
        self.written(self.bucket())

    def check_multipart(self) -> None:
        bucket = self.in_parts(self.bucket())
        self.written(bucket, 12 * MB)
        etag = self.s3.head_object(Bucket=bucket, Key="written.bin")["ETag"]
        assert etag.strip('"').endswith("-3"), f"not a 3-part upload: ETag {etag}"

    def check_rename(self) -> None:
        bucket = self.in_parts(self.bucket())
        self.renamed(bucket)  # a small copy: the sync client
        self.renamed(bucket, 6 * MB)  # the transfer manager and the async client

    def check_upload(self) -> None:
        bucket = self.bucket()
        local = self.work / "upload.bin"
        local.write_bytes(b"u" * 100_000)
        source = self.jvm.org.apache.hadoop.fs.Path(local.as_uri())
        try:
            self.fs(bucket).copyFromLocalFile(False, True, source, self.path(bucket, "up.bin"))
        except Exception as e:
            if "S3Exception: (Service: S3, Status Code: 100" not in root_cause(e):
                raise

    def check_env_chain(self) -> None:
        bucket = self.bucket(provider=None)
        self.hconf.unset("fs.s3a.aws.credentials.provider")
        self.listed(bucket)

    def check_container(self) -> None:
        system = self.jvm.java.lang.System
        system.setProperty("aws.containerCredentialsFullUri", f"{self.creds_url}/credentials")
        try:
            self.listed(self.bucket("org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"))
        finally:
            system.clearProperty("aws.containerCredentialsFullUri")
        assert "/credentials" in CredentialsEndpoint.paths, CredentialsEndpoint.paths

    def check_instance_profile(self) -> None:
        self.jvm.java.lang.System.setProperty("aws.ec2MetadataServiceEndpoint", self.creds_url)
        self.listed(self.bucket("org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"))
        role = "/latest/meta-data/iam/security-credentials/probe-role"
        assert any(p.startswith(role) for p in CredentialsEndpoint.paths), CredentialsEndpoint.paths

    def check_tls(self) -> None:
        bucket = self.in_parts(self.bucket())
        self.set(bucket, "endpoint", self.tls_endpoint)
        self.set(bucket, "connection.ssl.enabled", "true")
        self.listed(bucket)
        self.written(bucket)
        sync_connections = len(TLS_CONNECTIONS)
        self.renamed(bucket, 6 * MB)
        assert sync_connections and len(TLS_CONNECTIONS) > sync_connections, "not through the TLS proxy"

    def check_delta(self) -> None:
        bucket = self.bucket()
        rows = [(1, "a"), (2, None), (3, "c")]
        self.spark.createDataFrame(rows, "id long, v string").write.format("delta").save(f"s3a://{bucket}/t")
        got = self.spark.read.format("delta").load(f"s3a://{bucket}/t").collect()
        assert sorted(tuple(r) for r in got) == rows, got

    def check_sdk_default_chain(self) -> None:
        self.listed(self.bucket("software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"))

    def check_web_identity(self) -> None:
        token = self.work / "web-identity-token"
        token.write_text("token")
        system = self.jvm.java.lang.System
        for key, value in {
            "aws.webIdentityTokenFile": str(token),
            "aws.roleArn": "arn:aws:iam::123456789012:role/probe",
            "aws.endpointUrlSts": self.endpoint,
            "aws.region": REGION,
        }.items():
            system.setProperty(key, value)
        provider = self.jvm.software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider
        assert provider.create().resolveCredentials().accessKeyId()

    def check_assumed_role(self) -> None:
        bucket = self.bucket("org.apache.hadoop.fs.s3a.auth.AssumedRoleCredentialProvider")
        self.set(bucket, "assumed.role.arn", "arn:aws:iam::123456789012:role/probe")
        self.set(bucket, "assumed.role.credentials.provider", SIMPLE)
        self.jvm.java.lang.System.setProperty("aws.endpointUrlSts", self.endpoint)
        self.jvm.java.lang.System.setProperty("aws.region", REGION)
        self.listed(bucket)


def run_checks(probe: Probe, names: list[str], stop_at_first_failure: bool) -> None:
    for name in names:
        check: Callable[[], None] = getattr(probe, f"check_{name}")
        began = time.perf_counter()
        try:
            check()
            result = {"check": name, "ok": True}
        except Exception as e:
            result = {"check": name, "ok": False, "error": root_cause(e)}
        result["seconds"] = round(time.perf_counter() - began, 2)
        print(json.dumps(result), flush=True)
        if stop_at_first_failure and not result["ok"]:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    jars = parser.add_mutually_exclusive_group(required=True)
    jars.add_argument("--jars", type=Path, help="a file listing the jars to load, one a line (no resolution)")
    jars.add_argument("--packages", help="Maven coordinates to resolve, comma-separated")
    parser.add_argument("--excludes", default="", help="groupId:artifactId to leave out, comma-separated")
    parser.add_argument("--ivy", type=Path, help="the Ivy directory for --packages")
    parser.add_argument("--only", default=",".join(CHECKS), help=f"checks to run, of {','.join(CHECKS)}")
    parser.add_argument("--stop-at-first-failure", action="store_true")
    args = parser.parse_args(argv)

    os.environ.update(ENV_KEYS)  # before the JVM starts, for check_env_chain
    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer
    from pyspark.sql import SparkSession

    from checkpoints_config import load_config
    from sparkify.session import session_conf

    work = Path(tempfile.mkdtemp(prefix="s3a-probe-"))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    creds = HTTPServer(("127.0.0.1", 0), CredentialsEndpoint)
    serve_in_thread(creds)
    tls_port, trust_store = tls_proxy(port, work)

    conf = session_conf(load_config("local", env={}))
    conf["spark.ui.enabled"] = "false"
    conf["spark.driver.extraJavaOptions"] += (
        f" -Djavax.net.ssl.trustStore={trust_store} -Djavax.net.ssl.trustStorePassword=changeit"
    )
    if args.jars:
        conf["spark.jars"] = ",".join(args.jars.read_text().split())
    else:
        conf.update({"spark.jars.packages": args.packages, "spark.jars.ivy": str(args.ivy)})
        if args.excludes:
            conf["spark.jars.excludes"] = args.excludes
    builder = SparkSession.builder.master("local[2]").appName("s3a-probe")
    for key, value in conf.items():
        builder = builder.config(key, value)
    began = time.perf_counter()
    spark = builder.getOrCreate()
    loaded = [j for j in spark.sparkContext.getConf().get("spark.jars", "").split(",") if j]
    print(json.dumps({"start_seconds": round(time.perf_counter() - began, 1), "jars": loaded}), flush=True)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, proxies={}),
    )
    tls_endpoint, creds_url = f"https://127.0.0.1:{tls_port}", f"http://127.0.0.1:{creds.server_port}"
    probe = Probe(spark, endpoint, tls_endpoint, creds_url, s3, work)
    try:
        run_checks(probe, args.only.split(","), args.stop_at_first_failure)
    finally:
        spark.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
