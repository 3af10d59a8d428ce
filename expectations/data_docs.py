"""GX Data Docs built from the rows of ``quality_results``.

The jobs validate in an ephemeral GX context that keeps nothing (a stream runs for weeks), so the
record is the Delta table ``quality_results``, one row per expectation per validation. To show it the
way GX does, each validation's rows become an ``ExpectationSuiteValidationResult`` again, go into the
validation results store of a throwaway *file* context, and that context builds the site, which then
takes the place of the previous one under ``site_dir``, so a reader never sees half a site.

:func:`build_data_docs` needs no JVM (rows in, files out); :func:`collect_recent_results` is the Spark
side, which takes from the table only what the site will show. A site holds the most recent ``last``
validations of each dataset: a lake with a million batches must not produce a million pages.

Example:
    >>> rows = collect_recent_results(spark.read.format("delta").load(path), last=50)  # doctest: +SKIP
    >>> build_data_docs(rows, Path("lake/tables/_data_docs"), last=50)  # doctest: +SKIP
    PosixPath('/…/lake/tables/_data_docs/index.html')
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.errors import UsageError

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite, RunIdentifier
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from pyspark.sql import DataFrame

# GX is imported where it is used: the import takes seconds, and the command line reads this module's
# defaults for its --help. Whoever imports it first, analytics stay off: nothing phones home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

log = logging.getLogger(__name__)

DEFAULT_LAST = 200  # validations per dataset a site shows
SITE_NAME = "sparkify"
DESCRIPTION_ARGS = 240  # characters of kwargs an expectation's line shows
MARKER = ".sparkify-data-docs"  # in a site this module built, so a rebuild may replace the directory
# GX's pages take Bootstrap, jQuery and Font Awesome from CDNs, and its logo from its own S3 bucket.
# Without a network a validation page renders unstyled and the index's tables (filled by JavaScript)
# stay empty. These rules (GX inlines a custom stylesheet into every page) keep an offline validation
# page readable: a grid, ruled tables, failures marked, the collapsed run info folded. Each selector
# sits in :where(), which has no specificity, so Bootstrap's own rules win wherever it loads.
OFFLINE_CSS = """
:where(body) { font-family: system-ui, sans-serif; margin: 0 1rem; }
:where(.row) { display: flex; flex-wrap: wrap; }
:where(.col-12) { flex: 0 0 100%; max-width: 100%; }
:where(.col-6) { flex: 0 0 50%; max-width: 50%; }
@media (min-width: 768px) {
  :where(.col-md-2) { flex: 0 0 16.667%; max-width: 16.667%; }
  :where(.col-md-10) { flex: 0 0 83.333%; max-width: 83.333%; padding-left: 1.5rem; box-sizing: border-box; }
}
:where(table) { border-collapse: collapse; margin-bottom: 1rem; }
:where(td, th) { border-top: 1px solid #dee2e6; padding: 0.3rem 0.75rem; text-align: left; }
:where(.m-0) { margin: 0; }
:where(.collapse:not(.show)) { display: none; }
:where(.alert-secondary) { background: #e2e3e5; padding: 0.5rem 1rem; margin: 0.5rem 0; }
:where(.text-danger) { color: #dc3545; }
:where(.text-success) { color: #28a745; }
:where(.fa-times)::before { content: "\\2717"; font-style: normal; font-weight: bold; }
:where(.fa-check-circle)::before { content: "\\2713"; font-style: normal; font-weight: bold; }
"""
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class SiteDirectoryError(UsageError):
    """``site_dir`` holds something that is not a site this module built: it is never overwritten."""


@dataclass(frozen=True)
class RecordedValidation:
    """One validation as ``quality_results`` recorded it: the rows sharing dataset, suite, batch and time."""

    dataset: str
    suite: str
    batch_id: str
    validated_at: dt.datetime  # aware, UTC
    rows: tuple[Mapping[str, Any], ...]

    @property
    def success(self) -> bool:
        return all(bool(r["success"]) for r in self.rows)

    @property
    def key(self) -> ValidationResultIdentifier:
        """Where GX files it: validations/<suite>/<run name>/<run time>/<dataset>; path-safe parts."""
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        return ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=path_part(self.suite)),
            run_id=self.run_id,
            batch_identifier=path_part(self.dataset),
        )

    @property
    def run_id(self) -> RunIdentifier:
        """The run name the pages show is the batch id (made path-safe; Batch Spec has it exactly)."""
        from great_expectations import RunIdentifier

        return RunIdentifier(run_name=path_part(self.batch_id), run_time=self.validated_at)


def build_data_docs(results: Iterable[Mapping[str, Any]], site_dir: Path, last: int = DEFAULT_LAST) -> Path:
    """Build GX Data Docs of ``results`` (rows of ``quality_results``) in ``site_dir``; return its index.html.

    Parameters:
        results: rows with the columns of ``sparkify.tables.QUALITY_RESULTS``; ``validated_at`` a
            datetime (naive means UTC, the lake's convention), ``kwargs``/``observed_value`` JSON text.
        site_dir: the site's directory: created, or replaced if a previous build made it; anything
            else that is not empty is refused (:class:`SiteDirectoryError`).
        last: the most recent validations of each dataset to show (older ones get no page).

    Example:
        >>> build_data_docs(rows, Path("/tmp/docs"), last=20)  # doctest: +SKIP
        PosixPath('/tmp/docs/index.html')
    """
    if not isinstance(last, int) or last < 1:
        raise ValueError(f"last must be a positive number of validations, not {last!r}")
    site_dir = Path(site_dir).absolute()
    check_site_dir(site_dir)
    validations = recent_validations(group_validations(results), last)
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    log.info("data docs: rendering %d validation page(s) (GX takes about 0.1 s a page)", len(validations))
    staging = sibling(site_dir, "building")
    staging.mkdir()  # not mkdtemp: its 0700 would make the published site unreadable to others
    try:
        with tempfile.TemporaryDirectory(prefix="sparkify-gx-") as project:
            render_site(validations, Path(project), staging)
        missing = [v for v in validations if not page_path(staging, v).is_file()]
        if missing:
            raise RuntimeError(
                f"GX rendered no page for {len(missing)} of {len(validations)} validation(s), first "
                f"{missing[0].suite} batch {missing[0].batch_id}: see the GX error logged above"
            )
        (staging / MARKER).write_text("Built by `sparkify quality report` from quality_results.\n")
        publish(staging, site_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    failed = sum(1 for v in validations if not v.success)
    log.info("data docs: %d validation page(s), %d failed, in %s", len(validations), failed, site_dir)
    return site_dir / "index.html"


def collect_recent_results(results_df: DataFrame, last: int = DEFAULT_LAST) -> list[dict[str, Any]]:
    """The rows of the ``last`` newest validations of each dataset in ``results_df`` (``quality_results``),
    by dataset, newest first, collected: only those reach the driver, never the whole table.

    A validation is its rows' (dataset, suite, batch_id, validated_at); ``dense_rank`` numbers them per
    dataset, newest first, and a filter on that rank lets Spark keep the top ``last`` of each partition
    before the shuffle (its window group limit, for ``last`` up to
    ``spark.sql.optimizer.windowGroupLimitThreshold``, 1000 by default). ``validated_at`` comes back
    as an aware UTC datetime, read as epoch microseconds: a collected TIMESTAMP would be naive, in the
    driver's time zone.
    """
    import pyspark.sql.functions as F
    from pyspark.sql import Window

    if not isinstance(last, int) or last < 1:
        raise ValueError(f"last must be a positive number of validations, not {last!r}")
    newest_first = Window.partitionBy("dataset").orderBy(
        F.col("validated_at").desc(), F.col("suite").desc(), F.col("batch_id").desc()
    )
    columns = [c for c in results_df.columns if c != "validated_at"]
    recent_df = (
        results_df.withColumn("validation_rank", F.dense_rank().over(newest_first))
        .filter(F.col("validation_rank") <= last)
        .select(*columns, F.unix_micros("validated_at").alias("validated_at_us"))
        .orderBy("dataset", F.col("validated_at_us").desc(), "suite", "batch_id", "expectation")
    )
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    rows = []
    for row in recent_df.collect():
        fields = row.asDict()
        micros = fields.pop("validated_at_us")
        rows.append(
            {**fields, "validated_at": None if micros is None else epoch + dt.timedelta(microseconds=micros)}
        )
    return rows


def group_validations(results: Iterable[Mapping[str, Any]]) -> list[RecordedValidation]:
    """The rows grouped into validations (dataset, suite, batch_id, validated_at), newest first."""
    groups: dict[tuple[str, str, str, dt.datetime], list[Mapping[str, Any]]] = defaultdict(list)
    for row in results:
        stamp = as_utc(row["validated_at"])
        groups[(row["dataset"], row["suite"], row["batch_id"], stamp)].append(row)
    validations = [
        RecordedValidation(dataset, suite, batch, stamp, tuple(sorted(rows, key=lambda r: r["expectation"])))
        for (dataset, suite, batch, stamp), rows in groups.items()
    ]
    return sorted(validations, key=lambda v: (v.validated_at, v.dataset, v.suite, v.batch_id), reverse=True)


def recent_validations(validations: Sequence[RecordedValidation], last: int) -> list[RecordedValidation]:
    """The ``last`` newest validations of each dataset (``validations`` newest first), in that order."""
    kept: dict[str, int] = defaultdict(int)
    out = []
    for v in validations:
        if kept[v.dataset] < last:
            kept[v.dataset] += 1
            out.append(v)
    return out


def render_site(validations: Sequence[RecordedValidation], project: Path, site: Path) -> None:
    """Store ``validations`` (and their suites) in a file context under ``project``; build the site at
    ``site``. The process's current GX context is put back afterwards: a Validator elsewhere in the
    process must not find a throwaway context as its fallback."""
    import great_expectations as gx
    from great_expectations.data_context import project_manager, set_context
    from great_expectations.exceptions import DataContextRequiredError

    try:
        previous = project_manager.get_current_project()
    except DataContextRequiredError:
        previous = None
    try:
        context = gx.get_context(mode="file", project_root_dir=project)
        # As in expectations.validation.Validator: GX stores the mapping as given, and reads it as one.
        context.variables.progress_bars = {  # type: ignore[assignment]
            "globally": False,
            "metric_calculations": False,
        }
        for name in list(context.list_data_docs_sites()):
            context.delete_data_docs_site(name)
        context.add_data_docs_site(
            SITE_NAME,
            {
                "class_name": "SiteBuilder",
                # A SiteBuilder argument that GX's TypedDict of a site's config does not list (it says
                # its keys "may be incomplete").
                "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        styles = Path(context.root_directory) / "plugins" / "custom_data_docs" / "styles"
        styles.mkdir(parents=True, exist_ok=True)
        (styles / "data_docs_custom_styles.css").write_text(OFFLINE_CSS)
        # Each validation page links to its suite's page: one suite per name, as its newest
        # validation recorded it.
        newest: dict[str, RecordedValidation] = {}
        for v in validations:
            newest.setdefault(path_part(v.suite), v)
        for name, v in newest.items():
            context.suites.add(suite_of(name, v))
        for v in validations:
            context.validation_results_store.set(v.key, suite_result(v))
        context.build_data_docs(site_names=[SITE_NAME])
    finally:
        set_context(previous)


def suite_of(name: str, validation: RecordedValidation) -> ExpectationSuite:
    """The suite ``name`` as ``validation`` recorded it (the JSON may have changed since)."""
    from great_expectations import ExpectationSuite

    return ExpectationSuite(
        name=name,
        expectations=[expectation_config(r) for r in validation.rows],
        notes=(
            f"Rebuilt from `quality_results`: the expectations as validated on batch "
            f"`{validation.batch_id}` at {validation.validated_at.isoformat()}."
        ),
    )


def suite_result(v: RecordedValidation) -> ExpectationSuiteValidationResult:
    """GX's result object for one recorded validation: per expectation its outcome and counts, the
    suite's statistics, and the batch and time it ran on."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    results = [
        ExpectationValidationResult(
            success=bool(r["success"]), expectation_config=expectation_config(r), result=counts(r)
        )
        for r in v.rows
    ]
    passed = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        success=v.success,
        results=results,
        suite_name=path_part(v.suite),
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results),
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": v.run_id,
            "validation_time": v.validated_at.isoformat(),
            "active_batch_definition": {
                "datasource_name": "sparkify",
                "data_connector_name": "fluent",
                "data_asset_name": v.dataset,
                "batch_identifiers": {"batch_id": v.batch_id},
            },
            "batch_spec": {"data_asset_name": v.dataset, "batch_id": v.batch_id, "suite": v.suite},
            "batch_parameters": None,
        },
        batch_id=v.batch_id,
    )


def expectation_config(row: Mapping[str, Any]) -> ExpectationConfiguration:
    """The expectation as recorded: its GX type and kwargs, its name and policy in meta.

    The validation page shows an expectation's ``description`` in place of GX's prose, and nothing of
    its meta (GX 1.24.1's custom meta columns fail: the renderer adds a kwarg the expectation's model
    refuses). The name is what the quarantine and quality_results call it, so the description leads
    with it, then the policy, type and kwargs.
    """
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    kwargs = loads(row, "kwargs")
    if not isinstance(kwargs, dict):
        raise ValueError(f"quality_results row {describe(row)}: kwargs is not a JSON object")
    return ExpectationConfiguration(
        type=row["expectation_type"],
        kwargs=kwargs,
        meta={"name": row["expectation"], "policy": row["policy"]},
        description=description(row["expectation"], row["policy"], row["expectation_type"], kwargs),
    )


def description(name: str, policy: str, kind: str, kwargs: Mapping[str, Any]) -> str:
    """One line, HTML-escaped (GX inserts a description into the page as it is)."""
    args = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(kwargs.items()) if k != "column")
    if len(args) > DESCRIPTION_ARGS:
        args = args[: DESCRIPTION_ARGS - 1] + "…"
    return html.escape(f"{name} (policy: {policy}) · {kind}" + (f" {args}" if args else ""))


def counts(row: Mapping[str, Any]) -> dict[str, Any]:
    """GX's ``result`` dict: the counts and observed value the row has (absent ones are left out)."""
    result = {
        k: row[k]
        for k in ("element_count", "unexpected_count", "unexpected_percent")
        if row.get(k) is not None
    }
    if row.get("observed_value") is not None:
        result["observed_value"] = loads(row, "observed_value")
    return result


def loads(row: Mapping[str, Any], column: str) -> Any:
    try:
        return json.loads(row[column])
    except (TypeError, ValueError) as e:
        raise ValueError(f"quality_results row {describe(row)}: {column} is not JSON ({e})") from None


def describe(row: Mapping[str, Any]) -> str:
    return f"{row.get('expectation')!r} of batch {row.get('batch_id')!r} ({row.get('dataset')})"


def as_utc(value: Any) -> dt.datetime:
    """``validated_at`` as an aware UTC datetime (a naive one is UTC already: the lake's convention)."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"validated_at must be a datetime, not {value!r}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def path_part(text: str) -> str:
    """``text`` as one safe path segment (GX files pages under suite/run name/run time/batch)."""
    return UNSAFE.sub("_", text) or "_"


def page_path(site: Path, v: RecordedValidation) -> Path:
    """Where GX writes the validation page of ``v`` (the same layout as its index links)."""
    return site.joinpath("validations", *v.key.to_tuple()).with_suffix(".html")


def check_site_dir(site_dir: Path) -> None:
    """Refuse to replace a directory that holds anything but a site this module built."""
    if site_dir.exists() and not site_dir.is_dir():
        raise SiteDirectoryError(f"{site_dir} is a file, not a directory: choose another --out")
    if site_dir.is_dir() and any(site_dir.iterdir()) and not (site_dir / MARKER).is_file():
        raise SiteDirectoryError(
            f"{site_dir} is not empty and is not a site `sparkify quality report` built: choose another --out"
        )


def sibling(site_dir: Path, kind: str) -> Path:
    """A hidden, unique path next to ``site_dir`` (the same file system, so renames are atomic)."""
    return site_dir.parent / f".{site_dir.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def publish(staging: Path, site_dir: Path) -> None:
    """Put the new site in place of the old one with two renames, deleting the old one after: a reader
    sees the old site or the new one (or, for an instant, none), never a mix of both."""
    old = None
    if site_dir.exists():
        old = sibling(site_dir, "old")
        site_dir.rename(old)
    staging.rename(site_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
