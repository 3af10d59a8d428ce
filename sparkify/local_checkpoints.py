"""DataFrames held in memory as local checkpoints: a plan of one node, however it was computed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame


@contextmanager
def held_locally(df: DataFrame) -> Iterator[DataFrame]:
    """``df`` computed once into a local checkpoint, freed when the block ends.

    Work that builds many small queries over one DataFrame (Great Expectations builds several per
    expectation) pays Spark's analysis of the whole plan for each; over a checkpoint that plan is one
    scan.
    """
    checkpointed = df.localCheckpoint()
    try:
        yield checkpointed
    finally:
        release(checkpointed)


def release(checkpointed: DataFrame) -> None:
    """Free the blocks of a ``localCheckpoint`` now rather than at the driver's next garbage collection:
    PySpark has no call for it, so reach the checkpointed RDD under the plan (as Delta frees the source it
    materializes for a MERGE)."""
    checkpointed._jdf.queryExecution().logical().rdd().unpersist(False)
