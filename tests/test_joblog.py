"""A job's log file: where it goes, what goes into it (our records; what a child process such as the JVM
writes to its stderr), and that the terminal stays quiet unless --verbose. No JVM: a Python child stands
in for it."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time

import pytest

from checkpoints_config import load_config
from sparkify.ops import cli
from sparkify.ops.joblog import KEEP, REMOTE_LOG_DIR, JobLog, log_dir
from sparkify.session import SparkStartError
from tests.conftest import lake_config
from tests.landing import land

CHILD = "import sys, time; time.sleep(0.3); print('from the child', file=sys.stderr, flush=True)"


@pytest.fixture
def job_log():
    made: list[JobLog] = []

    def make(verbose: bool = False) -> JobLog:
        made.append(JobLog("INFO", verbose))
        return made[-1]

    yield make
    for log in made:
        log.close()


def test_the_log_is_under_the_output_root_or_local_for_s3_and_none_on_yarn(tmp_path, job_log):
    assert log_dir(lake_config(tmp_path)) == tmp_path / "tables" / "_logs"
    assert log_dir(load_config("s3", env={}, cwd=tmp_path)) == REMOTE_LOG_DIR
    emr = load_config("emr", env={}, cwd=tmp_path)
    assert emr.spark.master.startswith("yarn")
    assert job_log().open(emr, "stream") is None


def test_our_records_go_to_the_file_and_a_childs_stderr_too(tmp_path, job_log, capfd):
    log = job_log()
    path = log.open(lake_config(tmp_path), "backfill")
    assert path is not None and path.parent == tmp_path / "tables" / "_logs"
    assert path.name.startswith("sparkify-backfill-") and path.suffix == ".log"

    logging.getLogger("batch_backfill.job").info("list songs files took 0.5s")
    with log.jvm_output():  # the JVM is started in here and keeps the descriptor it was given
        child = subprocess.Popen([sys.executable, "-c", CHILD])
    print("ours, after", file=sys.stderr)
    child.wait(timeout=60)
    log.close()

    text = path.read_text()
    assert "INFO batch_backfill.job: list songs files took 0.5s" in text
    assert "from the child" in text
    err = capfd.readouterr().err
    assert "from the child" not in err and "ours, after" in err


def test_verbose_copies_the_childs_output_to_the_terminal_too(tmp_path, job_log, capfd):
    log = job_log(verbose=True)
    path = log.open(lake_config(tmp_path), "stream")
    with log.jvm_output():
        child = subprocess.Popen([sys.executable, "-c", CHILD])
    child.wait(timeout=60)
    for _ in range(50):  # the copying thread writes a moment later
        if "from the child" in path.read_text():
            break
        time.sleep(0.1)
    assert "from the child" in path.read_text()
    assert "from the child" in capfd.readouterr().err


def test_each_run_gets_its_own_file_and_only_the_newest_are_kept(tmp_path, job_log):
    config = lake_config(tmp_path)
    logs = tmp_path / "tables" / "_logs"
    logs.mkdir(parents=True)
    for n in range(KEEP + 3):
        (logs / f"sparkify-demo-20250101T0000{n:02d}Z.log").write_text("old")
    (logs / "sparkify-stream-20250101T000000Z.log").write_text("another command's")

    first, second = job_log().open(config, "demo"), job_log().open(config, "demo")

    assert first != second and first is not None and second is not None
    demo_logs = sorted(p.name for p in logs.glob("sparkify-demo-*.log"))
    assert len(demo_logs) == KEEP and second.name in demo_logs and first.name in demo_logs
    assert (logs / "sparkify-stream-20250101T000000Z.log").exists()


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """The CLI's environment pointed at a landed lake of this test's own."""
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    config = lake_config(tmp_path)
    monkeypatch.setenv("SPARKIFY_PATHS_SONG_DATA", config.paths.song_data)
    monkeypatch.setenv("SPARKIFY_PATHS_LOG_DATA", config.paths.log_data)
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", config.paths.output_root)
    monkeypatch.chdir(tmp_path)
    land(tmp_path / "landing")
    return tmp_path


@pytest.mark.parametrize(
    ("error", "code"),
    [(RuntimeError("boom"), 1), (SparkStartError("Spark did not start: no Java"), 2)],
    ids=["runtime", "spark-start"],
)
def test_a_job_that_fails_prints_its_phase_failed_and_one_error_line_naming_the_log(
    lake_env, capsys, monkeypatch, error, code
):
    def fail(*_: object) -> None:
        logging.getLogger("sparkify.session").info("starting the JVM")
        raise error

    monkeypatch.setattr(cli, "start_spark", fail)

    assert cli.main(["backfill"]) == code

    out, err = capsys.readouterr()
    [path] = (lake_env / "tables" / "_logs").glob("sparkify-backfill-*.log")
    log_line, set_up = out.splitlines()
    assert log_line == f"log: {path.relative_to(lake_env)} (--verbose shows it here too)"
    assert re.fullmatch(r"set up +\d+s  failed", set_up), set_up
    expected = (
        "sparkify: RuntimeError: boom (--debug shows the traceback; " if code == 1 else f"sparkify: {error} ("
    )
    assert err.count("\n") == 1 and err.startswith(expected), err
    assert err.rstrip().endswith(f"log: {path})")
    assert "INFO sparkify.session: starting the JVM" in path.read_text()
