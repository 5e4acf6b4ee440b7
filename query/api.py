"""Query routes: ``GET /api/v1/events``, ``/top``, ``/timeline`` (scope ``read``).

Filters are query parameters with the filter words (``from``, ``to``, and each word of
:data:`query.filters.FILTER_FIELDS`, repeatable: ``client_ip=10.0.0.0/8&client_ip=...``).
A parameter a route does not know is a 422 naming it, so a typo never silently widens a
query. The routes are plain ``def`` (FastAPI runs them in its thread pool, so the blocking
OpenSearch and DuckDB calls never stall the event loop); clients come from ``app.state``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from query.filters import FILTER_FIELDS, FILTER_WORDS, Filter, FilterError, build_filter
from query.models import EventsPage, Interval, TimelineResult, TopBy, TopResult
from query.service import QueryContext, events, timeline, top
from tiering.store import open_store
from wafsiem.auth import Principal, require_scope
from wafsiem.metrics import query_tier
from wafsiem.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["query"])
Result = TypeVar("Result", EventsPage, TopResult, TimelineResult)


class QueryErrorResponse(BaseModel):
    detail: str
    hint: str | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    422: {
        "model": QueryErrorResponse,
        "description": "a bad filter, field, cursor, limit or an unknown query parameter",
    },
}


def _filter_params() -> Callable[..., dict[str, Any]]:
    """A dependency declaring ``from``, ``to`` and one list parameter per filter word
    (derived from FILTER_FIELDS, so the API and the filter model never drift apart)."""
    params = [
        inspect.Parameter(
            "from_",
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(
                None,
                alias="from",
                description="start, inclusive: ISO 8601 or relative (-24h, -7d); default: to - 24h",
            ),
            annotation=str | None,
        ),
        inspect.Parameter(
            "to",
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(None, description="end, exclusive: ISO 8601 or relative; default now"),
            annotation=str | None,
        ),
    ]
    for word, fields in FILTER_FIELDS.items():
        params.append(
            inspect.Parameter(
                word,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(
                    None,
                    description=f"matches {', '.join(fields)}; repeat for any of several values",
                ),
                annotation=list[str] | None,
            )
        )

    def filter_params(**values: Any) -> dict[str, Any]:
        raw = {word: values.get(word) for word in FILTER_FIELDS}
        return {"from": values.get("from_"), "to": values.get("to"), **raw}

    filter_params.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return filter_params


filter_params = _filter_params()


def _check_params(request: Request, own: tuple[str, ...]) -> None:
    """422 for a query parameter this route does not take."""
    allowed = {*FILTER_WORDS, *own}
    for name in request.query_params:
        if name not in allowed:
            raise FilterError(
                f"unknown query parameter {name[:80]!r}",
                hint=f"this route takes: {', '.join([*FILTER_WORDS, *own])}",
            )


def _filter(request: Request, raw: dict[str, Any], own: tuple[str, ...]) -> Filter:
    _check_params(request, own)
    settings: Settings = request.app.state.settings
    return build_filter(raw, max_range=timedelta(days=settings.query.max_range_days))


def _context(request: Request) -> QueryContext:
    state = request.app.state
    settings: Settings = state.settings
    store = open_store(settings.cold_uri, settings, state.s3)
    return QueryContext.from_settings(settings, state.opensearch, store)


def _metered(request: Request, operation: str, run: Callable[[], Result]) -> Result:
    """Run a (validated) query; count it by operation and answering tier in the app's
    metrics (``failed`` when it raised) and time it."""
    metrics = getattr(request.app.state, "metrics", None)
    started, tier = time.perf_counter(), "failed"
    try:
        result = run()
        tier = query_tier(result.plan.hot_days, result.plan.cold_days)
        return result
    finally:
        if metrics is not None:
            metrics.record_query(operation, tier, time.perf_counter() - started)


@router.get(
    "/events",
    response_model=EventsPage,
    responses=_ERRORS,
    summary="Matching records from the hot and cold tiers, newest first, paged by cursor",
)
def get_events(
    request: Request,
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
    raw: dict[str, Any] = Depends(filter_params),  # noqa: B008
    limit: Annotated[
        int | None, Query(description="events per page (default and cap: settings)")
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    fields: Annotated[
        list[str] | None,
        Query(description="schema fields to return, comma-separated or repeated; '*' for all"),
    ] = None,
) -> EventsPage:
    flt = _filter(request, raw, ("limit", "cursor", "fields"))
    wanted = [f.strip() for part in fields or [] for f in part.split(",") if f.strip()]
    return _metered(
        request,
        "events",
        lambda: events(_context(request), flt, limit=limit, cursor=cursor, fields=wanted or None),
    )


@router.get(
    "/top",
    response_model=TopResult,
    responses=_ERRORS,
    summary="Exact counts per rule, client IP, path, host, country, label, ... largest first",
)
def get_top(
    request: Request,
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
    raw: dict[str, Any] = Depends(filter_params),  # noqa: B008
    by: Annotated[TopBy, Query(description="what to group by")] = "rule",
    size: Annotated[
        int, Query(description="buckets to return (cap: settings query.max_top_size)")
    ] = 10,
) -> TopResult:
    flt = _filter(request, raw, ("by", "size"))
    return _metered(request, "top", lambda: top(_context(request), flt, by=by, size=size))


@router.get(
    "/timeline",
    response_model=TimelineResult,
    responses=_ERRORS,
    summary="Requests per interval split by action, zero-filled",
)
def get_timeline(
    request: Request,
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
    raw: dict[str, Any] = Depends(filter_params),  # noqa: B008
    interval: Annotated[
        Interval, Query(description="bucket width, aligned to the epoch (UTC)")
    ] = "1h",
) -> TimelineResult:
    flt = _filter(request, raw, ("interval",))
    return _metered(
        request, "timeline", lambda: timeline(_context(request), flt, interval=interval)
    )
