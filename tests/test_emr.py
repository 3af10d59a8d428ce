"""`sparkify emr`: the exact requests sent to EMR and EMR Serverless, and the commands end to end against
moto's EMR, EMR Serverless and S3 on 127.0.0.1 (no JVM; moto never advances a step, so what is asserted
is what was sent, captured by a botocore hook, and what the commands print)."""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import sys
import types
import zipfile
from typing import Any

import pytest

from checkpoints_config import load_config
from sparkify.errors import UsageError
from sparkify.ops import cli, emr
from sparkify.ops.emr import Submission
from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY

PYTHON_STEP_ENV = (
    "PYSPARK_SUBMIT_ARGS=--master yarn --deploy-mode client --conf spark.yarn.maxAppAttempts=4 "
    "--conf spark.yarn.am.attemptFailuresValidityInterval=1h --conf spark.pyspark.python=python3 "
    "--conf spark.pyspark.driver.python=python3 pyspark-shell"
)


def emr_config(**env: str):
    return load_config("emr", env={"SPARKIFY_EMR_LOG_URI": "s3://logs-bucket/emr-logs", **env})


# ---- the requests, exactly --------------------------------------------------------------------------


def test_the_step_runs_the_python_driver_itself_with_the_users_paths():
    config = emr_config(SPARKIFY_PATHS_LOG_DATA="s3://my-landing/log data")

    assert emr.add_step_request(config, "j-ABC") == {
        "JobFlowId": "j-ABC",
        "Steps": [
            {
                "Name": "sparkify stream",
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": [
                        "env",
                        "SPARK_HOME=/usr/lib/spark",
                        PYTHON_STEP_ENV,
                        "SPARKIFY_PATHS_SONG_DATA=s3://sparkify-landing/song_data",
                        "SPARKIFY_PATHS_LOG_DATA=s3://my-landing/log data",  # one argument: no shell
                        "SPARKIFY_PATHS_OUTPUT_ROOT=s3://sparkify-lake/tables",
                        "python3",
                        "/home/hadoop/sparkify/sparkify_stream.py",
                    ],
                },
            }
        ],
    }


def test_a_new_cluster_has_spark_delta_the_bootstrap_and_stays_up():
    config = emr_config(SPARKIFY_EMR_SUBNET_ID="subnet-123", SPARKIFY_EMR_INSTANCE_COUNT="2")

    assert emr.run_job_flow_request(config, "s3://art/v1", "lake") == {
        "Name": "lake",
        "ReleaseLabel": "emr-spark-8.1.0",
        "Applications": [{"Name": "Spark"}],
        "Configurations": [{"Classification": "delta-defaults", "Properties": {"delta.enabled": "true"}}],
        "BootstrapActions": [
            {"Name": "install sparkify-lake", "ScriptBootstrapAction": {"Path": "s3://art/v1/bootstrap.sh"}}
        ],
        "Instances": {
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 2,
            "KeepJobFlowAliveWhenNoSteps": True,
            "Ec2SubnetId": "subnet-123",
        },
        "ServiceRole": "EMR_DefaultRole",
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "VisibleToAllUsers": True,
        "LogUri": "s3://logs-bucket/emr-logs",
    }
    no_logs = emr.run_job_flow_request(emr_config(SPARKIFY_EMR_LOG_URI=""), "s3://art/v1", "lake")
    assert "LogUri" not in no_logs and "Ec2SubnetId" not in no_logs["Instances"]


def test_a_serverless_run_is_streaming_with_retries_the_venv_and_s3_logs():
    config = emr_config(
        SPARKIFY_EMR_EXECUTION_ROLE_ARN="arn:aws:iam::123456789012:role/sparkify-job",
        SPARKIFY_EMR_MAX_FAILED_ATTEMPTS_PER_HOUR="3",
    )

    request = emr.start_job_run_request(config, "s3://art/v1", "app1", "s3://art/env.tar.gz", "lake")

    driver_env = "spark.emr-serverless.driverEnv"
    assert request == {
        "applicationId": "app1",
        "executionRoleArn": "arn:aws:iam::123456789012:role/sparkify-job",
        "name": "lake",
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": 3},
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": "s3://art/v1/sparkify_stream.py",
                "entryPointArguments": [],
                "sparkSubmitParameters": (
                    "--conf spark.archives=s3://art/env.tar.gz#environment "
                    f"--conf {driver_env}.PYSPARK_DRIVER_PYTHON=./environment/bin/python "
                    f"--conf {driver_env}.PYSPARK_PYTHON=./environment/bin/python "
                    "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python "
                    f"--conf {driver_env}.SPARKIFY_PATHS_SONG_DATA=s3://sparkify-landing/song_data "
                    f"--conf {driver_env}.SPARKIFY_PATHS_LOG_DATA=s3://sparkify-landing/log_data "
                    f"--conf {driver_env}.SPARKIFY_PATHS_OUTPUT_ROOT=s3://sparkify-lake/tables"
                ),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://logs-bucket/emr-logs"}}
        },
    }
    with pytest.raises(UsageError, match=r"emr\.execution_role_arn"):
        emr.start_job_run_request(emr_config(), "s3://art/v1", "app1", "s3://art/env.tar.gz", "lake")
    spaced = emr_config(
        SPARKIFY_EMR_EXECUTION_ROLE_ARN="arn:aws:iam::1:role/r", SPARKIFY_PATHS_LOG_DATA="s3://b/log data"
    )
    with pytest.raises(UsageError, match="without spaces"):
        emr.start_job_run_request(spaced, "s3://art/v1", "app1", "s3://art/env.tar.gz", "lake")


def test_stopping_asks_for_sigterm_on_ec2_and_a_grace_period_on_serverless():
    step = Submission("ec2", cluster_id="j-1", step_id="s-2")
    run = Submission("serverless", application_id="app", job_run_id="run")

    assert emr.cancel_step_request(step) == {
        "ClusterId": "j-1",
        "StepIds": ["s-2"],
        "StepCancellationOption": "SEND_INTERRUPT",
    }
    assert emr.cancel_job_run_request(run, 300) == {
        "applicationId": "app",
        "jobRunId": "run",
        "shutdownGracePeriodInSeconds": 300,
    }
    with pytest.raises(UsageError, match="15 to 1800"):
        emr.cancel_job_run_request(run, 5)


def test_the_bootstrap_installs_the_wheel_and_its_requirements_but_never_pyspark():
    script = emr.bootstrap_script(
        "s3://art/v1/sparkify_lake-0.1.0-py3-none-any.whl",
        "s3://art/v1/sparkify_stream.py",
        ["pyspark==4.1.1", "delta-spark==4.2.0", "great-expectations==1.24.1", "pandas<3,>=2.2"],
        "python3.11",
    )

    assert script.splitlines()[2:] == [
        "set -euo pipefail",
        "mkdir -p /home/hadoop/sparkify",
        "aws s3 cp s3://art/v1/sparkify_lake-0.1.0-py3-none-any.whl "
        "/home/hadoop/sparkify/sparkify_lake-0.1.0-py3-none-any.whl",
        "aws s3 cp s3://art/v1/sparkify_stream.py /home/hadoop/sparkify/sparkify_stream.py",
        "# The cluster's PySpark stays the one used: pyspark is not installed, delta-spark comes without it.",
        "sudo python3.11 -m pip install --no-deps /home/hadoop/sparkify/sparkify_lake-0.1.0-py3-none-any.whl "
        "delta-spark==4.2.0",
        "sudo python3.11 -m pip install great-expectations==1.24.1 'pandas<3,>=2.2'",
    ]


def test_the_entry_script_puts_the_clusters_pyspark_first_and_runs_the_stream(tmp_path, monkeypatch):
    spark_home = tmp_path / "spark"
    (spark_home / "python" / "lib").mkdir(parents=True)
    (spark_home / "python" / "lib" / "py4j-0.10.9.9-src.zip").touch()
    calls: list[list[str]] = []
    fake_cli = types.ModuleType("sparkify.ops.cli")
    fake_cli.main = lambda argv: calls.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sparkify.ops.cli", fake_cli)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "argv", ["sparkify_stream.py", "--available-now"])
    monkeypatch.setenv("SPARK_HOME", str(spark_home))

    with pytest.raises(SystemExit) as exited:
        exec(compile(emr.entry_script(), "sparkify_stream.py", "exec"), {"__name__": "__main__"})

    assert exited.value.code == 7
    assert calls == [["stream", "--config", "emr", "--available-now"]]
    assert sys.path[:2] == [
        str(spark_home / "python"),
        str(spark_home / "python" / "lib" / "py4j-0.10.9.9-src.zip"),
    ]


def test_log_locations_follow_emrs_layout():
    ec2 = emr.log_locations(Submission("ec2", cluster_id="j-1", step_id="s-2"), "s3n://logs/emr/")
    serverless = emr.log_locations(
        Submission("serverless", application_id="a", job_run_id="r"), "s3://logs/x"
    )

    assert ec2 == {
        "driver (the step's stderr)": "s3://logs/emr/j-1/steps/s-2/stderr.gz",
        "YARN containers (executors)": "s3://logs/emr/j-1/containers/",
    }
    assert serverless == {
        "driver": "s3://logs/x/applications/a/jobs/r/SPARK_DRIVER/stderr.gz",
        "executors": "s3://logs/x/applications/a/jobs/r/SPARK_EXECUTOR/",
    }


def test_ids_come_from_the_command_line_or_the_state_file(tmp_path):
    state = tmp_path / "state.json"

    with pytest.raises(UsageError, match=r"no submission in .*state\.json: run `sparkify emr submit`"):
        emr.resolve_submission(state)
    with pytest.raises(UsageError, match="both --cluster-id and --step-id"):
        emr.resolve_submission(state, cluster_id="j-1")
    assert emr.resolve_submission(state, application_id="a", job_run_id="r") == Submission(
        "serverless", application_id="a", job_run_id="r"
    )
    emr.write_state(state, artifacts="s3://art/v1")
    emr.write_state(state, submission={"kind": "ec2", "cluster_id": "j-1", "step_id": "s-2", "log_uri": ""})
    assert json.loads(state.read_text())["artifacts"] == "s3://art/v1"  # kept beside the submission
    assert emr.resolve_submission(state) == Submission("ec2", cluster_id="j-1", step_id="s-2")
    state.write_text("{not json")
    with pytest.raises(UsageError, match="not a state file"):
        emr.resolve_submission(state)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["emr", "package", "--to", "/tmp/artifacts"], "--to '/tmp/artifacts': give an S3 prefix"),
        (["emr", "package", "--to", "s3://"], "--to 's3://': give an S3 prefix"),
        (["emr", "submit", "--cluster-id", "j-1"], "no artifacts in"),
        (["emr", "submit", "--serverless", "app", "--from", "s3://a/b"], "--serverless needs --venv-archive"),
        (["emr", "stop"], "no submission in"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    state = ["--state", str(tmp_path / "state.json")]

    assert cli.main([*argv, *state]) == 2

    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_package_without_to_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["emr", "package"])
    assert exited.value.code == 2
    assert "--to" in capsys.readouterr().err


# ---- end to end against moto on 127.0.0.1 ------------------------------------------------------------


@pytest.fixture
def aws(s3_server, s3_bucket, tmp_path, monkeypatch):
    """Every boto3 client the commands make talks to moto, with the fixture's keys and nothing from the
    environment or ~/.aws; yields (bucket, captured requests: [(operation, params)], state file)."""
    import boto3
    from botocore.awsrequest import AWSResponse

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)  # EMR, EMR Serverless and S3 alike
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("SPARKIFY_S3_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("SPARKIFY_S3_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("SPARKIFY_S3_PATH_STYLE", "true")
    _, bucket = s3_bucket
    monkeypatch.setenv("SPARKIFY_EMR_LOG_URI", f"s3://{bucket}/emr-logs")
    monkeypatch.setenv("SPARKIFY_CONFIG", "emr")

    sent: list[tuple[str, dict[str, Any]]] = []

    def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, copy.deepcopy(params)))  # as it was then, before botocore adds to it

    def cancel_steps(**_: Any) -> tuple[Any, dict[str, Any]]:
        # moto 5.2.5 lacks CancelSteps: answer as EMR documents it, for the request capture just saw
        step_ids = [params for name, params in sent if name == "CancelSteps"][-1]["StepIds"]
        answer = {"CancelStepsInfoList": [{"StepId": s, "Status": "SUBMITTED"} for s in step_ids]}
        return AWSResponse(s3_server.endpoint_url, 200, {}, None), answer

    session = boto3.session.Session()
    for service in ("emr", "emr-serverless"):
        session.events.register(f"provide-client-params.{service}.*", capture)
    session.events.register("before-call.emr.CancelSteps", cancel_steps)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    yield bucket, sent, tmp_path / "state.json"


def moto_client(service: str) -> Any:
    """A client of the test's own, on moto (``AWS_ENDPOINT_URL``) with the server's fake keys."""
    import boto3

    return boto3.client(
        service, region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )


def requests(sent: list[tuple[str, dict[str, Any]]], operation: str) -> list[dict[str, Any]]:
    return [params for name, params in sent if name == operation]


@pytest.mark.s3
@pytest.mark.slow
def test_package_uploads_a_wheel_holding_sparkify_an_entry_script_and_a_bootstrap(aws, s3_bucket, capsys):
    bucket, _, state = aws
    client, _ = s3_bucket
    prefix = f"s3://{bucket}/artifacts/v1"

    assert cli.main(["emr", "package", "--to", prefix + "/", "--state", str(state)]) == 0

    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    wheel_key = next(k for k in keys if k.endswith(".whl"))
    assert keys == sorted(["artifacts/v1/bootstrap.sh", "artifacts/v1/sparkify_stream.py", wheel_key])
    wheel = zipfile.ZipFile(io.BytesIO(client.get_object(Bucket=bucket, Key=wheel_key)["Body"].read()))
    assert wheel.testzip() is None
    names = set(wheel.namelist())
    assert {"sparkify/ops/cli.py", "sparkify/ops/emr.py", "checkpoints_config/emr.toml"} <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    bootstrap = client.get_object(Bucket=bucket, Key="artifacts/v1/bootstrap.sh")["Body"].read().decode()
    assert f"aws s3 cp s3://{bucket}/{wheel_key} " in bootstrap
    assert not any("pyspark" in line for line in bootstrap.splitlines() if line.startswith("sudo"))
    entry = client.get_object(Bucket=bucket, Key="artifacts/v1/sparkify_stream.py")["Body"].read().decode()
    assert entry == emr.entry_script()
    out = capsys.readouterr().out
    assert f"uploaded bootstrap.sh to {prefix}/bootstrap.sh" in out
    assert json.loads(state.read_text()) == {"artifacts": prefix}


@pytest.mark.s3
def test_ec2_new_cluster_submit_status_logs_stop(aws, s3_bucket, capsys):
    bucket, sent, state = aws
    client, _ = s3_bucket
    artifacts = f"s3://{bucket}/artifacts/v1"
    emr.write_state(state, artifacts=artifacts)
    st = ["--state", str(state)]

    assert cli.main(["emr", "submit", "--new-cluster", "--name", "lake", *st]) == 0

    config = load_config("emr")
    saved = json.loads(state.read_text())["submission"]
    assert (
        saved["kind"] == "ec2" and saved["cluster_id"].startswith("j-") and saved["step_id"].startswith("s-")
    )
    assert requests(sent, "RunJobFlow") == [emr.run_job_flow_request(config, artifacts, "lake")]
    assert requests(sent, "AddJobFlowSteps") == [emr.add_step_request(config, saved["cluster_id"])]

    assert cli.main(["emr", "status", *st]) == 0
    out = capsys.readouterr().out
    assert f"step {saved['step_id']} (sparkify stream): " in out
    assert f"cluster {saved['cluster_id']} (lake): " in out

    log_key = f"emr-logs/{saved['cluster_id']}/steps/{saved['step_id']}/stderr.gz"
    assert cli.main(["emr", "logs", "--lines", "2", *st]) == 0
    assert "is not there yet" in capsys.readouterr().out
    lines = "\n".join(f"batch {i}" for i in range(5)).encode()
    client.put_object(Bucket=bucket, Key=log_key, Body=gzip.compress(lines))
    assert cli.main(["emr", "logs", "--lines", "2", *st]) == 0
    out = capsys.readouterr().out
    assert f"s3://{bucket}/{log_key}" in out and out.rstrip().endswith("batch 3\nbatch 4")

    assert cli.main(["emr", "stop", *st]) == 0
    assert requests(sent, "CancelSteps") == [
        {
            "ClusterId": saved["cluster_id"],
            "StepIds": [saved["step_id"]],
            "StepCancellationOption": "SEND_INTERRUPT",
        }
    ]
    assert f"sent SIGTERM to step {saved['step_id']}" in capsys.readouterr().out


@pytest.mark.s3
def test_ec2_step_on_a_running_cluster_by_explicit_ids(aws, capsys):
    bucket, sent, state = aws
    emr_client = moto_client("emr")
    cluster_id = emr_client.run_job_flow(
        Name="existing", ReleaseLabel="emr-spark-8.1.0", Instances={"InstanceCount": 1}
    )["JobFlowId"]
    st = ["--state", str(state)]

    assert cli.main(["emr", "submit", "--cluster-id", cluster_id, "--from", f"s3://{bucket}/a", *st]) == 0

    step_id = json.loads(state.read_text())["submission"]["step_id"]
    assert requests(sent, "AddJobFlowSteps") == [emr.add_step_request(load_config("emr"), cluster_id)]
    assert len(requests(sent, "RunJobFlow")) == 1  # the test's own: submit started no cluster
    assert emr_client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Name"] == "sparkify stream"
    elsewhere = ["--state", str(state.with_name("no-such-state.json"))]
    assert cli.main(["emr", "status", "--cluster-id", cluster_id, "--step-id", step_id, *elsewhere]) == 0
    assert f"step {step_id} (sparkify stream)" in capsys.readouterr().out


@pytest.mark.s3
def test_serverless_submit_status_stop(aws, monkeypatch, capsys):
    bucket, sent, state = aws
    role = "arn:aws:iam::123456789012:role/sparkify-job"
    monkeypatch.setenv("SPARKIFY_EMR_EXECUTION_ROLE_ARN", role)
    serverless = moto_client("emr-serverless")
    # moto knows emr-N.N.0 labels only; the application's label is not part of what submit sends
    app_id = serverless.create_application(name="lake", releaseLabel="emr-6.6.0", type="SPARK")[
        "applicationId"
    ]
    artifacts, archive = f"s3://{bucket}/artifacts/v1", f"s3://{bucket}/artifacts/environment.tar.gz"
    st = ["--state", str(state)]

    argv = ["emr", "submit", "--serverless", app_id, "--venv-archive", archive, "--from", artifacts, *st]
    assert cli.main([*argv, "--name", "lake-stream"]) == 0

    run_id = json.loads(state.read_text())["submission"]["job_run_id"]
    expected = emr.start_job_run_request(load_config("emr"), artifacts, app_id, archive, "lake-stream")
    assert requests(sent, "StartJobRun") == [expected]
    assert serverless.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]["executionRole"] == role

    assert cli.main(["emr", "status", *st]) == 0
    out = capsys.readouterr().out
    assert f"job run {run_id} (lake-stream" in out and f"application {app_id} (lake): " in out

    assert cli.main(["emr", "logs", *st]) == 0
    driver_log = f"s3://{bucket}/emr-logs/applications/{app_id}/jobs/{run_id}/SPARK_DRIVER/stderr.gz"
    assert f"driver: {driver_log}" in capsys.readouterr().out

    assert cli.main(["emr", "stop", "--grace-seconds", "300", *st]) == 0
    assert requests(sent, "CancelJobRun") == [
        {"applicationId": app_id, "jobRunId": run_id, "shutdownGracePeriodInSeconds": 300}
    ]
