"""``sparkify query`` without a JVM: the time-travel rules, the output (streamed, limited, JSON lines),
and the DuckDB engine on Delta tables written here by delta-rs (no Spark: these tests take seconds).

That both engines give the same answers on tables the pipeline wrote is tested in test_queries.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from checkpoints_config import load_config
from sparkify.errors import UsageError
from sparkify.ops import cli, lake_sql
from sparkify.ops.output import FORMATS, Rows, print_stream
from sparkify.ops.time_travel import (
    LATEST,
    AsOf,
    Commit,
    parse_as_of,
    resolve_versions,
    tables_named_in,
    version_at,
)
from sparkify.table_names import TABLE_NAMES
from tests.conftest import lake_config

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
UTC = dt.UTC
SONGS_SCHEMA = pa.schema(
    [("song_id", pa.string()), ("title", pa.string()), ("artist_id", pa.string()), ("year", pa.int32()),
     ("duration", pa.float64())]
)  # fmt: skip
ARTISTS_SCHEMA = pa.schema(
    [("artist_id", pa.string()), ("name", pa.string()), ("location", pa.string()), ("latitude", pa.float64()),
     ("longitude", pa.float64())]
)  # fmt: skip


def ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp() * 1000)


# --- which tables a query names, and the rules of time travel (pure) ---


def test_table_names_are_the_specs_names():
    from sparkify.tables import ALL_TABLES

    assert tuple(spec.name for spec in ALL_TABLES) == TABLE_NAMES


def test_tables_named_in_skips_strings_comments_and_longer_words():
    sql = """SELECT s.title, p.start_time -- users would be a comment
             FROM songplays p JOIN "songs" s ON p.song_id = s.song_id /* artists */
             WHERE p.level = 'users' AND p.user_id IN (SELECT user_id FROM USERS_level_history)"""
    assert tables_named_in(sql) == ["songplays", "songs", "users_level_history"]
    assert tables_named_in("SELECT hour FROM `time`") == ["time"]
    assert tables_named_in("SELECT 1") == []


def test_parse_as_of_reads_versions_pairs_and_times():
    assert parse_as_of(None, None, NOW) == LATEST
    assert parse_as_of(["3"], None, NOW) == AsOf(version=3)
    assert parse_as_of(["songs=3,artists=1", "users=0"], None, NOW) == AsOf(
        versions={"songs": 3, "artists": 1, "users": 0}
    )
    assert parse_as_of(None, "2026-11-25 10:00:00", NOW) == AsOf(
        moment=dt.datetime(2026, 11, 25, 10, tzinfo=UTC)
    )
    assert parse_as_of(None, "2026-11-25T11:00:00+01:00", NOW).moment == dt.datetime(
        2026, 11, 25, 10, tzinfo=UTC
    )
    assert parse_as_of(None, "2026-11-25T10:00:00Z", NOW).moment == dt.datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_as_of(None, "2026-11-25", NOW).moment == dt.datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("versions", "timestamp", "message"),
    [
        (["3"], "2026-11-25", "not both"),
        (["songs=3", "4"], None, "a bare version fits a single-table query"),
        (["song=3"], None, "unknown table 'song'; tables: artists, landed_files"),
        (["songs=3,songs=4"], None, "names songs twice"),
        (["-1"], None, "a version is a whole number >= 0"),
        (["songs=x"], None, "--as-of-version songs='x': a version is a whole number"),
        (None, "yesterday", "--as-of-timestamp 'yesterday' is not a time: give e.g."),
        (None, "2026-12-01 12:00:01", "is in the future (now is 2026-12-01 12:00:00.000 UTC)"),
    ],
)
def test_parse_as_of_refuses_what_cannot_be(versions, timestamp, message):
    with pytest.raises(UsageError) as refused:
        parse_as_of(versions, timestamp, NOW)
    assert message in str(refused.value)


# Two tables with interleaved commits: songs has more versions than artists by the same moment.
LOGS = {
    "songs": [Commit(0, ms(2026, 11, 1)), Commit(1, ms(2026, 11, 2)), Commit(2, ms(2026, 11, 3)),
              Commit(3, ms(2026, 11, 5))],
    "artists": [Commit(0, ms(2026, 11, 1)), Commit(1, ms(2026, 11, 4))],
}  # fmt: skip


def resolve(names, as_of):
    return resolve_versions(names, as_of, lambda n: LOGS[n][-1].version, lambda n: LOGS[n])


def test_a_timestamp_reads_each_table_at_its_own_version_for_that_moment():
    moment = dt.datetime(2026, 11, 3, 12, tzinfo=UTC)
    assert resolve(["songs", "artists"], AsOf(moment=moment)) == {"songs": 2, "artists": 0}
    assert resolve(["songs", "artists"], AsOf(moment=dt.datetime(2026, 11, 4, tzinfo=UTC))) == {
        "songs": 2,
        "artists": 1,
    }
    # At the very millisecond of a commit, that commit counts; after the last one, the latest.
    assert resolve(["songs"], AsOf(moment=dt.datetime(2026, 11, 2, tzinfo=UTC))) == {"songs": 1}
    assert resolve(["songs", "artists"], AsOf(moment=dt.datetime(2026, 11, 30, tzinfo=UTC))) == {
        "songs": 3,
        "artists": 1,
    }


def test_a_timestamp_before_a_tables_first_commit_is_refused_naming_it():
    late = {"songs": LOGS["songs"], "artists": [Commit(0, ms(2026, 11, 4))]}
    with pytest.raises(UsageError) as refused:
        resolve_versions(
            ["songs", "artists"], AsOf(moment=dt.datetime(2026, 11, 3, tzinfo=UTC)), lambda n: 0, late.get
        )
    assert str(refused.value) == (
        "--as-of-timestamp 2026-11-03 00:00:00.000 UTC is before artists's first commit "
        "(version 0, 2026-11-04 00:00:00.000 UTC)"
    )


def test_commit_times_never_go_backwards():
    skewed = [Commit(0, ms(2026, 11, 1)), Commit(1, ms(2026, 11, 3)), Commit(2, ms(2026, 11, 2))]
    assert version_at("songs", skewed, dt.datetime(2026, 11, 2, 12, tzinfo=UTC)) == 0
    assert version_at("songs", skewed, dt.datetime(2026, 11, 3, tzinfo=UTC)) == 2


def test_versions_fit_one_table_or_come_in_pairs_covering_the_query():
    assert resolve(["songs"], AsOf(version=1)) == {"songs": 1}
    assert resolve(["songs", "artists"], LATEST) == {"songs": 3, "artists": 1}
    assert resolve(["songs", "artists"], AsOf(versions={"songs": 1, "artists": 0})) == {
        "songs": 1,
        "artists": 0,
    }
    refusals = [
        (AsOf(version=1), "--as-of-version 1 fits a query on one table, and this one names songs, artists"),
        (AsOf(versions={"songs": 1}), "--as-of-version gives no version for artists: add artists=V"),
        (
            AsOf(versions={"songs": 1, "artists": 0, "users": 2}),
            "--as-of-version names users, which the query",
        ),
        (AsOf(versions={"songs": 4, "artists": 0}), "songs has versions 0 to 3; version 4 does not exist"),
    ]
    for as_of, message in refusals:
        with pytest.raises(UsageError) as refused:
            resolve(["songs", "artists"], as_of)
        assert str(refused.value).startswith(message), refused.value
    with pytest.raises(UsageError, match="and this one names no table of the lake"):
        resolve([], AsOf(version=1))


# --- the output: streamed, limited, as a table, CSV or JSON lines ---

TIMES = [dt.datetime(2018, 11, 15, 0, 30, 26, 796000, tzinfo=UTC), None]


def rows_of(*batches: list[tuple]) -> Rows:
    return Rows(("song_id", "title", "duration", "start_time"), iter(batches))


def test_print_stream_formats():
    batch = [("SO1", None, 1.5, TIMES[0]), ("SO2", "Uprising", 236.4, None)]
    out = io.StringIO()
    assert print_stream(rows_of(batch), "json", out) == 2
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"song_id": "SO1", "title": None, "duration": 1.5, "start_time": "2018-11-15T00:30:26.796000+00:00"},
        {"song_id": "SO2", "title": "Uprising", "duration": 236.4, "start_time": None},
    ]
    out = io.StringIO()
    print_stream(rows_of(batch), "csv", out)
    assert out.getvalue().splitlines() == [
        "song_id,title,duration,start_time",
        "SO1,,1.5,2018-11-15 00:30:26.796000+00:00",
        "SO2,Uprising,236.4,",
    ]
    out = io.StringIO()
    print_stream(rows_of(batch), "table", out)
    assert out.getvalue().splitlines() == [
        "song_id  title     duration  start_time",
        "-------  --------  --------  --------------------------------",
        "SO1      NULL      1.5       2018-11-15 00:30:26.796000+00:00",
        "SO2      Uprising  236.4     NULL",
        "(2 rows)",
    ]


def test_json_lines_carry_exact_integers_and_parse_strictly():
    from decimal import Decimal

    out = io.StringIO()
    columns = ("n", "avg", "bad", "day", "tags")
    rows = Rows(columns, [[(Decimal("4018"), Decimal("1.25"), float("nan"), dt.date(2018, 11, 15), ["a"])]])
    print_stream(rows, "json", out)
    parsed = json.loads(out.getvalue(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert parsed == {"n": 4018, "avg": 1.25, "bad": "nan", "day": "2018-11-15", "tags": ["a"]}


def test_a_limit_caps_the_rows_and_says_so_on_stderr():
    batches = [[(f"SO{i}", None, float(i), None) for i in range(j, j + 3)] for j in (0, 3, 6)]
    for fmt, last_line in (("table", "(first 4 rows)"), ("csv", "SO3,,3.0,"), ("json", None)):
        out, err = io.StringIO(), io.StringIO()
        assert print_stream(rows_of(*batches), fmt, out, limit=4, err=err) == 4
        lines = out.getvalue().splitlines()
        if fmt == "json":
            assert [json.loads(line)["song_id"] for line in lines] == ["SO0", "SO1", "SO2", "SO3"]
        else:
            assert lines[-1] == last_line
        assert err.getvalue() == "showing the first 4 rows; --limit 0 shows all\n"
    # Exactly as many rows as the limit: nothing was cut, nothing is said.
    out, err = io.StringIO(), io.StringIO()
    assert print_stream(rows_of(*batches[:1]), "table", out, limit=3, err=err) == 3
    assert out.getvalue().splitlines()[-1] == "(3 rows)" and err.getvalue() == ""


def test_rows_are_printed_as_their_batches_come_never_collected():
    for fmt in FORMATS:
        out = io.StringIO()
        printed_when_made = []

        def batches(out=out, printed_when_made=printed_when_made):
            for i in range(50):
                printed_when_made.append(out.getvalue().count("\n"))
                yield [(i, j) for j in range(1000)]

        assert print_stream(Rows(("i", "j"), batches()), fmt, out) == 50_000
        # Batch i is made only once batch i - 1 is printed (the table's widths come from batch 0).
        assert all(printed >= (i - 1) * 1000 for i, printed in enumerate(printed_when_made)), fmt
    # With a limit, the producer is not read past the batch holding the first row beyond it.
    made = []

    def counted():
        for i in range(50):
            made.append(i)
            yield [(i, j) for j in range(1000)]

    assert (
        print_stream(Rows(("i", "j"), counted()), "csv", io.StringIO(), limit=1500, err=io.StringIO()) == 1500
    )
    assert made == [0, 1]


# --- the DuckDB engine on Delta tables (written by delta-rs here) ---


def write(config, name: str, rows: list[tuple], schema: pa.Schema, mode: str = "overwrite") -> None:
    table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
    write_deltalake(config.table_path(name), table, mode=mode)
    time.sleep(0.01)  # distinct commit times, to the millisecond


SONGS_V0 = [("SO1", "Uprising", "ARMUSE", None, 236.4)]
SONGS_V1 = [("SO1", "Uprising", "ARMUSE", 2009, 236.4), ("SO2", "Starlight", "ARMUSE", 2006, 240.1)]
SONGS_V2 = [*SONGS_V1, ("SO3", "Hysteria", "ARMUSE", 2003, 227.4)]
ARTISTS_V0 = [("ARMUSE", "Muse", None, None, None)]
ARTISTS_V1 = [("ARMUSE", "Muse", "Teignmouth", 50.5, -3.5)]


@pytest.fixture
def interleaved(tmp_path):
    """songs v0, artists v0, songs v1, artists v1, songs v2: returns (config, commit time of each step)."""
    config = lake_config(tmp_path)
    steps = {}
    for step, (name, rows, schema) in enumerate(
        [("songs", SONGS_V0, SONGS_SCHEMA), ("artists", ARTISTS_V0, ARTISTS_SCHEMA),
         ("songs", SONGS_V1, SONGS_SCHEMA), ("artists", ARTISTS_V1, ARTISTS_SCHEMA),
         ("songs", SONGS_V2, SONGS_SCHEMA)]
    ):  # fmt: skip
        write(config, name, rows, schema)
        steps[step] = lake_sql.open_table(config, name).history(1)[0]["timestamp"]
    return config, steps


def rows(config, sql: str, as_of: AsOf = LATEST, limit: int | None = None) -> list[tuple]:
    tables = lake_sql.open_at_versions(config, tables_named_in(sql), as_of)
    return [row for batch in lake_sql.query_rows(tables, sql, limit).batches for row in batch]


def between(steps: dict[int, int], step: int) -> AsOf:
    """A moment after ``step``'s commit and before the next one's."""
    return AsOf(moment=dt.datetime.fromtimestamp((steps[step] + steps[step + 1]) / 2000, UTC))


def test_duckdb_reads_each_version_and_moment_as_it_was(interleaved):
    config, steps = interleaved
    sql = "SELECT * FROM songs ORDER BY song_id"
    assert rows(config, sql) == SONGS_V2
    for version, expected in enumerate([SONGS_V0, SONGS_V1, SONGS_V2]):
        assert rows(config, sql, AsOf(version=version)) == expected
    assert rows(config, sql, between(steps, 0)) == SONGS_V0
    assert rows(config, sql, between(steps, 2)) == SONGS_V1


def test_duckdb_reads_a_multi_table_query_at_one_moment(interleaved):
    config, steps = interleaved
    sql = "SELECT s.song_id, a.location FROM songs s JOIN artists a USING (artist_id) ORDER BY 1"
    # After step 2 (songs v1) and before step 3 (artists v1): songs is at version 1, artists at 0.
    assert lake_sql.pin_versions(config, ["songs", "artists"], between(steps, 2)) == {
        "songs": 1,
        "artists": 0,
    }
    assert rows(config, sql, between(steps, 2)) == [("SO1", None), ("SO2", None)]
    assert rows(config, sql, between(steps, 3)) == [("SO1", "Teignmouth"), ("SO2", "Teignmouth")]
    assert rows(config, sql, AsOf(versions={"songs": 0, "artists": 1})) == [("SO1", "Teignmouth")]


def test_duckdb_limits_in_the_engine_and_keeps_the_order(interleaved):
    config, _ = interleaved
    assert rows(config, "SELECT song_id FROM songs ORDER BY song_id DESC", limit=1) == [("SO3",), ("SO2",)]


def test_query_command_json_lines_and_clear_errors(interleaved, capsys, monkeypatch):
    config, steps = interleaved
    for name in list(os.environ):
        if name.startswith("SPARKIFY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPARKIFY_PATHS_OUTPUT_ROOT", config.paths.output_root)
    monkeypatch.setattr(cli, "start_spark", lambda *a: pytest.fail("the default engine started Spark"))

    assert cli.main(["query", "SELECT song_id, year FROM songs ORDER BY 1", "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"song_id": "SO1", "year": 2009},
        {"song_id": "SO2", "year": 2006},
        {"song_id": "SO3", "year": 2003},
    ]
    first = dt.datetime.fromtimestamp(steps[0] / 1000, UTC)
    errors = {
        (
            "SELECT * FROM songs",
            "--as-of-version",
            "7",
        ): "songs has versions 0 to 2; version 7 does not exist",
        ("SELECT * FROM songs JOIN artists USING (artist_id)", "--as-of-version", "1"): (
            "--as-of-version 1 fits a query on one table, and this one names songs, artists"
        ),
        ("SELECT * FROM songs", "--as-of-version", "users=1"): "--as-of-version names users, which the query",
        ("SELECT * FROM songs", "--as-of-timestamp", (first - dt.timedelta(seconds=1)).isoformat()): (
            "--as-of-timestamp " + (first - dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        ),
        (
            "SELECT * FROM songs",
            "--as-of-timestamp",
            "2999-01-01",
        ): "--as-of-timestamp 2999-01-01 00:00:00.000 UTC is in the future",
        ("SELECT * FROM users",): "no table users at",
        ("SELECT * FROM nosuch",): "Catalog Error: Table with name nosuch does not exist!",
        ("SELEC * FROM songs",): 'Parser Error: syntax error at or near "SELEC"',
        ("SELECT * FROM songs", "--limit", "-1"): "--limit -1: give a number of rows >= 0",
    }
    for argv, start in errors.items():
        assert cli.main(["query", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("sparkify: " + start), err


def test_the_duckdb_engine_imports_no_pyspark(interleaved):
    config, _ = interleaved
    code = f"""
import sys
from checkpoints_config import load_config
from sparkify.ops import lake_sql
from sparkify.ops.output import print_stream
from sparkify.ops.time_travel import AsOf
config = load_config("local", env={{"SPARKIFY_PATHS_OUTPUT_ROOT": {config.paths.output_root!r}}})
tables = lake_sql.open_at_versions(config, ["songs"], AsOf(version=1))
print_stream(lake_sql.query_rows(tables, "SELECT count(*) AS n FROM songs"), "csv")
assert "pyspark" not in sys.modules, sorted(m for m in sys.modules if m.startswith("pyspark"))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stdout) == (0, "n\n2\n"), done.stderr


# --- S3: delta-rs's settings from the configuration ---


def test_storage_options_map_the_s3_section_and_uris():
    config = load_config(
        "s3",
        env={
            "SPARKIFY_S3_ENDPOINT": "http://127.0.0.1:9000",
            "SPARKIFY_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "SPARKIFY_S3_SECRET_ACCESS_KEY": "secret/key",
            "SPARKIFY_S3_REGION": "eu-west-1",
        },
    )
    assert lake_sql.storage_options(config) == {
        "AWS_REGION": "eu-west-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",  # an endpoint given: path-style, as for Spark's s3a
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret/key",
    }
    # No keys: delta-rs's default chain; AWS's own endpoint, virtual-hosted.
    assert lake_sql.storage_options(load_config("s3", env={})) == {
        "AWS_REGION": "us-east-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true",
    }
    assert lake_sql.delta_uri("s3a://lake/tables/songs") == "s3://lake/tables/songs"
    assert lake_sql.delta_uri("s3n://lake/t") == "s3://lake/t"
    assert lake_sql.delta_uri("/data/lake/songs") == "/data/lake/songs"


@pytest.mark.s3
def test_duckdb_reads_a_table_on_s3(s3_server, s3_bucket):
    _, bucket = s3_bucket
    config = load_config(
        "s3",
        env={
            "SPARKIFY_PATHS_OUTPUT_ROOT": f"s3a://{bucket}/lake",
            "SPARKIFY_S3_ENDPOINT": s3_server.endpoint_url,
            "SPARKIFY_S3_ACCESS_KEY_ID": s3_server.access_key,
            "SPARKIFY_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        },
    )
    options = {**lake_sql.storage_options(config), "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}  # one writer here
    uri = lake_sql.delta_uri(config.table_path("songs"))
    for rows_then in (SONGS_V0, SONGS_V1):
        data = pa.Table.from_pylist(
            [dict(zip(SONGS_SCHEMA.names, r, strict=True)) for r in rows_then], SONGS_SCHEMA
        )
        write_deltalake(uri, data, mode="overwrite", storage_options=options)

    sql = "SELECT * FROM songs ORDER BY song_id"
    assert rows(config, sql) == SONGS_V1
    assert rows(config, sql, AsOf(version=0)) == SONGS_V0


def test_a_reader_that_stops_early_ends_the_query_without_an_error(tmp_path):
    """``sparkify query … | head``: once the reader is gone the query stops, with nothing on stderr."""
    script = "import sys; from sparkify.ops.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["query", "SELECT * FROM range(1000000)", "--limit", "0", "--format", "csv"]
    env = {**os.environ, "SPARKIFY_PATHS_OUTPUT_ROOT": str(tmp_path / "tables")}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen([sys.executable, "-c", script, *argv], **pipes, env=env, cwd=tmp_path) as query:
        assert query.stdout.readline() == b"range\r\n"  # the csv module's line ends
        query.stdout.close()
        assert query.wait(timeout=120) == 1
        assert query.stderr.read() == b""
