"""Checks a writing job makes before it takes the lease or starts Spark: the mistakes people make with
paths, reported as one line that names the setting, instead of a Java stack trace minutes later."""

from __future__ import annotations

import tempfile

from checkpoints_config import ConfigError, PipelineConfig
from sparkify.pipeline.ingest import DATASETS, landing_root
from sparkify.sources import is_local, local_path


def check_landing(config: PipelineConfig) -> None:
    """Every local landing prefix exists (on S3 a prefix exists only once something has landed)."""
    for dataset in DATASETS:
        root = landing_root(config, dataset)
        if is_local(root) and not local_path(root).is_dir():
            raise ConfigError(
                f"paths.{dataset.landing_key} = {root} is not a directory: land the {dataset.name} files "
                f"there, or point SPARKIFY_PATHS_{dataset.landing_key.upper()} at them"
            )


def check_writable(config: PipelineConfig) -> None:
    """The output root and the checkpoint root can take files (created if missing)."""
    places = {"paths.output_root": config.paths.output_root}
    if config.paths.checkpoint_root:
        places["paths.checkpoint_root"] = config.paths.checkpoint_root
    for key, root in places.items():
        if not is_local(root):
            continue
        try:
            local_path(root).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=local_path(root), prefix=".sparkify-probe-"):
                pass
        except OSError as e:
            env = "SPARKIFY_" + key.replace(".", "_").upper()
            raise ConfigError(
                f"{key} = {root} is not writable ({e.strerror or e}): choose another directory with {env}"
            ) from None


def check_for_writing(config: PipelineConfig) -> None:
    """All of the above, for the backfill and the stream."""
    check_landing(config)
    check_writable(config)
