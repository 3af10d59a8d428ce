"""Deploying the long-running stream to AWS EMR: package, submit, status, logs, stop.

Each request is built by a pure function (values in, the exact keyword arguments of the boto3 call out),
so tests assert what is sent; the thin functions that call boto3 sit beside them. boto3 is imported only
inside functions (through ``sparkify.s3``), so ``sparkify --help`` stays light.

EMR on EC2: a bootstrap action pip-installs this project's wheel on every node, and one step runs the
stream's entry script with the node's Python as the driver (client mode), so that cancelling the step
(SIGTERM) reaches the driver, which stops between micro-batches. EMR Serverless: one STREAMING job run
whose entry point is the same script, with a packed virtualenv (``spark.archives``) built by the user.
"""

from __future__ import annotations

import gzip
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

from checkpoints_config import PipelineConfig
from sparkify.errors import UsageError
from sparkify.s3 import S3_SCHEMES, split_s3_uri

ENTRY_NAME = "sparkify_stream.py"
BOOTSTRAP_NAME = "bootstrap.sh"
DEFAULT_STATE = ".sparkify-emr.json"
STEP_NAME = "sparkify stream"
COMMAND_RUNNER = "command-runner.jar"
SPARK_HOME = "/usr/lib/spark"  # EMR on EC2's Spark: the driver uses its PySpark and spark-submit
NODE_DIR = "/home/hadoop/sparkify"  # where the bootstrap action puts the entry script on every node
# The cluster's own PySpark (Spark 4.1.1-amzn) must stay the one imported: never pip-install it, and take
# delta-spark (its Python API only; EMR's delta-defaults supplies the jars) without its pyspark dependency.
CLUSTER_PROVIDED = frozenset({"pyspark"})
WITHOUT_DEPENDENCIES = frozenset({"delta-spark"})
PROJECT_PACKAGES = ("sparkify", "streaming", "batch_backfill", "checkpoints_config", "expectations")
SERVERLESS_PYTHON = "./environment/bin/python"  # inside the packed virtualenv spark.archives unpacks
DEFAULT_GRACE_SECONDS = 120


# ---- where things are ------------------------------------------------------------------------------


def s3_prefix(uri: str, option: str) -> str:
    """An ``s3://bucket/prefix`` from the command line, without its trailing slash; a usage error names
    the option when it is something else."""
    if not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise UsageError(f"{option} {uri!r}: give an S3 prefix, s3://bucket/prefix")
    return uri.rstrip("/")


def normalized_log_uri(uri: str) -> str:
    """EMR reports a cluster's LogUri as ``s3n://…/``; the objects are the same under ``s3://``."""
    scheme, sep, rest = uri.partition("://")
    return f"s3://{rest}".rstrip("/") if sep and scheme in S3_SCHEMES else uri.rstrip("/")


@dataclass(frozen=True)
class Submission:
    """What ``submit`` started: a step on a cluster (EC2) or a job run of an application (Serverless)."""

    kind: str  # "ec2" or "serverless"
    cluster_id: str = ""
    step_id: str = ""
    application_id: str = ""
    job_run_id: str = ""
    log_uri: str = ""


def read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a state file of `sparkify emr` ({type(e).__name__})") from None
    return state if isinstance(state, dict) else {}


def write_state(path: Path, **values: Any) -> None:
    """Remember the artifacts' prefix (``package``) and the last submission (``submit``) for the commands
    after them; the file holds ids and S3 URIs only, never credentials."""
    state = {**read_state(path), **values}
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def resolve_submission(
    state_path: Path,
    cluster_id: str | None = None,
    step_id: str | None = None,
    application_id: str | None = None,
    job_run_id: str | None = None,
) -> Submission:
    """The submission to look at: the ids given, else the state file's; a usage error says what to give."""
    if cluster_id or step_id:
        if not (cluster_id and step_id):
            raise UsageError("give both --cluster-id and --step-id (or neither, to use the state file)")
        return Submission("ec2", cluster_id=cluster_id, step_id=step_id)
    if application_id or job_run_id:
        if not (application_id and job_run_id):
            raise UsageError(
                "give both --application-id and --job-run-id (or neither, to use the state file)"
            )
        return Submission("serverless", application_id=application_id, job_run_id=job_run_id)
    saved = read_state(state_path).get("submission")
    if not saved:
        raise UsageError(
            f"no submission in {state_path}: run `sparkify emr submit` from here, pass --state FILE, or give "
            "--cluster-id and --step-id (EC2) or --application-id and --job-run-id (Serverless)"
        )
    return Submission(**saved)


# ---- package ---------------------------------------------------------------------------------------


def project_root() -> Path:
    """The source checkout this module runs from: ``package`` builds the wheel from it."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise UsageError(
            f"{root} is not a source checkout (no pyproject.toml): run package from the repository"
        )
    return root


def build_wheel(root: Path, out_dir: Path) -> Path:
    """``pip wheel --no-deps`` of a clean copy of the project (only what the wheel holds), so a stale
    ``build/`` or an egg-info in the checkout can neither leak into the wheel nor be left behind."""
    with tempfile.TemporaryDirectory(prefix="sparkify-wheel-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, source / name)
        for package in PROJECT_PACKAGES:
            shutil.copytree(root / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out_dir), str(source)],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"pip wheel failed: {detail}")
    wheels = sorted(out_dir.glob("sparkify_lake-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel wrote no sparkify_lake wheel to {out_dir}")
    return wheels[-1]


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's runtime requirements (``Requires-Dist`` without extras), read from its METADATA so the
    bootstrap installs exactly what pyproject.toml pins."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(name).decode("utf-8"))
    return [req for req in metadata.get_all("Requires-Dist") or [] if "extra ==" not in req]


def requirement_name(requirement: str) -> str:
    """``"delta-spark==4.2.0"`` → ``"delta-spark"`` (PEP 503 normalised)."""
    name = requirement
    for stop in "<>=!~;[ (":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def entry_script(profile: str = "emr") -> str:
    """The driver's entry point: ``sparkify stream --config <profile>`` plus the arguments it is given.

    Started by the node's Python itself (EMR on EC2), it puts the cluster's PySpark first on the path (a
    pip-installed pyspark would be another Spark); under spark-submit (Serverless) those paths are on it
    already, and adding them again changes nothing.
    """
    return f'''"""Entry point of the Sparkify stream on EMR (written by `sparkify emr package`)."""

import glob
import os
import sys

spark_home = os.environ.get("SPARK_HOME")
if spark_home:
    py4j = glob.glob(os.path.join(spark_home, "python", "lib", "py4j-*-src.zip"))
    sys.path[:0] = [os.path.join(spark_home, "python"), *py4j]

from sparkify.ops.cli import main  # noqa: E402  (after the path is set)

sys.exit(main(["stream", "--config", {profile!r}, *sys.argv[1:]]))
'''


def bootstrap_script(wheel_uri: str, entry_uri: str, requirements: list[str], python: str) -> str:
    """The bootstrap action (EMR on EC2, every node, before Spark starts): fetch the wheel and the entry
    script, install the wheel and its requirements into ``python``, except what the cluster provides."""
    wheel_path = f"{NODE_DIR}/{wheel_uri.rsplit('/', 1)[-1]}"
    plain = [r for r in requirements if requirement_name(r) not in CLUSTER_PROVIDED | WITHOUT_DEPENDENCIES]
    bare = [r for r in requirements if requirement_name(r) in WITHOUT_DEPENDENCIES]
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "# Written by `sparkify emr package`: installs sparkify-lake on this EMR node (a bootstrap action).",
        "set -euo pipefail",
        f"mkdir -p {q(NODE_DIR)}",
        f"aws s3 cp {q(wheel_uri)} {q(wheel_path)}",
        f"aws s3 cp {q(entry_uri)} {q(f'{NODE_DIR}/{ENTRY_NAME}')}",
        "# The cluster's PySpark stays the one used: pyspark is not installed, delta-spark comes without it.",
        f"sudo {q(python)} -m pip install --no-deps {' '.join(q(x) for x in [wheel_path, *bare])}",
    ]
    if plain:
        lines.append(f"sudo {q(python)} -m pip install {' '.join(q(r) for r in plain)}")
    return "\n".join(lines) + "\n"


def package(config: PipelineConfig, to: str, s3: Any, root: Path | None = None) -> list[tuple[str, str]]:
    """Build the wheel, the entry script and the bootstrap action, upload them under ``to``; returns
    ``(what, where)`` for each upload."""
    prefix = s3_prefix(to, "--to")
    root = root or project_root()
    with tempfile.TemporaryDirectory(prefix="sparkify-package-") as tmp:
        wheel = build_wheel(root, Path(tmp))
        wheel_uri = f"{prefix}/{wheel.name}"
        entry_uri = f"{prefix}/{ENTRY_NAME}"
        bootstrap = bootstrap_script(wheel_uri, entry_uri, wheel_requirements(wheel), config.emr.python)
        uploads = [
            (wheel.name, wheel_uri, wheel.read_bytes()),
            (ENTRY_NAME, entry_uri, entry_script().encode()),
            (BOOTSTRAP_NAME, f"{prefix}/{BOOTSTRAP_NAME}", bootstrap.encode()),
        ]
    for _, uri, body in uploads:
        bucket, key = split_s3_uri(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return [(what, uri) for what, uri, _ in uploads]


# ---- submit: the requests --------------------------------------------------------------------------


def stream_env(config: PipelineConfig) -> dict[str, str]:
    """The ``[paths]`` of the configuration ``submit`` was given, as the environment overrides the stream
    reads over its ``emr`` profile: the stream on EMR watches and writes what the user configured."""
    return {
        f"SPARKIFY_PATHS_{name.upper()}": value
        for name, value in asdict(config.paths).items()
        if value  # an empty one keeps the profile's default
    }


def ec2_spark_conf(config: PipelineConfig) -> dict[str, str]:
    """What spark-submit must set for the stream on YARN (the session builder sets the rest at runtime).

    The driver runs on the primary node in client mode, so the restart policy covers YARN's application
    master (the executor launcher): a lost node's AM is relaunched up to 4 times an hour, and a failure an
    hour old no longer counts, so a stream running for weeks is not killed by its fifth AM loss ever.
    ``spark.sql.streaming.stopGracefullyOnShutdown`` is not set: it is DStreams' setting; this stream
    stops between micro-batches on SIGTERM itself (``streaming.job.stop_on_signals``).
    """
    return {
        "spark.yarn.maxAppAttempts": "4",
        "spark.yarn.am.attemptFailuresValidityInterval": "1h",
        "spark.pyspark.python": config.emr.python,  # the executors' Python: the one the bootstrap filled
        "spark.pyspark.driver.python": config.emr.python,
    }


def ec2_step(config: PipelineConfig) -> dict[str, Any]:
    """The step that runs the stream: ``command-runner.jar`` → ``env`` → the node's Python on the entry
    script (``env`` execs it, so the step's process *is* the driver). PySpark then starts spark-submit in
    client mode with ``PYSPARK_SUBMIT_ARGS``.

    Why not ``spark-submit --deploy-mode cluster``: cancelling a step sends SIGTERM to the step's process
    only; in cluster mode that is the spark-submit client, whose death leaves the driver running in YARN,
    and with ``spark-submit`` in client mode it is the JVM, whose shutdown hook stops the SparkContext
    under the Python driver mid-batch. With the Python driver as the step's process, SIGTERM is the
    stream's own "stop after this micro-batch". ``ActionOnFailure=CONTINUE``: a failed stream leaves the
    cluster up for its logs and a new ``submit`` (which resumes from the checkpoint).
    """
    submit_args = ["--master", "yarn", "--deploy-mode", "client"]
    for key, value in ec2_spark_conf(config).items():
        submit_args += ["--conf", f"{key}={value}"]
    env = {
        "SPARK_HOME": SPARK_HOME,
        "PYSPARK_SUBMIT_ARGS": " ".join(shlex.quote(a) for a in [*submit_args, "pyspark-shell"]),
        **stream_env(config),
    }
    command = ["env", *(f"{k}={v}" for k, v in env.items()), config.emr.python, f"{NODE_DIR}/{ENTRY_NAME}"]
    return {
        "Name": STEP_NAME,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": command},
    }


def add_step_request(config: PipelineConfig, cluster_id: str) -> dict[str, Any]:
    """``emr.add_job_flow_steps`` keyword arguments: the stream's step on a running cluster."""
    return {"JobFlowId": cluster_id, "Steps": [ec2_step(config)]}


def run_job_flow_request(config: PipelineConfig, artifacts: str, name: str) -> dict[str, Any]:
    """``emr.run_job_flow`` keyword arguments: a cluster with Spark and Delta that installs the project on
    every node and stays up with no steps (the stream's step is added right after)."""
    emr = config.emr
    instances: dict[str, Any] = {
        "MasterInstanceType": emr.instance_type,
        "SlaveInstanceType": emr.instance_type,
        "InstanceCount": emr.instance_count,
        "KeepJobFlowAliveWhenNoSteps": True,
    }
    if emr.subnet_id:
        instances["Ec2SubnetId"] = emr.subnet_id
    request: dict[str, Any] = {
        "Name": name,
        "ReleaseLabel": emr.release_label,
        "Applications": [{"Name": "Spark"}],
        "Configurations": [{"Classification": "delta-defaults", "Properties": {"delta.enabled": "true"}}],
        "BootstrapActions": [
            {
                "Name": "install sparkify-lake",
                "ScriptBootstrapAction": {"Path": f"{artifacts}/{BOOTSTRAP_NAME}"},
            }
        ],
        "Instances": instances,
        "ServiceRole": emr.service_role,
        "JobFlowRole": emr.instance_profile,
        "VisibleToAllUsers": True,
    }
    if emr.log_uri:
        request["LogUri"] = emr.log_uri
    return request


def start_job_run_request(
    config: PipelineConfig, artifacts: str, application_id: str, venv_archive: str, name: str
) -> dict[str, Any]:
    """``emr-serverless.start_job_run`` keyword arguments: a STREAMING run (restarted from its checkpoint
    after a failure, at most ``emr.max_failed_attempts_per_hour`` times an hour) of the entry script, with
    the packed virtualenv as every process's Python. boto3 fills ``clientToken`` itself."""
    if not config.emr.execution_role_arn:
        raise UsageError(
            "EMR Serverless needs a job role: set emr.execution_role_arn (or SPARKIFY_EMR_EXECUTION_ROLE_ARN)"
        )
    conf = {
        "spark.archives": f"{venv_archive}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": SERVERLESS_PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": SERVERLESS_PYTHON,
        **{f"spark.emr-serverless.driverEnv.{k}": v for k, v in stream_env(config).items()},
    }
    spaced = [f"{k}={v}" for k, v in conf.items() if any(c.isspace() for c in v)]
    if spaced:  # sparkSubmitParameters is one string of space-separated options: no quoting to rely on
        raise UsageError(f"EMR Serverless cannot pass {spaced[0]!r}: use S3 paths without spaces")
    request: dict[str, Any] = {
        "applicationId": application_id,
        "executionRoleArn": config.emr.execution_role_arn,
        "name": name,
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": config.emr.max_failed_attempts_per_hour},
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": f"{artifacts}/{ENTRY_NAME}",
                "entryPointArguments": [],
                "sparkSubmitParameters": " ".join(f"--conf {k}={v}" for k, v in conf.items()),
            }
        },
    }
    if config.emr.log_uri:
        request["configurationOverrides"] = {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": config.emr.log_uri}}
        }
    return request


def cancel_step_request(submission: Submission) -> dict[str, Any]:
    """``emr.cancel_steps``: SEND_INTERRUPT is SIGTERM to the step's process, the stream's driver, which
    stops after the current micro-batch (TERMINATE_PROCESS would be SIGKILL)."""
    return {
        "ClusterId": submission.cluster_id,
        "StepIds": [submission.step_id],
        "StepCancellationOption": "SEND_INTERRUPT",
    }


def cancel_job_run_request(submission: Submission, grace_seconds: int) -> dict[str, Any]:
    """``emr-serverless.cancel_job_run`` with a grace period (15..1800 s) before the run is terminated."""
    if not 15 <= grace_seconds <= 1800:
        raise UsageError(f"--grace-seconds {grace_seconds}: EMR Serverless takes 15 to 1800")
    return {
        "applicationId": submission.application_id,
        "jobRunId": submission.job_run_id,
        "shutdownGracePeriodInSeconds": grace_seconds,
    }


# ---- submit, status, logs, stop: the calls ---------------------------------------------------------


def submit_to_cluster(config: PipelineConfig, emr: Any, cluster_id: str) -> Submission:
    step_id = emr.add_job_flow_steps(**add_step_request(config, cluster_id))["StepIds"][0]
    return Submission("ec2", cluster_id=cluster_id, step_id=step_id, log_uri=config.emr.log_uri)


def submit_new_cluster(config: PipelineConfig, emr: Any, artifacts: str, name: str) -> Submission:
    cluster_id = emr.run_job_flow(**run_job_flow_request(config, artifacts, name))["JobFlowId"]
    return submit_to_cluster(config, emr, cluster_id)


def submit_serverless(
    config: PipelineConfig, client: Any, artifacts: str, application_id: str, venv_archive: str, name: str
) -> Submission:
    request = start_job_run_request(config, artifacts, application_id, venv_archive, name)
    run = client.start_job_run(**request)
    return Submission(
        "serverless", application_id=application_id, job_run_id=run["jobRunId"], log_uri=config.emr.log_uri
    )


def status_lines(submission: Submission, client: Any) -> list[str]:
    """The step's (job run's) state and why, and its cluster's (application's)."""
    if submission.kind == "ec2":
        step = client.describe_step(ClusterId=submission.cluster_id, StepId=submission.step_id)["Step"]
        cluster = client.describe_cluster(ClusterId=submission.cluster_id)["Cluster"]
        reason = step["Status"].get("StateChangeReason", {}).get("Message", "")
        failure = step["Status"].get("FailureDetails", {})
        lines = [
            f"step {submission.step_id} ({step.get('Name', '')}): {step['Status']['State']}"
            + (f" — {reason}" if reason else ""),
            f"cluster {submission.cluster_id} ({cluster.get('Name', '')}): {cluster['Status']['State']}",
        ]
        if failure:
            detail = (failure.get(k, "") for k in ("Reason", "Message", "LogFile"))
            lines.append("failure: " + " ".join(d for d in detail if d))
        return lines
    run = client.get_job_run(applicationId=submission.application_id, jobRunId=submission.job_run_id)[
        "jobRun"
    ]
    app = client.get_application(applicationId=submission.application_id)["application"]
    details = run.get("stateDetails", "")
    return [
        f"job run {submission.job_run_id} ({run.get('name', '')}, attempt {run.get('attempt', 1)}): "
        f"{run['state']}" + (f" — {details}" if details else ""),
        f"application {submission.application_id} ({app.get('name', '')}): {app['state']}",
    ]


def log_locations(submission: Submission, log_uri: str) -> dict[str, str]:
    """Where EMR writes the driver's log under ``log_uri`` (and, on EC2, the YARN containers' logs)."""
    root = normalized_log_uri(log_uri)
    if submission.kind == "ec2":
        cluster = f"{root}/{submission.cluster_id}"
        return {
            "driver (the step's stderr)": f"{cluster}/steps/{submission.step_id}/stderr.gz",
            "YARN containers (executors)": f"{cluster}/containers/",
        }
    run = f"{root}/applications/{submission.application_id}/jobs/{submission.job_run_id}"
    return {"driver": f"{run}/SPARK_DRIVER/stderr.gz", "executors": f"{run}/SPARK_EXECUTOR/"}


def cluster_log_uri(submission: Submission, client: Any) -> str:
    """The log URI to read: the cluster's own (EC2, as EMR reports it), else what ``submit`` used."""
    if submission.kind == "ec2":
        cluster = client.describe_cluster(ClusterId=submission.cluster_id)["Cluster"]
        return str(cluster.get("LogUri") or submission.log_uri)
    return submission.log_uri


def tail(s3: Any, uri: str, lines: int) -> list[str] | None:
    """The last ``lines`` lines of a gzipped log object, or None when it is not there (yet)."""
    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    return text.decode("utf-8", "replace").splitlines()[-lines:]


def stop(submission: Submission, client: Any, grace_seconds: int) -> str:
    """Ask the stream to stop after its current micro-batch; returns what was asked, in one line."""
    if submission.kind == "ec2":
        info = client.cancel_steps(**cancel_step_request(submission))["CancelStepsInfoList"]
        status = ", ".join(
            f"{i.get('StepId')}: {i.get('Status')} {i.get('Reason') or ''}".strip() for i in info
        )
        return (
            f"sent SIGTERM to step {submission.step_id} on {submission.cluster_id} ({status or 'no answer'})"
        )
    client.cancel_job_run(**cancel_job_run_request(submission, grace_seconds))
    return f"cancelling job run {submission.job_run_id} with {grace_seconds}s to finish its micro-batch"
