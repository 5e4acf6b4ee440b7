"""Rule overrides against the WAFv2 emulator (moto server) and the real OpenSearch.

Web ACLs of the three shapes: a custom rule, a rule group reference as a whole, one rule
inside a managed group and inside a customer rule group. Each test makes its own ACL
and its own audit index, so the tests run in any order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from rules_admin.app import create_app
from rules_admin.audit import iso, now_utc
from rules_admin.managed_rules import SubRuleResolver
from rules_admin.overrides import OverrideError, OverrideService
from wafsiem.auth import key_digest
from wafsiem.clients import wafv2_client
from wafsiem.settings import ApiKey, ApiSettings, RulesSettings, Settings

VC = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}
CRS = "AWS-AWSManagedRulesCommonRuleSet"
ACTOR = "cli:test"


@pytest.fixture(scope="module")
def resolver() -> SubRuleResolver:
    # one per module: the emulator's missing DescribeManagedRuleGroup is learned once
    return SubRuleResolver()


@pytest.fixture
def rules_settings(settings: Settings, opensearch: Any, unique: str) -> Iterator[Settings]:
    index = f"test-audit-{unique}"
    yield settings.model_copy(
        update={
            "opensearch": settings.opensearch.model_copy(update={"audit_index": index}),
            "rules": RulesSettings(
                update_min_interval_seconds=0.05, lock_retries=4, lock_backoff_seconds=0.01
            ),
        }
    )
    opensearch.indices.delete(index=index, ignore=[404])


class Regions:
    """A client factory that remembers which regions were asked for."""

    def __init__(self, settings: Settings, wrap: Any = None) -> None:
        self.settings = settings
        self.asked: list[str] = []
        self.wrap = wrap

    def __call__(self, region: str) -> Any:
        self.asked.append(region)
        client = wafv2_client(self.settings, region)
        return self.wrap(client) if self.wrap else client


def make_service(
    settings: Settings, opensearch: Any, resolver: SubRuleResolver, wrap: Any = None
) -> tuple[OverrideService, Regions]:
    regions = Regions(settings, wrap)
    return OverrideService(regions, opensearch, settings, resolver=resolver), regions


def create_acl(settings: Settings, unique: str, scope: str = "REGIONAL") -> dict[str, Any]:
    """A web ACL with all three shapes; returns ARN, name, id, scope and the client."""
    client = wafv2_client(settings, "us-east-1")
    group = client.create_rule_group(
        Name=f"grp-{unique}-{scope.lower()}",
        Scope=scope,
        Capacity=100,
        VisibilityConfig=VC,
        Rules=[
            {
                "Name": name,
                "Priority": i,
                "Action": {"Block": {}},
                "Statement": {
                    "ByteMatchStatement": {
                        "SearchString": path,
                        "FieldToMatch": {"UriPath": {}},
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                        "PositionalConstraint": "STARTS_WITH",
                    }
                },
                "VisibilityConfig": VC,
            }
            for i, (name, path) in enumerate((("BlockXmlRpc", "/xmlrpc"), ("BlockAdmin", "/wp")))
        ],
    )["Summary"]
    rules = [
        {
            "Name": "GeoBlock",
            "Priority": 0,
            "Action": {"Block": {"CustomResponse": {"ResponseCode": 451}}},
            "Statement": {"GeoMatchStatement": {"CountryCodes": ["KP", "IR"]}},
            "VisibilityConfig": VC,
        },
        {
            "Name": CRS,
            "Priority": 1,
            "OverrideAction": {"None": {}},
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesCommonRuleSet",
                    "ExcludedRules": [{"Name": "NoUserAgent_HEADER"}],
                    "RuleActionOverrides": [
                        {"Name": "GenericLFI_BODY", "ActionToUse": {"Captcha": {}}}
                    ],
                }
            },
            "VisibilityConfig": VC,
        },
        {
            "Name": "Customer",
            "Priority": 2,
            "OverrideAction": {"None": {}},
            "Statement": {"RuleGroupReferenceStatement": {"ARN": group["ARN"]}},
            "VisibilityConfig": VC,
        },
    ]
    summary = client.create_web_acl(
        Name=f"acl-{unique}-{scope.lower()}",
        Scope=scope,
        DefaultAction={"Allow": {}},
        Description="integration test ACL",
        VisibilityConfig=VC,
        Rules=rules,
    )["Summary"]
    return {
        "arn": summary["ARN"],
        "name": summary["Name"],
        "id": summary["Id"],
        "scope": scope,
        "client": client,
    }


def read(acl: dict[str, Any]) -> dict[str, Any]:
    return acl["client"].get_web_acl(Name=acl["name"], Scope=acl["scope"], Id=acl["id"])


def rule_of(response: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in response["WebACL"]["Rules"] if r["Name"] == name)


def group_overrides(response: dict[str, Any]) -> dict[str, Any]:
    statement = rule_of(response, CRS)["Statement"]["ManagedRuleGroupStatement"]
    return {e["Name"]: e["ActionToUse"] for e in statement.get("RuleActionOverrides", [])}


@pytest.fixture
def acl(rules_settings: Settings, unique: str) -> dict[str, Any]:
    return create_acl(rules_settings, unique)


@pytest.fixture
def service(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver
) -> OverrideService:
    return make_service(rules_settings, opensearch, resolver)[0]


@pytest.mark.parametrize(
    ("rule", "sub_rule", "check"),
    [
        ("GeoBlock", None, lambda r: rule_of(r, "GeoBlock")["Action"] == {"Count": {}}),
        ("Customer", None, lambda r: rule_of(r, "Customer")["OverrideAction"] == {"Count": {}}),
        (
            CRS,
            "SizeRestrictions_BODY",
            lambda r: (
                group_overrides(r)
                == {"GenericLFI_BODY": {"Captcha": {}}, "SizeRestrictions_BODY": {"Count": {}}}
            ),
        ),
        (
            CRS,
            "GenericLFI_BODY",
            lambda r: group_overrides(r) == {"GenericLFI_BODY": {"Count": {}}},
        ),
        (
            "Customer",
            "BlockXmlRpc",
            lambda r: (
                rule_of(r, "Customer")["Statement"]["RuleGroupReferenceStatement"][
                    "RuleActionOverrides"
                ]
                == [{"Name": "BlockXmlRpc", "ActionToUse": {"Count": {}}}]
            ),
        ),
    ],
)
def test_override_verify_revert_restores_exactly(
    service: OverrideService, acl: dict[str, Any], rule: str, sub_rule: str | None, check: Any
) -> None:
    original = read(acl)
    record = service.override(acl["arn"], rule, sub_rule, reason="FP spike", actor=ACTOR)
    assert record["result"] == "applied" and record["state"] == "active"
    assert record["lock_token"] == original["LockToken"] and record["next_lock_token"]
    assert record["before"] == rule_of(original, rule)
    after = read(acl)
    assert check(after)
    assert record["after"] == rule_of(after, rule)
    if sub_rule and rule == CRS:
        assert record["validation"].startswith("catalogue")  # the emulator has no Describe
    if sub_rule and rule == "Customer":
        assert record["validation"] == "GetRuleGroup"

    done = service.revert(record["id"], actor=ACTOR, reason="fixed upstream")
    assert done["result"] == "reverted"
    restored = read(acl)
    assert restored["WebACL"]["Rules"] == original["WebACL"]["Rules"]
    assert restored["WebACL"]["Description"] == "integration test ACL"
    (stored,) = service.list_overrides()
    assert stored["state"] == "reverted" and stored["revert_id"] == done["id"]
    assert stored["reverted_by"] == ACTOR
    with pytest.raises(OverrideError) as again:
        service.revert(record["id"], actor=ACTOR, reason="twice")
    assert again.value.status == 409


def test_unknown_sub_rule_is_refused_and_nothing_written(
    service: OverrideService, acl: dict[str, Any]
) -> None:
    token = read(acl)["LockToken"]
    for rule, sub in ((CRS, "SizeRestrictions_Body"), ("Customer", "NoSuchRule")):
        with pytest.raises(OverrideError) as refused:
            service.override(acl["arn"], rule, sub, reason="typo", actor=ACTOR)
        assert refused.value.status == 422
        assert refused.value.record is not None
        assert refused.value.record["result"] == "refused"
        assert "has no rule" in refused.value.record["error"]
    with pytest.raises(OverrideError) as no_rule:
        service.override(acl["arn"], "NoSuchRule", reason="typo", actor=ACTOR)
    assert no_rule.value.status == 422
    assert read(acl)["LockToken"] == token
    results = [r["result"] for r in service.audit_records()]
    assert results == ["refused"] * 3


def test_dry_run_and_already_count_write_nothing(
    service: OverrideService, acl: dict[str, Any]
) -> None:
    token = read(acl)["LockToken"]
    dry = service.override(
        acl["arn"], CRS, "SizeRestrictions_BODY", reason="look", actor=ACTOR, dry_run=True
    )
    assert dry["result"] == "dry_run"
    assert '"Name": "SizeRestrictions_BODY"' in dry["diff"]
    same = service.override(acl["arn"], CRS, "NoUserAgent_HEADER", reason="x", actor=ACTOR)
    assert same["result"] == "unchanged" and "ExcludedRules" in same["status"]
    assert read(acl)["LockToken"] == token
    assert service.list_overrides() == []
    assert {r["result"] for r in service.audit_records()} == {"dry_run", "unchanged"}


def test_moto_enforces_the_lock_token(acl: dict[str, Any]) -> None:
    response = read(acl)
    web = response["WebACL"]
    with pytest.raises(ClientError) as stale:
        acl["client"].update_web_acl(
            Name=web["Name"],
            Scope="REGIONAL",
            Id=web["Id"],
            DefaultAction=web["DefaultAction"],
            VisibilityConfig=web["VisibilityConfig"],
            Rules=web["Rules"],
            LockToken="stale-token",
        )
    assert stale.value.response["Error"]["Code"] == "WAFOptimisticLockException"


class ConcurrentEditor:
    """Wraps a WAFv2 client: before the service's UpdateWebACL, someone else edits the ACL
    (adds a RuleActionOverrides entry for GenericRFI_BODY), so the service's LockToken
    is stale and it must read again and retry."""

    def __init__(self, client: Any, edits: int) -> None:
        self._client = client
        self.edits_left = edits
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_web_acl(self, **kwargs: Any) -> Any:
        self.updates += 1
        if self.edits_left > 0:
            self.edits_left -= 1
            fresh = self._client.get_web_acl(
                Name=kwargs["Name"], Scope=kwargs["Scope"], Id=kwargs["Id"]
            )
            web = fresh["WebACL"]
            rules = web["Rules"]
            group = next(r for r in rules if r["Name"] == CRS)
            entries = group["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
            if not any(e["Name"] == "GenericRFI_BODY" for e in entries):
                entries.append({"Name": "GenericRFI_BODY", "ActionToUse": {"Count": {}}})
            self._client.update_web_acl(
                Name=web["Name"],
                Scope=kwargs["Scope"],
                Id=web["Id"],
                DefaultAction=web["DefaultAction"],
                VisibilityConfig=web["VisibilityConfig"],
                Description="edited concurrently",
                Rules=rules,
                LockToken=fresh["LockToken"],
            )
        return self._client.update_web_acl(**kwargs)


def test_lock_conflict_retries_and_keeps_the_concurrent_edit(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver, acl: dict[str, Any]
) -> None:
    editors: list[ConcurrentEditor] = []

    def wrap(client: Any) -> ConcurrentEditor:
        editors.append(ConcurrentEditor(client, edits=1))
        return editors[-1]

    service, _ = make_service(rules_settings, opensearch, resolver, wrap)
    record = service.override(acl["arn"], CRS, "SizeRestrictions_BODY", reason="x", actor=ACTOR)
    assert record["result"] == "applied" and record["attempts"] == 2
    assert editors[0].updates == 2
    after = read(acl)
    assert after["WebACL"]["Description"] == "edited concurrently"
    overrides = group_overrides(after)
    assert overrides["SizeRestrictions_BODY"] == {"Count": {}}
    assert overrides["GenericRFI_BODY"] == {"Count": {}}  # the other edit kept
    # revert removes only our entry
    service.revert(record["id"], actor=ACTOR, reason="done")
    assert set(group_overrides(read(acl))) == {"GenericLFI_BODY", "GenericRFI_BODY"}


def test_lock_retries_are_bounded(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver, acl: dict[str, Any]
) -> None:
    service, _ = make_service(
        rules_settings, opensearch, resolver, lambda c: ConcurrentEditor(c, edits=100)
    )
    with pytest.raises(OverrideError) as exhausted:
        service.override(acl["arn"], "GeoBlock", reason="x", actor=ACTOR)
    assert exhausted.value.status == 409
    assert exhausted.value.record is not None
    assert exhausted.value.record["result"] == "failed"
    assert rule_of(read(acl), "GeoBlock")["Action"]["Block"]


def test_revert_refuses_when_someone_changed_the_rule_since(
    service: OverrideService, acl: dict[str, Any]
) -> None:
    record = service.override(acl["arn"], "GeoBlock", reason="x", actor=ACTOR)
    fresh = read(acl)
    web = fresh["WebACL"]
    for rule in web["Rules"]:
        if rule["Name"] == "GeoBlock":
            rule["Action"] = {"Captcha": {}}
    acl["client"].update_web_acl(
        Name=web["Name"],
        Scope="REGIONAL",
        Id=web["Id"],
        DefaultAction=web["DefaultAction"],
        VisibilityConfig=web["VisibilityConfig"],
        Rules=web["Rules"],
        LockToken=fresh["LockToken"],
    )
    with pytest.raises(OverrideError) as conflict:
        service.revert(record["id"], actor=ACTOR, reason="x")
    assert conflict.value.status == 409 and "changed since" in conflict.value.message
    assert rule_of(read(acl), "GeoBlock")["Action"] == {"Captcha": {}}
    (stored,) = service.list_overrides()
    assert stored["state"] == "conflict"


def test_ttl_revert(service: OverrideService, acl: dict[str, Any]) -> None:
    original = rule_of(read(acl), "GeoBlock")
    record = service.override(acl["arn"], "GeoBlock", reason="x", actor=ACTOR, ttl_minutes=5)
    assert record["expires_at"] > iso(now_utc())
    assert service.revert_expired(now_utc()) == []
    done = service.revert_expired(now_utc() + timedelta(minutes=6))
    assert done == [{"override_id": record["id"], "result": "reverted"}]
    assert rule_of(read(acl), "GeoBlock") == original
    (stored,) = service.list_overrides(state="expired")
    assert stored["reverted_by"] == "ttl"


def test_cloudfront_scope_goes_through_us_east_1(
    rules_settings: Settings, opensearch: Any, resolver: SubRuleResolver, unique: str
) -> None:
    cf = create_acl(rules_settings, unique, scope="CLOUDFRONT")
    assert ":global/webacl/" in cf["arn"]
    eu = rules_settings.model_copy(
        update={"waf": rules_settings.waf.model_copy(update={"region": "eu-west-1"})}
    )
    service, regions = make_service(eu, opensearch, resolver)
    record = service.override(cf["arn"], "GeoBlock", reason="x", actor=ACTOR)
    assert record["scope"] == "CLOUDFRONT" and record["region"] == "us-east-1"
    assert set(regions.asked) == {"us-east-1"}
    assert rule_of(read(cf), "GeoBlock")["Action"] == {"Count": {}}
    shown = service.show(cf["arn"])
    assert shown["overrides"][0]["id"] == record["id"]
    service.revert(record["id"], actor=ACTOR, reason="x")


def test_every_attempt_is_audited(service: OverrideService, acl: dict[str, Any]) -> None:
    applied = service.override(acl["arn"], "GeoBlock", reason="a", actor=ACTOR)
    service.override(acl["arn"], "GeoBlock", reason="b", actor=ACTOR)  # already COUNT
    with pytest.raises(OverrideError):
        service.override(acl["arn"], CRS, "Nope", reason="c", actor=ACTOR)
    service.revert(applied["id"], actor=ACTOR, reason="d")
    with pytest.raises(OverrideError):
        service.revert("no-such-id", actor=ACTOR, reason="e")
    records = service.audit_records()
    assert [r["reason"] for r in records] == ["e", "d", "c", "b", "a"]
    assert [r["result"] for r in records] == [
        "refused",
        "reverted",
        "refused",
        "unchanged",
        "applied",
    ]
    assert all(r["actor"] == ACTOR and r["result"] != "pending" for r in records)


def test_api_end_to_end(
    rules_settings: Settings, opensearch: Any, acl: dict[str, Any], unique: str
) -> None:
    keys = {"r": f"read-{unique}", "w": f"write-{unique}"}
    app_settings = rules_settings.model_copy(
        update={
            "api": ApiSettings(
                keys=[
                    ApiKey(name="reader", sha256=key_digest(keys["r"]), scopes=["read"]),
                    ApiKey(name="oncall", sha256=key_digest(keys["w"]), scopes=["write"]),
                ]
            ),
            "rules": rules_settings.rules.model_copy(update={"ttl_check_seconds": 0.2}),
        }
    )
    writer = {"Authorization": f"Bearer {keys['w']}"}
    reader = {"Authorization": f"Bearer {keys['r']}"}
    body = {
        "webacl": acl["arn"],
        "rule": CRS,
        "sub_rule": "SizeRestrictions_BODY",
        "reason": "checkout bodies > 8 KB",
        "ttl_minutes": 60,
    }
    with TestClient(create_app(app_settings)) as client:
        assert client.post("/api/v1/overrides", json=body, headers=reader).status_code == 403
        dry = client.post("/api/v1/overrides", json={**body, "dry_run": True}, headers=writer)
        assert dry.status_code == 200 and dry.json()["result"] == "dry_run"
        bad = client.post("/api/v1/overrides", json={**body, "sub_rule": "Nope"}, headers=writer)
        assert bad.status_code == 422 and bad.json()["record"]["result"] == "refused"
        arn = client.post(
            "/api/v1/overrides",
            json={**body, "webacl": "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/x/y"},
            headers=writer,
        )
        assert arn.status_code == 422
        made = client.post("/api/v1/overrides", json=body, headers=writer)
        assert made.status_code == 200, made.text
        record = made.json()["record"]
        assert record["actor"] == "api:oncall" and record["result"] == "applied"
        assert group_overrides(read(acl))["SizeRestrictions_BODY"] == {"Count": {}}

        listed = client.get("/api/v1/overrides?state=active", headers=reader).json()
        assert [o["id"] for o in listed["overrides"]] == [record["id"]]
        audit = client.get("/api/v1/audit", headers=reader).json()["records"]
        assert [r["result"] for r in audit] == [
            "applied",
            "refused",
            "refused",
            "dry_run",
        ]  # the malformed ARN was audited too

        missing = client.delete("/api/v1/overrides/nope?reason=cleanup", headers=writer)
        assert missing.status_code == 404
        gone = client.delete(f"/api/v1/overrides/{record['id']}?reason=fixed", headers=writer)
        assert gone.status_code == 200 and gone.json()["result"] == "reverted"
        twice = client.delete(f"/api/v1/overrides/{record['id']}?reason=fixed", headers=writer)
        assert twice.status_code == 409
        assert "SizeRestrictions_BODY" not in group_overrides(read(acl))

        # the TTL loop inside the app: pretend an override's TTL passed
        ttl = client.post(
            "/api/v1/overrides", json={**body, "rule": "GeoBlock", "sub_rule": None}, headers=writer
        )
        ttl_id = ttl.json()["record"]["id"]
        doc = opensearch.get(index=app_settings.opensearch.audit_index, id=ttl_id)["_source"]
        doc["expires_at"] = iso(now_utc() - timedelta(seconds=1))
        opensearch.index(
            index=app_settings.opensearch.audit_index, id=ttl_id, body=doc, refresh="true"
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = client.get("/api/v1/overrides", headers=reader).json()["overrides"]
            if next(o for o in state if o["id"] == ttl_id)["state"] == "expired":
                break
            time.sleep(0.2)
        else:
            pytest.fail("the TTL loop did not revert the expired override")
        assert rule_of(read(acl), "GeoBlock")["Action"]["Block"]
