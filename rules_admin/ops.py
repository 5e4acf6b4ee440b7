"""Operator routes and helpers of ``wafsiem serve``: ``/healthz``, ``/metrics``, the
metered override service and the TTL loop.

Everything reads its clients and its :class:`~wafsiem.metrics.Metrics` from
``app.state`` (built in the app's lifespan), never from module globals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from rules_admin.overrides import OverrideError, OverrideService
from wafsiem.auth import require_metrics_access
from wafsiem.metrics import CONTENT_TYPE_LATEST, Metrics

HEALTH_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)
router = APIRouter(tags=["ops"])


class MeteredOverrideService(OverrideService):
    """:class:`OverrideService` that counts every override and revert attempt (API,
    detector, TTL loop alike) in ``metrics`` by kind, audited result and actor."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def override(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            record = super().override(*args, **kwargs)
        except OverrideError as exc:
            self.metrics.record_override(exc.record)
            raise
        self.metrics.record_override(record)
        return record

    def revert(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            record = super().revert(*args, **kwargs)
        except OverrideError as exc:
            self.metrics.record_override(exc.record)
            raise
        self.metrics.record_override(record)
        return record


def _log_maintenance(done: list[dict[str, Any]]) -> None:
    for outcome in done:
        log.info(
            "override maintenance: %s",
            outcome.get("settled") or outcome.get("result"),
            extra={"outcome": outcome},
        )


async def reconcile_once(service: OverrideService, metrics: Metrics) -> None:
    """Settle pending and unverified overrides once (serve start, before any loop)."""
    try:
        done = await asyncio.to_thread(service.reconcile, datetime.now(UTC))
        _log_maintenance(done)
    except Exception:
        log.exception("reconcile at start failed")
        metrics.record_loop_round("reconcile", ok=False)
    else:
        metrics.record_loop_round("reconcile", ok=True)


async def ttl_loop(service: OverrideService, interval: float, metrics: Metrics) -> None:
    """Every ``interval`` seconds settle pending/unverified overrides (reconcile) and
    revert those past their TTL (blocking calls in a worker thread); a failed round is
    logged and counted, and the loop goes on."""
    while True:
        try:
            done = await asyncio.to_thread(service.maintain, datetime.now(UTC))
            _log_maintenance(done["reconciled"] + done["expired"])
        except Exception:
            log.exception("TTL round failed")
            metrics.record_loop_round("ttl", ok=False)
        else:
            metrics.record_loop_round("ttl", ok=True)
        await asyncio.sleep(interval)


# -- health ---------------------------------------------------------------------------


async def _check(name: str, probe: Callable[[], str]) -> dict[str, Any]:
    """Run a blocking probe in a thread; its answer, or why it failed, within the timeout."""
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(asyncio.to_thread(probe), HEALTH_TIMEOUT_SECONDS)
        status = "ok"
    except TimeoutError:
        status, detail = "fail", f"no answer within {HEALTH_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any failure is the check's answer, not the endpoint's
        # the text may name hosts, buckets, paths or credentials: the log has it, the
        # unauthenticated answer says only which part failed and the kind of error
        log.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        status, detail = "fail", f"{type(exc).__name__} (details in the server log)"
    return {"status": status, "detail": detail, "seconds": round(time.perf_counter() - started, 3)}


def _local_dir_probe(root: Path) -> str:
    """The cold directory is there and writable, or can be created (first tier run)."""
    root = root.expanduser()
    if root.is_dir():
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"cold directory {root} is not writable")
        return f"directory {root} writable"
    if root.exists():
        raise NotADirectoryError(f"cold store {root} is not a directory")
    parent = root.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cold directory {root} is missing and {parent} is not writable")
    return f"directory {root} not created yet; {parent} writable"


def _probes(state: Any) -> dict[str, Callable[[], str]]:
    settings = state.settings
    bucket = settings.s3.bucket
    cold_uri: str = settings.cold_uri

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

    def cold() -> str:
        if cold_uri.startswith("s3://"):
            cold_bucket = urlparse(cold_uri).netloc
            state.s3.head_bucket(Bucket=cold_bucket)
            return f"bucket {cold_bucket} reachable ({cold_uri})"
        return _local_dir_probe(Path(cold_uri))

    return {"opensearch": opensearch, "s3": s3, "cold": cold}


@router.get(
    "/healthz",
    summary="OpenSearch, the ingest bucket and the cold store; 503 naming what failed",
    responses={503: {"description": "a check failed; `checks` says which and why"}},
)
async def healthz(request: Request) -> JSONResponse:
    """``opensearch`` (cluster health not red), ``s3`` (the ingest bucket answers a
    HEAD) and ``cold`` (the cold store: its bucket answers a HEAD, or its directory is
    writable). 200 when all pass, else 503; each check has status, detail, seconds. A
    failed check names the kind of error only; its text goes to the server log."""
    probes = _probes(request.app.state)
    results = await asyncio.gather(*(_check(name, probe) for name, probe in probes.items()))
    checks = dict(zip(probes, results, strict=True))
    healthy = all(check["status"] == "ok" for check in checks.values())
    failed = [name for name, check in checks.items() if check["status"] != "ok"]
    if failed:
        log.warning("health check failed: %s", ", ".join(failed), extra={"checks": checks})
    return JSONResponse(
        {"status": "ok" if healthy else "fail", "checks": checks},
        status_code=200 if healthy else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus text exposition of this app's registry",
    description="Needs `Authorization: Bearer` with an API key that has the `read` scope, "
    "or the dedicated `api.metrics_token` (its labels carry key names).",
    dependencies=[Depends(require_metrics_access)],
    responses={401: {"description": "no or unknown key"}, 403: {"description": "no read"}},
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
