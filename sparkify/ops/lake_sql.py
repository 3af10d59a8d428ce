"""SQL on the lake without a JVM: the tables a query names, read by delta-rs, queried by DuckDB.

``sparkify query`` answers in about a second this way (bench/reports/query.md), where Spark first
starts a JVM. Each table the query names is opened at the version the time-travel rules pick
(:mod:`sparkify.ops.time_travel`) and registered as a DuckDB view over an Arrow dataset: DuckDB pushes
the columns and filters it can into the scan, and hands the result back in Arrow batches, which stream.

The Spark engine (``--engine spark``) reads the versions :func:`pin_versions` resolves here too, so the
two engines answer the same question. Nothing here imports pyspark (a test checks it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from checkpoints_config import PipelineConfig, is_s3_uri
from sparkify.errors import UsageError
from sparkify.ops.output import BATCH_ROWS, Rows
from sparkify.ops.time_travel import Commit, resolve_versions
from sparkify.s3 import S3_SCHEMES
from sparkify.table_names import TABLE_NAMES, check_table_name

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    from deltalake import DeltaTable

    from sparkify.ops.time_travel import AsOf

# Reader features a pyarrow dataset of the table's files cannot honour: delta-rs refuses to build one.
ROWS_NOT_IN_FILES = ("deletionVectors", "columnMapping")


def delta_uri(path: str) -> str:
    """The URI delta-rs reads ``path`` at: Hadoop's ``s3a://`` and ``s3n://`` are its ``s3://``.

    Example:
        >>> delta_uri("s3a://sparkify-lake/tables/songs")
        's3://sparkify-lake/tables/songs'
    """
    scheme, sep, rest = path.partition("://")
    return f"s3://{rest}" if sep and scheme in S3_SCHEMES else path


def storage_options(config: PipelineConfig) -> dict[str, str]:
    """delta-rs's S3 settings from the configuration's ``[s3]`` section: the endpoint (plain HTTP allowed
    when it says ``http://``, as a local S3 server does), region, path-style access, and the keys when
    the configuration has them, else delta-rs's own default chain (environment, profile, instance role).
    Reading needs no locking settings (those are for writers)."""
    s3 = config.s3
    options = {"AWS_REGION": s3.region, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not s3.path_style).lower()}
    if s3.endpoint:
        options["AWS_ENDPOINT_URL"] = s3.endpoint
        if s3.endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if s3.access_key_id and s3.secret_access_key:
        options["AWS_ACCESS_KEY_ID"] = s3.access_key_id.reveal()
        options["AWS_SECRET_ACCESS_KEY"] = s3.secret_access_key.reveal()
    return options


def open_table(config: PipelineConfig, name: str) -> DeltaTable:
    """Table ``name`` at its latest version, or a UsageError saying it was never written."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    check_table_name(name)
    path = config.table_path(name)
    options = storage_options(config) if is_s3_uri(path) else None
    try:
        return DeltaTable(delta_uri(path), storage_options=options)
    except TableNotFoundError:
        raise UsageError(
            f"no table {name} at {path} yet: run `sparkify backfill` or `sparkify stream` first"
        ) from None


def table_commits(table: DeltaTable) -> list[Commit]:
    """Every commit still in the table's log, with the time it records."""
    return [Commit(c["version"], c["timestamp"]) for c in table.history()]


def open_at_versions(config: PipelineConfig, names: Sequence[str], as_of: AsOf) -> dict[str, DeltaTable]:
    """The tables ``names`` (those a query names), each loaded at the version the request resolves to."""
    from deltalake.exceptions import DeltaError

    tables = {name: open_table(config, name) for name in names}
    versions = resolve_versions(
        names, as_of, lambda name: tables[name].version(), lambda name: table_commits(tables[name])
    )
    for name, version in versions.items():
        if version != tables[name].version():
            try:
                tables[name].load_as_version(version)
            except DeltaError as e:  # its commit was cleaned out of the log (log retention)
                raise UsageError(f"{name} version {version} can no longer be read: {e}") from None
    return tables


def pin_versions(config: PipelineConfig, names: Sequence[str], as_of: AsOf) -> dict[str, int]:
    """The version of each table in ``names`` that a query ``as_of`` reads (for the Spark engine)."""
    return {name: table.version() for name, table in open_at_versions(config, names, as_of).items()}


def query_rows(tables: Mapping[str, DeltaTable], sql: str, limit: int | None = None) -> Rows:
    """Run ``sql`` on DuckDB over ``tables`` (views by name) and return its rows as they come, in batches
    of BATCH_ROWS; ``limit + 1`` rows at most, so that a cut shows.

    Times are UTC (the session time zone, as Spark's is). Bad SQL, or a table the lake does not have, is
    a UsageError; the session never downloads an extension.
    """
    import duckdb

    connection = duckdb.connect(config={"TimeZone": "UTC", "autoinstall_known_extensions": False})
    for name, table in tables.items():
        connection.register(name, arrow_source(table))
    try:
        relation = connection.sql(sql)
    except duckdb.CatalogException as e:
        raise UsageError(f"{first_line(e)} (the lake's tables: {', '.join(TABLE_NAMES)})") from None
    except (duckdb.ParserException, duckdb.BinderException) as e:
        raise UsageError(first_line(e)) from None
    if relation is None:  # a statement with no result (SET, CREATE ...)
        return Rows((), [])
    if limit is not None:
        relation = relation.limit(limit + 1)
    reader = relation.to_arrow_reader(BATCH_ROWS)

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        try:
            for batch in reader:
                yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
        finally:  # also when the reader stops early (a limit): the query ends with its connection
            reader.close()
            connection.close()

    return Rows(tuple(relation.columns), batches())


def arrow_source(table: DeltaTable) -> pads.Dataset | pa.Table:
    """What DuckDB scans for a table: a lazy Arrow dataset of its Parquet files; or, for a table whose
    rows are not just its files' rows (deletion vectors, column mapping: features our tables do not use),
    the table read whole by delta-rs's own scan, which applies them."""
    features = table.protocol().reader_features or []
    if any(feature in features for feature in ROWS_NOT_IN_FILES):
        import pyarrow as pa

        return pa.table(table.scan())
    return table.to_pyarrow_dataset()


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
