"""The ``wafsiem serve`` application: routes of every capability, health and metrics.

:func:`create_app` builds nothing but the app; clients are built when the app starts
(lifespan) and kept in ``app.state`` — never in module globals — so two apps in one
process (tests) never share a client or a metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ingest.api import router as ingest_router
from ingest.firehose import FirehoseService
from query.api import router as query_router
from rules_admin.api import router as overrides_router
from rules_admin.detector import detector_from_settings, detector_loop
from rules_admin.overrides import OverrideService
from rules_admin.triage_api import router as triage_router
from wafsiem.clients import opensearch_client, s3_client, wafv2_client
from wafsiem.errors import WafsiemError
from wafsiem.metrics import CONTENT_TYPE_LATEST, Metrics
from wafsiem.settings import Settings

HEALTH_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opensearch = opensearch_client(settings)
        app.state.settings = settings
        app.state.opensearch = opensearch
        app.state.s3 = s3_client(settings)
        app.state.metrics = Metrics()
        app.state.firehose = FirehoseService.from_settings(
            settings, opensearch, metrics=app.state.metrics
        )
        app.state.overrides = OverrideService(
            lambda region: wafv2_client(settings, region), opensearch, settings
        )
        ttl_task = None
        if settings.rules.ttl_check_seconds > 0:
            ttl_task = asyncio.create_task(
                _ttl_loop(app.state.overrides, settings.rules.ttl_check_seconds)
            )
        detect_task = None
        if settings.detector.interval_seconds > 0:
            detector = detector_from_settings(
                settings, opensearch, app.state.s3, app.state.overrides
            )
            detect_task = asyncio.create_task(
                detector_loop(detector, settings.detector.interval_seconds)
            )
        try:
            yield
        finally:
            if detect_task is not None:
                detect_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await detect_task
            if ttl_task is not None:
                ttl_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ttl_task
            opensearch.close()
            app.state.s3.close()

    app = FastAPI(
        title="wafsiem",
        summary="AWS WAFv2 log analytics: Firehose ingest, triage and rule overrides",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(WafsiemError, _wafsiem_error)
    app.include_router(ingest_router)
    app.include_router(overrides_router)
    app.include_router(triage_router)
    app.include_router(query_router)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["ops"])
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["ops"])
    return app


async def _ttl_loop(service: OverrideService, interval: float) -> None:
    """Revert overrides past their TTL every ``interval`` seconds (blocking calls in a
    worker thread); a failed round is logged and the loop goes on."""
    while True:
        try:
            done = await asyncio.to_thread(service.revert_expired, datetime.now(UTC))
            for outcome in done:
                log.info("TTL revert: %s", outcome)
        except Exception:
            log.exception("TTL revert round failed")
        await asyncio.sleep(interval)


async def _wafsiem_error(request: Request, exc: Exception) -> JSONResponse:
    """An expected failure: its status (default 400) and the message, as JSON."""
    assert isinstance(exc, WafsiemError)
    body: dict[str, Any] = {"detail": exc.message}
    if exc.hint:
        body["hint"] = exc.hint
    return JSONResponse(body, status_code=exc.status)


def _check(probe: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = probe()
        status = "ok"
    except Exception as exc:  # any failure is the check's answer, not the endpoint's
        status, detail = "fail", f"{type(exc).__name__}: {exc}"[:300]
    return {"status": status, "detail": detail, "seconds": round(time.perf_counter() - started, 3)}


def healthz(request: Request) -> JSONResponse:
    """OpenSearch cluster health (not red) and the object-store bucket; 503 if one fails."""
    state = request.app.state
    bucket = state.settings.s3.bucket

    def opensearch() -> str:
        health = state.opensearch.cluster.health(
            params={"timeout": "5s"}, request_timeout=HEALTH_TIMEOUT_SECONDS
        )
        if health["status"] == "red":
            raise RuntimeError("cluster status red")
        return f"cluster status {health['status']}"

    def s3() -> str:
        state.s3.head_bucket(Bucket=bucket)
        return f"bucket {bucket} reachable"

    checks = {"opensearch": _check(opensearch), "s3": _check(s3)}
    healthy = all(check["status"] == "ok" for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "fail", "checks": checks},
        status_code=200 if healthy else 503,
    )


def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
