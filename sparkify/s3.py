"""AWS access from the configuration: boto3 client factories (S3, and any service) and the parsing of s3://
URIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoints_config import PipelineConfig

if TYPE_CHECKING:
    from botocore.config import Config

S3_SCHEMES = ("s3", "s3a", "s3n")  # Hadoop's names (s3a, the old s3n) and EMRFS's s3 mean the same objects


def s3_client(config: PipelineConfig, *, botocore_config: Config | None = None) -> Any:
    """A boto3 S3 client from the configuration: its endpoint (an S3-compatible server), explicit keys
    or else the default credential chain (instance profile on EMR), path-style URLs when asked.

    ``botocore_config`` is merged over those settings, for a caller that needs its own timeouts or
    retries (the writer lease must notice a hung request well within its ttl).
    """
    from botocore.config import Config

    client_config = Config(s3={"addressing_style": "path"}) if config.s3.path_style else None
    if botocore_config is not None:
        client_config = botocore_config if client_config is None else client_config.merge(botocore_config)
    return aws_client(config, "s3", endpoint_url=config.s3.endpoint or None, botocore_config=client_config)


def aws_client(
    config: PipelineConfig,
    service: str,
    *,
    endpoint_url: str | None = None,
    botocore_config: Config | None = None,
) -> Any:
    """A boto3 client of any AWS service (``"emr"``, ``"emr-serverless"``, ...) in the ``[s3]`` section's
    region, with its keys when it has them, else boto3's default credential chain.

    ``[s3] endpoint`` is S3's alone, so another service's endpoint is boto3's to find: the AWS one, or
    ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` from the environment (how tests point it at a
    local server).
    """
    import boto3

    kwargs: dict[str, Any] = {"region_name": config.s3.region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if config.s3.access_key_id and config.s3.secret_access_key:
        kwargs["aws_access_key_id"] = config.s3.access_key_id.reveal()
        kwargs["aws_secret_access_key"] = config.s3.secret_access_key.reveal()
    if botocore_config is not None:
        kwargs["config"] = botocore_config
    return boto3.client(service, **kwargs)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3a://bucket/some/key`` → ``("bucket", "some/key")``; s3://, s3a:// and s3n:// alike.

    Example:
        >>> split_s3_uri("s3a://sparkify-lake/tables/_lease")
        ('sparkify-lake', 'tables/_lease')
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in S3_SCHEMES:
        raise ValueError(f"not an S3 URI (s3://, s3a://, s3n://): {uri!r}")
    # Not urlsplit: a key may hold '?' or '#', which are just characters to S3.
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"S3 URI without a bucket: {uri!r}")
    return bucket, key.lstrip("/")
