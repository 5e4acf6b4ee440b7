"""Client factories. Each call builds a new client from the settings it is given.

Entry points (CLI commands, routes, worker loops) build clients and pass them into the
services; nothing here caches a client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from opensearchpy import OpenSearch

from wafsiem.settings import AwsCredentials, Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_wafv2 import WAFV2Client


def opensearch_client(settings: Settings) -> OpenSearch:
    cfg = settings.opensearch
    http_auth = None
    if cfg.username:
        password = cfg.password.get_secret_value() if cfg.password else ""
        http_auth = (cfg.username, password)
    return OpenSearch(
        hosts=[cfg.url],
        http_auth=http_auth,
        verify_certs=cfg.verify_certs,
        timeout=cfg.timeout_seconds,
        http_compress=False,
        pool_maxsize=16,  # bulk requests run a few at a time, plus API reads
    )


def _aws_kwargs(creds: AwsCredentials, endpoint_url: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": creds.region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if creds.access_key_id:
        kwargs["aws_access_key_id"] = creds.access_key_id
        secret = creds.secret_access_key
        kwargs["aws_secret_access_key"] = secret.get_secret_value() if secret else ""
    return kwargs


def s3_client(settings: Settings) -> S3Client:
    return boto3.client(
        "s3",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            # S3Proxy and other S3 servers need not support the newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
        **_aws_kwargs(settings.s3, settings.s3.endpoint_url),
    )


def sqs_client(settings: Settings) -> SQSClient:
    return boto3.client(
        "sqs",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        **_aws_kwargs(settings.sqs, settings.sqs.endpoint_url),
    )


def wafv2_client(settings: Settings, region: str | None = None) -> WAFV2Client:
    """A WAFv2 client; CLOUDFRONT-scope calls must use region us-east-1."""
    kwargs = _aws_kwargs(settings.waf, settings.waf.endpoint_url)
    if region:
        kwargs["region_name"] = region
    return boto3.client(
        "wafv2", config=Config(retries={"max_attempts": 5, "mode": "standard"}), **kwargs
    )
