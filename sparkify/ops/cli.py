"""The ``sparkify`` command line: one entry point, a subcommand per job, ``--help`` everywhere."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkpoints_config import ConfigError, PipelineConfig, load_config, render
from sparkify.ops.output import print_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    Run = Callable[[argparse.Namespace], int]  # what a subcommand runs: its exit status
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]  # add_subparsers(): no public type
    Command = Callable[..., argparse.ArgumentParser]  # adds a command to a group (command_group)
    from sparkify.ops.emr import Submission
    from sparkify.ops.joblog import JobLog
    from sparkify.ops.phases import Phases

CONFIG_HELP = "profile (local, s3, emr) or a TOML / classic dl.cfg file; default $SPARKIFY_CONFIG or local"
DEBUG_HELP = "show tracebacks and debug logs (implies --verbose)"
VERBOSE_HELP = "also show the log (ours, Spark's) on the terminal; demo, backfill, stream write it to a file"
SPARKIFY = ".venv/bin/sparkify"  # the command the demo's hints name: what `make demo` installs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = os.environ.get("SPARKIFY_LOG_LEVEL", "INFO")
    debug = args.debug or level.upper() == "DEBUG"
    args.log = configure_logging("DEBUG" if args.debug else level, verbose=args.verbose or debug)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("sparkify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sparkify query … | head`: the reader has what it wanted
        # Python's own recipe (docs, "Note on SIGPIPE"): no more output, nor a second error when Python
        # flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        from sparkify.session import SparkStartError

        if debug:
            traceback.print_exc()
        code, message = explain(e)
        hints = [] if debug or code == 2 else ["--debug shows the traceback"]
        if args.log.path is not None and (code != 2 or isinstance(e, SparkStartError)):
            hints.append(f"log: {args.log.path}")
        suffix = f" ({'; '.join(hints)})" if hints else ""
        print(f"sparkify: {message}{suffix}", file=sys.stderr)
        return code
    finally:
        args.log.close()


def explain(error: BaseException) -> tuple[int, str]:
    """The exit code and the one line to print for an error: 2 for what the user asked wrongly (usage,
    configuration), 1 for what failed while running."""
    from sparkify.errors import UsageError

    text = first_line(error)
    if isinstance(error, ConfigError):
        return 2, f"configuration error: {text}"
    if isinstance(error, UsageError):  # before the imports below: a mistyped query answers at once
        return 2, text
    from sparkify.ops.lease import LeaseError
    from sparkify.session import SparkStartError

    if isinstance(error, SparkStartError):
        return 2, text
    if isinstance(error, LeaseError):
        return 1, text
    # A DataQualityError raised in this process, or one a Spark job carries in its message. Its module
    # (Great Expectations: seconds to import) is loaded already if the error was raised here.
    validation = sys.modules.get("expectations.validation")
    raised = validation is not None and isinstance(error, validation.DataQualityError)
    quality = "DataQualityError: "
    full = str(error)
    if raised or quality in full:
        detail = text if raised else full.split(quality, 1)[1].splitlines()[0]
        return 1, (
            f"stopped before merging: {detail}. Fix those rows or that expectation's policy; "
            "the batch is taken again on the next run"
        )
    if "No space left on device" in full or getattr(error, "errno", None) == errno.ENOSPC:
        return 1, (
            "no space left on device: free some space (or move paths.output_root) and run again; "
            "nothing half-written counts, the next run completes the work"
        )
    return 1, f"{type(error).__name__}: {text}"


def first_line(error: BaseException) -> str:
    """The first meaningful line of an error's message (Spark's carry a JVM stack trace after it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= 400 else line[:400] + "…"


def configure_logging(level: str, verbose: bool) -> JobLog:
    """Our own log lines (step timings, retries) at ``level``, libraries at WARNING: on stderr, until a
    job opens its log file (sparkify.ops.joblog), then there (and on stderr too when ``verbose``).

    PySpark logs every SQL error it raises, stack trace included, before raising it; the command line
    reports the error itself in one line, so those loggers speak only at DEBUG.
    """
    from pyspark.logger import PySparkLogger

    from sparkify.ops.joblog import JobLog

    job_log = JobLog(level, verbose)
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.CRITICAL
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(quiet)
    return job_log


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkify", description="Sparkify Lake: song and event logs → Delta Lake star schema."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run: Run) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", default=None, help=CONFIG_HELP)
        p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
        p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
        p.set_defaults(run=run)
        return p

    cfg = command("config", "show the effective configuration (secrets masked)", run_config)
    cfg.add_argument("action", choices=["show"], help="what to do with it")

    gen = command("generate", "write synthetic Sparkify song and event files", run_generate)
    gen.add_argument(
        "--out", required=True, help="directory or s3a://bucket/prefix to write song_data/, log_data/"
    )
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--songs", type=int, default=500, help="song files in the catalog")
    gen.add_argument("--users", type=int, default=100)
    gen.add_argument("--days", type=int, default=7, help="days of event logs, one file a day")
    gen.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    gen.add_argument("--drip", action="store_true", help="then keep landing new files until stopped")
    gen.add_argument("--interval", type=float, default=2.0, help="seconds between dripped files")
    gen.add_argument("--max-ticks", type=int, default=None, help="stop dripping after this many ticks")
    gen.add_argument("--drip-seconds", type=float, default=None, help="stop dripping after this long")

    bf = command("backfill", "load all history under the configured prefixes (resumable)", run_backfill)
    bf.add_argument("--chunk-mb", type=int, default=1024, help="MB of raw JSON per chunk")

    st = command("stream", "watch the prefixes and merge new files until SIGTERM/SIGINT", run_stream)
    st.add_argument("--available-now", action="store_true", help="take what has landed, then stop")

    q = command(
        "query", "run SQL on the tables (addressed by name), optionally as of a version/time", run_query
    )
    q.add_argument("sql", help="the tables are views by their names: songplays, users, songs, ...")
    when = q.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of-version",
        action="append",
        metavar="N|TABLE=V[,TABLE=V]",
        help="N for a query on one table; else TABLE=V for each table it names (repeatable)",
    )
    when.add_argument(
        "--as-of-timestamp",
        metavar="T",
        help="one moment for every table the query names, each read at its last version by then; "
        "e.g. '2026-11-25 10:00:00' (UTC unless it carries an offset)",
    )
    q.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="json: one object a line"
    )
    q.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="duckdb: delta-rs + DuckDB, no JVM, about a second; spark: Spark SQL (default: %(default)s)",
    )
    q.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="rows to show at most; 0 for all, streamed (default: %(default)s)",
    )

    status = command("status", "recent batches, freshness, files waiting, quarantined lines", run_status)
    status.add_argument("--last", type=int, default=10, help="how many recent batches to list")

    hist = command(
        "history", "a table's versions: when, what, rows changed, which job and batch", run_history
    )
    hist.add_argument("table")
    hist.add_argument("--last", type=int, default=20, help="how many recent versions (0: all)")
    hist.add_argument("--format", choices=["table", "csv", "json"], default="table")

    rst = command(
        "restore", "put a table back as it was at a version (recorded as a new version)", run_restore
    )
    rst.add_argument("table")
    rst.add_argument("--version", type=int, required=True)
    rst.add_argument("--reason", default="", help="why, recorded with the commit")
    rst.add_argument("--yes", action="store_true", help="do not ask before rewinding")

    chg = command("changes", "rows changed between two versions (Delta change data feed)", run_changes)
    chg.add_argument("table")
    chg.add_argument("--from", dest="first", type=int, required=True)
    chg.add_argument("--to", dest="last", type=int, required=True)
    chg.add_argument("--format", choices=["table", "csv", "json"], default="table")

    mnt = command("maintain", "compact small files, apply the time-travel window, VACUUM", run_maintain)
    mnt.add_argument("tables", nargs="*", metavar="TABLE", help="only these (default: every table)")
    mnt.add_argument(
        "--retain-hours",
        type=float,
        default=None,
        help="VACUUM keeps files this long (default and minimum: retention.time_travel_days)",
    )

    rb = command("rebuild", "recompute star tables from staging, without reading raw files", run_rebuild)
    rb.add_argument("tables", nargs="*", metavar="TABLE", help="only these star tables (default: all)")

    add_quality_commands(sub)
    add_s3_commands(sub)
    add_emr_commands(sub)

    demo = command(
        "demo", "generate, backfill, stream a drip of new files, then counts, freshness, queries", run_demo
    )
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--stream-seconds", type=float, default=60.0, help="how long new files drip in")
    # The world generated when the landing zone is empty (default: sparkify.ops.demo.WORLD, not imported
    # here: the demo's module imports Spark); a test makes it tiny.
    demo.add_argument("--songs", type=int, default=None, help="song files generated (default: 400)")
    demo.add_argument("--users", type=int, default=None, help="users (default: 60)")
    demo.add_argument("--days", type=int, default=None, help="days of event logs generated (default: 14)")
    return parser


def command_group(sub: Subcommands, name: str, help_text: str) -> Command:
    """``sparkify <name> <subcommand>``: a group of commands; returns what adds one to it.

    ``--config``, ``--debug`` and ``--verbose`` work before or after the subcommand's name: the subcommand's
    copies default to SUPPRESS, as argparse would otherwise reset what was given after the group's name.
    """
    group = sub.add_parser(name, help=help_text, description=help_text)
    group.add_argument("--config", default=None, help=CONFIG_HELP)
    group.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    group.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = group.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")

    def command(name: str, help_text: str, run: Run, epilog: str | None = None) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text, description=help_text, epilog=epilog)
        p.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        p.set_defaults(run=run)
        return p

    return command


def add_s3_commands(sub: Subcommands) -> None:
    """``sparkify s3 <subcommand>``: what the pipeline needs set up on S3."""
    command = command_group(sub, "s3", "set up what the pipeline needs on S3")
    setup = command(
        "setup-notifications",
        "create an SQS queue and have the landing buckets announce every *.json object created under "
        "the landing prefixes to it (for stream.discovery = notifications); safe to run again",
        run_setup_notifications,
        epilog="Set up the notifications, then run `sparkify backfill` (it takes what landed before), "
        "then the stream: a file landed before the notifications existed is never announced.",
    )
    setup.add_argument("--queue", default="sparkify-landed-files", help="the SQS queue's name")


def run_setup_notifications(args: argparse.Namespace) -> int:
    from sparkify.ops.notifications import setup_notifications
    from sparkify.s3 import aws_client, s3_client

    config = load_config(args.config)
    done = setup_notifications(config, args.queue, s3_client(config), aws_client(config, "sqs"))
    for dataset, (bucket, prefix) in done.prefixes.items():
        print(f"s3://{bucket}/{prefix}*.json ({dataset}) → {done.queue_arn}")
    print(
        "now set, in your config file or environment:\n"
        f'  stream.discovery = "notifications"      (SPARKIFY_STREAM_DISCOVERY=notifications)\n'
        f'  stream.notifications_queue = "{done.queue_url}"'
    )
    return 0


def add_quality_commands(sub: Subcommands) -> None:
    """``sparkify quality <subcommand>``: a group, so further data-quality commands join ``report``."""
    from expectations.data_docs import DEFAULT_LAST  # light: GX itself is imported only to build

    command = command_group(
        sub, "quality", "data quality: what Great Expectations found in each validated batch"
    )
    report = command(
        "report",
        "build GX Data Docs (HTML) from the recorded validation results (quality_results); print the "
        "path of index.html",
        run_quality_report,
        epilog=(
            "Read-only: no writer lease is taken and no table is created. The site shows the most "
            "recent --last validations of each dataset, so a lake with a million batches does not make "
            "a million pages; older ones stay queryable in quality_results. Each run replaces the site."
        ),
    )
    report.add_argument(
        "--out",
        default=None,
        help="directory of the site, replaced on each run (default: <output root>/_data_docs when the "
        "output root is local, else ./sparkify-data-docs)",
    )
    report.add_argument(
        "--last",
        type=int,
        default=DEFAULT_LAST,
        help=f"validations per dataset the site holds, the most recent (default: {DEFAULT_LAST})",
    )
    command(
        "check",
        "validate the star tables as a whole with their star_<table> suites (keys present and unique, "
        "every play's user in users); record the results in quality_results",
        run_quality_check,
        epilog="Writes quality_results, so it takes the writer lease: stop a running stream first. "
        "A backfill runs these checks itself when it loaded anything.",
    )


def add_emr_commands(sub: Subcommands) -> None:
    """``sparkify emr <subcommand>``: deploy the stream to AWS EMR (on EC2 steps, or EMR Serverless
    streaming) with boto3 (sparkify/ops/emr.py). ``--config`` gives the ``[emr]`` and ``[s3]`` settings
    (region, keys, roles, log URI) and the ``[paths]`` the stream on EMR uses."""
    from sparkify.ops.emr import DEFAULT_GRACE_SECONDS, DEFAULT_STATE  # light: no boto3 until a command runs

    in_group = command_group(sub, "emr", "deploy the stream to AWS EMR: package, submit, status, logs, stop")

    def command(name: str, help_text: str, run: Run, epilog: str | None = None) -> argparse.ArgumentParser:
        p = in_group(name, help_text, run, epilog)
        p.add_argument(
            "--state",
            type=Path,
            default=Path(DEFAULT_STATE),
            help=f"remembers the artifacts' prefix and the last submission (default: ./{DEFAULT_STATE})",
        )
        return p

    def ids(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--cluster-id", default=None, help="EC2: the cluster (with --step-id), over the state file"
        )
        p.add_argument("--step-id", default=None)
        p.add_argument(
            "--application-id", default=None, help="Serverless: the application (with --job-run-id)"
        )
        p.add_argument("--job-run-id", default=None)

    pkg = command(
        "package",
        "build this project's wheel, the stream's entry script and the EC2 bootstrap action; upload them",
        run_emr_package,
        epilog="EMR Serverless needs a packed virtualenv for spark.archives instead of the bootstrap action, "
        "built on Amazon Linux with venv-pack (README, 'Running on AWS EMR'); package does not build it.",
    )
    pkg.add_argument("--to", required=True, help="the artifacts' S3 prefix, s3://bucket/prefix")

    submit = command(
        "submit",
        "start the stream: a step on a running cluster, on a new cluster, or an EMR Serverless job run",
        run_emr_submit,
        epilog="On EC2 the driver is the step's own process (client mode), so `emr stop` reaches it; a "
        "failed step leaves the cluster up (ActionOnFailure=CONTINUE): submit again, the stream resumes from "
        "its checkpoint.",
    )
    target = submit.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--cluster-id", default=None, help="add the stream's step to this running cluster (j-…)"
    )
    target.add_argument(
        "--new-cluster", action="store_true", help="start a cluster ([emr] settings) that installs the wheel"
    )
    target.add_argument("--serverless", metavar="APP_ID", default=None, help="EMR Serverless application id")
    submit.add_argument("--from", dest="artifacts", default=None, help="the prefix package uploaded to "
                        "(default: the state file's)")  # fmt: skip
    submit.add_argument(
        "--venv-archive", default=None, help="Serverless: s3://…/environment.tar.gz (venv-pack)"
    )
    submit.add_argument("--name", default="sparkify-stream", help="the cluster's or job run's name")

    status = command(
        "status", "the stream's step (job run) state and its cluster's (application's)", run_emr_status
    )
    ids(status)
    logs = command(
        "logs",
        "where the driver's log lives on S3, and its last lines if EMR has uploaded it",
        run_emr_logs,
        epilog="EMR on EC2 uploads step logs to the cluster's log URI every few minutes; Serverless to "
        "emr.log_uri. Nothing is printed from a log that is not there yet.",
    )
    ids(logs)
    logs.add_argument("--lines", type=int, default=50, help="how many last lines to print")
    halt = command(
        "stop",
        "stop the stream after its current micro-batch",
        run_emr_stop,
        epilog="EC2: cancel_steps with SEND_INTERRUPT, SIGTERM to the step's process, the stream's driver, "
        "which stops between micro-batches (the cluster stays up). Serverless: cancel_job_run with "
        "--grace-seconds for the run to finish before it is terminated.",
    )
    ids(halt)
    halt.add_argument(
        "--grace-seconds",
        type=int,
        default=DEFAULT_GRACE_SECONDS,
        help=f"Serverless: seconds before the run is terminated, 15..1800 (default {DEFAULT_GRACE_SECONDS})",
    )


def run_emr_package(args: argparse.Namespace) -> int:
    from sparkify.ops import emr
    from sparkify.s3 import s3_client

    config = load_config(args.config)
    prefix = emr.s3_prefix(args.to, "--to")
    for what, where in emr.package(config, prefix, s3_client(config)):
        print(f"uploaded {what} to {where}")
    emr.write_state(args.state, artifacts=prefix)
    print(
        f"remembered in {args.state}; next: "
        "sparkify emr submit --cluster-id j-… | --new-cluster | --serverless APP_ID"
    )
    return 0


def run_emr_submit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from sparkify.errors import UsageError
    from sparkify.ops import emr
    from sparkify.s3 import aws_client

    config = load_config(args.config)
    artifacts = args.artifacts or emr.read_state(args.state).get("artifacts")
    if not artifacts:
        raise UsageError(
            f"no artifacts in {args.state}: run `sparkify emr package --to s3://…` or pass --from"
        )
    artifacts = emr.s3_prefix(artifacts, "--from")
    if args.serverless:
        if not args.venv_archive:
            raise UsageError(
                "--serverless needs --venv-archive s3://…/environment.tar.gz (README: venv-pack)"
            )
        archive = emr.s3_prefix(args.venv_archive, "--venv-archive")
        client = aws_client(config, "emr-serverless")
        submission = emr.submit_serverless(config, client, artifacts, args.serverless, archive, args.name)
        print(f"started job run {submission.job_run_id} on application {submission.application_id}")
    elif args.new_cluster:
        submission = emr.submit_new_cluster(config, aws_client(config, "emr"), artifacts, args.name)
        print(f"started cluster {submission.cluster_id} with step {submission.step_id}")
    else:
        submission = emr.submit_to_cluster(config, aws_client(config, "emr"), args.cluster_id)
        print(f"added step {submission.step_id} to cluster {submission.cluster_id}")
    emr.write_state(args.state, submission=asdict(submission))
    print(f"remembered in {args.state}: sparkify emr status | logs | stop")
    return 0


def emr_target(args: argparse.Namespace) -> tuple[PipelineConfig, Submission, Any]:
    """The configuration, the submission the command is about, and a client of its service."""
    from sparkify.ops import emr
    from sparkify.s3 import aws_client

    config = load_config(args.config)
    submission = emr.resolve_submission(
        args.state, args.cluster_id, args.step_id, args.application_id, args.job_run_id
    )
    return config, submission, aws_client(config, "emr" if submission.kind == "ec2" else "emr-serverless")


def run_emr_status(args: argparse.Namespace) -> int:
    from sparkify.ops import emr

    _, submission, client = emr_target(args)
    print("\n".join(emr.status_lines(submission, client)))
    return 0


def run_emr_logs(args: argparse.Namespace) -> int:
    from sparkify.errors import UsageError
    from sparkify.ops import emr
    from sparkify.s3 import s3_client

    config, submission, client = emr_target(args)
    log_uri = emr.cluster_log_uri(submission, client) or config.emr.log_uri
    if not log_uri:
        raise UsageError("no log URI: the cluster was started without one; set emr.log_uri for the next one")
    locations = emr.log_locations(submission, log_uri)
    for what, where in locations.items():
        print(f"{what}: {where}")
    driver = next(iter(locations.values()))
    lines = emr.tail(s3_client(config), driver, args.lines)
    if lines is None:
        print(f"{driver} is not there yet: EMR uploads logs every few minutes")
    else:
        print(f"\n--- last {len(lines)} lines of {driver} ---")
        print("\n".join(lines))
    return 0


def run_emr_stop(args: argparse.Namespace) -> int:
    from sparkify.ops import emr

    _, submission, client = emr_target(args)
    print(emr.stop(submission, client, args.grace_seconds))
    return 0


def run_config(args: argparse.Namespace) -> int:
    print(render(load_config(args.config)), end="")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from sparkify.s3 import s3_client as client_for
    from sparkify.synthetic import drip, generate_dataset

    s3_client = client_for(load_config(args.config)) if args.out.startswith(("s3://", "s3a://")) else None
    say = lambda msg: print(f"[generate] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    knobs = dict(seed=args.seed, songs=args.songs, users=args.users, days=args.days, s3_client=s3_client)
    summary = generate_dataset(args.out, workers=args.workers, progress=say, **knobs)
    print(
        f"wrote {summary.song_files:,} song files and {summary.event_files:,} event files "
        f"({summary.events:,} events, {summary.plays:,} plays) to {args.out} in {summary.seconds:.1f}s"
    )
    if args.drip:
        say(f"dripping every {args.interval}s; Ctrl-C stops")
        dripped = drip(
            args.out,
            interval_seconds=args.interval,
            max_ticks=args.max_ticks,
            max_seconds=args.drip_seconds,
            progress=say,
            **knobs,
        )
        print(f"dripped {dripped.song_files:,} song files and {dripped.event_files:,} event files")
    return 0


def start_spark(config: PipelineConfig, app_name: str, log: JobLog | None = None) -> SparkSession:
    """The session; with a job's ``log``, the JVM (Ivy, Spark, log4j) writes into its file."""
    from sparkify.session import build_spark

    if log is None:
        return build_spark(config, app_name=app_name)
    with log.jvm_output():
        return build_spark(config, app_name=app_name)


def set_up(config: PipelineConfig, app_name: str, log: JobLog, phases: Phases) -> SparkSession:
    """Spark started as a job's first phase (the JVM, and the jars from Maven Central the first time).

    Every job validates with Great Expectations, whose import takes seconds of CPU: it is imported on a
    thread meanwhile, while this one waits for the JVM (a process of its own) to answer.
    """
    with phases.phase("set up") as phase, imported_meanwhile("expectations.validation"):
        spark = start_spark(config, app_name, log)
        phase.done(f"Spark {spark.version} on {config.spark.master}")
    return spark


@contextmanager
def imported_meanwhile(module: str) -> Iterator[None]:
    """Import ``module`` on a thread while the body runs, and wait for it at the end. An import that fails
    there fails again, with its traceback, where the module is imported for use."""
    import importlib
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"import {module}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def open_log(args: argparse.Namespace, config: PipelineConfig, command: str, phases: Phases) -> None:
    """Send the job's log to its file, and say where once."""
    from sparkify.ops.phases import shown

    path = args.log.open(config, command)
    if path is not None:
        more = "" if args.log.verbose else " (--verbose shows it here too)"
        phases.say(f"log: {shown(path)}{more}")


@contextmanager
def writing(config: PipelineConfig, job: str) -> Iterator[None]:
    """Hold the lake's writer lease while ``job`` runs, after the checks that need no lease.

    A lease lost meanwhile (taken over after our heartbeat stalled) stops the job: SIGTERM, which the
    stream takes as "stop after this micro-batch"; the command then fails.
    """
    from sparkify.ops.lease import LeaseError, writer_lease

    lease = writer_lease(config, job)
    with lease:
        yield
    if lease.lost.is_set():
        where = config.paths.output_root
        raise LeaseError(f"{job} lost the writer lease of {where}, so it stopped: run it again")


def run_backfill(args: argparse.Namespace) -> int:
    from sparkify.ops.phases import Phases, counted
    from sparkify.ops.preflight import check_for_writing

    config = load_config(args.config)
    check_for_writing(config)
    phases = Phases.for_terminal(args.log.verbose)
    open_log(args, config, "backfill", phases)
    with writing(config, "backfill"):
        spark = set_up(config, "sparkify-backfill", args.log, phases)
        from batch_backfill.job import run_backfill as backfill  # after set_up, which imports GX meanwhile

        started = time.monotonic()
        with phases.phase("backfill") as phase:
            summary = backfill(spark, config, chunk_bytes=args.chunk_mb << 20, out=phase.stream())
            phase.done(counted(summary.files, "file"))
    print(
        f"backfill: {summary.files:,} files, {summary.rows_in:,} lines read, {summary.rows_staged:,} staged, "
        f"{summary.rows_quarantined:,} quarantined, {summary.recovered_batches} unfinished batch(es) "
        f"recovered, in {time.monotonic() - started:.1f}s"
    )
    return 0


def run_stream(args: argparse.Namespace) -> int:
    import threading

    from sparkify.ops.phases import Phases, counted
    from sparkify.ops.preflight import check_for_writing
    from sparkify.ops.tally import tallying
    from streaming.job import run_stream as stream
    from streaming.job import stop_on_signals

    config = load_config(args.config)
    check_for_writing(config)
    phases = Phases.for_terminal(args.log.verbose)
    open_log(args, config, "stream", phases)
    stop = threading.Event()
    with stop_on_signals(stop), writing(config, "stream"):
        spark = set_up(config, "sparkify-stream", args.log, phases)
        try:
            with phases.phase("stream") as phase:
                with tallying(spark, lambda n: phase.note(f"{counted(n, 'micro-batch')} so far")):
                    stream(spark, config, available_now=args.available_now, stop=stop, out=phase.stream())
                phase.done("took what had landed" if args.available_now else "stopped")
        finally:
            # Drains Spark's listener bus while Python still answers it: exiting with the session alive
            # leaves the JVM posting the last progress events to a listener that is gone.
            spark.stop()
    return 0


def run_query(args: argparse.Namespace) -> int:
    """Time travel is resolved to a version per table before either engine runs (sparkify.ops.time_travel);
    the default engine starts no JVM, and both stream their rows (``--limit`` caps them)."""
    import datetime as dt

    from sparkify.errors import UsageError
    from sparkify.ops import lake_sql
    from sparkify.ops.output import print_stream
    from sparkify.ops.time_travel import parse_as_of, tables_named_in

    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of rows >= 0 (0: all)")
    limit = args.limit or None
    as_of = parse_as_of(args.as_of_version, args.as_of_timestamp, dt.datetime.now(dt.UTC))
    config = load_config(args.config)
    names = tables_named_in(args.sql)
    if args.engine == "duckdb":
        tables = lake_sql.open_at_versions(config, names, as_of)
        print_stream(lake_sql.query_rows(tables, args.sql, limit), args.format, limit=limit)
        return 0
    from pyspark.errors import AnalysisException

    from sparkify.ops.queries import register_versions

    versions = lake_sql.pin_versions(config, names, as_of)
    spark = start_spark(config, "sparkify-query")
    try:
        register_versions(spark, config, versions)
        result = spark.sql(args.sql)
    except AnalysisException as e:  # bad SQL (ParseException is one), a table the lake does not have
        raise UsageError(first_line(e)) from e
    print_rows(result, args.format, limit=limit)
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Read-only: what exists is shown, nothing is created, and no lease is needed."""
    from batch_backfill.job import pending_files
    from sparkify.ops import status
    from sparkify.ops.lease import current_holder
    from sparkify.pipeline import ingest

    config = load_config(args.config)
    holder = current_holder(config)
    print(f"writer: {holder.describe(time.time()) if holder else 'none (no job is writing the lake)'}")
    spark = start_spark(config, "sparkify-status")
    if not status.lake_exists(spark, config):
        print(f"no tables under {config.paths.output_root} yet: run `sparkify backfill` or `sparkify stream`")
        return 0
    print("\nrecent batches:")
    print_rows(
        status.recent_batches(spark, config, args.last).select(
            "query",
            "batch_id",
            "rows_in",
            "rows_quarantined",
            "finished_at",
            "duration_ms",
            "landing_latency_ms",
        ),
        "table",
    )
    print("\nper query:")
    print_rows(status.freshness(spark, config), "table")
    print("\nfiles landed but not loaded yet:")
    for dataset in ingest.DATASETS:
        root = ingest.landing_root(config, dataset)
        print(f"  {dataset.name:<7} {len(pending_files(spark, config, dataset, root)):,}  ({root})")
    print("\nbatches staged but not finished (failed after staging, or running now):")
    print_rows(ingest.unfinished_batches(spark, config), "table")
    print("\nquarantined lines by reason:")
    print_rows(status.rejections(spark, config), "table")
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Read from the table's log by delta-rs: no JVM."""
    from sparkify.errors import UsageError
    from sparkify.ops.history import table_history
    from sparkify.ops.output import print_stream

    if args.last < 0:
        raise UsageError(f"--last {args.last}: give a number of versions >= 0 (0: all)")
    config = load_config(args.config)
    print_stream(table_history(config, args.table, args.last or None), args.format)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """Rewind a table, after asking (``--yes`` to skip), holding the writer lease; who and why go into
    the commit's user metadata."""
    from sparkify.errors import UsageError
    from sparkify.ops.queries import check_table_name, check_version, restore_table

    config = load_config(args.config)
    check_table_name(args.table)
    if not args.yes and not sys.stdin.isatty():
        raise UsageError("restore rewinds a table: pass --yes to confirm without a prompt")
    with writing(config, "restore"):
        spark = start_spark(config, "sparkify-restore")
        latest = check_version(spark, config, args.table, args.version)
        if args.version == latest:  # Delta would commit nothing, and print an empty table of metrics
            print(f"{args.table} is at version {latest} already: nothing to restore")
            return 0
        if not args.yes:
            answer = input(
                f"Rewind {args.table} from version {latest} to version {args.version}? History keeps the "
                "versions in between. [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("not restored")
                return 1
        who = f"{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}@{socket.gethostname()}"
        note = {"job": "restore", "by": who, "reason": args.reason, "from_version": latest}
        print_rows(restore_table(spark, config, args.table, args.version, json.dumps(note)), "table")
    return 0


def run_changes(args: argparse.Namespace) -> int:
    from sparkify.ops.queries import check_table_name, table_changes

    config = load_config(args.config)
    check_table_name(args.table)
    spark = start_spark(config, "sparkify-changes")
    print_rows(table_changes(spark, config, args.table, args.first, args.last), args.format)
    return 0


def run_maintain(args: argparse.Namespace) -> int:
    """OPTIMIZE, the retention properties and VACUUM, table by table, holding the writer lease (why not
    inside the stream: sparkify/ops/maintain.py)."""
    from sparkify.ops.maintain import check_retention, maintain_table
    from sparkify.ops.queries import check_table_name, existing_table
    from sparkify.tables import ALL_TABLES, TABLES_BY_NAME

    config = load_config(args.config)
    for name in args.tables:
        check_table_name(name)
    retain_hours = check_retention(config, args.retain_hours)
    specs = [TABLES_BY_NAME[n] for n in args.tables] if args.tables else list(ALL_TABLES)
    with writing(config, "maintain"):
        spark = start_spark(config, "sparkify-maintain")
        for spec in specs:
            existing_table(spark, config, spec.name)
        print(f"VACUUM keeps {retain_hours:g} hours of removed files (time travel: that far back)")
        for spec in specs:
            done = maintain_table(spark, config, spec, retain_hours)
            print(
                f"  {done.table:<20} files {done.files_before:>6,} -> {done.files_after:>6,}  "
                f"vacuumed {done.files_vacuumed:>6,}  ({done.seconds:.1f}s)",
                flush=True,
            )
    return 0


def run_rebuild(args: argparse.Namespace) -> int:
    """Star tables from staging (sparkify/pipeline/rebuild.py), holding the writer lease."""
    from sparkify.errors import UsageError
    from sparkify.pipeline.rebuild import rebuild_table
    from sparkify.tables import STAR_TABLES

    config = load_config(args.config)
    star = [t.name for t in STAR_TABLES]
    unknown = [n for n in args.tables if n not in star]
    if unknown:
        raise UsageError(f"not a star table: {', '.join(unknown)}; star tables: {', '.join(star)}")
    with writing(config, "rebuild"):
        spark = start_spark(config, "sparkify-rebuild")
        for name in args.tables or star:
            started = time.monotonic()
            rebuild_table(spark, config, name)
            print(f"  {name:<20} rebuilt from staging ({time.monotonic() - started:.1f}s)", flush=True)
    return 0


def run_quality_report(args: argparse.Namespace) -> int:
    """Read-only, like ``status``: ``quality_results`` is read (only the validations the site shows),
    nothing is created and no lease is taken; the site goes to ``--out``. Without the table it exits 2
    saying what to run first, as ``history`` does."""
    from expectations.data_docs import build_data_docs, check_site_dir, collect_recent_results
    from sparkify.errors import UsageError
    from sparkify.ops.queries import existing_table
    from sparkify.tables import QUALITY_RESULTS

    config = load_config(args.config)
    if args.last < 1:
        raise UsageError(f"--last {args.last}: give a positive number of validations per dataset")
    out = data_docs_dir(config, args.out)
    check_site_dir(out)  # before Spark starts: a wrong --out costs no JVM
    spark = start_spark(config, "sparkify-quality-report")
    results_df = existing_table(spark, config, QUALITY_RESULTS.name).toDF()
    print(build_data_docs(collect_recent_results(results_df, args.last), out, last=args.last))
    return 0


def run_quality_check(args: argparse.Namespace) -> int:
    """The star-table suites, now, holding the writer lease; exit 1 if a ``fail`` expectation failed."""
    from expectations.validation import load_checks
    from sparkify.errors import UsageError
    from sparkify.ops.preflight import check_writable
    from sparkify.ops.status import lake_exists
    from sparkify.pipeline.star_checks import check_star_tables, star_summary

    config = load_config(args.config)
    checks = load_checks(config.quality)  # a broken suite or policy fails before any JVM starts
    check_writable(config)
    with writing(config, "quality check"):
        spark = start_spark(config, "sparkify-quality-check")
        if not lake_exists(spark, config):
            raise UsageError(f"no lake at {config.paths.output_root} yet: run `sparkify backfill` first")
        label = f"check-star-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        print(star_summary(check_star_tables(spark, config, checks, label)))
    return 0


def data_docs_dir(config: PipelineConfig, out: str | None) -> Path:
    """Where ``quality report`` writes the site: ``--out``, else next to the tables when they are local
    (``<output root>/_data_docs``), else ``./sparkify-data-docs`` (GX writes sites to local files)."""
    from sparkify.errors import UsageError
    from sparkify.sources import is_local, local_path

    if out is not None:
        if not is_local(out):
            raise UsageError(f"--out {out}: Data Docs are written to a local directory; copy them from there")
        return local_path(out).absolute()
    root = config.paths.output_root
    return (local_path(root) / "_data_docs" if is_local(root) else Path("sparkify-data-docs")).absolute()


def run_demo(args: argparse.Namespace) -> int:
    from sparkify.errors import UsageError
    from sparkify.ops import demo
    from sparkify.ops.phases import Phases
    from sparkify.ops.preflight import check_writable

    for key in demo.WORLD:
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise UsageError(f"--{key} {getattr(args, key)}: give a positive number")
    world: demo.World = {
        "songs": args.songs or demo.WORLD["songs"],
        "users": args.users or demo.WORLD["users"],
        "days": args.days or demo.WORLD["days"],
    }
    config = load_config(args.config)
    check_writable(config)
    landing = Path(config.paths.song_data).parent
    if Path(config.paths.log_data).parent != landing:
        raise ConfigError("demo writes song_data/ and log_data/ side by side: give them one parent directory")
    phases = Phases.for_terminal(args.log.verbose)
    open_log(args, config, "demo", phases)
    with writing(config, "demo"):
        spark = set_up(config, "sparkify-demo", args.log, phases)
        results = demo.run_demo(
            spark, config, landing, phases, seed=args.seed, stream_seconds=args.stream_seconds, world=world
        )
        demo.print_results(results, phases)
    sparkify = SPARKIFY + (f" --config {args.config}" if args.config else "")
    demo.print_next_steps(phases, config, results.after_backfill, data_docs_dir(config, None), sparkify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
