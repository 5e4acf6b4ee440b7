"""The analysts' triage page at ``/`` and ``GET /api/v1/whoami``.

The page is static (``rules_admin/web/``: HTML, vanilla JS and CSS, no build step, no
CDN): it holds no data and asks the JSON API for everything with the key the analyst
types in, so ``/`` and ``/static/*`` are public. Every page response carries a strict
Content-Security-Policy (scripts and styles only from this origin, no inline script),
``X-Content-Type-Options: nosniff`` and ``frame-ancestors 'none'``. The script writes log
content with ``textContent`` only, never as markup.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from wafsiem.auth import Principal, require_scope

router = APIRouter()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# the only files /static serves: name -> media type (no path from the URL reaches the disk)
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@cache
def _asset(name: str) -> bytes:
    return files("rules_admin").joinpath("web", name).read_bytes()


def _page(name: str, media_type: str) -> Response:
    return Response(_asset(name), media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/", include_in_schema=False)
def index() -> Response:
    """The triage page (public: it holds no data)."""
    return _page("index.html", "text/html; charset=utf-8")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="not found")
    return _page(name, media_type)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """No icon (and no 404 in the browser's console)."""
    return Response(status_code=204, headers=SECURITY_HEADERS)


class WhoAmI(BaseModel):
    name: str = Field(description="the API key's name")
    scopes: list[str] = Field(description="scopes the key holds, implied ones included")


@router.get(
    "/api/v1/whoami",
    response_model=WhoAmI,
    tags=["auth"],
    summary="The caller's key name and scopes (the page shows override buttons by them)",
    responses={401: {"description": "missing or unknown API key"}},
)
def whoami(principal: Principal = Depends(require_scope("read"))) -> WhoAmI:  # noqa: B008
    order = ("read", "write", "admin")
    return WhoAmI(name=principal.name, scopes=[s for s in order if s in principal.scopes])
