"""The query API (``GET /api/v1/events|top|timeline``) and ``wafsiem query`` end to end.

One small data set per module (about 1,400 records over two days) under a unique index
prefix, state index and bucket: the first day tiered to Parquet on S3 (cold), the second
in OpenSearch (hot), so every answer is merged across both tiers. Expected answers are
computed here from the records themselves.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from ingest.service import IngestTarget
from rules_admin.app import create_app
from tiering.service import Tiering, run_tiering
from tiering.store import open_store
from wafsiem.auth import key_digest
from wafsiem.cli import build_root, main
from wafsiem.schema import index_template
from wafsiem.settings import ApiKey, ApiSettings, ColdSettings, Settings, reset_settings

from ..waf_records import waf_record
from .test_tiering_fixtures import load

READ_KEY = "query-test-read-key-0123456789"
DAY1_MS = int(datetime(2025, 11, 24, tzinfo=UTC).timestamp() * 1000)  # tiered: cold
DAY2_MS = DAY1_MS + 86_400_000  # hot
HOUR_MS = 3_600_000
FROM, TO = "2025-11-24T00:00:00Z", "2025-11-26T00:00:00Z"
MARKUP_PATH = "/[red]x[/red]/[bold]b[/]"
N_PER_DAY = 700

# (terminating rule id, group id, group rule) for BLOCK records
BLOCK_RULES = [
    (
        "AWS-AWSManagedRulesCommonRuleSet",
        "AWS#AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
    ),
    (
        "AWS-AWSManagedRulesCommonRuleSet",
        "AWS#AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
    ),
    (
        "AWS-AWSManagedRulesCommonRuleSet",
        "AWS#AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
    ),
    ("AWS-AWSManagedRulesSQLiRuleSet", "AWS#AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS"),
    ("AWS-AWSManagedRulesSQLiRuleSet", "AWS#AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS"),
    ("BlockBadBots", None, None),
]


def make_record(n: int, ts: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record and what a query should see of it: action, rule key, ip, path, time."""
    mod = n % 10
    action = "BLOCK" if mod < 6 else "ALLOW" if mod < 9 else "CAPTCHA"
    record = waf_record(n, ts=ts, action=action)
    ip = f"198.51.100.{n % 37 + 1}" if n % 3 else f"203.0.113.{n % 11 + 1}"
    record["httpRequest"]["clientIp"] = ip
    record["httpRequest"]["country"] = "US" if n % 4 == 0 else "DE"
    path = MARKUP_PATH if n == 5 else f"/product/{n}"
    record["httpRequest"]["uri"] = path
    if action == "BLOCK":
        rule_id, group, group_rule = BLOCK_RULES[n % len(BLOCK_RULES)]
        record["terminatingRuleId"] = rule_id
        if group is None:
            record["terminatingRuleType"] = "REGULAR"
            record["ruleGroupList"] = []
            key = rule_id
        else:
            record["ruleGroupList"][0]["ruleGroupId"] = group
            record["ruleGroupList"][0]["terminatingRule"] = {
                "ruleId": group_rule,
                "action": "BLOCK",
            }
            key = f"{rule_id}:{group_rule}"
    elif action == "CAPTCHA":
        record["terminatingRuleId"] = "LoginCaptcha"
        record["terminatingRuleType"] = "REGULAR"
        key = "LoginCaptcha"
    else:
        key = "Default_Action"
    return record, {"n": n, "ts": ts, "action": action, "rule": key, "ip": ip, "path": path}


def build_data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records, truth = [], []
    for n in range(2 * N_PER_DAY):
        day, k = divmod(n, N_PER_DAY)
        # day 1: hours 2..7, day 2: hours 12..17; pairs share a timestamp (id tie-break)
        start = (DAY1_MS + 2 * HOUR_MS) if day == 0 else (DAY2_MS + 12 * HOUR_MS)
        ts = start + (k // 2) * (6 * HOUR_MS // (N_PER_DAY // 2))
        record, seen = make_record(n, ts)
        records.append(record)
        truth.append(seen)
    return records, truth


@pytest.fixture(scope="module")
def data(settings: Settings, opensearch: Any, s3: Any) -> Iterator[dict[str, Any]]:
    unique = f"q{uuid.uuid4().hex[:10]}"
    prefix, state_index, bucket = f"{unique}-waf-logs", f"{unique}-state", f"test-{unique}"
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    s3.create_bucket(Bucket=bucket)
    cold_uri = f"s3://{bucket}/cold"
    try:
        records, truth = build_data()
        load(opensearch, IngestTarget(prefix, f"{unique}-deadletter"), records)
        store = open_store(cold_uri, settings, s3)
        report = run_tiering(
            Tiering(client=opensearch, store=store, prefix=prefix, state_index=state_index),
            hot_days=1,
            now=datetime(2025, 11, 26, 1, tzinfo=UTC),
        )
        assert [d.action for d in report.days] == ["tiered"], report
        app_settings = settings.model_copy(
            update={
                "opensearch": settings.opensearch.model_copy(
                    update={"index_prefix": prefix, "state_index": state_index}
                ),
                "cold": ColdSettings(uri=cold_uri),
                "api": ApiSettings(
                    keys=[ApiKey(name="reader", sha256=key_digest(READ_KEY), scopes=["read"])]
                ),
                "rules": settings.rules.model_copy(update={"ttl_check_seconds": 0}),
                "query": settings.query.model_copy(update={"max_range_days": 30}),
            }
        )
        yield {
            "truth": truth,
            "settings": app_settings,
            "env": {
                "WAFSIEM_OPENSEARCH__INDEX_PREFIX": prefix,
                "WAFSIEM_OPENSEARCH__STATE_INDEX": state_index,
                "WAFSIEM_COLD__URI": cold_uri,
            },
        }
    finally:
        opensearch.indices.delete(index=f"{unique}-*", ignore=[404])
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def client(data: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(data["settings"])) as test_client:
        test_client.headers["Authorization"] = f"Bearer {READ_KEY}"
        yield test_client


def get(client: TestClient, path: str, params: Any = (), status: int = 200) -> dict[str, Any]:
    if isinstance(params, dict):
        params = list(params.items())
    response = client.get(path, params=[("from", FROM), ("to", TO), *params])
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


# --- events ------------------------------------------------------------------------------


def test_events_newest_first_with_cursor_paging_across_both_tiers(
    client: TestClient, data: dict[str, Any]
) -> None:
    seen: list[tuple[int, str]] = []
    cursor, pages = None, 0
    while True:
        params = [("limit", "300")] + ([("cursor", cursor)] if cursor else [])
        page = get(client, "/api/v1/events", params)
        pages += 1
        assert page["plan"] == {"hot_days": ["2025-11-25"], "cold_days": ["2025-11-24"]}
        for event in page["events"]:
            stamp = datetime.fromisoformat(event["@timestamp"]).timestamp()
            seen.append((round(stamp * 1000), event["event.id"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 20
    truth = data["truth"]
    assert len(seen) == len(truth) == len({i for _, i in seen})
    assert seen == sorted(seen, reverse=True)  # newest first, ties by event.id descending
    assert sorted(ts for ts, _ in seen) == sorted(t["ts"] for t in truth)
    assert pages == -(-len(truth) // 300)


def test_events_filters_and_field_selection(client: TestClient, data: dict[str, Any]) -> None:
    ips = ["198.51.100.1", "198.51.100.2", "203.0.113.0/30"]
    params = [("action", "block"), *(("client_ip", ip) for ip in ips)]
    params += [("fields", "url.path,source.ip"), ("fields", "waf.action"), ("limit", "1000")]
    page = get(client, "/api/v1/events", params)
    wanted = [
        t
        for t in data["truth"]
        if t["action"] == "BLOCK"
        and t["ip"] in ("198.51.100.1", "198.51.100.2", "203.0.113.1", "203.0.113.2", "203.0.113.3")
    ]
    assert wanted and len(page["events"]) == len(wanted)
    assert page["next_cursor"] is None
    for event in page["events"]:
        assert set(event) == {"url.path", "source.ip", "waf.action"}
        assert event["waf.action"] == "BLOCK"
    assert page["filter"]["action"] == ["BLOCK"]
    assert page["filter"]["client_ip"] == ["198.51.100.1/32", "198.51.100.2/32", "203.0.113.0/30"]


def test_events_rule_and_path_prefix(client: TestClient, data: dict[str, Any]) -> None:
    page = get(
        client,
        "/api/v1/events",
        [("rule", "AWS-AWSManagedRulesSQLiRuleSet:SQLi_QUERYARGUMENTS"), ("limit", "1000")],
    )
    assert len(page["events"]) == sum(
        t["rule"] == "AWS-AWSManagedRulesSQLiRuleSet:SQLi_QUERYARGUMENTS" for t in data["truth"]
    )
    markup = get(client, "/api/v1/events", [("path_prefix", "/[red]"), ("fields", "url.path")])
    assert markup["events"] == [{"url.path": MARKUP_PATH}]


# --- top and timeline --------------------------------------------------------------------


def test_top_by_rule_exact_with_distinct_client_ips(
    client: TestClient, data: dict[str, Any]
) -> None:
    result = get(client, "/api/v1/top", {"by": "rule", "size": "3"})
    counts = Counter(t["rule"] for t in data["truth"])
    ips: dict[str, set[str]] = defaultdict(set)
    for t in data["truth"]:
        ips[t["rule"]].add(t["ip"])
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(b["key"], b["count"]) for b in result["buckets"]] == expected[:3]
    assert [b["client_ips"] for b in result["buckets"]] == [len(ips[k]) for k, _ in expected[:3]]
    assert result["total"] == len(data["truth"])
    assert result["other"] == sum(n for _, n in expected[3:])
    assert result["fields"] == ["waf.terminating_rule.id", "waf.terminating_rule.group_rule"]
    blocked = get(client, "/api/v1/top", {"by": "country", "action": "BLOCK"})
    countries = Counter(
        "US" if t["n"] % 4 == 0 else "DE" for t in data["truth"] if t["action"] == "BLOCK"
    )
    assert {b["key"]: b["count"] for b in blocked["buckets"]} == dict(countries)


def test_timeline_zero_filled_and_split_by_action(client: TestClient, data: dict[str, Any]) -> None:
    result = get(client, "/api/v1/timeline", {"interval": "1h"})
    assert len(result["buckets"]) == 48
    expected: dict[int, Counter[str]] = defaultdict(Counter)
    for t in data["truth"]:
        expected[(t["ts"] - DAY1_MS) // HOUR_MS][t["action"]] += 1
    for hour, bucket in enumerate(result["buckets"]):
        when = datetime.fromtimestamp((DAY1_MS + hour * HOUR_MS) / 1000, UTC)
        assert datetime.fromisoformat(bucket["time"]) == when
        assert bucket["actions"] == dict(sorted(expected[hour].items()))
        assert bucket["total"] == sum(expected[hour].values())
    assert result["buckets"][0] == {"time": "2025-11-24T00:00:00.000Z", "total": 0, "actions": {}}
    assert sum(1 for b in result["buckets"] if b["total"] == 0) == 36
    assert result["total"] == len(data["truth"])
    daily = get(client, "/api/v1/timeline", {"interval": "1d", "action": "ALLOW"})
    assert [b["actions"] for b in daily["buckets"]] == [
        {"ALLOW": sum(t["action"] == "ALLOW" and t["ts"] < DAY2_MS for t in data["truth"])},
        {"ALLOW": sum(t["action"] == "ALLOW" and t["ts"] >= DAY2_MS for t in data["truth"])},
    ]


# --- errors and auth ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "names"),
    [
        ("/api/v1/events", [("fields", "url.path,no.such.field")], "no.such.field"),
        ("/api/v1/events", [("client_ip", "10.0.0.0/33")], "client_ip"),
        ("/api/v1/events", [("cursor", "not-a-cursor")], "cursor"),
        ("/api/v1/events", [("limit", "100000")], "limit"),
        ("/api/v1/top", [("client-ip", "10.0.0.1")], "client-ip"),
        ("/api/v1/timeline", [("by", "rule")], "'by'"),
        ("/api/v1/timeline", [("interval", "1m"), ("to", "2025-12-08")], "buckets"),
        ("/api/v1/top", [("rule", ":x")], "rule"),
    ],
)
def test_bad_input_is_422_json_naming_it(
    client: TestClient, path: str, params: list[tuple[str, str]], names: str
) -> None:
    body = get(client, path, params, status=422)
    assert isinstance(body["detail"], str) and names in body["detail"], body


def test_bad_ranges_are_422(client: TestClient) -> None:
    backwards = client.get("/api/v1/top", params={"from": TO, "to": FROM})
    assert backwards.status_code == 422 and "must be after" in backwards.json()["detail"]
    too_long = client.get("/api/v1/timeline", params={"from": "2025-01-01", "to": TO})
    assert too_long.status_code == 422, too_long.text
    assert "maximum of 30 days" in too_long.json()["detail"] and too_long.json()["hint"]
    not_a_time = client.get("/api/v1/events", params={"from": "yesterday-ish"})
    assert not_a_time.status_code == 422 and "from" in not_a_time.json()["detail"]


def test_fastapi_validation_is_422_too(client: TestClient) -> None:
    for path, params in (("/api/v1/top", {"by": "nope"}), ("/api/v1/events", {"limit": "x"})):
        assert client.get(path, params=params).status_code == 422


def test_every_query_route_needs_a_key(client: TestClient) -> None:
    for path in ("/api/v1/events", "/api/v1/top", "/api/v1/timeline"):
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-key"}):
            response = client.get(path, params={"client-ip": "x"}, headers=headers)
            assert response.status_code == 401, (path, response.text)


# --- CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in data["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def run(args: list[str]) -> str:
    result = CliRunner().invoke(build_root(), ["query", *args, "--from", FROM, "--to", TO])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.mark.usefixtures("cli_env")
def test_cli_top_json_matches_the_api(client: TestClient) -> None:
    cli = orjson.loads(run(["top", "--by", "rule", "--size", "5", "--json"]))
    api = get(client, "/api/v1/top", {"by": "rule", "size": "5"})
    assert cli == api
    table = run(["top", "--by", "client_ip", "--action", "CAPTCHA", "--size", "3"])
    assert "client_ip" in table and "matching" in table


@pytest.mark.usefixtures("cli_env")
def test_cli_timeline_plot_writes_a_png(tmp_path: Path, data: dict[str, Any]) -> None:
    png = tmp_path / "timeline.png"
    out = run(["timeline", "--interval", "1h", "--plot", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    assert f"chart written to {png}" in out.replace("\n", "")
    assert "48 bucket(s) of 1h" in out
    as_json = run(["timeline", "--interval", "1d", "--json", "--plot", str(tmp_path / "d.png")])
    assert orjson.loads(as_json)["total"] == len(data["truth"])  # stdout is only the JSON
    assert (tmp_path / "d.png").exists()


@pytest.mark.usefixtures("cli_env")
def test_cli_events_table_prints_markup_literally() -> None:
    out = run(["events", "--path-prefix", "/[red]", "--fields", "url.path,waf.action"])
    assert MARKUP_PATH in out
    paged = run(["events", "--limit", "2"])
    assert "next page: --cursor " in paged
    cursor = paged.split("next page: --cursor ")[1].split()[0]
    older = orjson.loads(run(["events", "--limit", "2", "--cursor", cursor, "--json"]))
    assert len(older["events"]) == 2


@pytest.mark.usefixtures("cli_env")
def test_cli_bad_filter_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["wafsiem", "query", "events", "--client-ip", "10.0.0.0/33"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: client_ip: '10.0.0.0/33' is not an IP address or CIDR")
    assert "Traceback" not in err
