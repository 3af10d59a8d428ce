"""Build the SparkSession every job and test uses: Delta enabled, UTC, tuned for the configured machine.

Delta (and for S3, hadoop-aws with the AWS SDK modules it uses) jars come from Maven Central through
``spark.jars.packages`` the first time; the resolved jar list is then written next to the Ivy cache so
that later starts load the same jars from disk with no network at all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from checkpoints_config import FAIR_POOLS, PipelineConfig

# EMR's emr-spark-8.x bundles Spark 4.1 with Delta 4.2.0; we pin the same pair (see README).
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.2.0"
# hadoop-aws must match the hadoop-client jars inside pyspark 4.1.1 (3.4.2).
HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:3.4.2"
# S3A's AWS SDK v2 as the modules it uses, instead of the shaded `bundle` of every service (641 MB) that
# hadoop-aws's POM pins. Same version as that bundle: SDK releases from 2.30 on send checksum headers by
# default, which many S3-compatible servers reject. `bench/bench_s3_jars.py --drop-each` shows that S3A
# fails without each SDK jar these resolve to (README, "Dependencies").
AWS_SDK_VERSION = "2.29.52"
AWS_SDK_PACKAGES = (
    # the S3 client, and by its POM the Apache (sync) and Netty (async) HTTP clients, auth and regions
    f"software.amazon.awssdk:s3:{AWS_SDK_VERSION}",
    # S3A copies (so renames) and uploads local files through it
    f"software.amazon.awssdk:s3-transfer-manager:{AWS_SDK_VERSION}",
)
S3A_PACKAGES = (HADOOP_AWS_PACKAGE, *AWS_SDK_PACKAGES)
# Left out when resolving them (`groupId:artifactId`, `*` for any):
S3A_EXCLUDES = (
    "software.amazon.awssdk:bundle",  # what the modules replace
    # pyspark's own jars hold these (Netty 4.2, Apache HttpClient 4.5, commons-codec), and the JVM loads
    # their classes from pyspark's copies first whatever else is on the list
    "io.netty:*",
    "org.apache.httpcomponents:*",
    "commons-codec:commons-codec",
    # SDK modules S3A 3.4.2 never reaches: annotations kept only in class files (none at run time), the
    # CRT client's settings (S3A never builds a CRT client), event-stream signing and decoding (S3 Select,
    # the only S3 call that streams events, left S3A in 3.4.0)
    "software.amazon.awssdk:annotations",
    "software.amazon.awssdk:crt-core",
    "software.amazon.awssdk:http-auth-aws-eventstream",
    "software.amazon.eventstream:eventstream",
)
DEFAULT_IVY_DIR = Path.home() / ".cache" / "sparkify" / "ivy"
# s3.log_store = "dynamodb" (Delta's multi-cluster mode on S3; see log_store_conf). The log store needs
# the AWS SDK v1, which its POM leaves to the user ("provided"): hadoop-aws 3.4 brings only SDK v2, so
# off EMR its DynamoDB module comes too, at the version Delta 4.2 builds against.
LOG_STORE_CLASS = "io.delta.storage.S3DynamoDBLogStore"
DYNAMODB_LOG_STORE_PACKAGES = (
    "io.delta:delta-storage-s3-dynamodb:4.2.0",
    "com.amazonaws:aws-java-sdk-dynamodb:1.12.262",
)
EMR_DYNAMODB_LOG_STORE_JAR = "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"
# what must load for it to work: the log store, and the SDK v1 client it builds
DYNAMODB_LOG_STORE_CLASSES = (
    LOG_STORE_CLASS,
    "com.amazonaws.services.dynamodbv2.AmazonDynamoDBClientBuilder",
)


# S3 keys from a config file go to the Hadoop configuration of the started session, never through the
# session builder: pyspark starts the JVM with every builder setting as a `--conf key=value` argument,
# and a process's arguments are readable by every user of the host (`ps`, /proc/<pid>/cmdline).
CREDENTIAL_KEYS = ("spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key")


class SparkStartError(RuntimeError):
    """Spark could not start; the message says what to do about it."""


def build_spark(
    config: PipelineConfig,
    app_name: str = "sparkify",
    extra_conf: Mapping[str, str] | None = None,
    with_s3: bool | None = None,
) -> SparkSession:
    """Start (or return the running) SparkSession for ``config``.

    Parameters:
        config: the effective pipeline configuration (master, memory, partitions, S3 access).
        app_name: shown in the Spark UI and logs.
        extra_conf: settings applied last, e.g. a test session turning the UI off.
        with_s3: load the S3A filesystem even if no configured path is on S3 (a session that will be
            pointed at S3 later with :func:`use_s3`); ``None`` means "if the configuration uses S3".

    Example:
        >>> spark = build_spark(load_config("local"))  # doctest: +SKIP
    """
    on_yarn = config.spark.master.startswith("yarn")
    conf = session_conf(config)
    packages, excludes = jar_packages(config, config.uses_s3 if with_s3 is None else with_s3)
    if not on_yarn:  # on EMR the cluster's delta-defaults classification supplies the jars
        conf.update(jar_conf(packages, ivy_dir(), excludes))
    conf.update(extra_conf or {})
    credentials = {key: conf.pop(key) for key in CREDENTIAL_KEYS if key in conf}

    require_java()
    builder = SparkSession.builder.appName(app_name).master(config.spark.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:
        if "spark.jars.packages" in conf:
            raise SparkStartError(
                f"Spark did not start while resolving {conf['spark.jars.packages']} from Maven Central "
                f"into {ivy_dir()}. Check that https://repo1.maven.org is reachable (or a proxy is set), "
                "or point SPARKIFY_IVY_DIR at a cache that already holds the jars."
            ) from e
        raise SparkStartError(f"Spark did not start: {e}") from e
    set_hadoop_conf(spark, credentials)
    spark.sparkContext.setLogLevel("WARN")
    quiet_known_noise(spark)
    require_log_store(spark, config)
    if "spark.jars.packages" in conf:
        remember_resolved_jars(spark, packages, ivy_dir(), excludes)
    return spark


def quiet_known_noise(spark: SparkSession) -> None:
    """Silence two JVM loggers whose lines say nothing to act on:

    - Delta logs a MERGE that loses a commit race at ERROR, with its stack, before raising it; the
      pipeline retries those (sparkify.retry, which logs a one-line warning), and any other MERGE
      failure still reaches the caller as an exception with its message;
    - Delta's change-feed reader passes its options twice, in two spellings, and Spark warns about each
      on every read (sparkify.song_keys reads the feed every events batch).
    """
    jvm: Any = spark.sparkContext._jvm  # py4j's view of the JVM: untyped, and set while a session runs
    level = jvm.org.apache.logging.log4j.Level
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    configurator.setLevel("org.apache.spark.sql.delta.commands.MergeIntoCommand", level.FATAL)
    configurator.setLevel("org.apache.spark.sql.util.CaseInsensitiveStringMap", level.ERROR)


def session_conf(config: PipelineConfig) -> dict[str, str]:
    """Spark settings derived from the configuration (no jar settings)."""
    s = config.spark
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions),
        # Rebuilding a Delta table's state after each commit: Delta's default of 50 tasks costs a
        # micro-batch ~1 s per MERGE on 2 cores (measured: 3.0 s -> 1.7 s for a small MERGE).
        "spark.databricks.delta.snapshotPartitions": str(s.shuffle_partitions),
        # Listing a table's files in parallel (VACUUM, partition discovery) in as many tasks as a shuffle,
        # not Spark's 10,000: `sparkify maintain` of a lake a 2-minute drip left took 370 and 409 s with
        # those, 91 and 82 s with 4 (local profile, alternating).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(s.shuffle_partitions),
        "spark.sql.files.maxPartitionBytes": s.max_partition_bytes,
        # Thousands of tiny song files: the open cost decides how many land in one partition.
        "spark.sql.files.openCostInBytes": s.open_cost_bytes,
        # The stream's queries share the cores by pool (checkpoints_config/fairscheduler.xml), so the
        # dimension queries' long jobs do not hold up the next batch of new plays.
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": str(FAIR_POOLS),
        "spark.ui.enabled": str(s.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Change data feed on every new table: `sparkify changes` reads it.
        "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
        # Java's default time zone too, so nothing slips through a local-time conversion.
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if s.driver_memory:
        conf["spark.driver.memory"] = s.driver_memory
    if s.master.startswith("local"):
        # Keep a laptop run on loopback whatever the host name resolves to.
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    if config.uses_s3:
        conf.update(s3a_conf(config))
    conf.update(log_store_conf(config))
    return conf


def s3a_conf(config: PipelineConfig) -> dict[str, str]:
    """Hadoop S3A settings: endpoint, path style, and credentials (explicit keys or the default chain)."""
    s3 = config.s3
    conf = {
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
        "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style).lower(),
    }
    if not config.spark.master.startswith("yarn"):
        # Off EMR there is no EMRFS: let s3:// URIs (as in a classic dl.cfg) go through S3A too.
        conf["spark.hadoop.fs.s3.impl"] = "org.apache.hadoop.fs.s3a.S3AFileSystem"
    if s3.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(s3.endpoint.startswith("https")).lower()
    if s3.access_key_id and s3.secret_access_key:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
        conf["spark.hadoop.fs.s3a.access.key"] = s3.access_key_id.reveal()
        conf["spark.hadoop.fs.s3a.secret.key"] = s3.secret_access_key.reveal()
    return conf


def log_store_conf(config: PipelineConfig) -> dict[str, str]:
    """Delta's multi-cluster log store on S3 when ``s3.log_store = "dynamodb"``, else nothing.

    The settings of Delta's "Multi-cluster setup" (docs.delta.io, delta-storage): the log store for both
    schemes a lake path may use (s3a://, and s3:// which is EMRFS on EMR and S3A elsewhere), so no
    writer falls back to the default store, which is the data loss the DynamoDB table prevents; and
    the table and region, which every writer must share. Delta's DynamoDB client takes credentials from
    the AWS default chain, not from S3A's settings.
    """
    s3 = config.s3
    if s3.log_store != "dynamodb":
        return {}
    prefix = f"spark.{LOG_STORE_CLASS}"
    return {
        "spark.delta.logStore.s3a.impl": LOG_STORE_CLASS,
        "spark.delta.logStore.s3.impl": LOG_STORE_CLASS,
        f"{prefix}.ddb.tableName": s3.dynamodb_table,
        f"{prefix}.ddb.region": s3.log_store_region,
    }


def jar_packages(config: PipelineConfig, with_s3: bool) -> tuple[list[str], list[str]]:
    """The Maven packages a session off EMR resolves, and the ``groupId:artifactId`` patterns left out of
    their resolution (``spark.jars.excludes``): Delta always; S3A and its SDK modules ``with_s3``."""
    packages = [DELTA_PACKAGE, *(S3A_PACKAGES if with_s3 else ()), *log_store_packages(config)]
    return packages, list(S3A_EXCLUDES) if with_s3 else []


def log_store_packages(config: PipelineConfig) -> list[str]:
    """The Maven packages the configured log store needs off EMR (none for the default one)."""
    return list(DYNAMODB_LOG_STORE_PACKAGES) if config.s3.log_store == "dynamodb" else []


def require_log_store(spark: SparkSession, config: PipelineConfig) -> None:
    """Fail at start, not at the first commit, when the configured log store's classes are missing.

    On EMR the driver's JVM is started by spark-submit before this code runs, so a jar cannot be added
    from here: the cluster ships the log store at ``EMR_DYNAMODB_LOG_STORE_JAR``, and the step names it.
    """
    if config.s3.log_store != "dynamodb":
        return
    jvm: Any = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    for name in DYNAMODB_LOG_STORE_CLASSES:
        try:
            jvm.java.lang.Class.forName(name, False, loader)
        except Exception:
            where = (
                f"pass --jars {EMR_DYNAMODB_LOG_STORE_JAR} to spark-submit (EMR ships it there)"
                if config.spark.master.startswith("yarn")
                else f"check that {', '.join(DYNAMODB_LOG_STORE_PACKAGES)} resolve from Maven Central"
            )
            raise SparkStartError(
                f's3.log_store = "dynamodb" but the JVM cannot load {name}: {where}, '
                'or set s3.log_store = "default"'
            ) from None


def use_s3(spark: SparkSession, config: PipelineConfig) -> None:
    """Point a running session's S3A filesystem at ``config``'s S3 settings (the session must have been
    built with the S3A jars). Hadoop caches a filesystem per bucket, so this holds for buckets first
    touched after the call."""
    set_hadoop_conf(spark, s3a_conf(config))


def set_hadoop_conf(spark: SparkSession, conf: Mapping[str, str]) -> None:
    """Set ``spark.hadoop.*`` settings on a running session's Hadoop configuration, which every S3A
    filesystem and every task's file access is built from."""
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in conf.items():
        hadoop_conf.set(key.removeprefix("spark.hadoop."), value)


def ivy_dir() -> Path:
    return Path(os.environ.get("SPARKIFY_IVY_DIR") or DEFAULT_IVY_DIR)


def manifest_path(packages: list[str], ivy: Path, excludes: Sequence[str] = ()) -> Path:
    """Where the jar list of one resolution is kept: named by its packages and exclusions (any order)."""
    key = ",".join(sorted(packages)) + (f"|{','.join(sorted(excludes))}" if excludes else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return ivy / f"sparkify-resolved-{digest}.txt"


def jar_conf(packages: list[str], ivy: Path, excludes: Sequence[str] = ()) -> dict[str, str]:
    """Load jars from a previous resolution when all are on disk, else resolve them through Ivy."""
    manifest = manifest_path(packages, ivy, excludes)
    if manifest.is_file():
        jars = manifest.read_text().split()
        if jars and all(Path(j).is_file() for j in jars):
            return {"spark.jars": ",".join(jars)}
    conf = {"spark.jars.packages": ",".join(packages), "spark.jars.ivy": str(ivy)}
    if excludes:
        conf["spark.jars.excludes"] = ",".join(excludes)
    return conf


def remember_resolved_jars(
    spark: SparkSession, packages: list[str], ivy: Path, excludes: Sequence[str] = ()
) -> None:
    """Write the jar paths Ivy resolved, so the next start needs no network."""
    resolved = spark.sparkContext.getConf().get("spark.jars", "")
    jars = [j.removeprefix("file://") for j in resolved.split(",") if j]
    if jars and all(Path(j).is_file() for j in jars):
        manifest = manifest_path(packages, ivy, excludes)
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("\n".join(jars) + "\n")
        tmp.replace(manifest)


def require_java() -> None:
    """Fail before Spark does, with a message that says what to install."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        # spark-class runs $JAVA_HOME/bin/java whenever JAVA_HOME is set, never falling back to PATH.
        if (Path(java_home) / "bin" / "java").is_file():
            return
        raise SparkStartError(
            f"JAVA_HOME={java_home} has no bin/java: point it at a Java 17 installation "
            "(Spark 4.1 needs Java 17) or unset it to use the java on PATH."
        )
    if shutil.which("java"):
        return
    raise SparkStartError(
        "Java was not found: Spark 4.1 needs Java 17. Install it (Debian/Ubuntu: "
        "`apt-get install openjdk-17-jre-headless`; macOS: `brew install openjdk@17`) "
        "or set JAVA_HOME to a Java 17 installation."
    )
