"""The command line: `--help` everywhere, `config show`, and clean errors for a bad `--config`."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from checkpoints_config import load_config, render
from sparkify.ops.cli import build_parser, main

ACCESS_KEY_ID = "AKIATESTSECRET123"
SECRET_ACCESS_KEY = "wJalrTESTSECRETkey/K7MDENG+bPxRfiCY"


def subcommands() -> list[str]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """The CLI reads os.environ and the working directory: give each test empty ones."""
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_every_documented_job_has_a_subcommand():
    assert {"config", "generate", "backfill", "query", "history", "demo"} <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_help_of_every_subcommand_exits_0_and_offers_config(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    assert exited.value.code == 0
    assert "--config" in capsys.readouterr().out


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert [command for command in subcommands() if command not in out] == []


def test_config_show_prints_the_default_profile_and_where_tables_live(tmp_path, capsys):
    cwd = Path.cwd()

    assert main(["config", "show"]) == 0

    out = capsys.readouterr().out
    assert out == render(load_config("local", env={}, cwd=cwd))
    assert out.startswith("# profile: local; sources, lowest first: profile local\n")
    assert f"# tables: {cwd}/lake/tables/<table>\n" in out


def test_config_show_follows_config_and_environment(capsys, monkeypatch):
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", "s3a://other-lake/tables")

    assert main(["config", "show", "--config", "s3"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("# profile: s3; sources, lowest first: profile s3, environment\n")
    assert "# tables: s3a://other-lake/tables/<table>\n" in out


def test_config_show_of_a_missing_file_exits_2_with_a_clear_message(capsys):
    assert main(["config", "show", "--config", "nonexistent"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "sparkify: configuration error: "
        "--config 'nonexistent' is neither a profile (local, s3, emr) nor a file\n"
    )


def test_config_show_of_a_dl_cfg_prints_no_secret(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    (tmp_path / "dl.cfg").write_text(
        f"[AWS]\nAWS_ACCESS_KEY_ID = {ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY = {SECRET_ACCESS_KEY}\n"
        "[DATA]\nSONG_DATA = s3a://landing/song_data\nLOG_DATA = s3a://landing/log_data\n"
        "OUTPUT_DATA = s3a://lake/tables\n"
    )

    assert main(["config", "show", "--config", "dl.cfg"]) == 0

    shown = capsys.readouterr().out + caplog.text
    assert (ACCESS_KEY_ID in shown, SECRET_ACCESS_KEY in shown) == (False, False)
    assert "# profile: s3; sources, lowest first: profile s3, dl.cfg\n" in shown
    assert 'secret_access_key = "****"\n' in shown


def test_malformed_dl_cfg_exits_2_without_printing_the_secret(tmp_path, capsys):
    (tmp_path / "dl.cfg").write_text(f"AWS_SECRET_ACCESS_KEY = {SECRET_ACCESS_KEY}\n[DATA]\n")

    assert main(["config", "show", "--config", "dl.cfg"]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith("sparkify: configuration error: dl.cfg: not a valid dl.cfg (line 1")
    assert SECRET_ACCESS_KEY not in captured.out + captured.err
