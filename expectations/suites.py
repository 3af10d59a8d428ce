"""Load the expectation suites (Great Expectations' suite JSON) and each expectation's policy (no JVM).

A suite is refused at load time, with the file and the expectation named, when it uses an expectation
type or a keyword argument the row routing (``expectations.routing``) does not implement: the
quarantine must never silently ignore part of an expectation that GX would honour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

SUITE_DIR = Path(__file__).resolve().parent


class Policy(StrEnum):
    """What a failing expectation does: recorded only, its rows set aside in quarantine, or the batch
    stops before anything is written (and is retried after a restart)."""

    WARN = "warn"
    QUARANTINE = "quarantine"
    FAIL = "fail"


DEFAULT_POLICY = Policy.QUARANTINE  # nothing silently disappears, and production keeps flowing

# Keyword arguments every routed column expectation may take (GX's own meaning: ``mostly`` is the share
# of rows that must pass for the expectation to succeed, ``row_condition`` a Spark SQL predicate
# narrowing the rows it applies to).
COMMON_KWARGS = frozenset({"column", "mostly", "row_condition", "condition_parser"})
# Expectation type -> the further keyword arguments the routing implements for it.
ROUTED_KWARGS: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset(),
    "expect_column_values_to_be_null": frozenset(),
    "expect_column_values_to_match_regex": frozenset({"regex"}),
    "expect_column_values_to_be_in_set": frozenset({"value_set"}),
    "expect_column_values_to_be_between": frozenset({"min_value", "max_value", "strict_min", "strict_max"}),
    "expect_column_values_to_be_unique": frozenset(),
    "expect_column_values_to_be_of_type": frozenset({"type_"}),
}
# Types judged on the whole batch, not row by row, where a row_condition has no meaning we route.
NO_ROW_CONDITION = frozenset({"expect_column_values_to_be_unique", "expect_column_values_to_be_of_type"})


class SuiteError(ValueError):
    """A suite file is missing, or an expectation in it is malformed or cannot be routed."""


@dataclass(frozen=True)
class Expectation:
    name: str  # meta.name: how quarantine and quality_results name it
    type: str
    kwargs: dict[str, Any] = field(hash=False)
    policy: Policy

    @property
    def column(self) -> str:
        return self.kwargs["column"]

    @property
    def gx_config(self) -> dict[str, Any]:
        """The expectation as GX's suite JSON holds it (policy included, so Data Docs show it)."""
        return {"type": self.type, "kwargs": self.kwargs, "meta": {"name": self.name, "policy": self.policy}}


@dataclass(frozen=True)
class Suite:
    name: str
    expectations: tuple[Expectation, ...]

    def with_policy(self, policy: Policy) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if e.policy is policy)


def load_suite(name: str, directory: Path = SUITE_DIR, policies: Mapping[str, str] | None = None) -> Suite:
    """Read ``<directory>/<name>.json``: Great Expectations' suite JSON, each expectation's name and
    policy in its ``meta``.

    Parameters:
        policies: overrides from the configuration, ``{"<suite>.<expectation>": policy}``; those naming
            this suite must name one of its expectations.
    """
    path = directory / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no expectation suite {name!r} at {path}") from None
    except json.JSONDecodeError as e:
        raise SuiteError(f"{path}: not valid JSON ({e})") from e
    suite_name = data.get("name", name)
    if suite_name != name:
        raise SuiteError(f"{path}: names itself {suite_name!r}; a suite's name is its file's name")
    expectations = [parse_expectation(path, e) for e in data.get("expectations", [])]
    names = [e.name for e in expectations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SuiteError(f"{path}: expectation name(s) used twice: {', '.join(repeated)}")
    overrides = suite_overrides(suite_name, policies or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SuiteError(
            f"quality.policies names {', '.join(f'{suite_name}.{n}' for n in unknown)}, "
            f"but suite {suite_name!r} has no such expectation; it has: {', '.join(names)}"
        )
    return Suite(
        name=suite_name,
        expectations=tuple(
            Expectation(e.name, e.type, e.kwargs, overrides.get(e.name, e.policy)) for e in expectations
        ),
    )


def suite_overrides(suite: str, policies: Mapping[str, str]) -> dict[str, Policy]:
    """The configured policies of ``suite``'s expectations, by expectation name."""
    out = {}
    for key, value in policies.items():
        owner, _, expectation = key.partition(".")
        if owner == suite:
            out[expectation] = parse_policy(f"quality.policies[{key!r}]", value)
    return out


def parse_policy(where: str, value: Any) -> Policy:
    try:
        return Policy(value)
    except ValueError:
        raise SuiteError(
            f"{where} has policy {value!r}; expected {', '.join(p.value for p in Policy)}"
        ) from None


def parse_expectation(path: Path, raw: dict[str, Any]) -> Expectation:
    """One expectation of a suite file, refused unless the routing implements its type and kwargs."""
    kind, kwargs, meta = raw.get("type"), dict(raw.get("kwargs", {})), raw.get("meta", {})
    name = meta.get("name")
    if not name:
        raise SuiteError(f"{path}: an expectation of type {kind!r} lacks meta.name")
    where = f"{path}: expectation {name!r}"
    if kind not in ROUTED_KWARGS:
        raise SuiteError(
            f"{where}: type {kind!r} cannot route rows to the quarantine; known: {', '.join(ROUTED_KWARGS)}"
        )
    unknown = sorted(set(kwargs) - COMMON_KWARGS - ROUTED_KWARGS[kind])
    if unknown:
        raise SuiteError(
            f"{where}: {kind} does not take (or the routing does not implement) {', '.join(unknown)}"
        )
    if "column" not in kwargs:
        raise SuiteError(f"{where}: lacks kwargs.column")
    if "row_condition" in kwargs:
        if kind in NO_ROW_CONDITION:
            raise SuiteError(f"{where}: row_condition is not supported with {kind}")
        if kwargs.get("condition_parser") != "spark":
            raise SuiteError(f"{where}: row_condition needs condition_parser 'spark' (a Spark SQL predicate)")
    mostly = kwargs.get("mostly", 1)
    if not isinstance(mostly, int | float) or isinstance(mostly, bool) or not 0 <= mostly <= 1:
        raise SuiteError(f"{where}: mostly must be a number between 0 and 1, got {mostly!r}")
    policy = parse_policy(where, meta.get("policy", DEFAULT_POLICY))
    return Expectation(name=name, type=kind, kwargs=kwargs, policy=policy)
