"""The ``wafsiem serve`` application: routes of every capability, health and metrics.

:func:`create_app` builds nothing but the app; clients are built when the app starts
(lifespan) and kept in ``app.state`` — never in module globals — so two apps in one
process (tests) never share a client or a metric.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingest.api import router as ingest_router
from ingest.firehose import FirehoseService
from query.api import router as query_router
from rules_admin.api import router as overrides_router
from rules_admin.detector import detector_from_settings, detector_loop
from rules_admin.ops import MeteredOverrideService, reconcile_once, ttl_loop
from rules_admin.ops import router as ops_router
from rules_admin.triage_api import router as triage_router
from rules_admin.web import router as web_router
from wafsiem.clients import opensearch_client, s3_client, wafv2_client
from wafsiem.errors import WafsiemError
from wafsiem.metrics import Metrics
from wafsiem.settings import Settings


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
        app.state.overrides = MeteredOverrideService(
            lambda region: wafv2_client(settings, region),
            opensearch,
            settings,
            metrics=app.state.metrics,
        )
        ttl_task = None
        if settings.rules.ttl_check_seconds <= 0:  # the loop reconciles on its first round
            await reconcile_once(app.state.overrides, app.state.metrics)
        else:
            ttl_task = asyncio.create_task(
                ttl_loop(app.state.overrides, settings.rules.ttl_check_seconds, app.state.metrics)
            )
        detect_task = None
        if settings.detector.interval_seconds > 0:
            detector = detector_from_settings(
                settings, opensearch, app.state.s3, app.state.overrides
            )
            detect_task = asyncio.create_task(
                detector_loop(detector, settings.detector.interval_seconds, app.state.metrics)
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
    app.include_router(web_router)
    app.include_router(ops_router)  # /healthz, /metrics (rules_admin/ops.py)
    return app


async def _wafsiem_error(request: Request, exc: Exception) -> JSONResponse:
    """An expected failure: its status (default 400) and the message, as JSON."""
    assert isinstance(exc, WafsiemError)
    body: dict[str, Any] = {"detail": exc.message}
    if exc.hint:
        body["hint"] = exc.hint
    return JSONResponse(body, status_code=exc.status)
