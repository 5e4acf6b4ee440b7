"""API keys and scopes for every ``/api`` route.

Keys are stored as SHA-256 hex in ``settings.api.keys`` (never the key itself). A request
carries ``Authorization: Bearer <key>``; :func:`require_scope` is a FastAPI dependency
that answers 401 when the key is missing or unknown and 403 when its scopes are too
small, and otherwise returns the :class:`Principal` (the actor written to audit records).

``admin`` implies ``write``, which implies ``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

from wafsiem.settings import ApiKey, Scope, Settings

_IMPLIED: dict[Scope, set[Scope]] = {
    "read": {"read"},
    "write": {"read", "write"},
    "admin": {"read", "write", "admin"},
}


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (``wsk_`` + 32 url-safe bytes)."""
    return "wsk_" + secrets.token_urlsafe(32)


def authenticate(keys: list[ApiKey], presented: str | None) -> Principal | None:
    """The principal whose stored digest matches ``presented`` (constant-time compare)."""
    if not presented:
        return None
    digest = key_digest(presented)
    found: ApiKey | None = None
    for key in keys:  # compare against every key: the time does not say which one matched
        if hmac.compare_digest(key.sha256, digest):
            found = key
    if found is None:
        return None
    scopes: set[Scope] = set()
    for scope in found.scopes:
        scopes |= _IMPLIED[scope]
    return Principal(found.name, frozenset(scopes))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_scope(scope: Scope) -> Callable[[Request], Principal]:
    """FastAPI dependency: the caller's principal, or 401 / 403 as JSON."""

    def dependency(request: Request) -> Principal:
        settings: Settings = request.app.state.settings
        principal = authenticate(settings.api.keys, bearer_token(request))
        if principal is None:
            raise HTTPException(
                status_code=401,
                detail="missing or unknown API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(scope):
            raise HTTPException(
                status_code=403,
                detail=f"API key {principal.name!r} lacks the {scope!r} scope",
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


def require_metrics_access(request: Request) -> Principal:
    """FastAPI dependency of ``/metrics``: the ``api.metrics_token`` (a scraper's token,
    compared in constant time), else any API key with the ``read`` scope; 401 / 403."""
    settings: Settings = request.app.state.settings
    presented = bearer_token(request)
    token = settings.api.metrics_token
    expected = token.get_secret_value() if token is not None else ""
    if (
        presented
        and expected
        and hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
    ):
        principal = Principal("metrics-token", frozenset())
        request.state.principal = principal
        return principal
    return require_scope("read")(request)
