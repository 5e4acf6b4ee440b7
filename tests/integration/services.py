"""How the integration tests find their services.

Endpoints come from settings (``WAFSIEM_OPENSEARCH__URL`` and friends). When none are
given: testcontainers where a Docker engine answers, else the local stack
(``wafsiem stack up``), stopped again at the end if the tests started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from wafsiem.settings import Settings
from wafsiem.stack import service
from wafsiem.stack.parts import stack_env

ENDPOINT_ENV = (
    "WAFSIEM_OPENSEARCH__URL",
    "WAFSIEM_S3__ENDPOINT_URL",
    "WAFSIEM_SQS__ENDPOINT_URL",
    "WAFSIEM_WAF__ENDPOINT_URL",
)


def endpoints_given(settings: Settings) -> bool:
    return (
        "url" in settings.opensearch.model_fields_set
        and bool(settings.s3.endpoint_url)
        and bool(settings.sqs.endpoint_url)
        and bool(settings.waf.endpoint_url)
    )


def docker_answers() -> bool:
    try:
        import docker  # testcontainers depends on it

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextmanager
def _testcontainers() -> Iterator[dict[str, str]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    key, secret = "wafsiem-test", "wafsiem-test-secret"
    images: dict[str, tuple[str, int, dict[str, str], str]] = {
        "opensearch": (
            "opensearchproject/opensearch:2.19.1",
            9200,
            {
                "discovery.type": "single-node",
                "DISABLE_SECURITY_PLUGIN": "true",
                "OPENSEARCH_JAVA_OPTS": "-Xms1g -Xmx1g",
            },
            "started",
        ),
        "s3": (
            "andrewgaul/s3proxy:sha-ba0fd6d",
            80,
            {
                "S3PROXY_AUTHORIZATION": "aws-v2-or-v4",
                "S3PROXY_IDENTITY": key,
                "S3PROXY_CREDENTIAL": secret,
                "JCLOUDS_PROVIDER": "transient",
            },
            "Started",
        ),
        "sqs": ("softwaremill/elasticmq-native:1.6.16", 9324, {}, "started"),
        "waf": ("motoserver/moto:5.1.0", 5000, {}, "Running on"),
    }
    env: dict[str, str] = {}
    with ExitStack() as stack:
        for name, (image, port, variables, ready_log) in images.items():
            container: Any = DockerContainer(image).with_exposed_ports(port)
            for k, v in variables.items():
                container = container.with_env(k, v)
            started = stack.enter_context(container)
            wait_for_logs(started, ready_log, timeout=180)
            url = f"http://{started.get_container_host_ip()}:{started.get_exposed_port(port)}"
            if name == "opensearch":
                env["WAFSIEM_OPENSEARCH__URL"] = url
            else:
                prefix = name.upper()
                env[f"WAFSIEM_{prefix}__ENDPOINT_URL"] = url
                env[f"WAFSIEM_{prefix}__ACCESS_KEY_ID"] = key
                env[f"WAFSIEM_{prefix}__SECRET_ACCESS_KEY"] = secret
        yield env


@contextmanager
def _local_stack(settings: Settings) -> Iterator[dict[str, str]]:
    before = service.status(settings)
    service.up(settings)
    try:
        yield stack_env(settings)
    finally:
        started_here = [p.name for p in before.parts if not p.running]
        if started_here:
            service.down(settings, only=started_here)


@contextmanager
def provide(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """(how, environment to apply) for the services the tests use."""
    if endpoints_given(settings):
        yield "settings", {}
    elif docker_answers():
        with _testcontainers() as env:
            yield "testcontainers", env
    else:
        with _local_stack(settings) as env:
            yield "local stack", env


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
