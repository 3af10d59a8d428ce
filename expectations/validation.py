"""Great Expectations on every batch: one ephemeral context per job, two ValidationDefinitions per suite.

A suite's ``fail``-policy expectations are one GX suite, checked before anything of a batch is written;
its other expectations are another, which the pipeline step runs while the batch is written
(``sparkify.pipeline.ingest.routed_batch``): their outcome is recorded, and the rows they fail are already set
aside by the per-row routing that agrees with them. On a batch, GX only judges (``BOOLEAN_ONLY``), and
the counts recorded beside its verdicts are the routing pass's (``expectations.routing.tallies``, equal
to GX's own: ``tests/test_validation.py``); GX would otherwise plan a query per expectation for the
failing values it reports.

Nothing accumulates over a stream that runs for weeks: the Spark data source does not persist batches
(``persist=False``: the caller already holds the batch in memory, and GX never unpersists what it
persists), and each result is taken out of the context's in-memory results store as soon as it is
returned. The record is the Delta table ``quality_results``, one row per expectation per batch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pyspark.sql import DataFrame

from checkpoints_config.loader import QualitySettings
from expectations.suites import SUITE_DIR, Expectation, Policy, Suite, SuiteError, load_suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # before GX is imported: nothing phones home
import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier

if TYPE_CHECKING:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

log = logging.getLogger(__name__)

# Counts and observed values, all quality_results records: for what has no routing pass to count it
# (the star tables). SUMMARY would add, per column-map expectation, the queries for the unexpected rows'
# indices; BASIC still plans and collects a limit(0) query for the values (partial_unexpected_count 0).
COUNTED = {"result_format": "BASIC", "partial_unexpected_count": 0}
# The verdicts alone: a batch's counts come from its routing pass. GX on an events batch in the stream,
# medians per run: 1.30-1.43 s against 2.36-3.97 s with BASIC (bench_freshness, alternating, 3 rounds).
JUDGED = {"result_format": "BOOLEAN_ONLY"}

Tallies = Mapping[str, Mapping[str, Any]]  # expectation name -> GX's BASIC figures (routing.tallies)


class DataQualityError(RuntimeError):
    """A ``fail``-policy expectation failed: the batch stops before anything is written, and is retried
    after a restart (once the suite or the data is fixed)."""


class ExpectationError(RuntimeError):
    """GX could not evaluate an expectation (a column the batch lacks, a broken row_condition)."""


@dataclass(frozen=True)
class QualityResult:
    """One expectation's outcome on one batch: a row of ``quality_results`` (``sparkify.tables``)."""

    batch_id: str
    dataset: str
    suite: str
    expectation: str
    expectation_type: str
    kwargs: str  # JSON
    policy: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: str | None  # JSON
    validated_at: dt.datetime


@dataclass(frozen=True)
class Validation:
    """A suite's outcome on one batch."""

    suite: Suite
    dataset: str
    batch_id: str
    results: tuple[QualityResult, ...]

    def plus(self, other: Validation) -> Validation:
        """Both outcomes on the same batch, as one validation: one time for all its results (a
        validation is its rows' batch and time in Data Docs, ``expectations.data_docs``)."""
        if not self.results:
            return other
        stamp = self.results[0].validated_at
        rest = tuple(replace(r, validated_at=stamp) for r in other.results)
        return Validation(self.suite, self.dataset, self.batch_id, self.results + rest)

    def failed(self, policy: Policy) -> list[QualityResult]:
        """The results of the expectations with ``policy`` that did not succeed."""
        return [r for r in self.results if not r.success and r.policy == policy]

    def stop_on_failures(self) -> None:
        """Raise :class:`DataQualityError` if a ``fail`` expectation failed. Nothing of the batch is
        written, quality_results included: the retry after a fix records the batch's validation."""
        fatal = self.failed(Policy.FAIL)
        if fatal:
            raise DataQualityError(
                f"{self.dataset}: batch fails expectation(s) with policy 'fail': "
                + ", ".join(f"{r.expectation} ({described(r)})" for r in fatal)
            )


def described(result: QualityResult) -> str:
    """How an expectation failed, for a person: how many rows, or what GX observed."""
    if result.unexpected_count is not None:
        return f"{result.unexpected_count:,} of {result.element_count:,} rows"
    return f"observed {result.observed_value}"


class Validator:
    """Runs the suites it was built with on Spark DataFrames, one batch at a time.

    Example:
        >>> validator = Validator([load_suite("raw_events")])          # doctest: +SKIP
        >>> validator.validate(batch_df, "raw_events", "b-1", "events")  # doctest: +SKIP
    """

    def __init__(self, suites: list[Suite]) -> None:
        self.context = gx.get_context(mode="ephemeral")
        # GX types the setter ProgressBarsConfig, stores what it is given, and reads it as a mapping
        # (Validator._determine_progress_bars): a ProgressBarsConfig would change what is stored.
        self.context.variables.progress_bars = {  # type: ignore[assignment]
            "globally": False,
            "metric_calculations": False,
        }
        source = self.context.data_sources.add_spark("sparkify", persist=False)
        self.suites = {s.name: s for s in suites}
        self.definitions = {}
        for suite in suites:
            batch = source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("batch")
            for part, expectations in split(suite).items():
                name = f"{suite.name}.{part}"
                gx_suite = self.context.suites.add(
                    gx.ExpectationSuite(name=name, expectations=[e.gx_config for e in expectations])
                )
                self.definitions[suite.name, part] = self.context.validation_definitions.add(
                    gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
                )

    def validate(self, df: DataFrame, suite_name: str, batch_id: str, dataset: str) -> Validation:
        """Validate ``df`` (one batch) with the whole suite, GX counting too; raise
        :class:`ExpectationError` if GX could not evaluate an expectation."""
        gate = self.run(df, suite_name, GATE, batch_id, dataset, None)
        return gate.plus(self.run(df, suite_name, REST, batch_id, dataset, None))

    def gate(
        self, df: DataFrame, suite_name: str, batch_id: str, dataset: str, tallies: Tallies
    ) -> Validation:
        """The suite's ``fail``-policy expectations only: what must pass before the batch is written.
        GX judges, and ``tallies`` (the routing pass's counts on ``df``) give the figures."""
        return self.run(df, suite_name, GATE, batch_id, dataset, tallies)

    def rest(
        self, df: DataFrame, suite_name: str, batch_id: str, dataset: str, tallies: Tallies
    ) -> Validation:
        """The suite's other expectations (``warn``, ``quarantine``): they decide nothing the per-row
        routing has not, so they may run while the batch is written. Figures as in :meth:`gate`."""
        return self.run(df, suite_name, REST, batch_id, dataset, tallies)

    def run(
        self, df: DataFrame, suite_name: str, part: str, batch_id: str, dataset: str, tallies: Tallies | None
    ) -> Validation:
        """One part of the suite on ``df``: GX's figures, or with ``tallies`` GX's verdicts beside them."""
        suite = self.suites[suite_name]
        definition = self.definitions.get((suite_name, part))
        if definition is None:  # no expectation in this part
            return Validation(suite, dataset, batch_id, ())
        run = RunIdentifier(run_name=batch_id, run_time=dt.datetime.now(dt.UTC))
        try:
            outcome = definition.run(
                batch_parameters={"dataframe": df},
                result_format=COUNTED if tallies is None else JUDGED,
                run_id=run,
            )
        finally:
            store = self.context.validation_results_store
            for key in store.list_keys():  # the record is quality_results: keep nothing here
                store.remove_key(key)
        policies = {e.name: e.policy for e in suite.expectations}
        results = []
        for r in outcome.results:
            config = cast("ExpectationConfiguration", r.expectation_config)  # a suite's result has it
            name = config.meta["name"]
            problem = raised_message(r.exception_info)
            if problem:
                raise ExpectationError(
                    f"{dataset}: expectation {name!r} of suite {suite.name} could not be evaluated: {problem}"
                )
            figures = r.result if tallies is None else tallies[name]
            results.append(
                quality_result(figures, config.type, config.kwargs, name, policies[name], r.success)
            )
        stamp = run.run_time
        return Validation(
            suite,
            dataset,
            batch_id,
            tuple(
                QualityResult(batch_id, dataset, suite.name, **fields, validated_at=stamp)
                for fields in results
            ),
        )


GATE, REST = "fail", "rest"  # the two GX suites a suite becomes: see Validator.gate and Validator.rest


def split(suite: Suite) -> dict[str, tuple[Expectation, ...]]:
    """``suite``'s expectations by part, leaving out an empty part."""
    fatal = suite.with_policy(Policy.FAIL)
    others = tuple(e for e in suite.expectations if e.policy is not Policy.FAIL)
    return {part: es for part, es in ((GATE, fatal), (REST, others)) if es}


def raised_message(exception_info: Mapping[str, Any]) -> str | None:
    """The first line of the error GX caught evaluating an expectation, if any. GX reports it either
    directly or keyed by the metric that raised it."""
    infos = [exception_info, *(v for v in exception_info.values() if isinstance(v, Mapping))]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error").splitlines()[0]
    return None


def quality_result(
    result: Mapping[str, Any],
    kind: str,
    kwargs: Mapping[str, Any],
    name: str,
    policy: Policy,
    success: bool | None,
) -> dict[str, Any]:
    """The fields of a :class:`QualityResult`, from GX's verdict and figures in its ``BASIC`` form."""
    observed = result.get("observed_value")
    routed_kwargs = {k: v for k, v in kwargs.items() if k != "batch_id"}
    return {
        "expectation": name,
        "expectation_type": kind,
        "kwargs": json.dumps(routed_kwargs, sort_keys=True, default=str),
        "policy": policy.value,
        "success": bool(success),
        "element_count": result.get("element_count"),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": result.get("unexpected_percent"),
        "observed_value": None if observed is None else json.dumps(observed, default=str),
    }


@dataclass(frozen=True)
class Checks:
    """What a job validates its batches with: the suites, configured policies applied, and GX to run
    them (one context per writer thread: GX's Spark engine holds one active batch at a time)."""

    suites: Mapping[str, Suite]
    validator: Validator | None  # None when quality.great_expectations is false

    def suite(self, name: str) -> Suite:
        return self.suites[name]

    def with_own_context(self) -> Checks:
        """The same suites with a GX context of their own, for another thread (a few hundredths of a
        second once Spark runs)."""
        return Checks(self.suites, None if self.validator is None else Validator(list(self.suites.values())))

    def validate(self, df: DataFrame, suite_name: str, batch_id: str, dataset: str) -> Validation | None:
        """GX's outcome on the batch, or None when GX is switched off."""
        return None if self.validator is None else self.validator.validate(df, suite_name, batch_id, dataset)

    def gate(
        self, df: DataFrame, suite_name: str, batch_id: str, dataset: str, tallies: Tallies
    ) -> Validation | None:
        """GX's outcome for the ``fail``-policy expectations (:meth:`Validator.gate`), or None."""
        if self.validator is None:
            return None
        return self.validator.gate(df, suite_name, batch_id, dataset, tallies)

    def rest(
        self, df: DataFrame, suite_name: str, batch_id: str, dataset: str, tallies: Tallies
    ) -> Validation | None:
        """GX's outcome for the other expectations (:meth:`Validator.rest`), or None."""
        if self.validator is None:
            return None
        return self.validator.rest(df, suite_name, batch_id, dataset, tallies)


STAR_SUITE_PREFIX = "star_"  # star_<table>: checks of a whole star table (sparkify.pipeline.star_checks)


def load_checks(quality: QualitySettings, directory: Path = SUITE_DIR) -> Checks:
    """Load every suite with the configuration's policy overrides, refusing overrides that name a suite
    or expectation that does not exist, and a star-table suite that would quarantine (star rows have
    nowhere to go)."""
    overrides = quality.policy_overrides
    suites = {p.stem: load_suite(p.stem, directory, overrides) for p in sorted(directory.glob("*.json"))}
    for suite in suites.values():
        quarantining = [e.name for e in suite.with_policy(Policy.QUARANTINE)]
        if suite.name.startswith(STAR_SUITE_PREFIX) and quarantining:
            raise SuiteError(
                f"suite {suite.name}: star-table expectations can only warn or fail, "
                f"but {', '.join(quarantining)} would quarantine"
            )
    unknown = sorted({key.partition(".")[0] for key in overrides} - set(suites))
    if unknown:
        raise SuiteError(f"quality.policies names suite(s) {', '.join(unknown)}; known: {', '.join(suites)}")
    validator = Validator(list(suites.values())) if quality.great_expectations else None
    return Checks(suites, validator)
