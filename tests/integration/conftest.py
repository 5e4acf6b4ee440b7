"""Fixtures for tests against the real services.

With ``CI=true`` a service that cannot be reached fails the run; elsewhere the
integration tests are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from wafsiem.clients import opensearch_client, s3_client, sqs_client, wafv2_client
from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings, get_settings, reset_settings

from .services import in_ci, provide


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and the services are unavailable: {reason}", pytrace=False)
    pytest.skip(f"services unavailable: {reason}")


@pytest.fixture(scope="session")
def service_env() -> Iterator[dict[str, str]]:
    reset_settings()
    try:
        with provide(get_settings()) as (how, env):
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            reset_settings()
            yield {"how": how, **env}
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_settings()
    except WafsiemError as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]) -> Settings:
    current = get_settings()
    try:
        info = opensearch_client(current).info()
    except Exception as exc:
        _unavailable(f"OpenSearch at {current.opensearch.url}: {exc}")
    assert info["version"]["number"]
    return current


@pytest.fixture(scope="session")
def opensearch(settings: Settings) -> Any:
    return opensearch_client(settings)


@pytest.fixture(scope="session")
def s3(settings: Settings) -> Any:
    return s3_client(settings)


@pytest.fixture(scope="session")
def sqs(settings: Settings) -> Any:
    return sqs_client(settings)


@pytest.fixture(scope="session")
def wafv2(settings: Settings) -> Any:
    return wafv2_client(settings)


@pytest.fixture
def unique() -> str:
    """A short unique name part, so tests never share an index, bucket or queue."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def index_name(opensearch: Any, unique: str) -> Iterator[str]:
    name = f"test-{unique}"
    yield name
    opensearch.indices.delete(index=f"{name}*", ignore=[404])


@pytest.fixture
def bucket(s3: Any, unique: str) -> Iterator[str]:
    name = f"test-{unique}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)
