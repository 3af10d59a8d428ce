"""A file's identity: its path relative to its landing root, the same whether the backfill lists it,
reads it, or the stream takes it, and the same after Spark's cleanSource archived it."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from sparkify.sources import (
    archived_root,
    is_relative,
    list_raw_files,
    read_whole_files,
    relative_path,
    relative_path_of,
    root_prefix,
)

PATHS = [
    # (_metadata.file_path, the root's encoded path, source_file)
    ("file:/work/lake/landing/song_data/A/A/A/TRAAA0000000000001.json", "/work/lake/landing/song_data",
     "A/A/A/TRAAA0000000000001.json"),
    ("file:///work/lake/landing/log_data/2018/11/2018-11-15-events.json", "/work/lake/landing/log_data",
     "2018/11/2018-11-15-events.json"),
    ("s3a://bucket/landing/song_data/A/B/x.json", "/landing/song_data", "A/B/x.json"),
    ("s3a://bucket/x.json", "", "x.json"),  # a root that is a whole bucket
    ("file:/tmp/a%20b/c+d/x%2541.json", "/tmp/a%20b/", "c+d/x%2541.json"),  # stays encoded, '+' too
    ("file:/tmp/song_data_old/x.json", "/tmp/song_data", "file:/tmp/song_data_old/x.json"),  # kept whole
    ("file:/elsewhere/x.json", "/tmp/song_data", "file:/elsewhere/x.json"),
]  # fmt: skip


@pytest.mark.parametrize(("file_path", "prefix", "expected"), PATHS)
def test_a_file_is_named_by_its_path_relative_to_its_root(file_path, prefix, expected):
    assert relative_path_of(file_path, prefix) == expected
    assert is_relative(expected) == (not expected.startswith("file:"))


@pytest.mark.parametrize(
    ("archive_dir", "root", "expected"),
    [
        ("/work/lake/landing/_archive", "/work/lake/landing/song_data",
         "/work/lake/landing/_archive/work/lake/landing/song_data"),
        ("s3a://b/landing/_archive", "s3a://b/landing/song_data/", "s3a://b/landing/_archive/landing/song_data"),
        ("file:/srv/_archive", "file:///srv/my data/log_data", "file:/srv/_archive/srv/my data/log_data"),
    ],
)  # fmt: skip
def test_cleansource_puts_a_roots_files_under_its_full_path_in_the_archive(archive_dir, root, expected):
    assert archived_root(archive_dir, root) == expected


@pytest.mark.spark
def test_the_column_function_agrees_with_its_twin(spark):
    rows = [(f, p) for f, p, _ in PATHS] + [("file:/tmp/x.json", "/tmp")]
    df = spark.createDataFrame(rows, "file_path STRING, prefix STRING")
    for prefix in {p for _, p in rows}:
        got = df.filter(df.prefix == prefix).select(relative_path(df.file_path, prefix).alias("source_file"))
        expected = [(relative_path_of(f, prefix),) for f, p in rows if p == prefix]
        assertDataFrameEqual(got, spark.createDataFrame(expected, "source_file STRING"))


@pytest.mark.spark
def test_listing_and_reading_name_a_file_alike_whatever_its_path_holds(spark, tmp_path):
    """The binaryFile source's ``path`` is not encoded while ``_metadata.file_path`` is: both use the
    latter, so a directory with a space, a '+' or a '%' is one file to the listing and to the read."""
    root = tmp_path / "my landing" / "song_data"
    for rel in ("a b+c/x.json", "pct%41/y.json", "plain/z.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text('{"a": 1}\n')
    assert root_prefix(spark, str(root)) == str(root).replace(" ", "%20")
    expected = ["a%20b+c/x.json", "pct%2541/y.json", "plain/z.json"]
    listed = list_raw_files(spark, str(root))
    assert sorted(r.source_file for r in listed.collect()) == expected
    read = read_whole_files(spark, str(root), only=listed)
    assert sorted(r.source_file for r in read.collect()) == expected
