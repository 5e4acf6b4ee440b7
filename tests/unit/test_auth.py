"""Every /api route needs a key; every mutating route needs ``write``.

The app is built with ``create_app`` and driven by TestClient without its lifespan, so no
service is contacted: authentication answers before any handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from rules_admin.app import create_app
from wafsiem.auth import authenticate, key_digest, new_key
from wafsiem.settings import ApiKey, ApiSettings, Settings

KEYS = {
    "reader": ("read",),
    "writer": ("write",),
    "admin": ("admin",),
    "nobody": (),
}
SECRET = {name: f"key-for-{name}-0123456789" for name in KEYS}


def settings() -> Settings:
    keys = [
        ApiKey(name=name, sha256=key_digest(SECRET[name]), scopes=list(scopes))
        for name, scopes in KEYS.items()
    ]
    return Settings(api=ApiSettings(keys=keys))


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(settings())


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    yield TestClient(app, raise_server_exceptions=False)  # no `with`: no lifespan


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every APIRoute with its full path; descends into included routers (newer FastAPI
    keeps them as nodes instead of copying their routes into ``app.routes``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = set()
    for path, methods in _walk(list(app.routes)):
        if path.startswith("/api"):
            found |= {(method, path) for method in methods}
    # the OpenAPI document must not know an /api route the walk missed
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api"):
            for method in operations:
                assert (method.upper(), path) in found, (method, path)
    assert found, "no /api routes found"
    return sorted((m, re.sub(r"\{[^}]+\}", "some-id", p)) for m, p in found)


def headers(name: str | None, secret: str | None = None) -> dict[str, str]:
    if name is None and secret is None:
        return {}
    return {"Authorization": f"Bearer {secret or SECRET[name or '']}"}


def test_the_override_routes_exist(app: FastAPI) -> None:
    routes = set(api_routes(app))
    for expected in (
        ("POST", "/api/v1/overrides"),
        ("DELETE", "/api/v1/overrides/some-id"),
        ("GET", "/api/v1/overrides"),
        ("GET", "/api/v1/audit"),
    ):
        assert expected in routes


def test_every_api_route_answers_401_without_or_with_a_wrong_key(
    app: FastAPI, client: TestClient
) -> None:
    for method, path in api_routes(app):
        for hdrs in (
            {},
            headers(None, "not-a-key"),
            {"Authorization": f"Basic {SECRET['admin']}"},
            {"Authorization": "Bearer "},
        ):
            response = client.request(method, path, headers=hdrs)
            assert response.status_code == 401, (method, path, hdrs, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "detail" in response.json()


def test_scopes_too_small_answer_403(app: FastAPI, client: TestClient) -> None:
    for method, path in api_routes(app):
        too_small = ["nobody"] if method in ("GET", "HEAD") else ["nobody", "reader"]
        for name in too_small:
            response = client.request(method, path, headers=headers(name))
            assert response.status_code == 403, (method, path, name, response.text)


def test_sufficient_scopes_pass_authentication(app: FastAPI, client: TestClient) -> None:
    for method, path in api_routes(app):
        allowed = (
            ["reader", "writer", "admin"] if method in ("GET", "HEAD") else ["writer", "admin"]
        )
        for name in allowed:
            response = client.request(method, path, headers=headers(name))
            # no services behind this app: anything but 401/403 means auth let it through
            assert response.status_code not in (401, 403), (method, path, name)


def test_authenticate_implies_scopes_and_new_keys_differ() -> None:
    keys = settings().api.keys
    admin = authenticate(keys, SECRET["admin"])
    assert admin is not None and admin.allows("read") and admin.allows("write")
    reader = authenticate(keys, SECRET["reader"])
    assert reader is not None and not reader.allows("write")
    assert authenticate(keys, None) is None and authenticate(keys, "") is None
    a, b = new_key(), new_key()
    assert a != b and a.startswith("wsk_") and len(a) > 40
