"""Configuration: profile < file < environment, the classic dl.cfg, and secrets that never show."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from checkpoints_config import ConfigError, PipelineConfig, Secret, load_config, render
from checkpoints_config.loader import (
    EmrSettings,
    LeaseSettings,
    Paths,
    QualitySettings,
    RetentionSettings,
    S3Settings,
    SparkSettings,
    StreamSettings,
    parse_dl_cfg,
)

ACCESS_KEY_ID = "AKIATESTSECRET123"
SECRET_ACCESS_KEY = "wJalrTESTSECRETkey/K7MDENG+bPxRfiCY"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def dl_cfg(
    song: str, log: str, output: str, key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY
) -> str:
    return (
        f"[AWS]\nAWS_ACCESS_KEY_ID = {key_id}\nAWS_SECRET_ACCESS_KEY = {secret}\n\n"
        f"[DATA]\nSONG_DATA = {song}\nLOG_DATA = {log}\nOUTPUT_DATA = {output}\n"
    )


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    return tmp_path.resolve()


# Profiles


def test_local_profile_is_the_default_and_lives_under_lake_in_cwd(cwd):
    expected = PipelineConfig(
        profile="local",
        sources=("profile local",),
        paths=Paths(
            song_data=f"{cwd}/lake/landing/song_data",
            log_data=f"{cwd}/lake/landing/log_data",
            output_root=f"{cwd}/lake/tables",
            checkpoint_root="",
            archive_root="",
        ),
        spark=SparkSettings(
            master="local[2]",
            driver_memory="4g",
            shuffle_partitions=4,
            max_partition_bytes="64m",
            open_cost_bytes="128k",
            ui_enabled=True,
        ),
        stream=StreamSettings(
            trigger_interval="2 seconds",
            songs_trigger_interval="10 seconds",
            max_files_per_trigger=200,
            dimensions_trigger_interval="1 minute",
            clean_source="off",  # the landing files are the user's (SPEC invariant 7)
            adaptive_execution=False,
            code_generation=False,
        ),
        s3=S3Settings(
            endpoint="",
            region="us-east-1",
            path_style=False,
            access_key_id=Secret(""),
            secret_access_key=Secret(""),
        ),
        lease=LeaseSettings(ttl_seconds=60),
        retention=RetentionSettings(time_travel_days=30),
        quality=QualitySettings(great_expectations=True, policies=""),
        emr=EmrSettings(
            release_label="emr-spark-8.1.0",
            log_uri="",
            service_role="EMR_DefaultRole",
            instance_profile="EMR_EC2_DefaultRole",
            execution_role_arn="",
            instance_type="m5.xlarge",
            instance_count=3,
            subnet_id="",
            python="python3",
            max_failed_attempts_per_hour=5,
        ),
    )

    assert load_config(None, env={}, cwd=cwd) == expected
    assert load_config("local", env={}, cwd=cwd) == expected


def test_s3_profile_keeps_s3a_uris_untouched(cwd):
    config = load_config("s3", env={}, cwd=cwd)

    assert config.paths == Paths(
        song_data="s3a://sparkify-landing/song_data",
        log_data="s3a://sparkify-landing/log_data",
        output_root="s3a://sparkify-lake/tables",
        checkpoint_root="",
    )
    assert (config.profile, config.sources, config.uses_s3) == ("s3", ("profile s3",), True)


def test_emr_profile_runs_on_yarn_with_the_default_credential_chain(cwd):
    config = load_config("emr", env={}, cwd=cwd)

    assert (config.spark.master, config.paths.output_root) == ("yarn", "s3://sparkify-lake/tables")
    assert config.s3 == S3Settings(
        endpoint="",
        region="us-east-1",
        path_style=False,
        access_key_id=Secret(""),
        secret_access_key=Secret(""),
    )


def test_sparkify_config_variable_chooses_the_profile(cwd):
    assert load_config(None, env={"SPARKIFY_CONFIG": "emr"}, cwd=cwd) == load_config("emr", env={}, cwd=cwd)


# Precedence: profile < file < environment


def test_file_overrides_its_profile_and_environment_overrides_the_file(cwd):
    path = write(
        cwd,
        "site.toml",
        'profile = "s3"\n[spark]\nmaster = "local[1]"\nshuffle_partitions = 16\n[s3]\nregion = "eu-west-1"\n',
    )
    env = {"SPARKIFY_SPARK_SHUFFLE_PARTITIONS": "32", "SPARKIFY_STREAM_TRIGGER_INTERVAL": "1 second"}
    s3_profile = load_config("s3", env={}, cwd=cwd)

    config = load_config(str(path), env=env, cwd=cwd)

    assert config == dataclasses.replace(
        s3_profile,
        sources=("profile s3", str(path), "environment"),
        # master from the file, shuffle_partitions from the environment over the file's 16
        spark=dataclasses.replace(s3_profile.spark, master="local[1]", shuffle_partitions=32),
        stream=dataclasses.replace(s3_profile.stream, trigger_interval="1 second"),
        s3=dataclasses.replace(s3_profile.s3, region="eu-west-1"),
    )


def test_file_without_profile_builds_on_local(cwd):
    path = write(cwd, "small.toml", "[stream]\nmax_files_per_trigger = 7\n")
    local = load_config("local", env={}, cwd=cwd)

    config = load_config(str(path), env={}, cwd=cwd)

    assert config == dataclasses.replace(
        local,
        sources=("profile local", str(path)),
        stream=dataclasses.replace(local.stream, max_files_per_trigger=7),
    )


def test_environment_overrides_a_profile_and_unrelated_variables_are_ignored(cwd):
    env = {"SPARKIFY_SPARK_UI_ENABLED": "false", "SPARKIFY_IVY_DIR": "/elsewhere", "HOME": "/root"}
    local = load_config("local", env={}, cwd=cwd)

    config = load_config("local", env=env, cwd=cwd)

    assert config == dataclasses.replace(
        local,
        sources=("profile local", "environment"),
        spark=dataclasses.replace(local.spark, ui_enabled=False),
    )


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[sparkk]\nmaster = 'local[1]'\n", "[sparkk]"),
        ("[spark]\nshuffle_partition = 3\n", "shuffle_partition"),
        ("bucket = 'x'\n", "[bucket]"),
        ("[spark]\nshuffle_partitions = 'many'\n", "spark.shuffle_partitions"),
        ("[spark]\nshuffle_partitions = 8.5\n", "spark.shuffle_partitions"),
        ("[spark]\nui_enabled = 'maybe'\n", "spark.ui_enabled"),
        ("[spark]\nmaster = 3\n", "spark.master"),
        ("[spark]\nmaster = \n", "not valid TOML"),
        ("profile = 'gcp'\n", "'gcp'"),
    ],
)
def test_bad_file_is_a_config_error_naming_what_is_wrong(cwd, toml, named):
    path = write(cwd, "bad.toml", toml)

    with pytest.raises(ConfigError) as raised:
        load_config(str(path), env={}, cwd=cwd)

    assert named in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SPARKIFY_SPARK_SHUFFLE_PARTITIONS", "four", "spark.shuffle_partitions"),
        ("SPARKIFY_STREAM_MAX_FILES_PER_TRIGGER", "", "stream.max_files_per_trigger"),
        ("SPARKIFY_S3_PATH_STYLE", "sometimes", "s3.path_style"),
        ("SPARKIFY_STREAM_CLEAN_SOURCE", "delete", "stream.clean_source"),
    ],
)
def test_bad_environment_value_is_a_config_error_naming_the_key(cwd, variable, value, named):
    with pytest.raises(ConfigError, match=named):
        load_config("local", env={variable: value}, cwd=cwd)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("On", True), ("0", False), ("no", False)]
)
def test_environment_booleans_accept_the_usual_spellings(cwd, value, expected):
    assert load_config("local", env={"SPARKIFY_S3_PATH_STYLE": value}, cwd=cwd).s3.path_style is expected


def test_spec_that_is_neither_profile_nor_file_is_a_config_error(cwd):
    with pytest.raises(ConfigError, match=r"'production' is neither a profile \(local, s3, emr\) nor a file"):
        load_config("production", env={}, cwd=cwd)


def test_directory_is_not_a_config_file(cwd):
    with pytest.raises(ConfigError, match="neither a profile"):
        load_config(str(cwd), env={}, cwd=cwd)


def test_unreadable_config_file_is_a_config_error_not_a_traceback(cwd):
    path = cwd / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")

    with pytest.raises(ConfigError, match=r"binary\.toml"):
        load_config(str(path), env={}, cwd=cwd)


# The writer lease


@pytest.mark.parametrize("profile", ["local", "s3", "emr"])
def test_every_profile_lets_a_silent_writer_be_taken_over_after_a_minute(cwd, profile):
    assert load_config(profile, env={}, cwd=cwd).lease == LeaseSettings(ttl_seconds=60)


def test_lease_ttl_comes_from_a_file_or_the_environment(cwd):
    path = write(cwd, "site.toml", "[lease]\nttl_seconds = 30\n")

    assert load_config(str(path), env={}, cwd=cwd).lease.ttl_seconds == 30
    assert load_config(str(path), env={"SPARKIFY_LEASE_TTL_SECONDS": "120"}, cwd=cwd).lease.ttl_seconds == 120


@pytest.mark.parametrize("value", ["2", "0", "-60"])
def test_lease_ttl_below_three_seconds_is_a_config_error_naming_the_key(cwd, value):
    with pytest.raises(ConfigError, match=rf"lease\.ttl_seconds must be at least 3, got {value}"):
        load_config("local", env={"SPARKIFY_LEASE_TTL_SECONDS": value}, cwd=cwd)


@pytest.mark.parametrize(
    ("toml", "named"), [("ttl_seconds = 'a minute'", "lease.ttl_seconds"), ("ttl = 60", "ttl")]
)
def test_bad_lease_settings_are_config_errors_naming_the_key(cwd, toml, named):
    path = write(cwd, "bad.toml", f"[lease]\n{toml}\n")

    with pytest.raises(ConfigError, match=named):
        load_config(str(path), env={}, cwd=cwd)


def test_the_lease_lives_beside_the_tables_and_config_show_says_where(cwd):
    local = load_config("local", env={}, cwd=cwd)
    s3 = load_config("s3", env={}, cwd=cwd)

    assert (local.lease_path, s3.lease_path) == (
        f"{cwd}/lake/tables/_lease",
        "s3a://sparkify-lake/tables/_lease",
    )
    shown = render(local)
    assert "\n[lease]\nttl_seconds = 60\n" in shown
    assert f"# writer lease: {cwd}/lake/tables/_lease\n" in shown


# Paths


def test_relative_local_paths_resolve_against_cwd_and_uris_stay_as_they_are(cwd):
    env = {
        "SPARKIFY_PATHS_SONG_DATA": "data/songs",
        "SPARKIFY_PATHS_LOG_DATA": "s3a://bucket/log_data",
        "SPARKIFY_PATHS_OUTPUT_ROOT": "/srv/lake/tables",
        "SPARKIFY_PATHS_CHECKPOINT_ROOT": "../checkpoints",
    }

    config = load_config("local", env=env, cwd=cwd)

    assert config.paths == Paths(
        song_data=f"{cwd}/data/songs",
        log_data="s3a://bucket/log_data",
        output_root="/srv/lake/tables",
        checkpoint_root=f"{cwd.parent}/checkpoints",
    )


def test_tables_and_checkpoints_live_under_the_output_root_by_default(cwd):
    local = load_config("local", env={}, cwd=cwd)
    s3 = load_config("s3", env={}, cwd=cwd)

    assert (local.table_path("songplays"), local.checkpoint_path("events")) == (
        f"{cwd}/lake/tables/songplays",
        f"{cwd}/lake/tables/_checkpoints/events",
    )
    assert (s3.table_path("songplays"), s3.checkpoint_path("events")) == (
        "s3a://sparkify-lake/tables/songplays",
        "s3a://sparkify-lake/tables/_checkpoints/events",
    )


@pytest.mark.parametrize("profile", ["local", "s3", "emr"])
def test_no_profile_moves_the_users_landing_files(cwd, profile):
    assert load_config(profile, env={}, cwd=cwd).stream.clean_source == "off"  # SPEC invariant 7
    asked = load_config(profile, env={"SPARKIFY_STREAM_CLEAN_SOURCE": "archive"}, cwd=cwd)
    assert asked.stream.clean_source == "archive"


def test_taken_files_are_archived_beside_the_landing_prefix_unless_an_archive_root_is_set(cwd):
    local = load_config("local", env={}, cwd=cwd)
    s3 = load_config("s3", env={}, cwd=cwd)
    elsewhere = load_config("s3", env={"SPARKIFY_PATHS_ARCHIVE_ROOT": "s3a://sparkify-landing/old"}, cwd=cwd)

    assert local.archive_path(local.paths.log_data) == f"{cwd}/lake/landing/_archive"
    # Spark moves files within one filesystem: on S3, the landing bucket.
    assert s3.archive_path(s3.paths.song_data) == "s3a://sparkify-landing/_archive"
    assert elsewhere.archive_path(elsewhere.paths.song_data) == "s3a://sparkify-landing/old"


def test_checkpoint_root_when_set_replaces_the_default(cwd):
    local = load_config("local", env={"SPARKIFY_PATHS_CHECKPOINT_ROOT": "ckpt/"}, cwd=cwd)
    s3 = load_config("s3", env={"SPARKIFY_PATHS_CHECKPOINT_ROOT": "s3a://ops/checkpoints/"}, cwd=cwd)

    assert local.checkpoint_path("events") == f"{cwd}/ckpt/events"
    assert s3.checkpoint_path("events") == "s3a://ops/checkpoints/events"


# The classic dl.cfg


def test_dl_cfg_with_local_directories_builds_on_the_local_profile(cwd):
    path = write(cwd, "dl.cfg", dl_cfg("landing/song_data", "/data/log_data", "out"))
    local = load_config("local", env={}, cwd=cwd)

    config = load_config(str(path), env={}, cwd=cwd)

    assert config == dataclasses.replace(
        local,
        sources=("profile local", str(path)),
        paths=Paths(
            song_data=f"{cwd}/landing/song_data", log_data="/data/log_data", output_root=f"{cwd}/out"
        ),
        s3=dataclasses.replace(
            local.s3, access_key_id=Secret(ACCESS_KEY_ID), secret_access_key=Secret(SECRET_ACCESS_KEY)
        ),
    )
    assert config.s3.access_key_id.reveal() == ACCESS_KEY_ID


@pytest.mark.parametrize("scheme", ["s3a", "s3"])
def test_dl_cfg_on_s3_builds_on_the_s3_profile(cwd, scheme):
    text = dl_cfg(
        f"{scheme}://udacity-dend/song_data", f"{scheme}://udacity-dend/log_data", f"{scheme}://my-lake/"
    )
    path = write(cwd, "dl.cfg", text)
    s3_profile = load_config("s3", env={}, cwd=cwd)

    config = load_config(str(path), env={}, cwd=cwd)

    assert config == dataclasses.replace(
        s3_profile,
        sources=("profile s3", str(path)),
        paths=Paths(
            song_data=f"{scheme}://udacity-dend/song_data",
            log_data=f"{scheme}://udacity-dend/log_data",
            output_root=f"{scheme}://my-lake/",
        ),
        s3=dataclasses.replace(
            s3_profile.s3, access_key_id=Secret(ACCESS_KEY_ID), secret_access_key=Secret(SECRET_ACCESS_KEY)
        ),
    )
    assert config.table_path("songs") == f"{scheme}://my-lake/songs"


def test_dl_cfg_values_may_be_quoted():
    text = dl_cfg(
        "'s3a://bucket/song_data'", '"s3a://bucket/log_data"', "'s3a://lake'", key_id=f"'{ACCESS_KEY_ID}'"
    )

    assert parse_dl_cfg(text) == (
        "s3",
        {
            "paths": {
                "song_data": "s3a://bucket/song_data",
                "log_data": "s3a://bucket/log_data",
                "output_root": "s3a://lake",
            },
            "s3": {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY},
        },
    )


@pytest.mark.parametrize(
    "aws_section",
    [
        "[AWS]\nAWS_ACCESS_KEY_ID =\nAWS_SECRET_ACCESS_KEY =\n",
        "[AWS]\nAWS_ACCESS_KEY_ID = ''\nAWS_SECRET_ACCESS_KEY = \"\"\n",
        "",
    ],
    ids=["empty", "quoted-empty", "no-aws-section"],
)
def test_dl_cfg_without_keys_means_the_default_credential_chain(cwd, aws_section):
    data = "[DATA]\nSONG_DATA = s3a://b/s\nLOG_DATA = s3a://b/l\nOUTPUT_DATA = s3a://b/o\n"
    path = write(cwd, "dl.cfg", aws_section + data)

    s3 = load_config(str(path), env={}, cwd=cwd).s3

    assert s3 == load_config("s3", env={}, cwd=cwd).s3
    assert (bool(s3.access_key_id), bool(s3.secret_access_key)) == (False, False)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (f"[AWS]\nAWS_ACCESS_KEY_ID = {ACCESS_KEY_ID}\n", "[DATA]"),
        ("[DATA]\nSONG_DATA = s\nOUTPUT_DATA = o\n", "LOG_DATA"),
        ("[DATA]\nSONG_DATA = s\nLOG_DATA = l\nOUTPUT_DATA =\n", "OUTPUT_DATA"),
        ("[DATA]\nSONG_DATA = ''\nLOG_DATA = l\nOUTPUT_DATA = o\n", "SONG_DATA"),
    ],
    ids=["no-data-section", "no-log-data", "empty-output-data", "quoted-empty-song-data"],
)
def test_dl_cfg_missing_data_is_a_config_error_naming_it(cwd, text, named):
    path = write(cwd, "dl.cfg", text)

    with pytest.raises(ConfigError) as raised:
        load_config(str(path), env={}, cwd=cwd)

    assert named in str(raised.value)
    assert str(path) in str(raised.value)


def test_s3_endpoint_from_the_environment_points_a_dl_cfg_at_a_local_server_path_style(cwd):
    path = write(
        cwd, "dl.cfg", dl_cfg("s3a://landing/song_data", "s3a://landing/log_data", "s3a://lake/tables")
    )

    config = load_config(str(path), env={"SPARKIFY_S3_ENDPOINT": "http://127.0.0.1:9000"}, cwd=cwd)

    assert config.s3 == S3Settings(
        endpoint="http://127.0.0.1:9000",
        region="us-east-1",
        path_style=True,
        access_key_id=Secret(ACCESS_KEY_ID),
        secret_access_key=Secret(SECRET_ACCESS_KEY),
    )
    assert config.sources == ("profile s3", str(path), "environment")


def test_explicit_path_style_false_wins_over_an_endpoint(cwd):
    env = {"SPARKIFY_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com", "SPARKIFY_S3_PATH_STYLE": "false"}

    assert load_config("s3", env=env, cwd=cwd).s3.path_style is False


# Secrets never show


@pytest.fixture
def secret_dl_cfg(cwd: Path) -> Path:
    return write(
        cwd, "dl.cfg", dl_cfg("s3a://landing/song_data", "s3a://landing/log_data", "s3a://lake/tables")
    )


def assert_no_secret(text: str) -> None:
    assert ACCESS_KEY_ID not in text
    assert SECRET_ACCESS_KEY not in text


def test_secret_hides_its_value_but_reveals_it_on_request():
    secret = Secret(ACCESS_KEY_ID)

    assert (repr(secret), str(secret), f"{secret}") == ("Secret('****')", "****", "****")
    assert (secret.reveal(), bool(secret), bool(Secret(""))) == (ACCESS_KEY_ID, True, False)


def test_rendered_config_and_its_repr_hold_no_secret(cwd, secret_dl_cfg):
    config = load_config(str(secret_dl_cfg), env={}, cwd=cwd)

    shown = render(config)

    assert_no_secret(shown)
    assert_no_secret(repr(config))
    assert_no_secret(str(config))
    assert_no_secret(repr(config.s3))
    assert 'access_key_id = "****"' in shown
    assert "# tables: s3a://lake/tables/<table>" in shown


def test_render_marks_empty_keys_as_the_default_chain(cwd):
    shown = render(load_config("local", env={}, cwd=cwd))

    assert 'access_key_id = ""  # default credential chain' in shown
    assert f"# checkpoints: {cwd}/lake/tables/_checkpoints/<query>" in shown


def test_loading_logs_no_secret(cwd, secret_dl_cfg, caplog):
    caplog.set_level(logging.DEBUG)
    env = {"SPARKIFY_S3_ACCESS_KEY_ID": ACCESS_KEY_ID, "SPARKIFY_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}

    render(load_config(str(secret_dl_cfg), env={}, cwd=cwd))
    render(load_config("s3", env=env, cwd=cwd))

    assert_no_secret(caplog.text)


@pytest.mark.parametrize(
    "text",
    [
        f"AWS_ACCESS_KEY_ID = {ACCESS_KEY_ID}\n[DATA]\nSONG_DATA = s\n",
        f"[AWS]\nAWS_ACCESS_KEY_ID = x\n{SECRET_ACCESS_KEY}\n[DATA]\nSONG_DATA = s\n",
    ],
    ids=["key-before-any-section", "line-without-equals"],
)
def test_malformed_dl_cfg_error_says_where_without_echoing_the_line(cwd, text):
    """configparser quotes the offending line, and in a dl.cfg that line may be a credential."""
    path = write(cwd, "dl.cfg", text)

    with pytest.raises(ConfigError) as raised:
        load_config(str(path), env={}, cwd=cwd)

    assert "line" in str(raised.value)
    assert_no_secret(str(raised.value))
    assert raised.value.__cause__ is None


# Quality


def test_policy_overrides_are_parsed_and_a_malformed_one_is_refused(cwd):
    env = {"SPARKIFY_QUALITY_POLICIES": " raw_events.length_positive = warn ,raw_songs.year_plausible=fail,"}
    config = load_config("local", env=env, cwd=cwd)
    assert config.quality.policy_overrides == {
        "raw_events.length_positive": "warn",
        "raw_songs.year_plausible": "fail",
    }
    for bad in ("raw_events.length_positive=drop", "length_positive=warn", "raw_events.x"):
        with pytest.raises(ConfigError, match=r"quality\.policies: .* is not <suite>\.<expectation>="):
            load_config("local", env={"SPARKIFY_QUALITY_POLICIES": bad}, cwd=cwd)


# Delta's log store on S3 (sparkify.session.log_store_conf)


@pytest.mark.parametrize("profile", ["local", "s3", "emr"])
def test_every_profile_keeps_delta_s_default_log_store(cwd, profile):
    s3 = load_config(profile, env={}, cwd=cwd).s3

    assert (s3.log_store, s3.dynamodb_table, s3.dynamodb_region) == ("default", "delta_log", "")


def test_dynamodb_log_store_from_a_file_with_its_region_defaulting_to_the_s3_region(cwd):
    path = write(cwd, "multi.toml", 'profile = "s3"\n[s3]\nregion = "eu-west-1"\nlog_store = "dynamodb"\n')

    s3 = load_config(str(path), env={}, cwd=cwd).s3
    assert (s3.log_store, s3.dynamodb_table, s3.log_store_region) == ("dynamodb", "delta_log", "eu-west-1")
    env = {"SPARKIFY_S3_DYNAMODB_TABLE": "lake_commits", "SPARKIFY_S3_DYNAMODB_REGION": "us-west-2"}
    s3 = load_config(str(path), env=env, cwd=cwd).s3
    assert (s3.dynamodb_table, s3.log_store_region) == ("lake_commits", "us-west-2")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SPARKIFY_S3_LOG_STORE": "dynamo"}, "s3.log_store must be one of default, dynamodb, got 'dynamo'"),
        ({"SPARKIFY_S3_LOG_STORE": ""}, "s3.log_store must be one of default, dynamodb, got ''"),
        (
            {"SPARKIFY_S3_LOG_STORE": "dynamodb", "SPARKIFY_S3_DYNAMODB_TABLE": ""},
            's3.dynamodb_table must name a DynamoDB table when s3.log_store = "dynamodb"',
        ),
    ],
)
def test_bad_log_store_settings_are_config_errors_naming_the_allowed_values(cwd, env, message):
    with pytest.raises(ConfigError) as raised:
        load_config("s3", env=env, cwd=cwd)

    assert str(raised.value) == message
