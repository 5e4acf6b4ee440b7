"""``GET /api/v1/triage/rules`` (scope ``read``): per rule blocks, spike, breadth.

The filter words are the query API's (``from``, ``to``, ``action``, ``webacl``, ``rule``,
``client_ip``, ``country``, ``host``, ``path_prefix``, ``label``, ``method``, ``ja4``;
repeat a word for several values) and go through :func:`query.filters.filter_from_pairs`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from query.filters import FILTER_WORDS, FilterError, filter_from_pairs
from query.service import QueryContext
from rules_admin.models import TriageResult
from rules_admin.triage import parse_duration, triage_rules
from wafsiem.auth import Principal, require_scope

router = APIRouter(prefix="/api/v1/triage", tags=["triage"])
OWN = ("baseline", "size", "top", "samples")


def _context(request: Request) -> QueryContext:
    from tiering.store import open_store

    state = request.app.state
    settings = state.settings
    store = open_store(settings.cold_uri, settings, state.s3)
    return QueryContext.from_settings(settings, state.opensearch, store)


@router.get(
    "/rules",
    response_model=TriageResult,
    summary="Per (web ACL, rule, group rule): blocks, spike vs baseline, breadth",
    responses={401: {"description": "no key"}, 403: {"description": "scope"}, 422: {}},
)
def get_triage_rules(
    request: Request,
    baseline: str | None = Query(
        None, description="baseline length (e.g. 24h, 30m); default: the window's length"
    ),
    size: int = Query(20, ge=1, le=500, description="rules to return, most blocks first"),
    top: int = Query(5, ge=1, le=50, description="top hosts and paths per rule"),
    samples: int = Query(5, ge=0, le=50, description="sample request ids per rule"),
    principal: Principal = Depends(require_scope("read")),  # noqa: B008
) -> Any:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in OWN]
    unknown = sorted({k for k, _ in pairs if k not in FILTER_WORDS})
    if unknown:
        raise FilterError(
            f"unknown parameter {unknown[0]!r}",
            hint=f"filters are: {', '.join(FILTER_WORDS)}; also {', '.join(OWN)}",
        )
    settings = request.app.state.settings
    flt = filter_from_pairs(pairs, max_range=timedelta(days=settings.query.max_range_days))
    length = parse_duration(baseline, word="baseline") if baseline else None
    return triage_rules(
        _context(request), flt, baseline=length, size=size, top=top, samples=samples
    )
