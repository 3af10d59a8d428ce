"""Load the pipeline's configuration: a TOML profile, an optional file over it, then the environment.

Precedence, lowest first: the built-in profile (``local``, ``s3``, ``emr``), a config file (TOML, or the
classic ``dl.cfg``), then ``SPARKIFY_<SECTION>_<KEY>`` environment variables. The result is one frozen
:class:`PipelineConfig`, loaded once at the edge of a job and passed down as plain values.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent
FAIR_POOLS = PROFILE_DIR / "fairscheduler.xml"  # the stream's scheduler pools (see sparkify.session)
PROFILES = ("local", "s3", "emr")
DEFAULT_PROFILE = "local"
ENV_PREFIX = "SPARKIFY_"


class ConfigError(ValueError):
    """A configuration source is missing, malformed, or names keys that do not exist."""


@dataclass(frozen=True)
class Secret:
    """A credential that never shows itself in repr, str or logs; call :meth:`reveal` to use it."""

    value: str = dataclasses.field(repr=False, default="")

    def reveal(self) -> str:
        return self.value

    def __bool__(self) -> bool:
        return bool(self.value)

    def __str__(self) -> str:
        return "****" if self.value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"


@dataclass(frozen=True)
class Paths:
    """Where landing data, tables and checkpoints live (local directories or s3a:// / s3:// URIs)."""

    song_data: str
    log_data: str
    output_root: str
    checkpoint_root: str = ""
    archive_root: str = ""


@dataclass(frozen=True)
class SparkSettings:
    master: str
    driver_memory: str
    shuffle_partitions: int
    max_partition_bytes: str
    open_cost_bytes: str
    ui_enabled: bool


CLEAN_SOURCE = ("off", "archive")
DISCOVERY = ("listing", "notifications")


@dataclass(frozen=True)
class StreamSettings:
    """Triggers and limits of the stream's queries (see streaming/job.py)."""

    trigger_interval: str  # the events query: how often to look for new event files
    # the songs query: song files only match plays (a play staged before its song resolves later), so
    # they are taken in fewer, larger batches and leave the cores to the event files' way to songplays
    songs_trigger_interval: str
    max_files_per_trigger: int
    dimensions_trigger_interval: str  # the queries that update the dimensions from staging
    # "off" (every profile): nothing under the landing prefixes is moved; "archive": move a file out of
    # the landing prefix once its batch is committed (streaming.sources.raw_file_stream)
    clean_source: str
    # Spark's adaptive query execution in the stream's micro-batches: it re-plans each query stage by
    # stage, which on batches of a few files costs more than its coalescing saves with few shuffle
    # partitions (the local profiles: off); a cluster's many shuffle partitions want it (emr: on).
    adaptive_execution: bool
    # Spark's generated code in the stream's micro-batches (whole-stage codegen and generated
    # projections): on batches of a few thousand rows, generating and compiling the code (about a fifth
    # of the JVM's CPU in a profile of the local drip) costs more than interpreting the rows (the local
    # profiles: off); a cluster's larger batches want it (emr: on).
    code_generation: bool
    # How the raw-file queries find new files: "listing" (Spark's file source lists the landing prefix
    # every trigger, so its cost grows with the files still there) or "notifications" (S3 event
    # notifications to the SQS queue ``notifications_queue``, recorded in landed_files: flat; S3 only).
    discovery: str = "listing"
    notifications_queue: str = ""  # the SQS queue's URL or name (sparkify s3 setup-notifications)

    def __post_init__(self) -> None:
        if self.clean_source not in CLEAN_SOURCE:
            raise ConfigError(
                f"stream.clean_source must be one of {', '.join(CLEAN_SOURCE)}, got {self.clean_source!r}"
            )
        if self.discovery not in DISCOVERY:
            raise ConfigError(
                f"stream.discovery must be one of {', '.join(DISCOVERY)}, got {self.discovery!r}"
            )
        if self.discovery == "notifications" and not self.notifications_queue:
            raise ConfigError(
                "stream.discovery = notifications needs stream.notifications_queue (an SQS queue URL or "
                "name; `sparkify s3 setup-notifications` creates one)"
            )
        if self.discovery == "notifications" and self.clean_source == "archive":
            raise ConfigError(
                "stream.clean_source = archive keeps the listing small; with stream.discovery = "
                "notifications nothing lists the prefix, so leave clean_source off"
            )


LOG_STORES = ("default", "dynamodb")


@dataclass(frozen=True)
class S3Settings:
    """S3 access; empty keys mean the default AWS credential chain (instance profile on EMR)."""

    endpoint: str
    region: str
    path_style: bool
    access_key_id: Secret
    secret_access_key: Secret
    # Delta's log store for s3:// and s3a:// tables. "default": safe for one writing driver at a time,
    # which the writer lease ensures; "dynamodb": Delta's S3DynamoDBLogStore, whose DynamoDB table gives
    # the mutual exclusion S3 lacks, for lakes deliberately written by two drivers at once
    # (sparkify.session.log_store_conf; README, "S3 and EMR").
    log_store: str = "default"
    dynamodb_table: str = "delta_log"  # Delta's default; every writer must name the same table and region
    dynamodb_region: str = ""  # empty: s3.region

    def __post_init__(self) -> None:
        if self.log_store not in LOG_STORES:
            raise ConfigError(f"s3.log_store must be one of {', '.join(LOG_STORES)}, got {self.log_store!r}")
        if self.log_store == "dynamodb" and not self.dynamodb_table:
            raise ConfigError('s3.dynamodb_table must name a DynamoDB table when s3.log_store = "dynamodb"')

    @property
    def log_store_region(self) -> str:
        """The DynamoDB table's region: ``dynamodb_region``, or the lake's own S3 region."""
        return self.dynamodb_region or self.region


MIN_LEASE_TTL_SECONDS = 3


@dataclass(frozen=True)
class LeaseSettings:
    """The writer lease (sparkify/ops/lease.py): one writing job at a time per lake."""

    # A writer that stops renewing (crashed, partitioned) can be taken over this long after its last
    # heartbeat; it renews every ttl/4. Restarting a crashed job on the same machine does not wait.
    ttl_seconds: int

    def __post_init__(self) -> None:
        # Below a few seconds a GC pause or one slow S3 request would cost a healthy writer its lease.
        if self.ttl_seconds < MIN_LEASE_TTL_SECONDS:
            raise ConfigError(
                f"lease.ttl_seconds must be at least {MIN_LEASE_TTL_SECONDS}, got {self.ttl_seconds}"
            )


# Delta refuses a VACUUM that keeps less than 7 days (spark.databricks.delta.retentionDurationCheck):
# files a writer wrote but has not committed yet look unreferenced. The window never goes below it.
MIN_TIME_TRAVEL_DAYS = 7


@dataclass(frozen=True)
class RetentionSettings:
    """How far back the tables can be read (``sparkify query --as-of-*``, ``changes``, ``restore``).

    One number, applied to every table as the three Delta properties that bound time travel
    (sparkify.tables.retention_properties): the log's commits, the checkpoints, and the files a commit
    removed, which VACUUM (``sparkify maintain``) deletes only once they are older than this.
    """

    time_travel_days: int

    def __post_init__(self) -> None:
        if self.time_travel_days < MIN_TIME_TRAVEL_DAYS:
            raise ConfigError(
                f"retention.time_travel_days must be at least {MIN_TIME_TRAVEL_DAYS} (Delta's VACUUM safety "
                f"check: a shorter one can delete files a running writer has not committed yet), "
                f"got {self.time_travel_days}"
            )


@dataclass(frozen=True)
class QualitySettings:
    """Validation of every batch (expectations/): Great Expectations, and policies over the suites'."""

    # false: GX does not run and quality_results gets nothing; the suites still route rows to the
    # quarantine (benchmarks compare the two; a fail expectation then fails on any failing row)
    great_expectations: bool
    # "<suite>.<expectation>=<warn|quarantine|fail>, ..." over the policy in the suite's JSON
    policies: str = ""

    def __post_init__(self) -> None:
        self.policy_overrides  # noqa: B018  (refuse a malformed value when the configuration loads)

    @property
    def policy_overrides(self) -> dict[str, str]:
        """``policies`` as ``{"<suite>.<expectation>": policy}`` (names are checked against the suites)."""
        out = {}
        for item in filter(None, (part.strip() for part in self.policies.split(","))):
            key, sep, policy = (x.strip() for x in item.partition("="))
            if not sep or "." not in key or policy not in POLICIES:
                raise ConfigError(
                    f"quality.policies: {item!r} is not <suite>.<expectation>=<{'|'.join(POLICIES)}>"
                )
            out[key] = policy
        return out


POLICIES = ("warn", "quarantine", "fail")


@dataclass(frozen=True)
class EmrSettings:
    """Deploying the stream to AWS EMR (``sparkify emr``, sparkify/ops/emr.py); no job reads it. Region and
    keys are the ``[s3]`` section's (empty keys: the default credential chain)."""

    release_label: str  # emr-spark-8.x: the Spark 4.1 + Delta 4.2 this project is pinned to
    log_uri: (
        str  # s3:// prefix for the cluster's (or the Serverless job's) logs; `sparkify emr logs` reads it
    )
    service_role: str  # EMR on EC2: the cluster's service role
    instance_profile: str  # EMR on EC2: the nodes' role (EC2 instance profile), what the stream runs as
    execution_role_arn: str  # EMR Serverless: the job run's role (what the stream runs as)
    instance_type: str
    instance_count: int  # a new cluster's nodes, the primary included
    subnet_id: str  # empty: EMR's default VPC subnet
    python: str  # the nodes' interpreter the bootstrap installs into and the driver runs on
    # EMR Serverless STREAMING mode restarts a failed run from its checkpoint up to this often an hour
    max_failed_attempts_per_hour: int

    def __post_init__(self) -> None:
        if self.instance_count < 1:
            raise ConfigError(f"emr.instance_count must be at least 1, got {self.instance_count}")
        if not 1 <= self.max_failed_attempts_per_hour <= 10:
            raise ConfigError(
                f"emr.max_failed_attempts_per_hour must be 1 to 10, got {self.max_failed_attempts_per_hour}"
            )


SECTIONS: dict[str, type] = {
    "paths": Paths,
    "spark": SparkSettings,
    "stream": StreamSettings,
    "s3": S3Settings,
    "lease": LeaseSettings,
    "retention": RetentionSettings,
    "quality": QualitySettings,
    "emr": EmrSettings,
}


@dataclass(frozen=True)
class PipelineConfig:
    """The effective configuration of one job run."""

    profile: str
    sources: tuple[str, ...]
    paths: Paths
    spark: SparkSettings
    stream: StreamSettings
    s3: S3Settings
    lease: LeaseSettings
    retention: RetentionSettings
    quality: QualitySettings
    emr: EmrSettings

    def table_path(self, table: str) -> str:
        """Every table lives at ``<output root>/<table name>``."""
        return join_path(self.paths.output_root, table)

    def checkpoint_path(self, query: str) -> str:
        root = self.paths.checkpoint_root or join_path(self.paths.output_root, "_checkpoints")
        return join_path(root, query)

    def archive_path(self, landing_root: str) -> str:
        """Where ``stream.clean_source = "archive"`` moves the files it took from ``landing_root``: by
        default ``_archive`` beside it (Spark wants the same filesystem, so on S3 the same bucket), each
        file under its full original path (``sparkify.sources.archived_root``: where a root's files go)."""
        return self.paths.archive_root or join_path(landing_root.rstrip("/").rsplit("/", 1)[0], "_archive")

    @property
    def lease_path(self) -> str:
        """Where the writer lease's records live: beside the tables, so one lake has one lease."""
        return join_path(self.paths.output_root, "_lease")

    @property
    def uses_s3(self) -> bool:
        return any(is_s3_uri(p) for p in dataclasses.astuple(self.paths))


def is_s3_uri(path: str) -> bool:
    return path.startswith(("s3://", "s3a://", "s3n://"))


def join_path(root: str, *parts: str) -> str:
    """Join path parts with '/', for local paths and URIs alike (os.path.join would mangle ``s3a://``)."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def load_config(
    spec: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> PipelineConfig:
    """Build the effective configuration.

    Parameters:
        spec: a profile name (``local``, ``s3``, ``emr``) or the path of a TOML file or classic ``dl.cfg``;
            ``None`` means ``$SPARKIFY_CONFIG`` or ``local``.
        env: the environment to read overrides from (``os.environ`` by default).
        cwd: what relative local paths are resolved against (the current directory by default).

    Example:
        >>> load_config("local", env={"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "8"}).spark.shuffle_partitions
        8
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    spec = spec or env.get(ENV_PREFIX + "CONFIG") or DEFAULT_PROFILE

    overrides: dict[str, dict[str, Any]]
    if spec in PROFILES:
        profile, overrides, sources = spec, {}, [f"profile {spec}"]
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"--config {spec!r} is neither a profile ({', '.join(PROFILES)}) nor a file")
        profile, overrides = read_config_file(path)
        sources = [f"profile {profile}", str(path)]

    merged = merge_sections(read_profile(profile), overrides)
    env_layer = env_overrides(env)
    if env_layer:
        sources.append("environment")
        merged = merge_sections(merged, env_layer)
    if merged.get("s3", {}).get("endpoint") and not any(
        "path_style" in layer.get("s3", {}) for layer in (overrides, env_layer)
    ):
        # A custom endpoint means an S3-compatible server (MinIO, moto, ...), which wants path-style
        # URLs: SPARKIFY_S3_ENDPOINT alone must be enough on top of a dl.cfg. A file or the
        # environment may still say path_style = false.
        merged["s3"]["path_style"] = True

    sections = {name: build_section(name, cls, merged.get(name, {})) for name, cls in SECTIONS.items()}
    sections["paths"] = resolve_local_paths(sections["paths"], cwd)
    return PipelineConfig(profile=profile, sources=tuple(sources), **sections)


def read_profile(name: str) -> dict[str, dict[str, Any]]:
    with open(PROFILE_DIR / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


def read_config_file(path: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Read a TOML file (optionally naming its base ``profile``) or a classic ``dl.cfg``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it as a UTF-8 text file ({type(e).__name__})") from None
    if path.suffix in (".cfg", ".ini") or text.lstrip().startswith("[AWS]") or "\n[DATA]" in f"\n{text}":
        return parse_dl_cfg(text, source=str(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    profile = data.pop("profile", DEFAULT_PROFILE)
    if profile not in PROFILES:
        raise ConfigError(f"{path}: profile = {profile!r}, expected one of {', '.join(PROFILES)}")
    return profile, data


class _UpperCaseKeys(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr.upper()  # keys are case-insensitive in the wild; normalise


def parse_dl_cfg(text: str, source: str = "dl.cfg") -> tuple[str, dict[str, dict[str, Any]]]:
    """Map the classic Udacity ``dl.cfg`` onto our sections.

    ``[DATA] SONG_DATA / LOG_DATA / OUTPUT_DATA`` become the landing prefixes and the output root;
    ``[AWS]`` keys become S3 credentials (empty: the default chain). The base profile is ``s3`` when any
    path is on S3, else ``local``.
    """
    parser = _UpperCaseKeys(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as e:
        # Not `from e`: configparser's message quotes the offending line, which may hold a secret.
        raise ConfigError(f"{source}: not a valid dl.cfg ({describe_cfg_error(e)})") from None
    if not parser.has_section("DATA"):
        raise ConfigError(f"{source}: dl.cfg lacks a [DATA] section (SONG_DATA, LOG_DATA, OUTPUT_DATA)")
    data = parser["DATA"]
    keys = {"SONG_DATA": "song_data", "LOG_DATA": "log_data", "OUTPUT_DATA": "output_root"}
    paths = {name: strip_quotes(data.get(key, "")) for key, name in keys.items()}
    missing = [key for key, name in keys.items() if not paths[name]]  # after unquoting: '' is missing too
    if missing:
        raise ConfigError(f"{source}: [DATA] lacks {', '.join(missing)}")
    aws = parser["AWS"] if parser.has_section("AWS") else {}
    s3 = {
        "access_key_id": strip_quotes(aws.get("AWS_ACCESS_KEY_ID", "")),
        "secret_access_key": strip_quotes(aws.get("AWS_SECRET_ACCESS_KEY", "")),
    }
    profile = "s3" if any(is_s3_uri(p) for p in paths.values()) else "local"
    return profile, {"paths": paths, "s3": s3}


def describe_cfg_error(e: configparser.Error) -> str:
    """Say where a dl.cfg does not parse without echoing the line: it may be a credential."""
    if isinstance(e, configparser.MissingSectionHeaderError):
        return f"line {e.lineno}: a key before any [SECTION] header"
    if isinstance(e, configparser.ParsingError):
        return f"line {', '.join(str(n) for n, _ in e.errors)}: expected KEY = VALUE"
    if isinstance(e, configparser.DuplicateOptionError):
        return f"line {e.lineno}: {e.option} repeated in [{e.section}]"
    if isinstance(e, configparser.DuplicateSectionError):
        return f"line {e.lineno}: [{e.section}] repeated"
    return type(e).__name__


def strip_quotes(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Pick ``SPARKIFY_<SECTION>_<KEY>`` variables for every known key (others are ignored)."""
    out: dict[str, dict[str, str]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{section}_{f.name}".upper()
            if name in env:
                out.setdefault(section, {})[f.name] = env[name]
    return out


def merge_sections(
    base: Mapping[str, Mapping[str, Any]], top: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Overlay ``top`` on ``base`` key by key, refusing sections and keys the configuration does not have."""
    merged = {name: dict(values) for name, values in base.items()}
    for section, values in top.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section [{section}]; known: {', '.join(SECTIONS)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] must be a table of keys")
        known = {f.name for f in dataclasses.fields(SECTIONS[section])}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown key(s) in [{section}]: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        merged.setdefault(section, {}).update(values)
    return merged


def build_section(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            if f.default is dataclasses.MISSING:
                raise ConfigError(f"[{section}] lacks {f.name!r}")
            continue
        kwargs[f.name] = coerce(f"{section}.{f.name}", f.type, values[f.name])
    return cls(**kwargs)


def coerce(key: str, type_name: Any, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, naming the key when it does not fit."""
    type_name = getattr(type_name, "__name__", type_name)
    if type_name == "Secret":
        return value if isinstance(value, Secret) else Secret(str(value))
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if type_name == "int":
        if isinstance(value, bool | float):  # int(8.5) would silently truncate a TOML float
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


def resolve_local_paths(paths: Paths, cwd: Path) -> Paths:
    """Make local paths absolute so that tables and checkpoints do not move with the working directory."""

    def resolve(p: str) -> str:
        if not p or is_s3_uri(p) or "://" in p:
            return p
        return str((cwd / p).resolve())

    return Paths(**{f.name: resolve(getattr(paths, f.name)) for f in dataclasses.fields(Paths)})


def render(config: PipelineConfig) -> str:
    """The effective configuration as TOML-like text, secrets masked (for ``sparkify config show``)."""
    lines = [f"# profile: {config.profile}; sources, lowest first: {', '.join(config.sources)}"]
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        for f in dataclasses.fields(getattr(config, section)):
            value = getattr(getattr(config, section), f.name)
            if isinstance(value, Secret):
                shown = '"****"' if value else '""  # default credential chain'
            elif isinstance(value, bool):
                shown = str(value).lower()
            elif isinstance(value, int):
                shown = str(value)
            else:
                shown = f'"{value}"'
            lines.append(f"{f.name} = {shown}")
    lines.append(f"\n# tables: {config.table_path('<table>')}")
    lines.append(f"# checkpoints: {config.checkpoint_path('<query>')}")
    lines.append(f"# writer lease: {config.lease_path}")
    return "\n".join(lines) + "\n"
