"""Configuration profiles (TOML) and their loader: where landing data, tables and checkpoints live."""

from checkpoints_config.loader import (
    ConfigError,
    PipelineConfig,
    S3Settings,
    Secret,
    is_s3_uri,
    join_path,
    load_config,
    render,
)

__all__ = [
    "ConfigError",
    "PipelineConfig",
    "S3Settings",
    "Secret",
    "is_s3_uri",
    "join_path",
    "load_config",
    "render",
]
