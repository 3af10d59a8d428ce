"""``sparkify quality report``: GX Data Docs rebuilt from ``quality_results`` rows.

The site builder is tested without a JVM on hand-built rows; one test renders the pages in headless
Chromium (and can refresh the screenshot in docs/); the command itself runs on a small Delta table.
Set UPDATE_DOCS_SCREENSHOT=1 to write docs/data_docs.png from the browser test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from expectations.data_docs import MARKER, SiteDirectoryError, build_data_docs
from sparkify.ops import cli

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "data_docs.png"


def result_row(batch_id: str, dataset: str, suite: str, name: str, at: dt.datetime, **fields) -> dict:
    """One ``quality_results`` row: a not-null check that passed, unless ``fields`` say otherwise."""
    row = {
        "batch_id": batch_id,
        "dataset": dataset,
        "suite": suite,
        "expectation": name,
        "expectation_type": "expect_column_values_to_not_be_null",
        "kwargs": json.dumps({"column": "ts"}),
        "policy": "quarantine",
        "success": True,
        "element_count": 100,
        "unexpected_count": 0,
        "unexpected_percent": 0.0,
        "observed_value": None,
        "validated_at": at,
    }
    return {**row, **fields}


def two_batches_of_two_datasets() -> list[dict]:
    """events and songs, two validations each; only the newer events batch fails an expectation
    (``level_known``, 3 of 100 rows), every other one passes. A null observed value, a JSON one."""
    rows = []
    for i, (dataset, suite) in enumerate((("events", "raw_events"), ("songs", "raw_songs"))):
        for b in range(2):
            at = T0 + dt.timedelta(minutes=10 * b + i)
            batch = f"stream-{dataset}-{b}"
            failing = dataset == "events" and b == 1
            rows.append(
                result_row(
                    batch,
                    dataset,
                    suite,
                    "level_known",
                    at,
                    expectation_type="expect_column_values_to_be_in_set",
                    kwargs=json.dumps({"column": "level", "value_set": ["free", "paid"]}),
                    success=not failing,
                    unexpected_count=3 if failing else 0,
                    unexpected_percent=3.0 if failing else 0.0,
                )
            )
            rows.append(result_row(batch, dataset, suite, "ts_present", at))
            rows.append(
                result_row(
                    batch,
                    dataset,
                    suite,
                    "ts_is_epoch_ms",
                    at,
                    expectation_type="expect_column_values_to_be_of_type",
                    kwargs=json.dumps({"column": "ts", "type_": "LongType"}),
                    policy="fail",
                    element_count=None,
                    unexpected_count=None,
                    unexpected_percent=None,
                    observed_value=json.dumps("LongType"),
                )
            )
    return rows


def validation_pages(site: Path) -> dict[str, Path]:
    """Validation pages by run name (the batch id): validations/<suite>/<run>/<time>/<dataset>.html."""
    return {p.relative_to(site / "validations").parts[1]: p for p in site.glob("validations/**/*.html")}


FAILING_PAGE = "validations/raw_events/stream-events-1/20261125T101000.000000Z/events.html"


def test_a_site_has_a_page_per_validation_naming_what_failed_and_when(tmp_path):
    site = tmp_path / "docs"

    index = build_data_docs(two_batches_of_two_datasets(), site)

    assert index == site / "index.html" and index.is_file()
    pages = validation_pages(site)
    assert sorted(pages) == ["stream-events-0", "stream-events-1", "stream-songs-0", "stream-songs-1"]
    assert pages["stream-events-1"] == site / FAILING_PAGE  # run time: validated_at, in UTC
    failing = pages["stream-events-1"].read_text()
    assert "level_known (policy: quarantine)" in failing and "stream-events-1" in failing
    assert "3 unexpected values found" in failing and "Failed" in failing
    assert "ts_is_epoch_ms (policy: fail)" in failing and "LongType" in failing  # JSON observed value
    passing = pages["stream-songs-1"].read_text()
    assert "level_known" in passing and "3 unexpected" not in passing
    assert {p.name for p in (site / "expectations").iterdir()} == {"raw_events.html", "raw_songs.html"}
    listed = index.read_text()
    assert all(batch in listed for batch in pages)


def test_a_site_keeps_only_the_last_n_validations_of_each_dataset(tmp_path):
    build_data_docs(two_batches_of_two_datasets(), tmp_path / "docs", last=1)

    assert sorted(validation_pages(tmp_path / "docs")) == ["stream-events-1", "stream-songs-1"]
    with pytest.raises(ValueError, match="last must be a positive number"):
        build_data_docs([], tmp_path / "other", last=0)


def test_a_rebuild_replaces_the_site_and_a_directory_it_did_not_build_is_refused(tmp_path):
    rows = two_batches_of_two_datasets()
    site = tmp_path / "docs"
    build_data_docs(rows, site)

    build_data_docs([r for r in rows if r["dataset"] == "songs"], site)

    assert sorted(validation_pages(site)) == ["stream-songs-0", "stream-songs-1"]  # no stale pages
    assert (site / MARKER).is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["docs"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SiteDirectoryError, match="is not empty and is not a site"):
        build_data_docs(rows, foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_building_a_site_leaves_the_current_gx_context_as_it_was(tmp_path):
    import great_expectations as gx
    from great_expectations.data_context import project_manager

    context = gx.get_context(mode="ephemeral")

    build_data_docs(two_batches_of_two_datasets(), tmp_path / "docs")

    assert project_manager.get_current_project() is context


def test_a_row_with_broken_json_is_named(tmp_path):
    rows = two_batches_of_two_datasets()
    rows[0] = {**rows[0], "kwargs": "{not json"}

    with pytest.raises(
        ValueError, match=r"'level_known' of batch 'stream-events-0' \(events\): kwargs is not"
    ):
        build_data_docs(rows, tmp_path / "docs")
    assert not (tmp_path / "docs").exists()


def chromium_binary() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with its own profile and no name resolution: the pages' CDN links fail at
    once, so the test needs no network, and shows what an offline reader sees."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium; `make test` does it when root)")
    common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    return subprocess.run([binary, *common, *args], capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
@pytest.mark.browser
def test_a_validation_page_shows_the_failing_expectation_in_chromium(tmp_path):
    site = tmp_path / "docs"
    build_data_docs(two_batches_of_two_datasets(), site)
    page = (site / FAILING_PAGE).as_uri()
    profile = tmp_path / "chromium-profile"

    dom = chromium("--dump-dom", page, profile=profile).stdout
    index_dom = chromium("--dump-dom", (site / "index.html").as_uri(), profile=profile).stdout
    screenshot = tmp_path / "data_docs.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1280,900", page, profile=profile)

    assert "level_known (policy: quarantine)" in dom and "3 unexpected values found" in dom
    assert "Validations / raw_events / events / stream-events-1 / 2026-11-25T10:10:00Z" in dom
    assert "Validation Results" in index_dom and "Expectation Suites" in index_dom
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """The command reads the environment: point it at this test's own lake."""
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPARKIFY_PATHS_SONG_DATA", str(tmp_path / "landing/song_data"))
    monkeypatch.setenv("SPARKIFY_PATHS_LOG_DATA", str(tmp_path / "landing/log_data"))
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_refuses_a_bad_out_or_last_without_starting_spark(lake_env, capsys, monkeypatch):
    monkeypatch.setattr(cli, "start_spark", lambda *a: pytest.fail("started Spark"))
    (lake_env / "mine").mkdir()
    (lake_env / "mine" / "notes.txt").write_text("keep me")
    cases = {
        ("--out", "s3a://bucket/docs"): "sparkify: --out s3a://bucket/docs: Data Docs are written to a local",
        ("--last", "0"): "sparkify: --last 0: give a positive number of validations per dataset",
        ("--out", "mine"): f"sparkify: {lake_env / 'mine'} is not empty and is not a site",
    }
    for argv, start in cases.items():
        assert cli.main(["quality", "report", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith(start), err


def test_the_site_goes_next_to_local_tables_else_into_the_working_directory(lake_env):
    from checkpoints_config import load_config

    assert cli.data_docs_dir(load_config(), None) == lake_env / "tables" / "_data_docs"
    assert cli.data_docs_dir(load_config("s3", env={}), None) == lake_env / "sparkify-data-docs"
    assert cli.data_docs_dir(load_config("s3", env={}), "site") == lake_env / "site"


def test_report_help_says_how_many_validations_a_site_holds(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["quality", "report", "--help"])

    out = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    assert "most recent --last validations of each dataset" in out and "(default: 200)" in out
    assert "<output root>/_data_docs" in out and "no writer lease" in out


@pytest.fixture
def in_session(spark, monkeypatch):
    """The command runs in this process on the test session (it would start its own)."""
    monkeypatch.setattr(cli, "start_spark", lambda *a: spark)
    return spark


def write_quality_results(spark, rows: list[dict]) -> None:
    from checkpoints_config import load_config
    from sparkify.tables import QUALITY_RESULTS

    path = load_config().table_path(QUALITY_RESULTS.name)
    spark.createDataFrame(rows, QUALITY_RESULTS.schema).write.format("delta").save(path)


@pytest.mark.spark
def test_only_the_newest_validations_of_each_dataset_are_collected(lake_env, in_session):
    from checkpoints_config import load_config
    from expectations.data_docs import collect_recent_results

    rows = two_batches_of_two_datasets()
    write_quality_results(in_session, rows)
    results_df = in_session.read.format("delta").load(load_config().table_path("quality_results"))

    collected = collect_recent_results(results_df, last=1)

    newest = [r for r in rows if r["batch_id"] in ("stream-events-1", "stream-songs-1")]
    key = lambda r: (r["batch_id"], r["expectation"])  # noqa: E731
    assert sorted(collected, key=key) == sorted(newest, key=key)  # validated_at: aware, UTC, exact


@pytest.mark.spark
def test_report_on_a_lake_writes_the_newest_validations_next_to_the_tables(
    lake_env, in_session, capsys, caplog
):
    write_quality_results(in_session, two_batches_of_two_datasets())

    assert cli.main(["quality", "report", "--last", "1"]) == 0

    captured = capsys.readouterr()
    index = Path(captured.out.strip())
    site = lake_env / "tables" / "_data_docs"
    assert index == site / "index.html" and index.is_file()
    assert sorted(validation_pages(site)) == ["stream-events-1", "stream-songs-1"]
    assert "level_known (policy: quarantine)" in (site / FAILING_PAGE).read_text()
    assert "2 validation page(s), 1 failed" in caplog.text
    # Read-only: no other table, no lease; the site is all it wrote.
    assert sorted(p.name for p in (lake_env / "tables").iterdir()) == ["_data_docs", "quality_results"]


@pytest.mark.spark
def test_report_without_quality_results_says_what_to_run_and_creates_nothing(lake_env, in_session, capsys):
    assert cli.main(["quality", "report"]) == 2

    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"sparkify: no table quality_results at {lake_env / 'tables' / 'quality_results'}")
    assert err.rstrip().endswith("yet: run `sparkify backfill` or `sparkify stream` first")
    assert not (lake_env / "tables").exists()
