"""Configuration profiles (TOML) and their loader: where landing data, tables and checkpoints live."""

from checkpoints_config.loader import (
    FAIR_POOLS,
    ConfigError,
    PipelineConfig,
    RetentionSettings,
    S3Settings,
    Secret,
    is_s3_uri,
    join_path,
    load_config,
    render,
)

__all__ = [
    "FAIR_POOLS",
    "ConfigError",
    "PipelineConfig",
    "RetentionSettings",
    "S3Settings",
    "Secret",
    "is_s3_uri",
    "join_path",
    "load_config",
    "render",
]
