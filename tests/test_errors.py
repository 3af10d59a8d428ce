"""The mistakes people make get one line saying what was wrong and what to do, exit 2 for usage and
configuration, 1 for runtime failures; a traceback only with --debug; and nothing half-written stops
the next run from completing."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from checkpoints_config import ConfigError
from sparkify.errors import UsageError
from sparkify.ops import cli
from sparkify.ops.lease import WriterLease, lease_store
from tests.conftest import ROUTING_ONLY, lake_config
from tests.landing import land
from tests.test_backfill import assert_same_star_tables

ENV_KEYS = ("SONG_DATA", "LOG_DATA", "OUTPUT_ROOT", "CHECKPOINT_ROOT")


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """The CLI reads the environment: point it at a lake of this test's own, landing zone included."""
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPARKIFY_PATHS_SONG_DATA", str(tmp_path / "landing/song_data"))
    monkeypatch.setenv("SPARKIFY_PATHS_LOG_DATA", str(tmp_path / "landing/log_data"))
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of one command; its stdout is in ``capsys.out_of_last``."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    capsys.out_of_last = captured.out
    return code, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_explain_maps_each_kind_of_error_to_its_exit_code():
    from expectations.validation import DataQualityError

    assert cli.explain(ConfigError("bad key")) == (2, "configuration error: bad key")
    assert cli.explain(UsageError("unknown table 'x'")) == (2, "unknown table 'x'")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert cli.explain(full)[0] == 1 and "no space left on device" in cli.explain(full)[1]
    wrapped = RuntimeError("streaming query events failed: ...\nDataQualityError: events: rows fail x\n  at")
    code, message = cli.explain(wrapped)
    assert code == 1 and message.startswith("stopped before merging: events: rows fail x.")
    assert cli.explain(DataQualityError("songs: rows fail y"))[1].startswith("stopped before merging: songs")
    assert cli.explain(KeyError("boom")) == (1, "KeyError: 'boom'")


def test_an_unknown_table_exits_2_in_one_line_without_starting_spark(lake_env, capsys, monkeypatch):
    monkeypatch.setattr(cli, "start_spark", lambda *a: pytest.fail("started Spark"))
    for argv in (["history", "song"], ["changes", "nope", "--from", "0", "--to", "1"]):
        code, err = run(capsys, *argv)
        assert code == 2
        assert one_line(err).startswith(f"sparkify: unknown table '{argv[1]}'; tables: artists, ")


def test_debug_shows_the_traceback(lake_env, capsys):
    code, err = run(capsys, "history", "song", "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("sparkify: unknown table 'song'")


def test_a_missing_landing_prefix_exits_2_naming_the_setting(lake_env, capsys):
    code, err = run(capsys, "backfill")
    assert code == 2
    assert one_line(err) == (
        f"sparkify: configuration error: paths.song_data = {lake_env}/landing/song_data is not a "
        "directory: land the songs files there, or point SPARKIFY_PATHS_SONG_DATA at them"
    )
    assert not (lake_env / "tables").exists()  # nothing created


def test_an_unwritable_output_root_exits_2_before_anything_starts(lake_env, capsys, monkeypatch):
    land(lake_env / "landing")
    (lake_env / "a-file").write_text("not a directory")
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", str(lake_env / "a-file/tables"))
    code, err = run(capsys, "backfill")
    assert code == 2
    assert one_line(err) == (
        f"sparkify: configuration error: paths.output_root = {lake_env}/a-file/tables is not writable "
        "(Not a directory): choose another directory with SPARKIFY_PATHS_OUTPUT_ROOT"
    )


def test_a_second_writer_is_refused_at_once_naming_the_holder(lake_env, capsys, monkeypatch):
    land(lake_env / "landing")
    monkeypatch.setattr(cli, "start_spark", lambda *a: pytest.fail("started Spark"))
    config = lake_config(lake_env)
    with WriterLease(lease_store(config), "stream", 60, config.paths.output_root, on_lost=lambda: None):
        for command in (["backfill"], ["restore", "songs", "--version", "0", "--yes"]):
            code, err = run(capsys, *command)
            assert code == 1
            line = one_line(err)
            assert line.startswith(
                f"sparkify: the lake at {config.paths.output_root} is being written by stream"
            )
            assert f"pid {os.getpid()}" in line and "since" in line and "kill -TERM" in line


def test_restore_without_a_terminal_asks_for_yes(lake_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, err = run(capsys, "restore", "songs", "--version", "0")
    assert code == 2
    assert one_line(err) == "sparkify: restore rewinds a table: pass --yes to confirm without a prompt"


@pytest.fixture
def in_session(spark, monkeypatch):
    """Commands run in this process use the test session (the CLI would start its own)."""
    monkeypatch.setattr(cli, "start_spark", lambda *a: spark)
    return spark


@pytest.mark.spark
@pytest.mark.slow
def test_query_and_audit_mistakes_exit_2_in_one_line(lake_env, in_session, capsys, monkeypatch):
    for name, value in ROUTING_ONLY.items():  # what GX finds is not the subject here
        monkeypatch.setenv(name, value)
    land(lake_env / "landing")
    assert run(capsys, "backfill")[0] == 0
    cases = {
        ("query", "SELEC * FROM songs"): 'sparkify: Parser Error: syntax error at or near "SELEC"',
        ("query", "SELECT * FROM nosuch"): "sparkify: Catalog Error: Table with name nosuch does not exist!",
        ("query", "SELECT * FROM songs", "--as-of-version", "99"): "sparkify: songs has versions 0 to 1; ver",
        ("query", "SELEC * FROM songs", "--engine", "spark"): (
            "sparkify: [PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'"
        ),
        ("query", "SELECT * FROM nosuch", "--engine", "spark"): "sparkify: [TABLE_OR_VIEW_NOT_FOUND]",
        ("restore", "songs", "--version", "99", "--yes"): "sparkify: songs has versions 0 to 1; version 99",
        (
            "changes",
            "songs",
            "--from",
            "1",
            "--to",
            "9",
        ): "sparkify: --from 1 --to 9: songs has versions 0 to 1",
    }
    for argv, start in cases.items():
        code, err = run(capsys, *argv)
        assert (code, one_line(err)[: len(start)]) == (2, start), err


@pytest.mark.spark
@pytest.mark.slow
def test_restore_rebuild_and_maintain_record_who_and_why_and_status_creates_nothing(
    lake_env, in_session, capsys, monkeypatch
):
    for name, value in ROUTING_ONLY.items():
        monkeypatch.setenv(name, value)
    code, _ = run(capsys, "status")
    assert code == 0 and not (lake_env / "tables").exists()  # read-only: no table, no lease directory
    assert capsys.out_of_last.splitlines()[1].startswith("no tables under")
    land(lake_env / "landing")
    assert run(capsys, "backfill")[0] == 0
    songs = "SELECT * FROM songs ORDER BY song_id"
    assert run(capsys, "query", songs, "--format", "json")[0] == 0
    backfilled = capsys.out_of_last
    assert run(capsys, "restore", "songs", "--version", "0", "--yes", "--reason", "bad load")[0] == 0
    assert run(capsys, "history", "songs", "--format", "json")[0] == 0
    latest = json.loads(capsys.out_of_last.splitlines()[0])
    assert (latest["operation"], latest["job"]) == ("RESTORE", "restore")
    note = json.loads(latest["note"])
    assert note["reason"] == "bad load" and note["from_version"] == 1 and "@" in note["by"]

    # Rebuilt from staging, then maintained: the rows the backfill wrote, and history says who did what.
    assert run(capsys, "rebuild", "songs")[0] == 0
    assert run(capsys, "maintain", "songs")[0] == 0
    assert run(capsys, "query", songs, "--format", "json")[0] == 0
    assert capsys.out_of_last == backfilled
    assert run(capsys, "history", "songs", "--last", "4", "--format", "json")[0] == 0
    jobs = [(c["operation"], c["job"]) for c in map(json.loads, capsys.out_of_last.splitlines())]
    assert jobs == [
        ("VACUUM END", "maintain"),
        ("VACUUM START", "maintain"),
        ("OPTIMIZE", "maintain"),
        ("WRITE", "rebuild"),
    ]
    assert run(capsys, "status")[0] == 0
    assert capsys.out_of_last.startswith("writer: none")


def tiny_disk(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk: {done.stderr.decode().strip()}")


@pytest.mark.spark
@pytest.mark.slow
def test_a_full_disk_fails_in_one_line_and_the_next_run_completes(lake_env, in_session, reference, capsys):
    _, _, _, expected = reference
    land(lake_env / "landing")
    disk = lake_env / "tables"
    tiny_disk(disk, "96k")
    try:
        code, err = run(capsys, "backfill")
        assert code == 1
        assert one_line(err).startswith("sparkify: no space left on device: free some space")
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        code, err = run(capsys, "backfill")
        assert code == 0, err
        assert_same_star_tables(in_session, lake_config(lake_env), expected)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.spark
@pytest.mark.slow
def test_a_fail_policy_expectation_stops_before_merging_and_the_fixed_run_completes(
    lake_env, in_session, reference, capsys, monkeypatch, tmp_path
):
    _, _, _, expected = reference
    land(lake_env / "landing")
    monkeypatch.setenv("SPARKIFY_QUALITY_POLICIES", "raw_events.play_has_user_id=fail")
    code, err = run(capsys, "backfill")
    assert code == 1
    assert one_line(err).startswith(
        "sparkify: stopped before merging: events: batch fails expectation(s) with policy 'fail': "
        "play_has_user_id (2 of 10 rows). Fix those rows or that expectation's policy"
    )
    monkeypatch.delenv("SPARKIFY_QUALITY_POLICIES")
    assert run(capsys, "backfill")[0] == 0
    assert_same_star_tables(in_session, lake_config(lake_env), expected)


@pytest.mark.spark
def test_a_lake_an_older_version_wrote_exits_2_naming_the_missing_column(lake_env, in_session, capsys):
    """Staging gained ``rejections`` (each row's stored verdict): a staging table without it is refused
    before any batch, instead of a schema mismatch deep inside the first append."""
    from sparkify.tables import STAGING_EVENTS

    land(lake_env / "landing")
    old = [f for f in STAGING_EVENTS.schema.fields if f.name != "rejections"]
    path = lake_config(lake_env).table_path(STAGING_EVENTS.name)
    in_session.createDataFrame([], STAGING_EVENTS.schema.__class__(old)).write.format("delta").save(path)
    code, err = run(capsys, "backfill")
    assert code == 2
    assert one_line(err) == (
        f"sparkify: table staging_events at {path} lacks column(s) rejections: an older Sparkify wrote "
        "it. Point paths.output_root at a new directory (or move the tables aside) and run "
        "`sparkify backfill`: it reads the landing files again and never changes them"
    )
