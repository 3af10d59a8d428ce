"""A job's log file: where it goes, what goes into it (our records; what a child process such as the JVM
writes to its stderr), and that the terminal stays quiet unless --verbose. No JVM: a Python child stands
in for it."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from checkpoints_config import load_config
from sparkify.ops.joblog import KEEP, REMOTE_LOG_DIR, JobLog, log_dir
from tests.conftest import lake_config

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
