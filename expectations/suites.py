"""Load the expectation suites and their per-expectation policies (pure Python, no JVM)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

SUITE_DIR = Path(__file__).resolve().parent


class Policy(StrEnum):
    """What a failing row does: recorded only, set aside in quarantine, or the batch stops."""

    WARN = "warn"
    QUARANTINE = "quarantine"
    FAIL = "fail"


class SuiteError(ValueError):
    """A suite file is missing or an expectation in it is malformed."""


@dataclass(frozen=True)
class Expectation:
    name: str
    type: str
    kwargs: dict[str, Any] = field(hash=False)
    policy: Policy

    @property
    def column(self) -> str:
        return self.kwargs["column"]


@dataclass(frozen=True)
class Suite:
    name: str
    expectations: tuple[Expectation, ...]

    def with_policy(self, policy: Policy) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if e.policy is policy)


def load_suite(name: str, directory: Path = SUITE_DIR) -> Suite:
    """Read ``<directory>/<name>.json`` (Great Expectations' suite JSON, policy in each ``meta``)."""
    path = directory / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no expectation suite {name!r} at {path}") from None
    except json.JSONDecodeError as e:
        raise SuiteError(f"{path}: not valid JSON ({e})") from e
    return Suite(
        name=data.get("name", name),
        expectations=tuple(parse_expectation(path, e) for e in data["expectations"]),
    )


def parse_expectation(path: Path, raw: dict[str, Any]) -> Expectation:
    meta = raw.get("meta", {})
    name = meta.get("name")
    if not name:
        raise SuiteError(f"{path}: an expectation of type {raw.get('type')!r} lacks meta.name")
    if "column" not in raw.get("kwargs", {}):
        raise SuiteError(f"{path}: expectation {name!r} lacks kwargs.column")
    try:
        policy = Policy(meta.get("policy", "warn"))
    except ValueError:
        raise SuiteError(
            f"{path}: expectation {name!r} has policy {meta.get('policy')!r}; "
            "expected warn, quarantine or fail"
        ) from None
    return Expectation(name=name, type=raw["type"], kwargs=dict(raw["kwargs"]), policy=policy)
