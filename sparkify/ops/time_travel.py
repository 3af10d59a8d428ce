"""Which version of each table a query reads: the time-travel rules of ``sparkify query``, engine-free.

- No request: each table's latest version, pinned when the query starts (so one query sees one state
  even while a stream commits).
- ``--as-of-timestamp T``: one moment across every table the query names. Tables have versions of their
  own, so each is read at its own latest version committed at or before T. T must not be before a
  table's first commit (there was no table yet) nor in the future (the answer could still change).
- ``--as-of-version``: ``N`` fits a query that names a single table; otherwise ``TABLE=V`` pairs, one
  for each table the query names.

A commit's time is the one it records (``commitInfo.timestamp``, what delta-rs's ``history()`` gives).
Spark's ``DESCRIBE HISTORY`` shows the commit file's modification time instead, a few milliseconds
later, so a time copied from ``sparkify history`` resolves to that same version. Both engines read the
versions resolved here, so they answer the same question.

Standard library only: the DuckDB engine and the tests of these rules need no JVM.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sparkify.errors import UsageError
from sparkify.table_names import TABLE_NAMES, check_table_name

TIMESTAMP_HELP = "'2026-11-25 10:00:00' (UTC unless it carries an offset), or '2026-11-25T10:00:00+01:00'"


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp_ms: int  # when it was committed, as the commit records it (epoch milliseconds)


@dataclass(frozen=True)
class AsOf:
    """A query's time-travel request; all fields empty means the latest versions."""

    moment: dt.datetime | None = None  # --as-of-timestamp, aware
    version: int | None = None  # --as-of-version N (a single-table query)
    versions: Mapping[str, int] = field(default_factory=dict)  # --as-of-version TABLE=V,...

    def describe(self) -> str:
        if self.moment is not None:
            return f"as of {format_moment(self.moment)}"
        if self.version is not None:
            return f"as of version {self.version}"
        if self.versions:
            return "as of " + ", ".join(f"{t}={v}" for t, v in self.versions.items())
        return "latest"


LATEST = AsOf()


def tables_named_in(sql: str) -> list[str]:
    """The lake's tables a SQL text names, in TABLE_NAMES's order: whole words outside string literals
    and comments (a word that is also a type or column name, ``CAST(x AS time)``, counts too).

    Example:
        >>> tables_named_in("SELECT s.title FROM songplays p JOIN songs s USING (song_id) -- users")
        ['songplays', 'songs']
    """
    text = re.sub(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return [name for name in TABLE_NAMES if re.search(rf"\b{name}\b", text, re.IGNORECASE)]


def parse_as_of(versions: Sequence[str] | None, timestamp: str | None, now: dt.datetime) -> AsOf:
    """The request from the command line's ``--as-of-version`` values (each ``N`` or ``TABLE=V[,TABLE=V]``)
    and ``--as-of-timestamp``; a UsageError for anything malformed, before any table is opened."""
    if versions and timestamp is not None:
        raise UsageError("give --as-of-version or --as-of-timestamp, not both")
    if timestamp is not None:
        return AsOf(moment=parse_moment(timestamp, now))
    if not versions:
        return LATEST
    items = [item.strip() for arg in versions for item in arg.split(",") if item.strip()]
    if len(items) == 1 and "=" not in items[0]:
        return AsOf(version=parse_version(items[0], "--as-of-version"))
    pairs: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(
                f"--as-of-version {item}: a bare version fits a single-table query; with several "
                "values, give TABLE=V for each (e.g. --as-of-version songplays=12,songs=3)"
            )
        name = name.strip()
        check_table_name(name)
        if name in pairs:
            raise UsageError(f"--as-of-version names {name} twice")
        pairs[name] = parse_version(value.strip(), f"--as-of-version {name}")
    return AsOf(versions=pairs)


def parse_version(text: str, what: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise UsageError(f"{what}={text!r}: a version is a whole number >= 0")
    return int(text)


def parse_moment(text: str, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time (a date alone means its midnight; no offset means UTC), refused in the future."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of-timestamp {text!r} is not a time: give e.g. {TIMESTAMP_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment > now:
        raise UsageError(
            f"--as-of-timestamp {format_moment(moment)} is in the future (now is {format_moment(now)}): "
            "the tables could still change before then"
        )
    return moment


def format_moment(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(sep=" ", timespec="milliseconds").replace("+00:00", " UTC")


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def resolve_versions(
    names: Sequence[str],
    as_of: AsOf,
    latest_version: Callable[[str], int],
    commits: Callable[[str], Sequence[Commit]],
) -> dict[str, int]:
    """The version each of ``names`` (the tables a query names) is read at, by the rules above.

    ``latest_version(name)`` and ``commits(name)`` read a table's log (``commits`` is only called for a
    timestamp: it may read every commit). A UsageError names the table and what it has.
    """
    if as_of.moment is not None:
        return {name: version_at(name, commits(name), as_of.moment) for name in names}
    wanted = pinned_versions(names, as_of)
    versions = {}
    for name in names:
        latest = latest_version(name)
        version = wanted.get(name, latest)
        if not 0 <= version <= latest:
            raise UsageError(f"{name} has versions 0 to {latest}; version {version} does not exist")
        versions[name] = version
    return versions


def pinned_versions(names: Sequence[str], as_of: AsOf) -> dict[str, int]:
    """The versions a version request asks of the query's tables (empty for the latest)."""
    if as_of.version is not None:
        if len(names) != 1:
            named = f"names {', '.join(names)}" if names else "names no table of the lake"
            raise UsageError(
                f"--as-of-version {as_of.version} fits a query on one table, and this one {named}: give "
                "TABLE=V for each table (e.g. --as-of-version songplays=12,songs=3) or --as-of-timestamp"
            )
        return {names[0]: as_of.version}
    if as_of.versions:
        extra = [name for name in as_of.versions if name not in names]
        if extra:
            raise UsageError(f"--as-of-version names {', '.join(extra)}, which the query does not name")
        missing = [name for name in names if name not in as_of.versions]
        if missing:
            raise UsageError(
                f"--as-of-version gives no version for {', '.join(missing)}: add {missing[0]}=V "
                "(every table a query names is read at a version you chose)"
            )
        return dict(as_of.versions)
    return {}


def version_at(name: str, commits: Sequence[Commit], moment: dt.datetime) -> int:
    """The latest version of table ``name`` committed at or before ``moment``.

    Commit times are taken as never going backwards (a commit counts as no earlier than the one
    before it), as Delta does, so a clock step back on a writer cannot make a version unreachable.
    """
    ordered = sorted(commits, key=lambda c: c.version)
    if not ordered:
        raise UsageError(f"{name} has no commits in its log")
    target = moment.timestamp() * 1000
    first = ordered[0]
    if target < first.timestamp_ms:
        raise UsageError(
            f"--as-of-timestamp {format_moment(moment)} is before {name}'s first commit "
            f"(version {first.version}, {format_moment(from_ms(first.timestamp_ms))})"
        )
    found, last_ms = first.version, first.timestamp_ms
    for commit in ordered[1:]:
        last_ms = max(commit.timestamp_ms, last_ms)
        if last_ms > target:
            break
        found = commit.version
    return found
