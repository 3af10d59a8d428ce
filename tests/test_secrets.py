"""Credentials never leak: keys planted in a config file reach S3, but no output, log, process command
line or lake file holds them (SPEC, "Configuration": never printed, logged or written into a table).

The CLI runs as real processes against moto's S3 server, at the most verbose logging (``--debug`` and
``SPARKIFY_LOG_LEVEL=DEBUG``), with routing-only validation to stay quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROUTING_ONLY
from tests.landing import EVENT_FILES, SONG_FILES

pytestmark = [pytest.mark.spark, pytest.mark.s3, pytest.mark.slow]

# Distinctive enough that a hit can only be the planted key (moto accepts any key).
ACCESS_KEY_ID = "AKIAPLANTEDLEAKCHECK7"
SECRET_ACCESS_KEY = "plantedSecret/LeakCheck+7c1eQw9Zx3Rt5Yu8Io2Pa4Sd6Fg"
REPO = Path(__file__).resolve().parents[1]
NEEDLES = (ACCESS_KEY_ID.encode(), SECRET_ACCESS_KEY.encode())


def holding(data: bytes) -> list[str]:
    """Which planted credentials ``data`` contains (as written; the key id also lowercased, as a URL or
    a log may spell it)."""
    found = [n.decode() for n in NEEDLES if n in data]
    if ACCESS_KEY_ID.lower().encode() in data.lower() and ACCESS_KEY_ID not in found:
        found.append(ACCESS_KEY_ID)
    return found


def files_holding(root: Path) -> dict[str, list[str]]:
    """Every file under ``root`` that holds a planted credential, by path."""
    hits = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        found = holding(path.read_bytes())
        if found:
            hits[str(path)] = found
    return hits


@contextmanager
def watching_command_lines() -> Iterator[dict[int, str]]:
    """While the block runs, note every process whose command line holds a planted credential (any
    user on the host can read ``/proc/<pid>/cmdline``, and ``ps`` shows it)."""
    hits: dict[int, str] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(1.0):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:  # gone meanwhile
                    continue
                if holding(cmdline):
                    text = cmdline.replace(b"\0", b" ").decode(errors="replace")
                    at = max(text.lower().find(ACCESS_KEY_ID.lower()), text.find(SECRET_ACCESS_KEY))
                    hits[int(proc.name)] = f"{text[:60]} ... {text[max(at - 120, 0) : at + 60]}"

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield hits
    finally:
        done.set()
        watcher.join()


def sparkify(cwd: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sparkify ARGS --debug`` as a process, stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, "-m", "sparkify.ops.cli", *args, "--debug"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # a backfill takes ~30 s alone, minutes on a loaded shared machine
    )


def test_planted_credentials_reach_s3_but_no_output_log_command_line_or_lake_file(
    s3_server, s3_bucket, tmp_path
):
    client, bucket = s3_bucket
    for prefix, files in (("song_data", SONG_FILES), ("log_data", EVENT_FILES)):
        for rel, text in files.items():
            client.put_object(Bucket=bucket, Key=f"landing/{prefix}/{rel}", Body=text.encode())
    run = tmp_path / "run"
    run.mkdir()
    config = run / "lake.toml"
    config.write_text(
        f'profile = "s3"\n\n[paths]\nsong_data = "s3a://{bucket}/landing/song_data"\n'
        f'log_data = "s3a://{bucket}/landing/log_data"\noutput_root = "s3a://{bucket}/lake"\n\n'
        '[spark]\nshuffle_partitions = 2\ndriver_memory = "1g"\nui_enabled = false\n\n'
        f'[s3]\nendpoint = "{s3_server.endpoint_url}"\npath_style = true\n'
        f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "{SECRET_ACCESS_KEY}"\n'
    )
    # The keys come from the file only; Spark's scratch files stay under `run` to be searched too.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SPARKIFY_"))}
    env |= {**ROUTING_ONLY, "SPARKIFY_LOG_LEVEL": "DEBUG", "SPARK_LOCAL_DIRS": str(run / "spark-local")}
    env["PYTHONPATH"] = str(REPO)  # the code under test, whatever package the interpreter has installed
    if "SPARKIFY_IVY_DIR" in os.environ:
        env["SPARKIFY_IVY_DIR"] = os.environ["SPARKIFY_IVY_DIR"]

    with watching_command_lines() as command_lines:
        shown = sparkify(run, env, "config", "show", "--config", str(config))
        backfill = sparkify(run, env, "backfill", "--config", str(config))

    # The run used the planted keys: the file carried them (masked when shown) and S3 took the writes.
    assert shown.returncode == 0, shown.stderr
    assert 'access_key_id = "****"' in shown.stdout
    assert 'secret_access_key = "****"' in shown.stdout
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    assert "backfill: 9 files, 23 lines read" in backfill.stdout

    for proc in (shown, backfill):
        assert holding(proc.stdout.encode()) == []
        assert holding(proc.stderr.encode()) == []
    assert command_lines == {}
    # The search finds a planted key where there is one: in the config file, and nowhere else.
    assert files_holding(run) == {str(config): [ACCESS_KEY_ID, SECRET_ACCESS_KEY]}

    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lake/"):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    commits = [key for key in objects if "/_delta_log/" in key and key.endswith(".json")]
    assert "lake/songplays/_delta_log/00000000000000000000.json" in commits
    assert any(key.startswith("lake/_lease/") for key in objects)
    assert {key: holding(data) for key, data in objects.items() if holding(data)} == {}
