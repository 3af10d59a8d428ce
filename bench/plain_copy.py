"""The physical floor of a backfill on this machine: read every song and event JSON file, write each set
once as Parquet. No tables, no dedupe, no join, no validation.

It reads as both jobs of bench/bench_backfill.py do (the explicit schemas of ``sparkify.schemas``, the
naive job's session), so the backfill's ratio to it is what the pipeline costs above moving the bytes.

    .venv/bin/python bench/plain_copy.py --songs DIR --logs DIR --out DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from naive_etl import LOG_GLOB, SONG_GLOB, build_session

from sparkify.schemas import RAW_EVENT_SCHEMA, RAW_SONG_SCHEMA


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", required=True, help="song_data directory")
    parser.add_argument("--logs", required=True, help="log_data directory")
    parser.add_argument("--out", required=True, help="output directory (overwritten)")
    args = parser.parse_args(argv)

    began = time.monotonic()
    spark = build_session("plain-copy")
    spark.sparkContext.setLogLevel("WARN")
    print(f"[copy] session up in {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    out = args.out.rstrip("/")
    try:
        for name, glob, schema in (
            ("songs", f"{args.songs.rstrip('/')}/{SONG_GLOB}", RAW_SONG_SCHEMA),
            ("events", f"{args.logs.rstrip('/')}/{LOG_GLOB}", RAW_EVENT_SCHEMA),
        ):
            step = time.monotonic()
            spark.read.json(glob, schema=schema).write.mode("overwrite").parquet(f"{out}/{name}")
            print(f"[copy] {name}: written in {time.monotonic() - step:.1f}s", file=sys.stderr, flush=True)
    finally:
        spark.stop()
    print(f"copy: songs and events written to {args.out} in {time.monotonic() - began:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
