"""One structured log line per micro-batch (and per query start/stop), from Spark's own progress events.

The pipeline_metrics row of each batch is written by the sink itself, inside the batch and exactly once
(see streaming.sink); this listener adds Spark's view: trigger durations, input rate, backlog offsets.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from pyspark.sql.streaming import StreamingQueryListener

if TYPE_CHECKING:
    from pyspark.sql.streaming.listener import (
        QueryIdleEvent,
        QueryProgressEvent,
        QueryStartedEvent,
        QueryTerminatedEvent,
    )

log = logging.getLogger("streaming.progress")


class BatchLogger(StreamingQueryListener):
    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        log.info(json.dumps({"event": "started", "query": event.name, "id": str(event.id)}))

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        p = event.progress
        log.info(
            json.dumps(
                {
                    "event": "batch",
                    "query": p.name,
                    "batch_id": p.batchId,
                    "input_rows": p.numInputRows,
                    "rows_per_s": round(p.processedRowsPerSecond or 0.0, 1),
                    "durations_ms": p.durationMs,
                }
            )
        )

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        log.info(json.dumps({"event": "stopped", "id": str(event.id), "error": event.exception}))
