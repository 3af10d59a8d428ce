"""``sparkify history``: a table's commits, read by delta-rs from its log (no JVM).

Each commit shows what Delta counted (rows inserted, updated, deleted) and the job and batch that made
it, from the note every writer records (``sparkify.commits``), so a version can be traced to the batch in
pipeline_metrics, staging and quality_results. Its time is the one the commit records, which is what
``sparkify query --as-of-timestamp`` resolves against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from checkpoints_config import PipelineConfig
from sparkify.commits import read_note
from sparkify.ops.lake_sql import open_table
from sparkify.ops.output import Rows
from sparkify.ops.time_travel import from_ms

COLUMNS = ("version", "timestamp", "operation", "rows_inserted", "rows_updated", "rows_deleted", "job",
           "batch", "note")  # fmt: skip
# Which of Delta's operation metrics count rows inserted, updated and deleted: they differ by operation
# (a MERGE reports numOutputRows too, counting the rows it copied: its own metric comes first).
INSERTED_METRICS = ("numTargetRowsInserted", "numOutputRows")
UPDATED_METRICS = ("numTargetRowsUpdated", "numUpdatedRows")
DELETED_METRICS = ("numTargetRowsDeleted", "numDeletedRows")


def history_row(commit: Mapping[str, Any]) -> tuple[Any, ...]:
    """One commit of a table's log (its commitInfo and version, as delta-rs gives it) as :data:`COLUMNS`.
    A count the operation does not report is None, not 0."""
    metrics = commit.get("operationMetrics") or {}
    note = read_note(commit.get("userMetadata"))

    def first_of(names: tuple[str, ...]) -> int | None:
        return next((int(metrics[n]) for n in names if n in metrics), None)

    return (
        commit["version"],
        from_ms(commit["timestamp"]),
        commit["operation"],
        first_of(INSERTED_METRICS),
        first_of(UPDATED_METRICS),
        first_of(DELETED_METRICS),
        note.pop("job", None),
        note.pop("batch", None),
        json.dumps(note, sort_keys=True) if note else None,
    )


def table_history(config: PipelineConfig, name: str, last: int | None = None) -> Rows:
    """Table ``name``'s commits, newest first: the ``last`` ones, or all still in its log."""
    commits = open_table(config, name).history(last)
    return Rows(COLUMNS, [[history_row(c) for c in commits]])
