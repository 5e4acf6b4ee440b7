"""Override and audit routes. Mutating routes need the ``write`` scope, reads ``read``.

The routes are plain ``def``: FastAPI runs them in its thread pool, so the blocking
WAFv2 and OpenSearch calls never stall the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from rules_admin.models import (
    AuditList,
    ErrorResponse,
    OverrideList,
    OverrideRequest,
    OverrideResponse,
    OverrideState,
    outcome_message,
)
from rules_admin.overrides import OverrideError, OverrideService
from wafsiem.auth import Principal, require_scope

router = APIRouter(prefix="/api/v1", tags=["overrides"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    202: {"model": OverrideResponse, "description": "sent, not yet confirmed (unverified)"},
    403: {"model": ErrorResponse, "description": "the key lacks the scope, or a protected rule"},
    404: {"model": ErrorResponse, "description": "unknown override or web ACL"},
    409: {"model": ErrorResponse, "description": "lock retries exhausted or state conflict"},
    422: {"model": ErrorResponse, "description": "bad input: unknown rule or sub-rule, TTL"},
    429: {"model": ErrorResponse, "description": "hourly cap or cooldown (guardrails)"},
    502: {"model": ErrorResponse, "description": "AWS failed, or the change did not verify"},
}


def _service(request: Request) -> OverrideService:
    service: OverrideService = request.app.state.overrides
    return service


def actor_of(principal: Principal) -> str:
    return f"api:{principal.name}"


def _error(exc: OverrideError) -> JSONResponse:
    return JSONResponse({"detail": exc.message, "record": exc.record}, status_code=exc.status)


def _response(record: dict[str, Any]) -> Any:
    body = {"result": record["result"], "message": outcome_message(record), "record": record}
    if record["result"] == "unverified":  # accepted, its effect not yet confirmed
        return JSONResponse(jsonable_encoder(body), status_code=202)
    return body


@router.post(
    "/overrides",
    response_model=OverrideResponse,
    responses=_ERRORS,
    summary="Switch a rule, a rule group, or one rule inside a group to COUNT",
)
def create_override(
    body: OverrideRequest,
    request: Request,
    principal: Principal = Depends(require_scope("write")),  # noqa: B008
) -> Any:
    try:
        record = _service(request).override(
            body.webacl,
            body.rule,
            body.sub_rule,
            body.action,
            reason=body.reason,
            actor=actor_of(principal),
            ttl_minutes=body.ttl_minutes,
            dry_run=body.dry_run,
            force=body.force,
            admin=principal.allows("admin"),
        )
    except OverrideError as exc:
        return _error(exc)
    return _response(record)


@router.delete(
    "/overrides/{override_id}",
    response_model=OverrideResponse,
    responses=_ERRORS,
    summary="Revert an override: restore exactly the previous action",
)
def delete_override(
    override_id: str,
    request: Request,
    reason: str = Query(min_length=3, max_length=2000),
    principal: Principal = Depends(require_scope("write")),  # noqa: B008
) -> Any:
    try:
        record = _service(request).revert(override_id, actor=actor_of(principal), reason=reason)
    except OverrideError as exc:
        return _error(exc)
    return _response(record)


@router.get("/overrides", response_model=OverrideList, summary="Overrides wafsiem applied")
def list_overrides(
    request: Request,
    state: OverrideState | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
) -> Any:
    return {"overrides": _service(request).list_overrides(state=state, limit=limit)}


@router.get("/audit", response_model=AuditList, summary="Every override and revert attempt")
def list_audit(
    request: Request,
    webacl: str | None = None,
    rule: str | None = None,
    result: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
) -> Any:
    records = _service(request).audit_records(
        limit=limit,
        webacl=webacl or "",
        rule=rule or "",
        result=result or "",
        actor=actor or "",
        kind=kind or "",
    )
    return {"records": records}
