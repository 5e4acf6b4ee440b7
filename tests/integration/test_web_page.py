"""The triage page at ``/`` in headless Chromium, against the real stack.

A small data set (the last hour, and a baseline the day before) under a unique index
prefix whose paths, user agents and hosts carry XSS payloads; a web ACL on the WAFv2
emulator whose ARN the records name; ``wafsiem serve``'s app under uvicorn in a thread;
Debian's ``chromium`` driven over the DevTools protocol (tests/integration/browser.py).
The page must show the numbers below, keep every payload as text, hide the override
buttons from a read key, and override + revert with a write key. Screenshots of the main
views go to the test's tmp dir and are checked (PNG, size, not blank).
"""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from ingest.bulk import BulkIndexer
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_files
from rules_admin.app import create_app
from rules_admin.audit import ensure_audit_index
from wafsiem.auth import key_digest
from wafsiem.schema import index_template
from wafsiem.settings import ApiKey, ApiSettings, ColdSettings, RulesSettings, Settings

from ..waf_records import ndjson, waf_record
from .browser import Page, chromium_path, launch
from .conftest import _unavailable
from .test_overrides import CRS, create_acl, group_overrides, read

READ_KEY = "web-page-read-key-0123456789"
WRITE_KEY = "web-page-write-key-0123456789"
SCRIPT_PATH = "/<script>alert(1)</script>"
IMG_UA = "<img src=x onerror=alert(1)>"
SVG_HOST = '"><svg onload=alert(1)>.example.com'
WIDTH, HEIGHT = 1280, 900


def _record(
    n: int,
    when: datetime,
    *,
    acl: str,
    ip: str,
    country: str = "DE",
    host: str = "shop.example.com",
    path: str = "/checkout",
    ua: str = "Mozilla/5.0 test",
    rule: str | None = "size",
) -> dict[str, Any]:
    record = waf_record(n, ts=int(when.timestamp() * 1000), action="BLOCK" if rule else "ALLOW")
    record["webaclId"] = acl
    request = record["httpRequest"]
    request.update(clientIp=ip, country=country, uri=path)
    request["headers"][0]["value"] = host
    request["headers"][1]["value"] = ua
    if rule == "geo":  # a custom rule: no group
        record.update(terminatingRuleId="GeoBlock", terminatingRuleType="REGULAR")
        record["ruleGroupList"] = []
    return record


def dataset(acl: str, now: datetime) -> list[dict[str, Any]]:
    """In the last 24 h: CRS:SizeRestrictions_BODY 12 blocks (3 IPs, 2 countries, top IP
    198.51.100.1 with 6), GeoBlock 4, 20 allowed; 3 CRS blocks in the day before."""
    out: list[dict[str, Any]] = []

    def add(count: int, minutes_ago: float, **kw: Any) -> None:
        for i in range(count):
            when = now - timedelta(minutes=minutes_ago) + timedelta(seconds=7 * i)
            out.append(_record(len(out), when, acl=acl, **kw))

    add(6, 40, ip="198.51.100.1", path=SCRIPT_PATH, ua=IMG_UA)
    add(3, 30, ip="198.51.100.2", host=SVG_HOST)
    add(3, 20, ip="2001:db8::7", country="FR", path="/cart")
    add(4, 10, ip="192.0.2.50", country="KP", path="/", rule="geo")
    add(20, 45, ip="198.51.100.1", path="/home", rule=None)
    add(3, 30 * 60, ip="203.0.113.9")  # baseline: 30 h ago
    return out


@dataclass
class Served:
    url: str
    acl: dict[str, Any]
    settings: Settings


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(
    settings: Settings, opensearch: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tag = f"web{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp(tag)
    prefix = f"{tag}-waf-logs"
    app_settings = settings.model_copy(
        update={
            "opensearch": settings.opensearch.model_copy(
                update={
                    "index_prefix": prefix,
                    "state_index": f"{tag}-state",
                    "audit_index": f"{tag}-audit",
                }
            ),
            "cold": ColdSettings(uri=str(root / "cold")),
            "rules": RulesSettings(
                update_min_interval_seconds=0.05,
                lock_retries=4,
                lock_backoff_seconds=0.01,
                ttl_check_seconds=0,
            ),
            "detector": settings.detector.model_copy(update={"interval_seconds": 0}),
            "api": ApiSettings(
                keys=[
                    ApiKey(name="analyst", sha256=key_digest(READ_KEY), scopes=["read"]),
                    ApiKey(name="oncall", sha256=key_digest(WRITE_KEY), scopes=["write"]),
                ]
            ),
        }
    )
    acl = create_acl(app_settings, tag)
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    records = dataset(acl["arn"], now)
    (root / "logs.json").write_bytes(ndjson(records))
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    server = None
    try:
        report = ingest_files(
            [root / "logs.json"],
            indexer=BulkIndexer(opensearch, max_bytes=1024 * 1024, concurrency=1),
            options=ParserOptions(),
            target=IngestTarget(index_prefix=prefix, deadletter_index=f"{tag}-deadletter"),
        )
        assert report.indexed == len(records) == 39, report
        opensearch.indices.refresh(index=f"{prefix}-*")
        # the audit index as a deployment has it after the first override; created here
        # because two first requests at once (the page loads overrides and audit together)
        # can search it before its shard is allocated (ensure_small_index: 503 -> 500)
        ensure_audit_index(opensearch, f"{tag}-audit")
        opensearch.cluster.health(index=f"{tag}-audit", params={"wait_for_status": "yellow"})
        server, thread, url = _serve(create_app(app_settings))
        yield Served(url, acl, app_settings)
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=10)
        opensearch.indices.delete(index=f"{tag}-*", ignore=[404])
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if chromium_path() is None:
        _unavailable("Debian's chromium is not installed (scripts/dev test installs it)")
    with launch(tmp_path_factory.mktemp("chromium") / "profile", width=WIDTH, height=HEIGHT) as p:
        yield p


def check_png(data: bytes, path: Path) -> None:
    """A real PNG of the viewport's size with a picture in it, not one flat colour."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert path.stat().st_size > 10_000, (path, path.stat().st_size)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (WIDTH, HEIGHT), image.size
    colours = image.getcolors(maxcolors=WIDTH * HEIGHT)
    assert colours is not None and len(colours) > 50, len(colours or [])
    most = max(count for count, _ in colours)
    assert most < 0.95 * WIDTH * HEIGHT, "one colour fills the screenshot"


def rows(page: Page, selector: str) -> list[list[str]]:
    return page.evaluate(  # type: ignore[no-any-return]
        f"""[...document.querySelectorAll({selector!r})].map(
              tr => [...tr.cells].map(td => td.textContent))"""
    )


def no_injection(page: Page) -> None:
    """The payloads are text: no element, handler or dialog came out of them."""
    injected = page.evaluate(
        """({
          img: document.querySelectorAll('img').length,
          svgOnload: document.querySelectorAll('svg[onload], [onerror], [onload]').length,
          scripts: [...document.scripts].map(s => s.src),
          html: document.body.innerHTML.includes('<script>alert(1)</script>'),
        })"""
    )
    assert injected["img"] == 0 and injected["svgOnload"] == 0, injected
    assert [s.rsplit("/", 1)[-1] for s in injected["scripts"]] == ["app.js"], injected
    assert not injected["html"], "a payload reached the DOM as markup"
    page.pump(0.2)
    assert page.dialogs == [], page.dialogs


def fresh_page(page: Page, served: Served) -> None:
    """The page without a saved key (cleared from a same-origin document that runs no
    script, so no request of the page can save the key again meanwhile)."""
    page.navigate(served.url + "/static/app.css")
    page.evaluate("sessionStorage.clear()")
    page.navigate(f"{served.url}/?load={uuid.uuid4().hex[:8]}")


def log_in(page: Page, served: Served, key: str) -> None:
    fresh_page(page, served)
    page.wait_for("document.getElementById('message').textContent.includes('Enter an API key')")
    page.type_into("#api-key", key)
    page.press_enter()
    status = page.wait_for(
        "['ready', 'error'].includes(document.getElementById('main').dataset.status)"
        " && document.getElementById('main').dataset.status",
        timeout=30,
    )
    assert status == "ready", page.evaluate("document.getElementById('message').textContent")


# -- plain HTTP ------------------------------------------------------------------------------


def test_page_and_static_files_carry_strict_headers(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        for path, kind in (
            ("/", "text/html"),
            ("/static/app.js", "text/javascript"),
            ("/static/app.css", "text/css"),
        ):
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(kind)
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
        for path in ("/static/index.html", "/static/..%2fweb.py", "/static/app.py"):
            assert client.get(path).status_code == 404, path
        assert "<script>" not in client.get("/").text.replace('<script src="/static/app.js"', "")
        code = "\n".join(
            line
            for line in client.get("/static/app.js").text.splitlines()
            if not line.strip().startswith("//")
        )
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, sink
        assert client.get("/api/v1/whoami").status_code == 401
        me = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {WRITE_KEY}"})
        assert me.json() == {"name": "oncall", "scopes": ["read", "write"]}


# -- the browser -----------------------------------------------------------------------------


def test_read_key_shows_rules_timeline_tops_and_samples_as_text(
    page: Page, served: Served, tmp_path: Path
) -> None:
    page.clear_errors()
    log_in(page, served, READ_KEY)
    assert page.evaluate("document.getElementById('whoami').textContent") == (
        "key analyst · scopes: read"
    )

    rules = rows(page, "#rules-table tbody tr")
    name = acl_name(served)
    assert [r[:10] for r in rules] == [
        [name, CRS, "SizeRestrictions_BODY", "12", "3", "4.0", "3", "2", "198.51.100.1", "50%"],
        [name, "GeoBlock", "", "4", "0", "new", "1", "1", "192.0.2.50", "100%"],
    ]

    counts = page.evaluate(
        """(() => { const out = {};
          for (const r of document.querySelectorAll('#timeline svg rect.bar'))
            out[r.dataset.action] = (out[r.dataset.action] || 0) + Number(r.dataset.count);
          return out; })()"""
    )
    assert counts == {"BLOCK": 16, "ALLOW": 20}

    top_rules = rows(page, "#top-rule tbody tr")
    assert top_rules[0] == [f"{CRS}:SizeRestrictions_BODY", "12", "75%"]
    assert top_rules[1][0].startswith("GeoBlock") and top_rules[1][1:] == ["4", "25%"]
    tops = {
        by: [r[:2] for r in rows(page, f"#top-{by} tbody tr")]
        for by in ("client_ip", "path", "host", "country")
    }
    assert tops["client_ip"][:2] == [["198.51.100.1", "6"], ["192.0.2.50", "4"]]
    assert sorted(tops["client_ip"][2:]) == [["198.51.100.2", "3"], ["2001:db8::7", "3"]]
    assert tops["path"][:2] == [[SCRIPT_PATH, "6"], ["/", "4"]]
    assert sorted(tops["path"][2:]) == [["/cart", "3"], ["/checkout", "3"]]
    assert tops["host"] == [["shop.example.com", "13"], [SVG_HOST, "3"]]
    assert tops["country"] == [["DE", "9"], ["KP", "4"], ["FR", "3"]]
    check_png(page.screenshot(tmp_path / "overview.png"), tmp_path / "overview.png")

    page.click("#rules-table tbody tr:first-child .samples-button")
    page.wait_for("document.getElementById('samples-section').dataset.status === 'ready'")
    samples = rows(page, "#samples-table tbody tr")
    assert len(samples) == 12
    assert sum(1 for r in samples if r[6] == SCRIPT_PATH and r[8] == IMG_UA) == 6
    assert sum(1 for r in samples if r[5] == SVG_HOST) == 3
    assert {r[1] for r in samples} == {"BLOCK"}
    check_png(
        page.screenshot(tmp_path / "samples.png", selector="#samples-section"),
        tmp_path / "samples.png",
    )

    # the read key sees no way to change a rule
    assert (
        page.evaluate("document.querySelectorAll('.override-button, .revert-button').length") == 0
    )
    assert page.evaluate("document.getElementById('override-form').hidden") is True
    assert page.evaluate("document.getElementById('override-locked').hidden") is False
    no_injection(page)
    assert page.errors() == []


def test_the_key_survives_a_reload_and_the_window_selector_reloads(
    page: Page, served: Served
) -> None:
    page.clear_errors()
    log_in(page, served, READ_KEY)
    page.navigate(served.url + "/?again")  # the key is in sessionStorage: no typing
    page.wait_for("document.getElementById('main').dataset.status === 'ready'")
    assert page.evaluate("document.getElementById('api-key').value") == ""
    page.evaluate(
        """(s => { s.value = '1h'; s.dispatchEvent(new Event('change')); })"""
        "(document.getElementById('window'))"
    )
    page.wait_for("document.getElementById('main').dataset.loads === '2'")
    assert page.evaluate("document.getElementById('main').dataset.status") == "ready"
    assert "1m buckets" in page.evaluate("document.getElementById('timeline-summary').textContent")
    # the baseline is now the hour before, which has no blocks
    assert [r[3:6] for r in rows(page, "#rules-table tbody tr")] == [
        ["12", "0", "new"],
        ["4", "0", "new"],
    ]
    page.click("#key-forget")
    page.wait_for("document.getElementById('main').hidden")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.errors() == []


def test_a_wrong_key_shows_the_api_error(page: Page, served: Served) -> None:
    fresh_page(page, served)
    page.type_into("#api-key", "not-a-key")
    page.click("#key-use")
    message = page.wait_for(
        "(m => !m.hidden && m.textContent.includes('401') && m.textContent)"
        "(document.getElementById('message'))"
    )
    assert "missing or unknown API key" in message
    assert page.evaluate("document.getElementById('main').hidden") is True
    assert page.evaluate("sessionStorage.length") == 0


def test_write_key_overrides_with_a_reason_and_reverts(
    page: Page, served: Served, tmp_path: Path
) -> None:
    page.clear_errors()
    log_in(page, served, WRITE_KEY)
    assert page.evaluate("document.getElementById('override-form').hidden") is False
    assert page.evaluate("document.querySelectorAll('.override-button').length") == 2
    before = group_overrides(read(served.acl))

    page.click("#rules-table tbody tr:first-child .override-button")
    page.wait_for("document.getElementById('samples-section').dataset.status === 'ready'")
    assert page.evaluate("document.getElementById('override-target').textContent") == (
        f"{acl_name(served)} / {CRS}:SizeRestrictions_BODY"
    )
    # no reason: refused in the page, nothing sent
    page.click("#override-submit")
    page.wait_for("document.getElementById('message').textContent.includes('reason')")
    assert page.evaluate("document.getElementById('override-result').hidden") is True

    # a dry run shows the diff and writes nothing
    page.type_into("#reason", "checkout false positives <b>bold</b>")
    page.click("#dry-run")
    page.click("#override-submit")
    page.wait_for("document.getElementById('override-result').dataset.result === 'dry_run'")
    diff = page.evaluate("document.getElementById('override-diff').textContent")
    assert "SizeRestrictions_BODY" in diff and "Count" in diff, diff
    assert group_overrides(read(served.acl)) == before

    # the override itself, with a TTL
    page.click("#dry-run")
    page.type_into("#ttl", "30")
    page.click("#override-submit")
    page.wait_for("document.getElementById('override-result').dataset.result === 'applied'")
    assert group_overrides(read(served.acl))["SizeRestrictions_BODY"] == {"Count": {}}
    page.wait_for("document.querySelectorAll('#overrides-table .revert-button').length === 1")
    [active] = rows(page, "#overrides-table tbody tr")
    assert active[1:4] == [CRS, "SizeRestrictions_BODY", "api:oncall"]
    assert active[4] and active[5] == "checkout false positives <b>bold</b>"
    audit = rows(page, "#audit-table tbody tr")
    assert [r[1:3] for r in audit[:2]] == [["override", "applied"], ["override", "dry_run"]]
    check_png(
        page.screenshot(tmp_path / "override.png", selector="#override-section"),
        tmp_path / "override.png",
    )

    # revert: the group is exactly as before
    page.type_into("#reason", "rule fixed upstream")
    page.click("#overrides-table .revert-button")
    page.wait_for("document.getElementById('override-result').dataset.result === 'reverted'")
    page.wait_for("document.querySelectorAll('#overrides-table .revert-button').length === 0")
    assert group_overrides(read(served.acl)) == before
    audit = rows(page, "#audit-table tbody tr")
    assert audit[0][1:3] == ["revert", "reverted"] and audit[0][6] == "rule fixed upstream"
    assert page.evaluate("document.querySelectorAll('b').length") == 1  # the page's own <b>
    no_injection(page)
    assert page.errors() == []


def acl_name(served: Served) -> str:
    return str(served.acl["name"])


def test_chromium_is_what_ran(page: Page) -> None:
    version = page.send("Browser.getVersion")
    assert "Headless" in version["userAgent"], version
