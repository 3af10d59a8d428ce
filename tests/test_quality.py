"""Validation in the pipeline: what GX recorded matches the verdicts stored with the staged rows, warn lets
rows through, and a suite edited later never re-judges rows staged before it."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import astuple

import pyspark.sql.functions as F
import pytest
from pyspark.testing import assertDataFrameEqual

from batch_backfill import job as backfill_job
from batch_backfill import load as backfill_load
from batch_backfill.job import run_backfill
from expectations.suites import SUITE_DIR
from expectations.validation import STAR_SUITE_PREFIX, DataQualityError, load_checks
from sparkify import tables
from sparkify.pipeline import ingest
from sparkify.pipeline.star_checks import check_star_tables, star_batches
from tests.conftest import lake_config
from tests.landing import TS, land, lines, play
from tests.test_backfill import assert_same_star_tables

pytestmark = pytest.mark.spark

DEC_1 = 1543622400000  # 2018-12-01T00:00:00Z


def load(spark, config, name: str):
    return spark.read.format("delta").load(config.table_path(name))


def test_each_batch_records_one_row_per_expectation_agreeing_with_the_stored_verdicts(spark, reference):
    config, _, out, _ = reference
    results = load(spark, config, "quality_results")
    staged = {
        "events": load(spark, config, "staging_events"),
        "songs": load(spark, config, "staging_songs"),
    }
    for dataset, suite in (("events", "raw_events"), ("songs", "raw_songs")):
        mine = results.filter((F.col("dataset") == dataset) & (F.col("suite") == suite))
        batches = staged[dataset].select("batch_id").distinct()
        assert sorted(r.batch_id for r in mine.select("batch_id").distinct().collect()) == sorted(
            r.batch_id for r in batches.collect()
        )
        expectations = {e.name: e for e in load_checks(config.quality).suite(suite).expectations}
        # One validation per batch: every expectation once, all at one time (a Data Docs page each).
        per_batch = mine.groupBy("batch_id").agg(
            F.count("*").alias("n"), F.countDistinct("expectation"), F.countDistinct("validated_at")
        )
        assert {(r.n, r[2], r[3]) for r in per_batch.collect()} == {(len(expectations), len(expectations), 1)}
        # GX's unexpected count of each quarantine expectation is the number of staged rows whose
        # stored verdict names it.
        rejected = (
            staged[dataset]
            .select("batch_id", F.explode("rejections").alias("expectation"))
            .groupBy("batch_id", "expectation")
            .agg(F.count("*").cast("long").alias("unexpected_count"))
        )
        quarantining = mine.filter((F.col("policy") == "quarantine") & (F.col("unexpected_count") > 0))
        assertDataFrameEqual(
            quarantining.select("batch_id", "expectation", "unexpected_count"), rejected, checkRowOrder=False
        )
        assert {r.expectation for r in mine.collect()} == set(expectations)
    # The star tables were checked after the backfill, and hold together.
    star = results.filter(F.col("batch_id").startswith("backfill-star-"))
    assert {r.dataset for r in star.collect()} == {"songplays", "users", "songs", "artists", "time"}
    assert star.filter(~F.col("success")).isEmpty()
    assert "[backfill] star tables: 12 expectations checked, all passed" in out


def test_each_batch_records_the_counts_gx_reports_on_its_staged_rows(spark, reference):
    """The pipeline records GX's verdicts with the routing pass's counts; GX counting on the rows it
    validated (the batch's staged rows, its malformed lines left out) reports the same."""
    config = reference[0]
    validator = load_checks(config.quality).validator
    results = load(spark, config, "quality_results").drop("validated_at")
    for dataset, suite in (("events", "raw_events"), ("songs", "raw_songs")):
        staged = load(spark, config, f"staging_{dataset}")
        batches = [r.batch_id for r in staged.select("batch_id").distinct().collect()]
        for batch_id in batches:
            rows = staged.filter(F.col("batch_id") == batch_id).cache()
            counted = validator.validate(rows, suite, batch_id, dataset).results
            expected = spark.createDataFrame(
                [astuple(r) for r in counted], tables.QUALITY_RESULTS.schema
            ).drop("validated_at")
            recorded = results.filter(F.col("batch_id") == batch_id)
            assertDataFrameEqual(recorded, expected, checkRowOrder=False)
            rows.unpersist()


def test_warn_records_the_failure_and_lets_the_rows_through(spark, tmp_path, monkeypatch):
    config = lake_config(tmp_path, SPARKIFY_QUALITY_POLICIES="raw_events.level_known=warn")
    path = tmp_path / "landing/log_data/2018/11/gold.json"
    path.parent.mkdir(parents=True)
    path.write_text(lines(play("42", 1, 0, TS, "Uprising", "Muse", 236.4, level="gold")))
    (tmp_path / "landing/song_data").mkdir(parents=True)
    run_backfill(spark, config, out=io.StringIO())
    level = load(spark, config, "quality_results").filter("expectation = 'level_known'").collect()
    assert [(r.policy, r.success, r.element_count, r.unexpected_count) for r in level] == [
        ("warn", False, 1, 1)
    ]
    assert load(spark, config, "quarantine").isEmpty()
    assert [r.level for r in load(spark, config, "users").collect()] == ["gold"]


def held_by_the_pipeline(spark) -> set[str]:
    """The RDDs kept in memory now, but for Delta's own cache of each table's state."""
    rdds = spark.sparkContext._jsc.getPersistentRDDs().values()
    return {str(r) for r in rdds if not str(r.name()).startswith("Delta Table State")}


def test_validating_a_batch_leaves_nothing_held_in_memory(spark, tmp_path):
    """GX reads each batch from a local checkpoint of it, which must go with the batch, as must the batch
    and the MERGE sources: a stream validates thousands. (What earlier tests held may be freed meanwhile,
    by Spark's cleaner: only what the backfill adds counts.)"""
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    before = held_by_the_pipeline(spark)
    run_backfill(spark, config, out=io.StringIO())
    assert not load(spark, config, "quality_results").isEmpty()
    assert held_by_the_pipeline(spark) - before == set()


def test_a_suite_edited_after_staging_never_rejudges_the_staged_rows(spark, reference, tmp_path, monkeypatch):
    """The events chunk is staged, then the job dies before merging it; the suite is then edited so that
    December plays fail ``ts_plausible``. The rerun merges the staged chunk by the verdicts stored when
    it was staged (the star tables equal the reference's), while a file landing now is judged by the
    new suite."""
    _, _, _, expected = reference
    config = lake_config(tmp_path)
    land(tmp_path / "landing")
    real_merge = backfill_load.merge_into_star

    def dies_merging_events(spark, config, dataset, *args, **kwargs):
        if dataset is ingest.EVENTS:
            raise KeyboardInterrupt("killed after staging the events chunk")
        real_merge(spark, config, dataset, *args, **kwargs)

    monkeypatch.setattr(backfill_load, "merge_into_star", dies_merging_events)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(spark, config, out=io.StringIO())
    monkeypatch.setattr(backfill_load, "merge_into_star", real_merge)

    stricter = tmp_path / "suites"
    stricter.mkdir()
    for path in SUITE_DIR.glob("*.json"):
        suite = json.loads(path.read_text())
        for e in suite["expectations"]:
            if e["meta"]["name"] == "ts_plausible":
                e["kwargs"]["max_value"] = DEC_1
        (stricter / path.name).write_text(json.dumps(suite))
    monkeypatch.setattr(backfill_job, "load_checks", lambda quality: load_checks(quality, stricter))
    out = io.StringIO()
    run_backfill(spark, config, out=out)
    assert "was staged but not merged: merging it again" in out.getvalue()
    assert_same_star_tables(spark, config, expected)

    late = tmp_path / "landing/log_data/2018/12/2018-12-02-events.json"
    late.write_text(lines(play("42", 11, 0, DEC_1 + 86_400_000, "Uprising", "Muse", 236.4)))
    run_backfill(spark, config, out=io.StringIO())
    quarantined = load(spark, config, "quarantine").filter(
        F.col("source_file").endswith("2018-12-02-events.json")
    )
    assert [r.reasons for r in quarantined.collect()] == [["ts_plausible"]]
    assert_same_star_tables(spark, config, expected)


def test_star_checks_run_at_once_record_what_each_table_alone_gives_then_stop_on_a_failure(
    spark, reference, tmp_path
):
    """The star tables are validated several at a time, each with a GX context of its own: what lands in
    quality_results is exactly what each table's suite gives validated alone, and a ``fail`` expectation
    that fails (a song_id made twice, its policy raised to fail) stops the check only once every table's
    outcome is recorded."""
    config = lake_config(tmp_path, SPARKIFY_QUALITY_POLICIES="star_songs.songs_id_unique=fail")
    shutil.copytree(reference[0].paths.output_root, config.paths.output_root)  # the reference's lake
    songs = load(spark, config, "songs")
    songs.limit(1).write.format("delta").mode("append").save(config.table_path("songs"))
    checks = load_checks(config.quality)
    with pytest.raises(DataQualityError, match="songs_id_unique"):
        check_star_tables(spark, config, checks, "star-test")

    alone = [
        astuple(r)
        for table, df in star_batches(spark, config).items()
        if STAR_SUITE_PREFIX + table in checks.suites
        for r in checks.validate(df, STAR_SUITE_PREFIX + table, "star-test", table).results
    ]
    expected = spark.createDataFrame(alone, tables.QUALITY_RESULTS.schema).drop("validated_at")
    recorded = load(spark, config, "quality_results").filter(F.col("batch_id") == "star-test")
    assertDataFrameEqual(recorded.drop("validated_at"), expected, checkRowOrder=False)
    assert {r.dataset for r in recorded.collect()} == {"songplays", "users", "songs", "artists", "time"}
