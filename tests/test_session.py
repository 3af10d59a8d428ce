"""The Spark session: settings derived from config, cached jar resolution, Java check, and Delta + UTC."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pyspark.sql.functions as F
import pytest
from pyspark.sql import Row
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType
from pyspark.testing import assertDataFrameEqual

import sparkify.session
from checkpoints_config import load_config
from sparkify.session import (
    AWS_SDK_VERSION,
    DELTA_PACKAGE,
    EMR_DYNAMODB_LOG_STORE_JAR,
    HADOOP_AWS_PACKAGE,
    SparkStartError,
    build_spark,
    ivy_dir,
    jar_conf,
    jar_packages,
    log_store_conf,
    log_store_packages,
    manifest_path,
    remember_resolved_jars,
    require_java,
    require_log_store,
    s3a_conf,
    session_conf,
    use_s3,
)

ACCESS_KEY_ID = "AKIATESTSECRET123"
SECRET_ACCESS_KEY = "wJalrTESTSECRETkey/K7MDENG+bPxRfiCY"
PACKAGES = [DELTA_PACKAGE, HADOOP_AWS_PACKAGE]
SIMPLE_PROVIDER = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}


# Settings from the configuration (no JVM)


def test_local_session_is_utc_delta_enabled_tuned_and_on_loopback(tmp_path):
    config = load_config("local", env={"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "7"}, cwd=tmp_path)

    conf = session_conf(config)

    expected = {
        **DELTA_CONF,
        "spark.sql.shuffle.partitions": "7",
        "spark.databricks.delta.snapshotPartitions": "7",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "7",
        "spark.scheduler.mode": "FAIR",
        "spark.driver.memory": "4g",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    }
    assert expected.items() <= conf.items()
    assert [key for key in conf if "s3" in key] == []


def test_yarn_session_leaves_host_and_memory_to_the_cluster(tmp_path):
    conf = session_conf(load_config("emr", env={}, cwd=tmp_path))

    assert DELTA_CONF.items() <= conf.items()
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert {"spark.driver.host", "spark.driver.bindAddress", "spark.driver.memory"}.isdisjoint(conf)


def test_s3a_with_an_endpoint_and_explicit_keys_uses_the_simple_credentials_provider(tmp_path):
    env = {
        "SPARKIFY_S3_ENDPOINT": "http://127.0.0.1:9000",
        "SPARKIFY_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "SPARKIFY_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    config = load_config("s3", env=env, cwd=tmp_path)

    assert s3a_conf(config) == {
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": SIMPLE_PROVIDER,
        "spark.hadoop.fs.s3a.access.key": ACCESS_KEY_ID,
        "spark.hadoop.fs.s3a.secret.key": SECRET_ACCESS_KEY,
    }
    assert s3a_conf(config).items() <= session_conf(config).items()


def test_s3a_without_keys_leaves_credentials_to_the_default_chain(tmp_path):
    config = load_config("s3", env={"SPARKIFY_S3_REGION": "eu-west-1"}, cwd=tmp_path)

    assert s3a_conf(config) == {
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.path.style.access": "false",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }


def test_on_emr_s3_uris_stay_with_emrfs(tmp_path):
    assert "spark.hadoop.fs.s3.impl" not in s3a_conf(load_config("emr", env={}, cwd=tmp_path))


# Delta's DynamoDB log store (s3.log_store = "dynamodb")

LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
DYNAMODB = {"SPARKIFY_S3_LOG_STORE": "dynamodb"}


@pytest.mark.parametrize("profile", ["s3", "emr"])
def test_dynamodb_log_store_sets_delta_s_documented_settings_for_both_s3_schemes(tmp_path, profile):
    config = load_config(profile, env={**DYNAMODB, "SPARKIFY_S3_REGION": "eu-west-1"}, cwd=tmp_path)

    expected = {
        "spark.delta.logStore.s3a.impl": LOG_STORE,
        "spark.delta.logStore.s3.impl": LOG_STORE,
        f"spark.{LOG_STORE}.ddb.tableName": "delta_log",
        f"spark.{LOG_STORE}.ddb.region": "eu-west-1",
    }
    assert log_store_conf(config) == expected
    assert expected.items() <= session_conf(config).items()


def test_dynamodb_table_and_region_may_differ_from_the_defaults(tmp_path):
    env = {
        **DYNAMODB,
        "SPARKIFY_S3_DYNAMODB_TABLE": "lake_commits",
        "SPARKIFY_S3_DYNAMODB_REGION": "us-west-2",
    }
    conf = log_store_conf(load_config("s3", env=env, cwd=tmp_path))

    assert (conf[f"spark.{LOG_STORE}.ddb.tableName"], conf[f"spark.{LOG_STORE}.ddb.region"]) == (
        "lake_commits",
        "us-west-2",
    )


DYNAMODB_PACKAGES = [
    "io.delta:delta-storage-s3-dynamodb:4.2.0",
    "com.amazonaws:aws-java-sdk-dynamodb:1.12.262",
]


def test_dynamodb_log_store_adds_its_package_and_the_sdk_v1_it_leaves_to_the_user(tmp_path):
    packages = log_store_packages(load_config("s3", env=DYNAMODB, cwd=tmp_path))

    assert packages == DYNAMODB_PACKAGES
    assert jar_conf([*PACKAGES, *packages], tmp_path)["spark.jars.packages"].endswith(",".join(packages))


@pytest.mark.parametrize("profile", ["local", "s3", "emr"])
def test_default_log_store_sets_nothing_and_needs_no_package(tmp_path, profile):
    config = load_config(profile, env={}, cwd=tmp_path)

    assert log_store_conf(config) == {}
    assert [key for key in session_conf(config) if "logStore" in key or "DynamoDB" in key] == []
    assert log_store_packages(config) == []


# Jars: which, resolved once, then loaded from disk

SDK_MODULES = [f"software.amazon.awssdk:{m}:2.29.52" for m in ("s3", "s3-transfer-manager")]
S3A_EXCLUDES = [
    "software.amazon.awssdk:bundle",
    "io.netty:*",
    "org.apache.httpcomponents:*",
    "commons-codec:commons-codec",
    "software.amazon.awssdk:annotations",
    "software.amazon.awssdk:crt-core",
    "software.amazon.awssdk:http-auth-aws-eventstream",
    "software.amazon.eventstream:eventstream",
]


def test_s3_sessions_resolve_the_sdk_modules_s3a_uses_not_the_bundle(tmp_path):
    """hadoop-aws's POM brings the whole SDK as one 641 MB bundle: the session excludes it and names the
    modules S3A uses, at the bundle's version (before 2.30, whose default checksum headers many
    S3-compatible servers reject); pyspark's own Netty, HttpClient and codec jars are not fetched again."""
    config = load_config("local", env={}, cwd=tmp_path)

    packages, excludes = jar_packages(config, with_s3=True)

    assert packages == [DELTA_PACKAGE, HADOOP_AWS_PACKAGE, *SDK_MODULES]
    assert excludes == S3A_EXCLUDES
    assert tuple(int(n) for n in AWS_SDK_VERSION.split(".")) < (2, 30)
    assert jar_conf(packages, tmp_path, excludes) == {
        "spark.jars.packages": ",".join(packages),
        "spark.jars.ivy": str(tmp_path),
        "spark.jars.excludes": ",".join(S3A_EXCLUDES),
    }
    assert jar_packages(config, with_s3=False) == ([DELTA_PACKAGE], [])
    assert "spark.jars.excludes" not in jar_conf([DELTA_PACKAGE], tmp_path)


def test_the_s3_profile_resolves_s3a_the_dynamodb_log_store_adds_its_own(tmp_path):
    packages, excludes = jar_packages(load_config("s3", env=DYNAMODB, cwd=tmp_path), with_s3=True)

    assert packages == [DELTA_PACKAGE, HADOOP_AWS_PACKAGE, *SDK_MODULES, *DYNAMODB_PACKAGES]
    assert excludes == S3A_EXCLUDES


def fake_jars(directory: Path, *names: str) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"PK")
    return [str(directory / name) for name in names]


def test_manifest_name_depends_on_the_package_set_and_its_exclusions_not_their_order(tmp_path):
    assert manifest_path(PACKAGES, tmp_path) == manifest_path(list(reversed(PACKAGES)), tmp_path)
    assert manifest_path(PACKAGES, tmp_path) != manifest_path([DELTA_PACKAGE], tmp_path)
    assert manifest_path(PACKAGES, tmp_path).parent == tmp_path
    with_excludes = manifest_path(PACKAGES, tmp_path, S3A_EXCLUDES)
    assert with_excludes == manifest_path(PACKAGES, tmp_path, list(reversed(S3A_EXCLUDES)))
    assert with_excludes not in {
        manifest_path(PACKAGES, tmp_path),
        manifest_path(PACKAGES, tmp_path, S3A_EXCLUDES[:1]),
    }


def test_jar_conf_without_a_manifest_resolves_packages_into_the_ivy_dir(tmp_path):
    assert jar_conf(PACKAGES, tmp_path) == {
        "spark.jars.packages": f"{DELTA_PACKAGE},{HADOOP_AWS_PACKAGE}",
        "spark.jars.ivy": str(tmp_path),
    }


def test_jar_conf_loads_jars_from_a_manifest_whose_files_all_exist(tmp_path):
    jars = fake_jars(tmp_path / "jars", "delta-spark.jar", "hadoop-aws.jar")
    manifest_path(PACKAGES, tmp_path).write_text("\n".join(jars) + "\n")

    assert jar_conf(PACKAGES, tmp_path) == {"spark.jars": ",".join(jars)}


def test_jar_conf_falls_back_to_resolution_when_a_listed_jar_is_gone(tmp_path):
    jars = fake_jars(tmp_path / "jars", "delta-spark.jar", "hadoop-aws.jar")
    manifest_path(PACKAGES, tmp_path).write_text("\n".join(jars) + "\n")
    Path(jars[1]).unlink()

    assert jar_conf(PACKAGES, tmp_path) == {
        "spark.jars.packages": f"{DELTA_PACKAGE},{HADOOP_AWS_PACKAGE}",
        "spark.jars.ivy": str(tmp_path),
    }


def session_with_jars(spark_jars: str) -> SimpleNamespace:
    """Just enough of a SparkSession for remember_resolved_jars: the context's resolved `spark.jars`."""
    conf = {"spark.jars": spark_jars}
    return SimpleNamespace(sparkContext=SimpleNamespace(getConf=lambda: SimpleNamespace(get=conf.get)))


def test_resolved_jars_are_remembered_so_the_next_start_needs_no_network(tmp_path):
    jars = fake_jars(tmp_path / "jars", "delta-spark.jar", "hadoop-aws.jar")

    remember_resolved_jars(session_with_jars(",".join(f"file://{j}" for j in jars)), PACKAGES, tmp_path)

    assert jar_conf(list(reversed(PACKAGES)), tmp_path) == {"spark.jars": ",".join(jars)}


def test_jars_resolved_with_exclusions_are_remembered_under_them(tmp_path):
    jars = fake_jars(tmp_path / "jars", "hadoop-aws.jar", "s3.jar")

    remember_resolved_jars(session_with_jars(",".join(jars)), PACKAGES, tmp_path, S3A_EXCLUDES)

    assert jar_conf(PACKAGES, tmp_path, S3A_EXCLUDES) == {"spark.jars": ",".join(jars)}
    assert "spark.jars.packages" in jar_conf(PACKAGES, tmp_path)  # the same packages with the bundle


def test_unresolved_jars_are_not_remembered(tmp_path):
    jars = fake_jars(tmp_path / "jars", "delta-spark.jar")

    remember_resolved_jars(
        session_with_jars(f"file://{jars[0]},file://{tmp_path}/missing.jar"), PACKAGES, tmp_path
    )

    assert not manifest_path(PACKAGES, tmp_path).exists()


# Java


def fake_java_home(root: Path) -> Path:
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    return root


def test_no_java_anywhere_asks_for_java_17(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(SparkStartError, match="Java 17"):
        require_java()


def test_build_spark_checks_java_before_starting_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SPARKIFY_IVY_DIR", str(tmp_path / "ivy"))

    with pytest.raises(SparkStartError, match="Java 17"):
        build_spark(load_config("local", env={}, cwd=tmp_path))


def test_java_home_or_java_on_path_is_enough(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("JAVA_HOME", str(fake_java_home(tmp_path / "jdk")))
    require_java()

    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(fake_java_home(tmp_path / "usr") / "bin"))
    require_java()


def test_java_home_without_java_fails_even_with_java_on_path(tmp_path, monkeypatch):
    """spark-class runs $JAVA_HOME/bin/java whenever JAVA_HOME is set; PATH is no fallback."""
    monkeypatch.setenv("PATH", str(fake_java_home(tmp_path / "usr") / "bin"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))

    with pytest.raises(SparkStartError, match=r"JAVA_HOME=.*no-jdk.*Java 17"):
        require_java()


# The running session (JVM)


@pytest.mark.spark
def test_delta_table_round_trips_a_frame_with_nulls(spark, tmp_path):
    schema = StructType(
        [
            StructField("user_id", LongType(), False),
            StructField("first_name", StringType(), True),
            StructField("level", StringType(), True),
            StructField("length", DoubleType(), True),
            StructField("start_time", TimestampType(), True),
        ]
    )
    at = datetime.datetime(2018, 11, 15, 0, 30, 26, 796000)
    expected_df = spark.createDataFrame(
        [
            (42, "Ada", "paid", 236.4, at),
            (7, "Lin", "free", 198.0, at),
            (9, None, None, None, None),
        ],
        schema,
    )
    path = str(tmp_path / "users")

    expected_df.write.format("delta").save(path)
    actual_df = spark.read.format("delta").load(path)

    assertDataFrameEqual(actual_df, expected_df)
    assert spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["format"] == "delta"


@pytest.mark.spark
def test_session_renders_timestamps_in_utc(spark):
    ts_df = spark.createDataFrame([Row(ts=1542241826796)], "ts long").select(
        F.timestamp_millis("ts").cast("string").alias("start_time"),
        F.hour(F.timestamp_millis("ts")).alias("hour"),
    )

    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert ts_df.first().asDict() == {"start_time": "2018-11-15 00:30:26.796", "hour": 0}


@pytest.mark.spark
def test_session_has_delta_enabled(spark):
    assert "io.delta.sql.DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.catalog.spark_catalog") == DELTA_CONF["spark.sql.catalog.spark_catalog"]


@pytest.mark.spark
def test_started_session_left_a_jar_manifest_for_an_offline_restart(spark):
    loaded = [
        j.removeprefix("file://") for j in spark.sparkContext.getConf().get("spark.jars", "").split(",")
    ]
    packages, excludes = jar_packages(
        load_config("local", env={}), with_s3=True
    )  # the tests' session has S3A
    conf = jar_conf(packages, ivy_dir(), excludes)

    assert sorted(conf.get("spark.jars", "").split(",")) == sorted(loaded)
    names = {os.path.basename(j) for j in loaded}
    assert {"io.delta_delta-spark_4.1_2.13-4.2.0.jar", "org.apache.hadoop_hadoop-aws-3.4.2.jar"} <= names
    assert {
        "software.amazon.awssdk_s3-2.29.52.jar",
        "software.amazon.awssdk_s3-transfer-manager-2.29.52.jar",
    } <= names
    left_out = (
        "software.amazon.awssdk_bundle",
        "io.netty",
        "software.amazon.awssdk_annotations",
        "software.amazon.eventstream",
    )
    assert not [n for n in names if n.startswith(left_out)]


@pytest.mark.spark
def test_the_scheduler_pools_the_stream_sinks_name_exist(spark):
    from streaming.sink import DimensionSink, RawFilesSink

    sc = spark.sparkContext._jsc.sc()
    for pool in (RawFilesSink.pool, DimensionSink.pool):
        assert sc.getPoolForName(pool).isDefined(), pool
    assert sc.getPoolForName("plays").get().weight() > sc.getPoolForName("dimensions").get().weight()


@pytest.mark.spark
def test_a_log_store_whose_classes_the_jvm_cannot_load_stops_the_start(spark, tmp_path, monkeypatch):
    """The test session has no DynamoDB log store jar: the check says so, naming what to add; with
    classes it has (loaded from jars the way the log store's would be) it lets the session through."""
    emr = load_config("emr", env=DYNAMODB, cwd=tmp_path)
    with pytest.raises(
        SparkStartError, match=f"cannot load {LOG_STORE}: pass --jars {EMR_DYNAMODB_LOG_STORE_JAR}"
    ):
        require_log_store(spark, emr)
    with pytest.raises(
        SparkStartError,
        match=re.escape(
            "io.delta:delta-storage-s3-dynamodb:4.2.0, com.amazonaws:aws-java-sdk-dynamodb:1.12.262"
        ),
    ):
        require_log_store(spark, load_config("s3", env=DYNAMODB, cwd=tmp_path))
    require_log_store(spark, load_config("s3", env={}, cwd=tmp_path))  # the default store: nothing to check

    present = ("io.delta.storage.S3SingleDriverLogStore", "org.apache.hadoop.fs.s3a.S3AFileSystem")
    monkeypatch.setattr(sparkify.session, "DYNAMODB_LOG_STORE_CLASSES", present)
    require_log_store(spark, emr)


# S3A through the SDK modules (JVM, moto on loopback). A jar the modules' resolution lacks shows only when
# the code that needs it first runs: these take the paths that load their own part of the SDK.

MB = 2**20
SHA_LINE = 8 + 1 + 64 + 1  # "%08d <sha-256 hex>\n"


def s3_config(server, tmp_path: Path, **env: str):
    return load_config("s3", env={"SPARKIFY_S3_ENDPOINT": server.endpoint_url, **env}, cwd=tmp_path)


def s3a_path(spark, bucket: str, key: str):
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"s3a://{bucket}/{key}")


@pytest.mark.spark
@pytest.mark.s3
def test_s3a_uploads_in_parts_renames_and_reads_back_through_the_sdk_modules(
    spark, s3_server, s3_bucket, tmp_path
):
    """A 12 MB write in 5 MB parts (S3A's least) is a multipart upload; a rename is a copy, which S3A
    hands to the SDK's transfer manager and its async (Netty) client; the read goes through the sync
    (Apache) client."""
    client, bucket = s3_bucket
    keys = {
        "SPARKIFY_S3_ACCESS_KEY_ID": s3_server.access_key,
        "SPARKIFY_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
    }
    use_s3(spark, s3_config(s3_server, tmp_path, **keys))
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key in ("multipart.size", "multipart.threshold"):
        hadoop_conf.set(f"fs.s3a.bucket.{bucket}.{key}", "5M")  # this bucket's filesystem only
    rows = 12 * MB // SHA_LINE + 1
    text = "".join(f"{i:08d} {hashlib.sha256(str(i).encode()).hexdigest()}\n" for i in range(rows)).encode()
    written, moved = s3a_path(spark, bucket, "written/lines.txt"), s3a_path(spark, bucket, "moved/lines.txt")
    fs = written.getFileSystem(hadoop_conf)

    out = fs.create(written)
    for start in range(0, len(text), MB):
        out.write(bytearray(text[start : start + MB]))
    out.close()
    etag = client.head_object(Bucket=bucket, Key="written/lines.txt")["ETag"]
    renamed = fs.rename(written, moved)
    actual_df = spark.read.text(f"s3a://{bucket}/moved")

    assert etag.strip('"').endswith("-3"), f"not a 3-part upload: ETag {etag}"
    assert renamed
    expected_df = spark.range(rows).select(
        F.format_string("%08d %s", "id", F.sha2(F.col("id").cast("string"), 256)).alias("value")
    )
    assertDataFrameEqual(actual_df, expected_df)


class CredentialsEndpoint(BaseHTTPRequestHandler):
    """A container credentials endpoint (what ECS serves): temporary keys for any GET, paths recorded."""

    requests: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        keys = {
            "AccessKeyId": "from-role",
            "SecretAccessKey": "from-role",
            "Token": "t",
            "Expiration": expires,
        }
        body = json.dumps(keys).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def credentials_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A credentials endpoint on 127.0.0.1: yields its URL and the paths asked for."""
    requests: list[str] = []
    handler = type("Handler", (CredentialsEndpoint,), {"requests": requests})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/credentials", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.spark
@pytest.mark.s3
def test_s3a_takes_keys_from_the_instance_role_provider_of_its_default_chain(
    spark, s3_server, s3_bucket, tmp_path, credentials_endpoint
):
    """With no keys configured S3A asks its default provider list, where IAMInstanceCredentialsProvider
    serves EC2 and ECS: it asks the container endpoint the SDK's setting names (here a local one), then
    the instance metadata service."""
    _, bucket = s3_bucket
    url, requests = credentials_endpoint
    use_s3(spark, s3_config(s3_server, tmp_path))
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    provider = "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"
    hadoop_conf.set(f"fs.s3a.bucket.{bucket}.aws.credentials.provider", provider)  # the session's has keys
    system = spark.sparkContext._jvm.java.lang.System
    schema = StructType([StructField("user_id", LongType(), False), StructField("level", StringType(), True)])
    expected_df = spark.createDataFrame([(1, "paid"), (2, None)], schema)

    system.setProperty("aws.containerCredentialsFullUri", url)
    try:
        expected_df.write.format("delta").save(f"s3a://{bucket}/users")
        actual_df = spark.read.format("delta").load(f"s3a://{bucket}/users")
        assertDataFrameEqual(actual_df, expected_df)
    finally:
        system.clearProperty("aws.containerCredentialsFullUri")
    assert "/credentials" in requests
