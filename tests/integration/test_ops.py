"""Operator surface of ``wafsiem serve`` against the real services: /healthz names the
part that fails (OpenSearch, the ingest bucket, the cold store), and /metrics counts
queries by tier and override attempts by result and actor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from ingest.service import IngestTarget
from rules_admin.app import create_app
from wafsiem.auth import key_digest
from wafsiem.settings import (
    ApiKey,
    ApiSettings,
    ColdSettings,
    DetectorSettings,
    FirehoseSettings,
    RulesSettings,
    Settings,
)

from .ingest_fixtures import count, target
from .test_firehose import KEY, delivery, free_port, headers, records
from .test_overrides import CRS, create_acl

__all__ = ["target"]  # fixtures

READ, WRITE = "ops-read-key-0123456789", "ops-write-key-0123456789"
NONE, SCRAPER = "ops-no-scope-key-0123456789", "ops-metrics-token-0123456789"
DAY = ("2025-11-25T00:00:00Z", "2025-11-26T00:00:00Z")  # tests/waf_records.py BASE_MS


def ops_settings(
    settings: Settings,
    target: IngestTarget,
    unique: str,
    bucket: str,
    *,
    cold_uri: str | None = None,
    opensearch_url: str | None = None,
) -> Settings:
    opensearch: dict[str, Any] = {
        "index_prefix": target.index_prefix,
        "deadletter_index": target.deadletter_index,
        "audit_index": f"{unique}-audit",
        "state_index": f"{unique}-state",
        "timeout_seconds": 10.0,
    }
    if opensearch_url:
        opensearch["url"] = opensearch_url
    return settings.model_copy(
        update={
            "opensearch": settings.opensearch.model_copy(update=opensearch),
            "s3": settings.s3.model_copy(update={"bucket": bucket}),
            "cold": ColdSettings(uri=cold_uri or f"s3://{bucket}/cold"),
            "firehose": FirehoseSettings(access_key=SecretStr(KEY)),
            "detector": DetectorSettings(interval_seconds=0),
            "rules": RulesSettings(ttl_check_seconds=0, update_min_interval_seconds=0.05),
            "api": ApiSettings(
                keys=[
                    ApiKey(name="reader", sha256=key_digest(READ), scopes=["read"]),
                    ApiKey(name="oncall", sha256=key_digest(WRITE), scopes=["write"]),
                    ApiKey(name="scopeless", sha256=key_digest(NONE), scopes=[]),
                ],
                metrics_token=SecretStr(SCRAPER),
            ),
        }
    )


def health(app_settings: Settings) -> tuple[int, dict[str, str], dict[str, Any]]:
    with TestClient(create_app(app_settings)) as client:
        response = client.get("/healthz")
    body = response.json()
    statuses = {name: check["status"] for name, check in body["checks"].items()}
    assert body["status"] == ("ok" if response.status_code == 200 else "fail")
    return response.status_code, statuses, body["checks"]


def test_healthz_ok_and_each_failure_named(
    settings: Settings, target: IngestTarget, unique: str, bucket: str, tmp_path: Path
) -> None:
    status, statuses, checks = health(ops_settings(settings, target, unique, bucket))
    assert status == 200, checks
    assert statuses == {"opensearch": "ok", "s3": "ok", "cold": "ok"}
    assert f"bucket {bucket} reachable" in checks["cold"]["detail"]

    closed = f"http://127.0.0.1:{free_port()}"
    down = ops_settings(settings, target, unique, bucket, opensearch_url=closed)
    status, statuses, checks = health(down)
    assert status == 503
    assert statuses == {"opensearch": "fail", "s3": "ok", "cold": "ok"}
    assert "Connection" in checks["opensearch"]["detail"]
    assert closed.rsplit(":", 1)[1] not in checks["opensearch"]["detail"]  # no error text

    missing = ops_settings(settings, target, unique, bucket, cold_uri=f"s3://{bucket}-gone/c")
    status, statuses, checks = health(missing)
    assert status == 503
    assert statuses == {"opensearch": "ok", "s3": "ok", "cold": "fail"}
    assert checks["cold"]["detail"] == "ClientError (details in the server log)"

    local = ops_settings(settings, target, unique, bucket, cold_uri=str(tmp_path / "cold"))
    assert health(local)[:2] == (200, {"opensearch": "ok", "s3": "ok", "cold": "ok"})
    (tmp_path / "taken").write_text("a file, not a directory")
    blocked = ops_settings(settings, target, unique, bucket, cold_uri=str(tmp_path / "taken"))
    status, statuses, checks = health(blocked)
    assert status == 503 and statuses["cold"] == "fail"
    assert checks["cold"]["detail"] == "NotADirectoryError (details in the server log)"


def test_healthz_failure_text_only_in_the_log(
    settings: Settings,
    target: IngestTarget,
    unique: str,
    bucket: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The unauthenticated answer names the part, never the exception text (paths,
    hosts, bucket names); the server log keeps the text for the operator."""
    (tmp_path / "taken").write_text("a file, not a directory")
    blocked = ops_settings(settings, target, unique, bucket, cold_uri=str(tmp_path / "taken"))
    missing = ops_settings(settings, target, unique, bucket, cold_uri=f"s3://{bucket}-gone/c")
    with caplog.at_level(logging.WARNING, logger="rules_admin.ops"):
        answers = [health(blocked), health(missing)]
    for status, statuses, checks in answers:
        assert status == 503 and statuses["cold"] == "fail"
        text = orjson.dumps(checks).decode()
        assert str(tmp_path) not in text and f"{bucket}-gone" not in text
        assert "not a directory" not in text and "404" not in text
    logged = caplog.text
    assert "health check cold failed" in logged
    assert "not a directory" in logged and str(tmp_path / "taken") in logged


def metric(client: TestClient, name: str, **labels: str) -> float:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {READ}"})
    assert response.status_code == 200, response.text
    text = response.text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


@pytest.fixture
def app_client(
    settings: Settings, target: IngestTarget, unique: str, bucket: str, opensearch: Any
) -> Iterator[TestClient]:
    with TestClient(create_app(ops_settings(settings, target, unique, bucket))) as client:
        yield client
    opensearch.indices.delete(index=f"{unique}-audit,{unique}-state", ignore=[404])


def test_metrics_count_queries_and_overrides(
    app_client: TestClient, settings: Settings, unique: str, target: IngestTarget, opensearch: Any
) -> None:
    client = app_client
    request_id, body = delivery(records(0, 20))
    assert client.post("/firehose", content=body, headers=headers(request_id)).status_code == 200
    assert count(opensearch, target.index_prefix + "-*") == 20  # refreshed
    reader = {"Authorization": f"Bearer {READ}"}
    writer = {"Authorization": f"Bearer {WRITE}"}
    window = {"from": DAY[0], "to": DAY[1]}

    top = {"operation": "top", "tier": "hot"}
    assert metric(client, "wafsiem_query_requests_total", **top) == 0
    response = client.get("/api/v1/top", params={**window, "by": "rule"}, headers=reader)
    assert response.status_code == 200 and response.json()["total"] == 20
    assert metric(client, "wafsiem_query_requests_total", **top) == 1
    assert metric(client, "wafsiem_query_seconds_count", operation="top") == 1
    events = client.get("/api/v1/events", params={**window, "limit": 5}, headers=reader)
    assert events.status_code == 200
    assert metric(client, "wafsiem_query_requests_total", operation="events", tier="hot") == 1
    # a rejected filter is not a query
    bad = client.get("/api/v1/top", params={"nope": "1"}, headers=reader)
    assert bad.status_code == 422
    assert metric(client, "wafsiem_query_seconds_count", operation="top") == 1

    acl = create_acl(settings, unique)
    override = {
        "webacl": acl["arn"],
        "rule": CRS,
        "sub_rule": "SizeRestrictions_BODY",
        "reason": "metrics test",
        "dry_run": True,
    }
    dry = {"kind": "override", "result": "dry_run", "actor": "api:oncall"}
    assert metric(client, "wafsiem_overrides_total", **dry) == 0
    made = client.post("/api/v1/overrides", json=override, headers=writer)
    assert made.status_code == 200 and made.json()["result"] == "dry_run", made.text
    assert metric(client, "wafsiem_overrides_total", **dry) == 1
    refused = client.post(
        "/api/v1/overrides", json={**override, "sub_rule": "Nope"}, headers=writer
    )
    assert refused.status_code == 422
    assert metric(client, "wafsiem_overrides_total", **{**dry, "result": "refused"}) == 1
    assert metric(client, "wafsiem_ingest_records_indexed_total", kind="firehose") == 20


def test_metrics_need_a_read_key_or_the_metrics_token(app_client: TestClient) -> None:
    """/metrics labels carry key names (actors): no anonymous scrape."""

    def scrape(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return app_client.get("/metrics", headers=headers).status_code

    assert scrape(None) == 401
    assert scrape("not-a-key") == 401
    assert scrape(SCRAPER + "x") == 401
    assert scrape(NONE) == 403  # a known key without the read scope
    assert scrape(READ) == 200
    assert scrape(WRITE) == 200  # write implies read
    assert scrape(SCRAPER) == 200  # the dedicated scraper token
    body = app_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"})
    assert body.headers["content-type"].startswith("text/plain")
    assert app_client.get("/healthz").status_code in (200, 503)  # health stays open
