"""Who wrote a Delta commit: the job and batch each commit records in its ``userMetadata``.

``sparkify history`` shows it beside the version, so every version of a table can be traced to the
batch that made it (and from there to pipeline_metrics, staging and quality_results, which carry the
same batch label). Delta takes the note from a session setting, read at commit time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # reading a note (sparkify history) needs no pyspark
    from pyspark.sql import SparkSession

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"  # recorded in each commit's info


def batch_note(job: str, batch_id: str) -> str:
    """The note of a commit written for batch ``batch_id`` of ``job`` (a pipeline_metrics query name)."""
    return json.dumps({"job": job, "batch": batch_id})


def read_note(user_metadata: str | None) -> dict[str, Any]:
    """A commit's note as a dict: ``{}`` when it has none, ``{"note": text}`` when it is not ours."""
    if not user_metadata:
        return {}
    try:
        note = json.loads(user_metadata)
    except ValueError:
        return {"note": user_metadata}
    return note if isinstance(note, dict) else {"note": user_metadata}


def set_note(spark: SparkSession, note: str) -> None:
    """Every later commit through ``spark`` records ``note`` (a stream sets it on its query's own session,
    which Spark clones when the query starts, at the start of each batch)."""
    spark.conf.set(USER_METADATA, note)


@contextmanager
def noted(spark: SparkSession, note: str) -> Iterator[None]:
    """The commits made through ``spark`` inside the block record ``note``; what was set before comes back
    after (a job that shares its session with other work)."""
    before = spark.conf.get(USER_METADATA, None)
    set_note(spark, note)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(USER_METADATA)
        else:
            spark.conf.set(USER_METADATA, before)
